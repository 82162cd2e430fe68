"""The rig factory: the one place runtime code reaches the simulators.

A rig file becomes live devices here. A real rig opens real ports with wall time; a simulated rig first
starts the simulated world (virtual or real-time clock) and serves each simulated chain over a real
transport (pty or TCP), then opens those endpoints exactly as it would open hardware, so the drivers
above cannot tell the difference.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from controller.config import RigConfig
from controller.devices import DeviceSet, NoBeam
from controller.errors import ConfigError, describe_validation_errors
from controller.interlocks_live import Interlock, build_interlocks
from controller.run_control import RunControl
from drivers.clock import Clock, WallClock
from drivers.registry import DRIVER_PLUGIN_PROBLEMS, DRIVERS, PortPool
from drivers.roles.positioner import AxisPositioner
from drivers.transport import Transport, open_transport
from drivers.transport.base import ExchangeListener
from drivers.transport.visa import VisaLibraryError

SIM_PREFIX = "sim:"


@dataclass
class Rig:
    config: RigConfig
    clock: Clock
    devices: DeviceSet
    pool: PortPool
    simulation: Any | None = None  # simulators.rig.SimulatedRig on a simulated rig
    #: Signals that pause a run while open (rig file ``interlocks:``; a simulated room's door), with poll
    #: intervals; and the console's (or a test's) handle on the run, set before the engine starts.
    interlocks: list[tuple[Interlock, float]] = field(default_factory=list)
    control: RunControl | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def positioners(self) -> dict[str, AxisPositioner]:
        return self.devices.positioners

    @property
    def transports(self) -> list[Transport]:
        return list(self.pool.transports.values())

    def add_exchange_listener(self, listener: ExchangeListener) -> None:
        for transport in self.transports:
            transport.add_listener(listener)

    def connect_all(self) -> None:
        for _, device in self.devices.all():
            device.connect()

    def close(self) -> None:
        """Close devices, then ports, then the simulated world; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            for _, device in self.devices.all():
                device.close()
            for source, _ in self.interlocks:
                source.close()
        finally:
            self.pool.close()
            if self.simulation is not None:
                self.simulation.close()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimulatedOperator:
    """Performs the operator's actions in the simulated world (a load really deflects the simulated couch)."""

    def __init__(self, simulation: Any, config: RigConfig) -> None:
        self._simulation = simulation
        self._config = config

    def load_couch(self, device: str, payload_kg: float, description: str) -> None:
        port = self._config.devices[device].port
        if not port.startswith(SIM_PREFIX):
            raise RuntimeError(f"{device}: not a simulated couch (port {port!r}); load it by hand")
        self._simulation.load_table_top(port[len(SIM_PREFIX) :], payload_kg)

    def place_chambers(self, device: str, other: str, swapped: bool, description: str) -> None:
        ports = [self._config.devices[name].port for name in (device, other)]
        if not all(port.startswith(SIM_PREFIX) for port in ports):
            raise RuntimeError(f"{device}, {other}: not simulated electrometers ({ports}); move them by hand")
        first, second = (port[len(SIM_PREFIX) :] for port in ports)
        self._simulation.place_chambers(first, second, swapped)


def visa_library_for(config: RigConfig, port: str) -> str:
    """The VISA library of a port: a device's own ``visa_library`` on it, else the rig's."""
    chosen = [d.visa_library for d in config.devices.values() if d.port == port and d.visa_library]
    return chosen[0] if chosen else config.visa_library


def visa_library_problem(config: RigConfig, name: str, err: VisaLibraryError) -> str:
    """A VISA library that cannot be loaded, named by the rig-file field that chose it."""
    device = config.devices[name]
    field_name = f"devices.{name}.visa_library" if device.visa_library else "visa_library"
    return (
        f"{field_name} = {err.library!r}: cannot load this VISA library ({err.reason}); expected '@py' "
        "(pyvisa-py), '@ivi' (a vendor VISA such as NI-VISA or Keysight VISA, installed on this machine), "
        f"'@sim' (pyvisa-sim, installed) or the path of a VISA shared library — devices.{name} on port "
        f"{device.port!r} is reached through VISA"
    )


def visa_resource_for(endpoint: str) -> str:
    """The VISA resource string of a simulated endpoint, so SCPI drivers go through pyvisa as on hardware."""
    if endpoint.startswith("socket://"):
        host, _, port = endpoint[len("socket://") :].rpartition(":")
        return f"TCPIP::{host}::{port}::SOCKET"
    return f"ASRL{endpoint}::INSTR"


