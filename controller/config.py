"""Rig configuration: which devices exist, what role each plays, how to reach it, how to drive it.

A real rig and the simulated rig are the same file; the simulated one adds a ``simulation`` section and
points ports at ``sim:<endpoint>``. Unknown fields are rejected, and every problem names the file, the
field, the value and what was expected.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from controller.collision import MotionSafety
from controller.errors import ConfigError, describe_validation_errors
from controller.interlocks_live import InterlockConfig
from controller.journal import FsyncMode
from drivers.roles.couch import COUCH_AXES
from geometry import AxisMounting, Direction, Point, System

Role = Literal["positioner", "couch", "dosimeter", "environment", "tracker"]


class AxisMountingConfig(BaseModel):
    """Where a linear axis sits in the room, in an IEC 61217 system (measured once at installation)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    system: str = Field(default="f", description="IEC 61217 system the numbers are in (f: fixed, room)")
    origin_mm: tuple[float, float, float] = Field(description="the point where the axis reads 0 mm")
    direction: tuple[float, float, float] = Field(description="the direction of positive travel")

    @field_validator("direction")
    @classmethod
    def _nonzero(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if sum(c * c for c in value) < 1e-12:
            raise ValueError("a direction of (0, 0, 0) has no sense; give the axis's positive direction")
        return value

    @field_validator("system")
    @classmethod
    def _known_system(cls, value: str) -> str:
        try:
            System.parse(value)
        except Exception as err:
            raise ValueError(f"an IEC 61217 system name (f, g, b, w, r, s, e, t, p): {err}") from err
        return value

    def to_mounting(self, name: str) -> AxisMounting:
        return AxisMounting(
            name=name,
            origin=Point.from_xyz(self.system, self.origin_mm),
            direction=Direction.from_xyz(self.system, self.direction),
        )


class TrackerRegistrationConfig(BaseModel):
    """Which tracker, which of its tools are registration fiducials, and where they are in IEC f."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    tracker: str = Field(description="rig device name of the tracker")
    points_mm: dict[str, tuple[float, float, float]] = Field(
        min_length=3, description="registration tool name → its known position in IEC f (mm)"
    )
    placement_uncertainty_mm: float = Field(
        default=0.1, ge=0, description="standard uncertainty of the known positions (phantom on the lasers)"
    )


class CalibrationCertificate(BaseModel):
    """A chamber's or electrometer's calibration certificate, recorded with every run that uses it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, description="certificate number as printed")
    issuer: str = Field(default="", description="the calibration laboratory (e.g. a PSDL or ADCL)")
    coefficient: float | None = Field(default=None, description="calibration coefficient (e.g. N_D,w)")
    unit: str = Field(default="", description="unit of the coefficient, e.g. Gy/C")
    issued: date
    expires: date

    @model_validator(mode="after")
    def _expires_after_issue(self) -> CalibrationCertificate:
        if self.expires <= self.issued:
            raise ValueError(f"expires {self.expires} is not after issued {self.issued}")
        return self


