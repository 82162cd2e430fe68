"""Environment readings (air temperature and pressure for k_TP) with their provenance.

A reading enters a run either typed in by an operator (who, and when) or read from a sensor (which one).
Both pass the same plausibility guards as the k_TP calculation (``dosimetry.units``), so a thermometer
read in °F or a barometer read in mmHg is refused where it is entered, with the likely unit named.

``ScpiEnvironmentSensor`` expects a small SCPI-style ASCII sensor (the simulated rig provides one):

- ``*IDN?`` → an identification line; IEEE 488.2 style ``maker,model,serial,firmware`` fills
  ``device_identity()`` (any other line is accepted, and kept only as its ``raw`` text);
- ``MEAS:TEMP?`` → temperature in °C, e.g. ``21.37``;
- ``MEAS:PRES?`` → station pressure in hPa, e.g. ``1013.25`` (converted with ``hpa_to_kpa``), or in kPa
  when built with ``pressure_unit="kPa"``.

Requests end in LF; replies end in LF (a CR before it is tolerated) and hold one decimal number.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from dosimetry.errors import ImplausibleUnitError
from dosimetry.units import (
    PRESSURE_BAND_KPA,
    TEMPERATURE_BAND_C,
    check_pressure_kpa,
    check_temperature_c,
    hpa_to_kpa,
)
from drivers.clock import Clock
from drivers.errors import HilcalDriverError, IllegalStateError, ProtocolError, TransportTimeout, wire_float
from drivers.roles.identity import DeviceIdentity, from_idn
from drivers.transport.base import Transport

if TYPE_CHECKING:  # the registry imports this module to register it: no runtime import back
    from drivers.registry import PortPool

OPERATOR_ENTRY = "operator entry"


@dataclass(frozen=True, slots=True)
class EnvironmentReading:
    """T and P with where they came from: ``operator entry`` (``operator``, ``entered_at``) or
    ``sensor <name>``. ``clock_s`` is the rig clock when the values were taken."""

    temperature_c: float
    pressure_kpa: float
    provenance: str
    clock_s: float
    operator: str | None = None
    entered_at: datetime | None = None


@runtime_checkable
class EnvironmentSensor(Protocol):
    name: str

    @property
    def state(self) -> str:
        """disconnected or ready."""
        ...

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def read(self) -> EnvironmentReading: ...


class NoEnvironmentEntry(HilcalDriverError):
    """``read()`` on an operator entry that has no (or only a stale) value."""


class OperatorEntry:
    """Temperature and pressure typed in by a named operator; the latest entry is what ``read()`` returns.

    ``max_age_s`` (rig clock) refuses an entry older than that, so a morning's value is not carried into an
    afternoon's calibration. ``wall_clock`` stamps ``entered_at`` (UTC) when the caller gives no time.
    """

    def __init__(
        self,
        name: str = "operator",
        *,
        clock: Clock,
        max_age_s: float | None = None,
        temperature_band_c: tuple[float, float] = TEMPERATURE_BAND_C,
        pressure_band_kpa: tuple[float, float] = PRESSURE_BAND_KPA,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_age_s is not None and not max_age_s > 0:
            raise ValueError(f"{name}: max_age_s must be positive, got {max_age_s!r}")
        self.name = name
        self.max_age_s = max_age_s
        self._clock = clock
        self._bands = (temperature_band_c, pressure_band_kpa)
        self._wall_clock = wall_clock
        self._latest: EnvironmentReading | None = None
        self._state = "disconnected"

    @property
    def state(self) -> str:
        return self._state

    def connect(self) -> None:
        self._state = "ready"

    def close(self) -> None:
        self._state = "disconnected"

    def enter(
        self, *, temperature_c: float, pressure_kpa: float, operator: str, at: datetime | None = None
    ) -> EnvironmentReading:
        """Record an entry; refuses an empty operator name and implausible values (naming the unit slip)."""
        if not operator.strip():
            raise ValueError(f"{self.name}: an entry needs the operator's name")
        temperature_band, pressure_band = self._bands
        check_temperature_c(temperature_c, band=temperature_band)
        check_pressure_kpa(pressure_kpa, band=pressure_band)
        reading = EnvironmentReading(
            temperature_c=temperature_c,
            pressure_kpa=pressure_kpa,
            provenance=OPERATOR_ENTRY,
            clock_s=self._clock.now(),
            operator=operator.strip(),
            entered_at=at if at is not None else self._wall_clock(),
        )
        self._latest = reading
        return reading

    def device_identity(self) -> DeviceIdentity:
        """Vendor ``operator``, model ``operator entry``; no serial or firmware (no I/O, any state).

        The operator's name is not a serial: it changes with every entry and is recorded with each reading
        (``EnvironmentReading.operator``); keying a history by it would split one source into many.
        """
        return DeviceIdentity(vendor="operator", model=OPERATOR_ENTRY, serial="", firmware="", raw="")

    def read(self) -> EnvironmentReading:
        if self._state != "ready":
            raise IllegalStateError(self.name, "read the environment", self._state)
        latest = self._latest
        if latest is None:
            raise NoEnvironmentEntry(f"{self.name}: no temperature and pressure entered yet")
        age = self._clock.now() - latest.clock_s
        if self.max_age_s is not None and age > self.max_age_s:
            raise NoEnvironmentEntry(
                f"{self.name}: the entry by {latest.operator} is {age:.0f} s old "
                f"(limit {self.max_age_s:g} s); enter current values"
            )
        return latest


class ScpiEnvironmentSensor:
    """A thermometer/barometer speaking ``MEAS:TEMP?`` / ``MEAS:PRES?`` (see the module docstring)."""

    def __init__(
        self,
        transport: Transport,
        *,
        name: str,
        clock: Clock,
        pressure_unit: Literal["hPa", "kPa"] = "hPa",
        temperature_band_c: tuple[float, float] = TEMPERATURE_BAND_C,
        pressure_band_kpa: tuple[float, float] = PRESSURE_BAND_KPA,
    ) -> None:
        self.name = name
        self.pressure_unit = pressure_unit
        self.identity: str | None = None
        self._device_identity: DeviceIdentity | None = None
        self._transport = transport
        self._clock = clock
        self._bands = (temperature_band_c, pressure_band_kpa)
        self._lock = threading.Lock()
        self._state = "disconnected"

    @property
    def state(self) -> str:
        return self._state

    def _ask(self, text: str) -> tuple[str, bytes]:
        line = text.encode("ascii") + b"\n"
        with self._lock:
            try:
                self._transport.write(line)
                raw = self._transport.read_until(b"\n", command=line)
            except TransportTimeout:
                self._transport.flush_input()
                raise
        try:
            return raw.decode("ascii").rstrip("\r\n"), raw
        except UnicodeDecodeError:
            raise ProtocolError(self.name, line, raw, "reply is not ASCII") from None

    def _number(self, text: str) -> tuple[float, bytes]:
        reply, raw = self._ask(text)
        value = wire_float(
            reply, device=self.name, command=text, reply=raw, what="expected one decimal number, got"
        )
        return value, raw

    def connect(self) -> None:
        """``*IDN?``; the sensor is then ready."""
        if self._state != "disconnected":
            raise IllegalStateError(self.name, "connect", self._state)
        self.identity, _ = self._ask("*IDN?")
        self._device_identity = from_idn(self.identity)
        self._state = "ready"

    def device_identity(self) -> DeviceIdentity:
        """The ``*IDN?`` answer of the last connect as fields (no I/O; kept after ``close()``).

        IEEE 488.2 ``maker,model,serial,firmware``; a ``0`` serial or firmware (488.2's "not available")
        becomes ``""``, and a line that is not four fields fills only ``raw``. Raises
        ``IllegalStateError`` before a connect has read it.
        """
        if self._device_identity is None:
            raise IllegalStateError(self.name, "report its identity", self._state)
        return self._device_identity

    def close(self) -> None:
        self._state = "disconnected"

    def read(self) -> EnvironmentReading:
        """``MEAS:TEMP?`` then ``MEAS:PRES?``; implausible values are a ``ProtocolError`` naming the unit."""
        if self._state != "ready":
            raise IllegalStateError(self.name, "read the environment", self._state)
        temperature_band, pressure_band = self._bands
        temperature, raw_t = self._number("MEAS:TEMP?")
        pressure_raw, raw_p = self._number("MEAS:PRES?")
        pressure = hpa_to_kpa(pressure_raw) if self.pressure_unit == "hPa" else pressure_raw
        try:
            check_temperature_c(temperature, band=temperature_band)
        except ImplausibleUnitError as err:
            raise ProtocolError(self.name, "MEAS:TEMP?", raw_t, str(err)) from err
        try:
            check_pressure_kpa(pressure, band=pressure_band)
        except ImplausibleUnitError as err:
            raise ProtocolError(
                self.name, "MEAS:PRES?", raw_p, f"{err} (read as {self.pressure_unit})"
            ) from err
        return EnvironmentReading(
            temperature_c=temperature,
            pressure_kpa=pressure,
            provenance=f"sensor {self.name}",
            clock_s=self._clock.now(),
        )


class ScpiEnvironmentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pressure_unit: Literal["hPa", "kPa"] = Field(default="hPa", description="unit of the MEAS:PRES? reply")


def build_scpi_environment_sensor(
    name: str, port: str, params: BaseModel, pool: PortPool, clock: Clock
) -> Any:
    """Registry builder for ``ScpiEnvironmentSensor`` (one sensor per port)."""
    assert isinstance(params, ScpiEnvironmentParams)
    return ScpiEnvironmentSensor(
        pool.transport(port, name), name=name, clock=clock, pressure_unit=params.pressure_unit
    )
