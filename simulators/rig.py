"""A whole simulated rig from one validated config: clock, world, protocol front-ends and their servers.

This is the single entry point the controller's rig factory uses (an import-linter contract allows only
``controller.rig.factory -> simulators.rig``), and what ``hilcal sim serve`` runs for outside clients.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.clock import Clock, RealTimeClock, VirtualClock
from simulators.electrometer import (
    BEAM_NAME,
    Electrometer,
    ElectrometerConfig,
    build_dosimetry_models,
    check_dosimetry_wiring,
)
from simulators.environment import EnvironmentSensorConfig, RoomEnvironmentConfig, build_environment_sensors
from simulators.faults import FaultyFrontEnd
from simulators.hexapod import Hexapod, HexapodConfig
from simulators.keithley6517b import Keithley6517bConfig, build_keithley6517b
from simulators.ndi import NdiCombinedApiSim, NdiConfig, build_ndi_sensors, check_ndi_wiring
from simulators.pi_gcs import (
    PiGcsControllerConfig,
    PiGcsControllerSim,
    build_pi_gcs_controllers,
    check_pi_gcs_wiring,
)
from simulators.proton import (
    PROTON_NAME,
    ProtonBeamConfig,
    ProtonSource,
    add_proton_source,
    check_proton_wiring,
)
from simulators.ptw_unidos import UnidosConfig, build_unidos
from simulators.radiation import RadiationSource, RadiationSourceConfig
from simulators.serve import FrontEnd, PtyServer, TcpServer
from simulators.stage import StageConfig
from simulators.tracker import (
    OpticalTracker,
    Placement,
    ToolMount,
    TrackedToolConfig,
    TrackerConfig,
    build_trackers,
    check_tracker_wiring,
)
from simulators.water_tank import (
    ScannerAxisConfig,
    WaterTankConfig,
    WaterTankScanner,
    build_water_tanks,
    check_water_tank_wiring,
)
from simulators.world import World
from simulators.zaber import ZaberChainSimulator, ZaberDeviceSim

ServeKind = Literal["pty", "tcp"]


class ZaberDeviceConfig(BaseModel):
    """One device on a Zaber chain; ``axes[i]`` is the stage driven by axis i + 1."""

    model_config = ConfigDict(extra="forbid")

    axes: list[str] = Field(min_length=1)
    #: Identity answered to ``get deviceid``/``device.id``, ``system.serial``, ``version``, ``version.build``.
    device_id: int = 50081
    serial: int = Field(ge=0)
    firmware: str = "7.32"
    build: int = Field(12345, ge=0)


class ZaberChainConfig(BaseModel):
    """The devices behind one port, keyed by address (1..99)."""

    model_config = ConfigDict(extra="forbid")

    devices: dict[int, ZaberDeviceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _addresses(self) -> ZaberChainConfig:
        bad = [a for a in self.devices if not 1 <= a <= 99]
        if bad:
            raise ValueError(f"Zaber device addresses are 1..99, got {bad}")
        return self


class SimulationConfig(BaseModel):
    """Everything that defines a simulated rig; ``seed`` fixes all noise, ``clock`` picks the time line."""

    model_config = ConfigDict(extra="forbid")

    clock: Literal["virtual", "realtime"] = "virtual"
    serve: ServeKind = "pty"
    seed: int = 0
    stages: dict[str, StageConfig] = Field(default_factory=dict)
    zaber_chains: dict[str, ZaberChainConfig] = Field(default_factory=dict)
    hexapods: dict[str, HexapodConfig] = Field(default_factory=dict)
    pi_gcs_controllers: dict[str, PiGcsControllerConfig] = Field(default_factory=dict)
    radiation: RadiationSourceConfig | None = None
    #: A proton pencil beam (world name ``proton``; chambers opt in with ``source: proton``).
    proton: ProtonBeamConfig | None = None
    environments: dict[str, RoomEnvironmentConfig] = Field(default_factory=dict)
    electrometers: dict[str, ElectrometerConfig] = Field(default_factory=dict)
    unidos: dict[str, UnidosConfig] = Field(default_factory=dict)
    keithley6517b: dict[str, Keithley6517bConfig] = Field(default_factory=dict)
    environment_sensors: dict[str, EnvironmentSensorConfig] = Field(default_factory=dict)
    #: Scanners composed of the stages above (world models).
    water_tanks: dict[str, WaterTankConfig] = Field(default_factory=dict)
    #: Optical trackers, each with the marker tools it sees (world models; tool names are world names).
    trackers: dict[str, TrackerConfig] = Field(default_factory=dict)
    #: NDI Combined API position sensors on those trackers (served endpoints).
    ndi_sensors: dict[str, NdiConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _axes_are_stages(self) -> SimulationConfig:
        used: dict[str, str] = {}
        for chain_name, chain in self.zaber_chains.items():
            for address, device in chain.devices.items():
                for axis_name in device.axes:
                    where = f"chain {chain_name!r} device {address}"
                    if axis_name not in self.stages:
                        raise ValueError(f"{where} drives unknown stage {axis_name!r}")
                    if axis_name in used:
                        raise ValueError(f"stage {axis_name!r} driven twice ({used[axis_name]}, {where})")
                    used[axis_name] = where
        check_pi_gcs_wiring(self.hexapods, self.pi_gcs_controllers)
        check_dosimetry_wiring(
            self.radiation,
            self.environments,
            self.electrometers,
            {"unidos": self.unidos, "keithley6517b": self.keithley6517b},
            self.environment_sensors,
            proton=self.proton is not None,
        )
        chambers = {n: (e.source, e.water_tank) for n, e in self.electrometers.items()}
        check_proton_wiring(self.proton, chambers, self.water_tanks)
        check_water_tank_wiring(self.stages, self.water_tanks)
        check_tracker_wiring(self.hexapods, self.water_tanks, self.trackers)
        check_ndi_wiring(self.trackers, self.ndi_sensors)
        beam = [BEAM_NAME] if self.radiation is not None else []
        beam += [PROTON_NAME] if self.proton is not None else []
        tools = [tool for tracker in self.trackers.values() for tool in tracker.tools]
        _unique(
            "world model",
            [
                *self.stages,
                *self.hexapods,
                *beam,
                *self.environments,
                *self.electrometers,
                *self.water_tanks,
                *self.trackers,
                *tools,
            ],
        )
        _unique(
            "served endpoint",
            [
                *self.zaber_chains,
                *self.pi_gcs_controllers,
                *self.unidos,
                *self.keithley6517b,
                *self.environment_sensors,
                *self.ndi_sensors,
            ],
        )
        return self


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{kind} name {name!r} is used twice")
        seen.add(name)


def default_simulation_config(
    *, clock: Literal["virtual", "realtime"] = "virtual", serve: ServeKind = "pty", seed: int = 0
) -> SimulationConfig:
    """The built-in rig: one phantom stage, 0–300 mm, on Zaber chain "phantom" (device 1, axis 1).

    Its errors sit well inside a 0.5 mm accuracy / 0.2 mm backlash tolerance, so a W1-style check should pass:
    backlash 0.02 mm, pitch error 30 µm/m (9 µm over the travel), encoder noise 2 µm RMS.
    """
    return SimulationConfig(
        clock=clock,
        serve=serve,
        seed=seed,
        stages={
            "phantom_x": StageConfig(
                travel_mm=(0.0, 300.0),
                max_speed_mm_s=20.0,
                accel_mm_s2=100.0,
                backlash_mm=0.02,
                pitch_error_um_per_m=30.0,
                noise_um=2.0,
            )
        },
        zaber_chains={
            "phantom": ZaberChainConfig(devices={1: ZaberDeviceConfig(axes=["phantom_x"], serial=33001)})
        },
    )


def tracking_simulation_config(
    *, clock: Literal["virtual", "realtime"] = "virtual", serve: ServeKind = "pty", seed: int = 0
) -> SimulationConfig:
    """A rig for the geometric sequences: couch hexapod, 3-axis water tank, and a tracker that sees both.

    * stages ``phantom_x`` (the default rig's), ``phantom_y``, ``phantom_z`` on Zaber chain ``phantom``
      (devices 1, 2, 3); water tank ``tank`` composes them: +X, +Y, +Z from ``(-150, -150, -250)`` mm, so
      mid-travel puts the carriage at (0, 0, −100) mm in IEC f;
    * hexapod ``couch_hexapod`` (origin at the isocentre) on PI controller ``couch_c887``;
    * tracker ``tracker`` on the ceiling at the foot end, (0, −1600, 1200) mm looking at the isocentre, with
      tools ``reference`` (fixed in the room at (250, −250, 0) mm), ``couch_tool`` (table top, (0, −300, 30))
      and ``tank_tool`` (carriage, 50 mm above its reference point);
    * NDI sensor ``vega`` (Polaris Vega, BX) with ROMs expected in the order reference, couch, tank.
    """
    stage = {"max_speed_mm_s": 20.0, "accel_mm_s2": 100.0, "backlash_mm": 0.02, "noise_um": 2.0}
    return SimulationConfig(
        clock=clock,
        serve=serve,
        seed=seed,
        stages={
            "phantom_x": StageConfig(travel_mm=(0.0, 300.0), pitch_error_um_per_m=30.0, **stage),
            "phantom_y": StageConfig(travel_mm=(0.0, 300.0), pitch_error_um_per_m=-20.0, **stage),
            "phantom_z": StageConfig(travel_mm=(0.0, 300.0), pitch_error_um_per_m=10.0, **stage),
        },
        zaber_chains={
            "phantom": ZaberChainConfig(
                devices={
                    1: ZaberDeviceConfig(axes=["phantom_x"], serial=33001),
                    2: ZaberDeviceConfig(axes=["phantom_y"], serial=33002),
                    3: ZaberDeviceConfig(axes=["phantom_z"], serial=33003),
                }
            )
        },
        hexapods={"couch_hexapod": HexapodConfig()},
        pi_gcs_controllers={"couch_c887": PiGcsControllerConfig(hexapod="couch_hexapod")},
        water_tanks={
            "tank": WaterTankConfig(
                origin_mm=(-150.0, -150.0, -250.0),
                axes={
                    "x": ScannerAxisConfig(stage="phantom_x", direction="+X"),
                    "y": ScannerAxisConfig(stage="phantom_y", direction="+Y"),
                    "z": ScannerAxisConfig(stage="phantom_z", direction="+Z"),
                },
            )
        },
        trackers={
            "tracker": TrackerConfig(
                tools={
                    "reference": TrackedToolConfig(
                        mount=ToolMount(kind="room"), pose=Placement(translation_mm=(250.0, -250.0, 0.0))
                    ),
                    "couch_tool": TrackedToolConfig(
                        mount=ToolMount(kind="hexapod", name="couch_hexapod"),
                        pose=Placement(translation_mm=(0.0, -300.0, 30.0)),
                    ),
                    "tank_tool": TrackedToolConfig(
                        mount=ToolMount(kind="water_tank", name="tank"),
                        pose=Placement(translation_mm=(0.0, 0.0, 50.0)),
                    ),
                }
            )
        },
        ndi_sensors={"vega": NdiConfig(tracker="tracker", tools=["reference", "couch_tool", "tank_tool"])},
    )


class SimulatedBeam:
    """Beam on/off for the controller, acting on every beam the simulated room has (the photon source and
    the proton pencil beam): the operator's "beam on" is one switch, and each chamber sees only its own
    source, so a rig with both serves photon and proton sequences alike."""

    def __init__(self, rig: SimulatedRig) -> None:
        self._rig = rig

    def beam_on(self, dose_rate_gy_per_min: float) -> None:
        sources = [s for s in (self._rig.radiation, self._rig.proton) if s is not None]
        if not sources:
            raise RuntimeError("the simulated rig has no radiation source configured")
        for source in sources:
            source.beam_on(dose_rate_gy_per_min)

    def beam_off(self) -> None:
        for source in (self._rig.radiation, self._rig.proton):
            if source is not None:
                source.beam_off()


class SimulatedRig:
    """Builds the world from ``config`` and serves every chain; ``close()`` (or ``with``) stops the servers.

    With ``serve_both`` each chain is served over a pty *and* TCP (for ``hilcal sim serve``); ``endpoint``
    then returns the kind named in ``config.serve`` unless asked for the other.
    """

    def __init__(self, config: SimulationConfig, *, serve_both: bool = False) -> None:
        self.config = config
        self.clock: Clock = VirtualClock() if config.clock == "virtual" else RealTimeClock()
        self.world = World(self.clock, seed=config.seed)
        for name, stage_config in config.stages.items():
            self.world.add_stage(name, stage_config)
        self.chains: dict[str, ZaberChainSimulator] = {}
        for chain_name, chain_config in config.zaber_chains.items():
            devices = {
                addr: ZaberDeviceSim(
                    d.axes, device_id=d.device_id, serial=d.serial, firmware=d.firmware, build=d.build
                )
                for addr, d in chain_config.devices.items()
            }
            self.chains[chain_name] = ZaberChainSimulator(self.world, devices)
        self.pi_controllers: dict[str, PiGcsControllerSim] = build_pi_gcs_controllers(
            self.world, config.hexapods, config.pi_gcs_controllers
        )
        # Every served front-end by endpoint name: (protocol, front-end, fixed TCP port or 0).
        self.frontends: dict[str, tuple[str, FrontEnd, int]] = {}
        for chain_name, chain in self.chains.items():
            self.frontends[chain_name] = ("zaber-ascii", chain, 0)
        for name, controller in self.pi_controllers.items():
            self.frontends[name] = ("pi-gcs2", controller, config.pi_gcs_controllers[name].tcp_port)
        self.proton: ProtonSource | None = None
        if config.proton is not None:
            self.proton = add_proton_source(self.world, PROTON_NAME, config.proton)
        self.radiation: RadiationSource | None = build_dosimetry_models(
            self.world, config.radiation, config.environments, config.electrometers
        )
        for name, unidos in build_unidos(self.world, config.unidos).items():
            self.frontends[name] = ("ptw-unidos", unidos, config.unidos[name].tcp_port)
        for name, keithley in build_keithley6517b(self.world, config.keithley6517b).items():
            self.frontends[name] = ("keithley-6517b", keithley, config.keithley6517b[name].tcp_port)
        for name, sensor in build_environment_sensors(self.world, config.environment_sensors).items():
            self.frontends[name] = ("hilcal-env", sensor, config.environment_sensors[name].tcp_port)
        self.water_tanks: dict[str, WaterTankScanner] = build_water_tanks(self.world, config.water_tanks)
        self.trackers: dict[str, OpticalTracker] = build_trackers(self.world, config.trackers)
        self.ndi_sensors: dict[str, NdiCombinedApiSim] = build_ndi_sensors(self.world, config.ndi_sensors)
        for name, ndi in self.ndi_sensors.items():
            self.frontends[name] = ("ndi-combined-api", ndi, config.ndi_sensors[name].tcp_port)
        kinds: tuple[ServeKind, ...] = ("pty", "tcp") if serve_both else (config.serve,)
        self._pty: dict[str, PtyServer] = {}
        self._tcp: dict[str, TcpServer] = {}
        #: Every endpoint is served through a fault layer (simulators/faults.py, docs/faults.md).
        self.wires: dict[str, FaultyFrontEnd] = {
            name: FaultyFrontEnd(frontend, name) for name, (_, frontend, _) in self.frontends.items()
        }
        try:
            for name, (_, _, port) in self.frontends.items():
                wire = self.wires[name]
                if "pty" in kinds:
                    self._pty[name] = PtyServer(wire).start()
                if "tcp" in kinds:
                    self._tcp[name] = TcpServer(wire, port=port).start()
        except BaseException:
            self.close()
            raise

    def endpoint(self, chain_name: str, kind: ServeKind | None = None) -> str:
        """Where a client connects: a pty path (``/dev/pts/N``) or a ``socket://127.0.0.1:PORT`` URL."""
        if chain_name not in self.frontends:
            raise KeyError(f"no served endpoint named {chain_name!r} (have {sorted(self.frontends)})")
        kind = kind or self.config.serve
        if kind == "pty" and chain_name in self._pty:
            return self._pty[chain_name].path
        if kind == "tcp" and chain_name in self._tcp:
            return self._tcp[chain_name].url
        raise KeyError(f"chain {chain_name!r} is not served over {kind}")

    def load_table_top(self, endpoint: str, payload_kg: float) -> None:
        """Put ``payload_kg`` on the table top of the hexapod behind PI controller ``endpoint``."""
        if endpoint not in self.pi_controllers:
            known = sorted(self.pi_controllers)
            raise KeyError(f"no simulated couch controller named {endpoint!r} (have {known})")
        hexapod = self.config.pi_gcs_controllers[endpoint].hexapod
        self.world.get(hexapod, Hexapod).set_payload(payload_kg)

    def place_chambers(self, endpoint: str, other: str, swapped: bool) -> None:
        """The chambers read behind electrometer endpoints ``endpoint`` and ``other`` at each other's
        configured positions (``swapped``) or back at their own (an operator's swap, cross-calibration)."""
        readers: dict[str, UnidosConfig | Keithley6517bConfig] = {
            **self.config.unidos,
            **self.config.keithley6517b,
        }
        chambers = []
        for name in (endpoint, other):
            if name not in readers:
                raise KeyError(f"no simulated electrometer named {name!r} (have {sorted(readers)})")
            chamber = readers[name].electrometer
            if self.config.electrometers[chamber].water_tank is not None:
                raise ValueError(f"chamber {chamber!r} rides on a water-tank carriage; the tank places it")
            chambers.append(chamber)
        homes = [self.config.electrometers[c].chamber_position_mm for c in chambers]
        targets = homes[::-1] if swapped else homes
        for chamber, target in zip(chambers, targets, strict=True):
            self.world.get(chamber, Electrometer).set_chamber_position(target)

    def kill(self) -> None:
        """The simulator process dies: every link hangs up and the devices lose power (motion stops dead,
        the beam goes off), as a controller cabinet losing its supply would."""
        for wire in self.wires.values():
            wire.cut()
        self.world.emergency_stop()
        if self.radiation is not None:
            self.radiation.beam_off()
        if self.proton is not None:
            self.proton.beam_off()

    def freeze(self) -> None:
        """The simulator process hangs: no endpoint reads or answers; the physics goes on (moves finish)."""
        for wire in self.wires.values():
            wire.freeze()

    def beam_control(self) -> SimulatedBeam:
        """What the controller uses to switch the simulated beam (a real rig asks the operator)."""
        return SimulatedBeam(self)

    def describe(self) -> list[dict[str, Any]]:
        """One entry per served endpoint: name, protocol, tcp_port or None, pty_path or None."""
        return [
            {
                "name": name,
                "protocol": protocol,
                "tcp_port": self._tcp[name].port if name in self._tcp else None,
                "pty_path": self._pty[name].path if name in self._pty else None,
            }
            for name, (protocol, _, _) in self.frontends.items()
        ]

    def close(self) -> None:
        """Stop every server (idempotent)."""
        servers: list[PtyServer | TcpServer] = [*self._pty.values(), *self._tcp.values()]
        self._pty, self._tcp = {}, {}
        errors: list[Exception] = []
        for server in servers:
            try:
                server.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> SimulatedRig:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SimulatedRig(endpoints={list(self.frontends)}, clock={self.clock!r})"