class ChamberConfig(BaseModel):
    """The ionisation chamber an electrometer reads: passive, so the rig file says what it is.

    Its serial keys the QA record's history with the electrometer's (a swapped chamber starts a new one),
    and its certificate is recorded with every run and checked for expiry like the electrometer's.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    vendor: str = Field(default="", description="maker, e.g. PTW")
    model: str = Field(min_length=1, description="type as printed, e.g. TN30013")
    serial: str = Field(min_length=1, description="serial number as printed on the chamber")
    certificate: CalibrationCertificate | None = Field(
        default=None, description="the chamber's calibration certificate (e.g. N_D,w), recorded with each run"
    )


class DeviceConfig(BaseModel):
    # NaN compares false both ways: a NaN limit would make every range check pass or fail silently.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    role: Role = Field(description="what the controller uses this device for")
    driver: str = Field(description="driver key in drivers.registry, e.g. 'zaber-ascii'")
    port: str = Field(
        description="pyserial URL or path, VISA resource string, or 'sim:<endpoint>' on a simulated rig"
    )
    baudrate: int = Field(default=115200, gt=0)
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    params: dict[str, Any] = Field(
        default_factory=dict, description="driver parameters, checked by the driver"
    )
    soft_limits_mm: tuple[float, float] | None = Field(
        default=None, description="site soft limits, narrower than the device's own travel"
    )
    couch_limits: dict[str, tuple[float, float]] | None = Field(
        default=None, description="site limits per IEC couch axis (mm or deg), narrower than the device's"
    )
    mounting: AxisMountingConfig | None = Field(
        default=None, description="where the axis sits in the room (IEC 61217), for geometric reporting"
    )
    certificate: CalibrationCertificate | None = Field(
        default=None, description="calibration certificate (electrometers), recorded with each run"
    )
    chamber: ChamberConfig | None = Field(
        default=None, description="dosimeters: the ionisation chamber it reads, with its own certificate"
    )
    visa_library: str | None = Field(
        default=None,
        min_length=1,
        description="VISA library for this device's VISA resource, overriding the rig's visa_library",
    )

    def certificates(self) -> list[tuple[str, CalibrationCertificate]]:
        """The certificates a run with this device relies on, by field: its own and its chamber's."""
        held = [("certificate", self.certificate)]
        if self.chamber is not None:  # the chamber the electrometer reads is used with it
            held.append(("chamber.certificate", self.chamber.certificate))
        return [(where, certificate) for where, certificate in held if certificate is not None]

    @model_validator(mode="after")
    def _chamber_on_a_dosimeter(self) -> DeviceConfig:
        if self.chamber is not None and self.role != "dosimeter":
            raise ValueError(f"chamber: only a dosimeter reads a chamber (this device's role is {self.role})")
        return self

    @field_validator("soft_limits_mm")
    @classmethod
    def _ordered_soft_limits(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError("[low, high] in mm with low < high")
        return value

    @field_validator("couch_limits")
    @classmethod
    def _known_ordered_couch_limits(
        cls, value: dict[str, tuple[float, float]] | None
    ) -> dict[str, tuple[float, float]] | None:
        for axis, (low, high) in (value or {}).items():
            if axis not in COUCH_AXES:
                raise ValueError(f"an IEC couch axis, one of {list(COUCH_AXES)} (got {axis!r})")
            if not low <= high:
                raise ValueError(f"{axis}: [low, high] with low <= high (got {[low, high]})")
        return value


class JournalSettings(BaseModel):
    """How hard the run journal pushes its records to disk (docs/journal.md, "Durability modes")."""

    model_config = ConfigDict(extra="forbid")

    fsync: FsyncMode = Field(
        default="checkpoint",
        description="when the journal fsyncs beyond results, state changes and the end of the run: "
        "'checkpoint' also at every Checkpoint (one fsync for all records since the last: a power cut "
        "loses at most the work since the last checkpoint), 'record' after every record (loses nothing "
        "written, slowest), 'state' only at those points (loses what followed the last state change)",
    )


class RigConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    spec_version: Literal[1] = 1
    name: str
    description: str = ""
    devices: dict[str, DeviceConfig]
    gantry_deg: float = Field(
        default=0.0,
        ge=-360,
        le=360,
        description="gantry angle (IEC 61217) during the session: places keep-out volumes",
    )
    tracker_registration: TrackerRegistrationConfig | None = Field(
        default=None, description="registration phantom: tracker tools at known IEC f positions"
    )
    motion_safety: MotionSafety | None = Field(
        default=None, description="couch envelope and keep-out volumes checked on every couch path"
    )
    simulation: dict[str, Any] | None = Field(
        default=None, description="present only on a simulated rig; checked by the simulator itself"
    )
    expired_certificate: Literal["warn", "refuse"] = Field(
        default="warn", description="site rule for a run that uses a device whose certificate has expired"
    )
    interlocks: dict[str, InterlockConfig] = Field(
        default_factory=dict,
        description="signals that pause a run while open and resume it when clear (docs/pause.md)",
    )
    visa_library: str = Field(
        default="@py",
        min_length=1,
        description="VISA library for VISA resource ports (GPIB, TCPIP, USB, ASRL): '@py' (pyvisa-py), "
        "'@ivi' (the installed vendor VISA: NI-VISA, Keysight), '@sim' (pyvisa-sim) or a library path",
    )
    journal: JournalSettings = Field(
        default_factory=JournalSettings,
        description="the run journal's durability: when it fsyncs (docs/journal.md)",
    )

    @model_validator(mode="after")
    def _sim_ports_need_a_simulation(self) -> RigConfig:
        """A ``sim:`` port on a rig without a simulation section would be taken for real hardware."""
        if self.simulation is None:
            named = [
                f"devices.{name}.port = {device.port!r}"
                for name, device in self.devices.items()
                if device.port.startswith("sim:")
            ]
            if named:
                raise ValueError(f"{'; '.join(named)}: 'sim:' ports need a simulation section")
        return self

    @model_validator(mode="after")
    def _one_device_per_physical_axis(self) -> RigConfig:
        """Two names for one (port, address, axis) would send one device's moves to the other's hardware."""
        seen: dict[tuple[str, str, str], str] = {}
        for name, device in self.devices.items():
            where = (device.port, repr(device.params.get("address")), repr(device.params.get("axis")))
            if where in seen:
                raise ValueError(
                    f"devices.{name} and devices.{seen[where]} are the same physical device (port "
                    f"{device.port!r}, address {device.params.get('address')!r}, axis "
                    f"{device.params.get('axis')!r}): expected one device entry per port, address and axis"
                )
            seen[where] = name
        return self

    @property
    def simulated(self) -> bool:
        return self.simulation is not None


DEFAULT_RIG = Path(__file__).with_name("default_rig.yaml")


def rig_field_parent(raw: dict[str, Any], path: str, source: str) -> tuple[Any, str]:
    """The mapping holding a dotted rig-file path's last field, and that field's name (--set, drifts)."""
    target: Any = raw
    keys = path.split(".")
    for key in keys[:-1]:
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, dict) and key.isdigit() and int(key) in target:
            target = target[int(key)]
        else:
            raise ConfigError(source, [f"{path}: no field {key!r} in the rig file"])
    return target, keys[-1]


