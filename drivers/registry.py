"""Driver registry: a rig file's ``driver:`` key → parameter model and a builder of a device role.

Adding an instrument is one entry here plus its driver package, or, without editing hilcal, a package
that declares a ``DriverSpec`` under the entry-point group ``hilcal.drivers`` (see ``drivers.plugins``
and docs/plugins.md). Builders get a ``PortPool`` so that devices sharing one port (axes on a Zaber daisy
chain) share one transport and one protocol session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drivers.clock import Clock
from drivers.environment import ScpiEnvironmentParams, build_scpi_environment_sensor
from drivers.keithley6517b import Keithley6517BParams, build_keithley6517b
from drivers.ndi import NdiParams, build_ndi_tracker
from drivers.pi_gcs import build_hexapod_couch
from drivers.pi_gcs.params import HexapodParams
from drivers.plugins import PluginProblem, load_plugins
from drivers.ptw_unidos import UnidosParams, build_unidos
from drivers.roles.dosimeter import DosimeterSettings
from drivers.transport.base import Transport


@dataclass
class PortPool:
    """Opens each port once and keeps one protocol session per (driver, port)."""

    opener: Callable[[str, str], Transport]  # (port, device label) -> Transport
    transports: dict[str, Transport] = field(default_factory=dict)
    sessions: dict[tuple[str, str], Any] = field(default_factory=dict)

    def transport(self, port: str, label: str) -> Transport:
        if port not in self.transports:
            self.transports[port] = self.opener(port, label)
        return self.transports[port]

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()


class ZaberAxisParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: int = Field(default=1, ge=1, le=99, description="device address on the chain")
    axis: int = Field(default=1, ge=1, le=9, description="axis number on the device")
    microstep_size_um: float = Field(gt=0, description="product's microstep size (spec sheet)")
    encoder_count_size_um: float | None = Field(default=None, gt=0, description="linear encoder count size")
    checksums: bool = Field(default=False, description="append LRC checksums to commands")
    message_ids: bool = Field(default=False, description="tag commands with message IDs")
    poll_interval_s: float = Field(default=0.05, gt=0, le=5, description="status poll period while moving")


def _build_zaber_axis(name: str, port: str, params: BaseModel, pool: PortPool, clock: Clock) -> Any:
    from drivers.zaber import ZaberAxis, ZaberConnection

    assert isinstance(params, ZaberAxisParams)
    key = ("zaber-ascii", port)
    connection = pool.sessions.get(key)
    if connection is None:
        transport = pool.transport(port, f"zaber chain {port}")
        connection = ZaberConnection(transport, checksums=params.checksums, message_ids=params.message_ids)
        pool.sessions[key] = connection
    return ZaberAxis(
        connection,
        name=name,
        address=params.address,
        axis=params.axis,
        microstep_size_um=params.microstep_size_um,
        encoder_count_size_um=params.encoder_count_size_um,
        clock=clock,
        poll_interval_s=params.poll_interval_s,
    )


@dataclass(frozen=True)
class DriverSpec:
    """How a rig file's device becomes a live role, and what can be checked of it before it is opened."""

    role: str
    params_model: type[BaseModel]
    build: Callable[[str, str, BaseModel, PortPool, Clock], Any]
    summary: str
    visa_native: bool = False  # reached through VISA resource strings (SCPI instruments)
    #: Dosimeters: raise the error ``configure`` would raise for these settings (name, params, settings).
    check_settings: Callable[[str, BaseModel, DosimeterSettings], None] | None = None
    #: Couches: limits per IEC couch axis set by the rig file's driver parameters (travel comes at connect).
    rig_couch_limits: Callable[[BaseModel], dict[str, tuple[float, float]]] | None = None
    #: Trackers: the tool names the rig file's driver parameters load.
    tool_names: Callable[[BaseModel], set[str]] | None = None


def _check_unidos_settings(name: str, params: BaseModel, settings: DosimeterSettings) -> None:
    from drivers.ptw_unidos.dosimeter import validate_settings

    assert isinstance(params, UnidosParams)
    validate_settings(name, settings, params.bias_limit_v)