def start_simulation(config: RigConfig, source: str, serve_both: bool = False) -> Any:
    """Validate the rig's ``simulation`` section with the simulator's own model and start it."""
    from simulators.rig import SimulatedRig, SimulationConfig

    try:
        sim_config = SimulationConfig.model_validate(config.simulation)
    except ValidationError as err:
        raise ConfigError(source, describe_validation_errors(err.errors(), prefix="simulation")) from err
    return SimulatedRig(sim_config, serve_both=serve_both)


def build_rig(config: RigConfig, source: str = "rig", devices: Collection[str] | None = None) -> Rig:
    """Build (but do not connect) the rig's devices; no device I/O happens here except opening ports.

    Every device entry is checked, but only ``devices`` (all when None) are built and their ports opened:
    a run opens what its sequence uses, so an unplugged instrument it does not need cannot stop it.
    """
    simulation = start_simulation(config, source) if config.simulated else None
    clock: Clock = simulation.clock if simulation is not None else WallClock()
    problems: list[str] = []
    parsed: dict[str, tuple[Any, Any]] = {}
    for name, device in config.devices.items():
        spec = DRIVERS.get(device.driver)
        if spec is None:
            broken = "".join(f"; {p}" for p in DRIVER_PLUGIN_PROBLEMS if p.name == device.driver)
            problems.append(
                f"devices.{name}.driver = {device.driver!r}: expected one of {sorted(DRIVERS)}{broken}"
            )
            continue
        if spec.role != device.role:
            problems.append(
                f"devices.{name}.role = {device.role!r}: driver {device.driver!r} is a {spec.role}"
            )
            continue
        try:
            parsed[name] = (spec, spec.params_model.model_validate(device.params))
        except ValidationError as err:
            problems.extend(describe_validation_errors(err.errors(), prefix=f"devices.{name}.params"))
        if device.port.startswith(SIM_PREFIX) and simulation is None:
            problems.append(f"devices.{name}.port = {device.port!r}: 'sim:' ports need a simulation section")
    if problems:
        if simulation is not None:
            simulation.close()
        raise ConfigError(source, problems)

    def open_port(port: str, label: str) -> Transport:
        timeout = min(d.timeout_s for d in config.devices.values() if d.port == port)
        baud = next(d.baudrate for d in config.devices.values() if d.port == port)
        library = visa_library_for(config, port)
        address = port
        if port.startswith(SIM_PREFIX):
            assert simulation is not None  # checked above: sim ports need a simulation section
            address = simulation.endpoint(port[len(SIM_PREFIX) :])
            if any(DRIVERS[d.driver].visa_native for d in config.devices.values() if d.port == port):
                address = visa_resource_for(address)
        return open_transport(address, device=label, timeout_s=timeout, baudrate=baud, visa_library=library)

    pool = PortPool(open_port)
    live = DeviceSet(beam=simulation.beam_control() if simulation is not None else NoBeam())
    if simulation is not None:
        live.operator = SimulatedOperator(simulation, config)
    by_role: dict[str, dict[str, Any]] = {
        "positioner": live.positioners,
        "couch": live.couches,
        "dosimeter": live.dosimeters,
        "environment": live.environment,
        "tracker": live.trackers,
    }
    try:
        for name, (spec, params) in parsed.items():
            if devices is not None and name not in devices:
                continue
            device = config.devices[name]
            try:
                by_role[device.role][name] = spec.build(name, device.port, params, pool, clock)
            except ConfigError:
                raise
            except VisaLibraryError as err:
                problems.append(visa_library_problem(config, name, err))
            except Exception as err:  # a port that is not there, no VISA library, a missing ROM …
                problems.append(
                    f"devices.{name}: cannot open it on port {device.port!r}: {type(err).__name__}: {err}"
                )
        if problems:
            raise ConfigError(source, problems)
        try:
            interlocks = build_interlocks(
                config.interlocks, simulation.world.room_door() if simulation is not None else None
            )
        except Exception as err:  # a port that is not there, a simulated door on a real rig
            raise ConfigError(source, [f"interlocks: {type(err).__name__}: {err}"]) from err
    except BaseException:
        pool.close()
        if simulation is not None:
            simulation.close()
        raise
    return Rig(
        config=config, clock=clock, devices=live, pool=pool, simulation=simulation, interlocks=interlocks
    )


def serve_simulation(config: RigConfig, source: str) -> Any:
    """Start a rig's simulated world in real time on both pty and TCP, for outside clients."""
    if config.simulation is None:
        raise ConfigError(source, ["simulation: required to serve a simulated rig"])
    live = dict(config.simulation)
    live["clock"] = "realtime"
    return start_simulation(config.model_copy(update={"simulation": live}), source, serve_both=True)