def load_rig_config(path: Path | str | None = None) -> RigConfig:
    """Load and validate a rig file (YAML or TOML); the built-in simulated rig when ``path`` is None."""
    source = Path(path) if path is not None else DEFAULT_RIG
    raw = read_structured_file(source)
    try:
        return RigConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"rig file {str(source)!r}", describe_validation_errors(err.errors())) from err


class UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping.

    Plain YAML keeps the last of two equal keys: a second ``phantom_x:`` entry in a rig file would
    silently replace the first and calibrate the wrong axis.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it below
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first given on line {first.start_mark.line + 1}); "
                    "expected each key once",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> object:
    """``yaml.safe_load`` that refuses duplicate keys (see ``UniqueKeyLoader``)."""
    return yaml.load(text, Loader=UniqueKeyLoader)


def read_structured_file(source: Path) -> dict[str, Any]:
    """Parse YAML or TOML by suffix; a syntax error names the file and the position."""
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"file {str(source)!r}", [f"cannot read: {err.strerror}"]) from err
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"file {str(source)!r}",
            [f"byte {err.object[err.start : err.start + 1]!r} at offset {err.start}: expected UTF-8 text"],
        ) from err
    try:
        if source.suffix.lower() == ".toml":
            data: object = tomllib.loads(text)
        else:
            data = load_yaml(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"file {str(source)!r}", [f"not valid {source.suffix.lstrip('.')}: {err}"]) from err
    if not isinstance(data, dict):
        raise ConfigError(
            f"file {str(source)!r}", [f"top level = {type(data).__name__}: expected a mapping of fields"]
        )
    return data