def _check_keithley_settings(name: str, params: BaseModel, settings: DosimeterSettings) -> None:
    from drivers.keithley6517b.electrometer import configure_commands

    assert isinstance(params, Keithley6517BParams)
    configure_commands(name, settings, params.bias_limit_v, params.nplc)


def _hexapod_soft_limits(params: BaseModel) -> dict[str, tuple[float, float]]:
    assert isinstance(params, HexapodParams)
    return dict(params.soft_limits)


def _ndi_tool_names(params: BaseModel) -> set[str]:
    assert isinstance(params, NdiParams)
    return set(params.tools)


BUILTIN_DRIVERS: dict[str, DriverSpec] = {
    "zaber-ascii": DriverSpec(
        role="positioner",
        params_model=ZaberAxisParams,
        build=_build_zaber_axis,
        summary="Zaber ASCII protocol (X-series stages and controllers), one axis",
    ),
    "pi-gcs-hexapod": DriverSpec(
        role="couch",
        params_model=HexapodParams,
        build=build_hexapod_couch,
        summary="PI GCS 2.0 hexapod controller (C-887 class) as a 6-DoF couch top",
        rig_couch_limits=_hexapod_soft_limits,
    ),
    "ndi-combined-api": DriverSpec(
        role="tracker",
        params_model=NdiParams,
        build=build_ndi_tracker,
        summary="NDI Combined API optical tracker (Polaris Vega over TCP, Spectra/Vicra over serial)",
        tool_names=_ndi_tool_names,
    ),
    "ptw-unidos": DriverSpec(
        role="dosimeter",
        params_model=UnidosParams,
        build=build_unidos,
        summary="PTW UNIDOS Tango/Romeo electrometer (TCP 8123 or serial)",
        check_settings=_check_unidos_settings,
    ),
    "keithley-6517b": DriverSpec(
        role="dosimeter",
        params_model=Keithley6517BParams,
        build=build_keithley6517b,
        summary="Keithley 6517B electrometer (SCPI over VISA: GPIB, RS-232, TCPIP SOCKET)",
        visa_native=True,
        check_settings=_check_keithley_settings,
    ),
    "scpi-environment": DriverSpec(
        role="environment",
        params_model=ScpiEnvironmentParams,
        build=build_scpi_environment_sensor,
        summary="temperature/pressure sensor answering MEAS:TEMP? and MEAS:PRES?",
    ),
}

DRIVER_GROUP = "hilcal.drivers"
ROLES = ("positioner", "couch", "dosimeter", "environment", "tracker")


def _as_driver_spec(name: str, obj: object) -> DriverSpec:
    if not isinstance(obj, DriverSpec):
        raise TypeError(f"is a {type(obj).__name__}, expected a drivers.registry.DriverSpec")
    if obj.role not in ROLES:
        raise ValueError(f"role {obj.role!r}: expected one of {list(ROLES)}")
    if not (isinstance(obj.params_model, type) and issubclass(obj.params_model, BaseModel)):
        raise TypeError(f"params_model {obj.params_model!r}: expected a pydantic BaseModel subclass")
    return obj


#: Every driver a rig file may name: the built-ins, then those of installed plugins (read once, here).
DRIVERS: dict[str, DriverSpec] = dict(BUILTIN_DRIVERS)
#: Plugins of ``hilcal.drivers`` that did not load (each also logged as a warning).
DRIVER_PLUGIN_PROBLEMS: list[PluginProblem] = []


def reload_driver_plugins() -> list[PluginProblem]:
    """Read the ``hilcal.drivers`` entry points again (updating ``DRIVERS`` in place); their problems.

    Runs once at import; call it again only after installing a plugin into a running process (tests).
    """
    plugins, problems = load_plugins(DRIVER_GROUP, BUILTIN_DRIVERS, _as_driver_spec)
    DRIVERS.clear()
    DRIVERS.update(BUILTIN_DRIVERS)
    DRIVERS.update(plugins)
    DRIVER_PLUGIN_PROBLEMS[:] = problems
    return problems


reload_driver_plugins()
