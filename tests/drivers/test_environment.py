"""Environment readings: operator entries with provenance, and the SCPI-ish sensor's wire format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dosimetry import ImplausibleUnitError
from drivers.environment import (
    OPERATOR_ENTRY,
    EnvironmentSensor,
    NoEnvironmentEntry,
    OperatorEntry,
    ScpiEnvironmentParams,
    ScpiEnvironmentSensor,
    build_scpi_environment_sensor,
)
from drivers.errors import IllegalStateError, ProtocolError
from drivers.registry import PortPool
from drivers.transport.expected import ExpectedProtocolTransport

WHEN = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_operator_entry_keeps_who_and_when() -> None:
    clock = FakeClock()
    entry = OperatorEntry(clock=clock, wall_clock=lambda: WHEN)
    assert isinstance(entry, EnvironmentSensor)
    entry.connect()
    entry.enter(temperature_c=21.8, pressure_kpa=100.9, operator=" A. Physicist ")
    reading = entry.read()
    assert (reading.temperature_c, reading.pressure_kpa) == (21.8, 100.9)
    assert (reading.provenance, reading.operator, reading.entered_at) == (
        OPERATOR_ENTRY,
        "A. Physicist",
        WHEN,
    )
    assert reading.clock_s == 100.0


@pytest.mark.parametrize(
    ("temperature", "pressure", "needle"),
    [(71.2, 100.9, "°F"), (21.8, 1009.0, "hPa"), (21.8, 757.0, "mmHg"), (21.8, 14.6, "psi")],
)
def test_operator_unit_slips_are_refused_at_entry(temperature: float, pressure: float, needle: str) -> None:
    entry = OperatorEntry(clock=FakeClock())
    with pytest.raises(ImplausibleUnitError, match=needle):
        entry.enter(temperature_c=temperature, pressure_kpa=pressure, operator="A. Physicist")


def test_operator_entry_needs_a_name_a_value_and_freshness() -> None:
    clock = FakeClock()
    entry = OperatorEntry(clock=clock, max_age_s=600.0)
    with pytest.raises(IllegalStateError):
        entry.read()
    entry.connect()
    with pytest.raises(NoEnvironmentEntry):
        entry.read()
    with pytest.raises(ValueError, match="operator"):
        entry.enter(temperature_c=21.8, pressure_kpa=100.9, operator=" ")
    entry.enter(temperature_c=21.8, pressure_kpa=100.9, operator="A. Physicist", at=WHEN)
    clock.t += 601.0
    with pytest.raises(NoEnvironmentEntry, match="601 s old"):
        entry.read()


def x(command: str, reply: str | None) -> tuple[bytes, bytes | None]:
    return command.encode() + b"\n", None if reply is None else reply.encode() + b"\n"


def test_sensor_reads_celsius_and_hectopascal() -> None:
    transport = ExpectedProtocolTransport(
        [x("*IDN?", "HILCAL,ENV-SIM,1,1.0"), x("MEAS:TEMP?", "21.37"), x("MEAS:PRES?", "1013.25")]
    )
    sensor = ScpiEnvironmentSensor(transport, name="room", clock=FakeClock())
    assert isinstance(sensor, EnvironmentSensor)
    sensor.connect()
    reading = sensor.read()
    assert reading.temperature_c == 21.37
    assert reading.pressure_kpa == pytest.approx(101.325)
    assert reading.provenance == "sensor room"
    assert reading.operator is None
    transport.assert_done()


def test_sensor_in_kpa_and_implausible_values_are_protocol_errors() -> None:
    transport = ExpectedProtocolTransport(
        [x("*IDN?", "X"), x("MEAS:TEMP?", "21.0"), x("MEAS:PRES?", "1013.2"), x("MEAS:TEMP?", "abc")]
    )
    sensor = ScpiEnvironmentSensor(transport, name="room", clock=FakeClock(), pressure_unit="kPa")
    sensor.connect()
    with pytest.raises(ProtocolError, match="hPa") as info:
        sensor.read()
    assert info.value.reply == b"1013.2\n"
    with pytest.raises(ProtocolError, match="decimal number"):
        sensor.read()


def test_sensor_builder() -> None:
    pool = PortPool(lambda port, label: ExpectedProtocolTransport([], device=label))
    sensor = build_scpi_environment_sensor("room", "sim:env", ScpiEnvironmentParams(), pool, FakeClock())
    assert isinstance(sensor, ScpiEnvironmentSensor)
    assert sensor.state == "disconnected"
