"""Room air (temperature, pressure) and a simulated sensor that reports it over a minimal ASCII protocol.

The room is a world model: slow, deterministic drift evaluated lazily at ``clock.now()``::

    T(t) = T0 + a_T·sin(2π t / P_T) + k_T·t            (°C)
    p(t) = p0 + a_p·sin(2π t / P_p + φ) + k_p·t        (hPa)

plus step changes a test injects with ``set_conditions``. Open (vented) ion chambers see the same air, so the
chamber model scales its signal by the air density ratio ``(p/p_ref)·(T_ref + 273.15)/(T + 273.15)``; that is
what the k_TP correction undoes.

**The sensor protocol is hilcal's own** (no vendor manual; it stands in for whatever barometer/thermometer a
site uses). ASCII, one command per line (CR, LF or CRLF, case-insensitive), one reply line ended by LF:

======================  =============================  ==========================================
command                 reply                          meaning
======================  =============================  ==========================================
``*IDN?``               ``HILCAL,SIMENV,<serial>,1.0`` identity (serial, firmware from the config)
``MEAS:TEMP?``          ``22.13``                      air temperature in °C, two decimals
``MEAS:PRES?``          ``1013.25``                    absolute air pressure in hPa, two decimals
anything else           ``ERR``                        unknown command
======================  =============================  ==========================================
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from simulators.clock import Clock
from simulators.world import World

ZERO_CELSIUS_K = 273.15
_LINE_END = re.compile(rb"[\r\n]")
MAX_LINE_BYTES = 1024


class RoomEnvironmentConfig(BaseModel):
    """The room's air at clock time 0 and how it drifts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature_c: float = Field(22.0, ge=-40.0, le=80.0)
    pressure_hpa: float = Field(1013.25, ge=500.0, le=1200.0)
    temperature_amplitude_c: float = Field(0.2, ge=0)
    temperature_period_s: float = Field(3600.0, gt=0)
    temperature_rate_c_per_h: float = 0.0
    pressure_amplitude_hpa: float = Field(0.3, ge=0)
    pressure_period_s: float = Field(7200.0, gt=0)
    pressure_rate_hpa_per_h: float = 0.0


class RoomEnvironment:
    """The air of one room; thread-safe, deterministic, evaluated at ``clock.now()``."""

    def __init__(self, name: str, config: RoomEnvironmentConfig, *, clock: Clock) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._t_offset_c = 0.0
        self._p_offset_hpa = 0.0

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> RoomEnvironmentConfig:
        return self._config

    def __repr__(self) -> str:
        return f"RoomEnvironment({self._name!r})"

    def temperature_c(self, t: float | None = None) -> float:
        c = self._config
        at = self._clock.now() if t is None else t
        with self._lock:
            offset = self._t_offset_c
        drift = c.temperature_amplitude_c * math.sin(2 * math.pi * at / c.temperature_period_s)
        return c.temperature_c + offset + drift + c.temperature_rate_c_per_h * at / 3600.0

    def pressure_hpa(self, t: float | None = None) -> float:
        c = self._config
        at = self._clock.now() if t is None else t
        with self._lock:
            offset = self._p_offset_hpa
        drift = c.pressure_amplitude_hpa * math.sin(2 * math.pi * at / c.pressure_period_s + 1.0)
        return c.pressure_hpa + offset + drift + c.pressure_rate_hpa_per_h * at / 3600.0

    def set_conditions(
        self, *, temperature_c: float | None = None, pressure_hpa: float | None = None
    ) -> None:
        """Step the air to these values now (the drift continues around them)."""
        now = self._clock.now()
        if temperature_c is not None:
            current = self.temperature_c(now)
            with self._lock:
                self._t_offset_c += temperature_c - current
        if pressure_hpa is not None:
            current = self.pressure_hpa(now)
            with self._lock:
                self._p_offset_hpa += pressure_hpa - current

    def air_density_ratio(
        self, t: float | None = None, *, reference_temperature_c: float, reference_pressure_hpa: float
    ) -> float:
        """ρ(t)/ρ_ref for dry air: ``(p/p_ref)·(T_ref + 273.15)/(T + 273.15)``; k_TP is its inverse."""
        at = self._clock.now() if t is None else t
        p, temp = self.pressure_hpa(at), self.temperature_c(at)
        return (
            (p / reference_pressure_hpa)
            * (reference_temperature_c + ZERO_CELSIUS_K)
            / (temp + ZERO_CELSIUS_K)
        )


