"""Room air and the simulated environment sensor (hilcal's own ASCII protocol)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from simulators.clock import VirtualClock
from simulators.environment import (
    EnvironmentSensorConfig,
    EnvironmentSensorSim,
    RoomEnvironment,
    RoomEnvironmentConfig,
    add_room_environment,
)
from simulators.world import World


@pytest.fixture
def room(world: World) -> RoomEnvironment:
    return add_room_environment(world, "room", RoomEnvironmentConfig())


def quiet_sensor(world: World, **fields: Any) -> EnvironmentSensorSim:
    config = EnvironmentSensorConfig(temperature_noise_c=0.0, pressure_noise_hpa=0.0, **fields)
    return EnvironmentSensorSim(world, config)


def test_room_drifts_slowly_and_deterministically(room: RoomEnvironment, clock: VirtualClock) -> None:
    assert room.temperature_c() == pytest.approx(22.0)
    assert room.pressure_hpa() == pytest.approx(1013.25 + 0.3 * math.sin(1.0))
    clock.sleep(900.0)  # a quarter of the 1 h temperature period
    assert room.temperature_c() == pytest.approx(22.2)
    assert abs(room.temperature_c(t=901.0) - room.temperature_c()) < 1e-4  # slow: < 0.1 mK/s


def test_step_changes_and_linear_drift(world: World, clock: VirtualClock) -> None:
    room = add_room_environment(
        world,
        "lab",
        RoomEnvironmentConfig(
            temperature_amplitude_c=0.0, pressure_amplitude_hpa=0.0, temperature_rate_c_per_h=0.5
        ),
    )
    clock.sleep(3600.0)
    assert room.temperature_c() == pytest.approx(22.5)
    room.set_conditions(temperature_c=19.0, pressure_hpa=986.6)
    assert room.temperature_c() == pytest.approx(19.0)
    assert room.pressure_hpa() == pytest.approx(986.6)
    clock.sleep(3600.0)
    assert room.temperature_c() == pytest.approx(19.5)
    density = room.air_density_ratio(reference_temperature_c=22.0, reference_pressure_hpa=1013.3)
    assert density == pytest.approx((986.6 / 1013.3) * (295.15 / 292.65))


def test_sensor_protocol_byte_for_byte(world: World, room: RoomEnvironment) -> None:
    room.set_conditions(temperature_c=21.456, pressure_hpa=1001.234)
    sensor = quiet_sensor(world, serial="ENV42")
    assert sensor.feed(b"*IDN?\n") == b"HILCAL,SIMENV,ENV42,1.0\n"
    assert sensor.feed(b"MEAS:TEMP?\r\n") == b"21.46\n"
    assert sensor.feed(b"meas:pres?\r") == b"1001.23\n"
    assert sensor.feed(b"MEAS:HUM?\n") == b"ERR\n"
    assert sensor.feed(b"MEAS:TE") == b""
    assert sensor.feed(b"MP?\nMEAS:PRES?\n") == b"21.46\n1001.23\n"


def test_a_miscalibrated_noisy_sensor(world: World, room: RoomEnvironment) -> None:
    room.set_conditions(temperature_c=20.0, pressure_hpa=1000.0)
    offset = quiet_sensor(world, temperature_offset_c=0.5, pressure_offset_hpa=-2.0)
    assert (offset.read_temperature_c(), offset.read_pressure_hpa()) == (20.5, 998.0)
    noisy = EnvironmentSensorSim(world, EnvironmentSensorConfig(serial="N1", temperature_noise_c=0.05))
    readings = {noisy.read_temperature_c() for _ in range(50)}
    assert len(readings) > 5 and all(abs(r - 20.0) < 0.3 for r in readings)


def test_sensor_needs_its_room(world: World) -> None:
    with pytest.raises(KeyError, match="no model named 'room'"):
        EnvironmentSensorSim(world, EnvironmentSensorConfig())
    with pytest.raises(ValidationError):
        EnvironmentSensorConfig(units="F")  # type: ignore[call-arg]