def add_room_environment(world: World, name: str, config: RoomEnvironmentConfig) -> RoomEnvironment:
    """Build a ``RoomEnvironment`` on the world's clock and register it."""
    return world.add(RoomEnvironment(name, config, clock=world.clock))


class EnvironmentSensorConfig(BaseModel):
    """One simulated thermometer/barometer looking at a room; offsets model a miscalibrated sensor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str = "room"
    #: ``*IDN?`` answers ``HILCAL,SIMENV,<serial>,<firmware>``.
    serial: str = "ENV0001"
    firmware: str = "1.0"
    temperature_noise_c: float = Field(0.01, ge=0)
    pressure_noise_hpa: float = Field(0.02, ge=0)
    temperature_offset_c: float = 0.0
    pressure_offset_hpa: float = 0.0
    #: Fixed TCP port when served; 0 picks a free one.
    tcp_port: int = Field(0, ge=0, le=65535)


class EnvironmentSensorSession:
    """One connection: buffers partial lines and answers each complete one."""

    def __init__(self, sensor: EnvironmentSensorSim) -> None:
        self._sensor = sensor
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        lines = _LINE_END.split(self._buffer + data)
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_LINE_BYTES:
            self._buffer = b""
        return b"".join(self._sensor.execute(line) for line in lines if line.strip())

    def poll(self) -> bytes:
        return b""


class EnvironmentSensorSim:
    """The front-end of one simulated sensor (``FrontEnd``: ``session()`` per connection)."""

    def __init__(self, world: World, config: EnvironmentSensorConfig) -> None:
        self.config = config
        self.room = world.get(config.environment, RoomEnvironment)
        self._rng: np.random.Generator = world.rng_for(f"sensor:{config.serial}")
        self._lock = threading.Lock()
        self._default_session = EnvironmentSensorSession(self)

    def session(self) -> EnvironmentSensorSession:
        return EnvironmentSensorSession(self)

    def feed(self, data: bytes) -> bytes:
        return self._default_session.feed(data)

    def poll(self) -> bytes:
        return b""

    def read_temperature_c(self) -> float:
        """One reading as the sensor reports it (offset + noise, rounded to 0.01 °C)."""
        c = self.config
        with self._lock:
            noise = float(self._rng.normal(0.0, c.temperature_noise_c)) if c.temperature_noise_c else 0.0
        return round(self.room.temperature_c() + c.temperature_offset_c + noise, 2)

    def read_pressure_hpa(self) -> float:
        """One reading as the sensor reports it (offset + noise, rounded to 0.01 hPa)."""
        c = self.config
        with self._lock:
            noise = float(self._rng.normal(0.0, c.pressure_noise_hpa)) if c.pressure_noise_hpa else 0.0
        return round(self.room.pressure_hpa() + c.pressure_offset_hpa + noise, 2)

    def execute(self, line: bytes) -> bytes:
        """Answer one command line (no terminator)."""
        command = line.decode("ascii", errors="replace").strip().upper()
        if command == "*IDN?":
            reply = f"HILCAL,SIMENV,{self.config.serial},{self.config.firmware}"
        elif command == "MEAS:TEMP?":
            reply = f"{self.read_temperature_c():.2f}"
        elif command == "MEAS:PRES?":
            reply = f"{self.read_pressure_hpa():.2f}"
        else:
            reply = "ERR"
        return reply.encode("ascii") + b"\n"

    def __repr__(self) -> str:
        return f"EnvironmentSensorSim(serial={self.config.serial!r}, room={self.room.name!r})"


def build_environment_sensors(
    world: World, configs: Mapping[str, EnvironmentSensorConfig]
) -> dict[str, EnvironmentSensorSim]:
    """One sensor front-end per config, keyed like ``configs`` (the rooms must already be in the world)."""
    return {name: EnvironmentSensorSim(world, config) for name, config in configs.items()}
