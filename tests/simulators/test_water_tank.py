"""The water-tank scanner: stage carriages composed into a room position, misalignment a W2 check finds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from simulators.clock import VirtualClock
from simulators.stage import StageConfig
from simulators.water_tank import (
    ScannerAxisConfig,
    WaterTankConfig,
    WaterTankScanner,
    add_water_tank,
    check_water_tank_wiring,
)
from simulators.world import World
from tests.simulators.helpers import home, move

IDEAL = {"travel_mm": (0.0, 300.0)}


def three_axis(world: World, **tilts: tuple[float, float]) -> WaterTankScanner:
    for name in ("sx", "sy", "sz"):
        world.add_stage(name, StageConfig(**IDEAL))
    config = WaterTankConfig(
        origin_mm=(-150.0, -150.0, -250.0),
        axes={
            "x": ScannerAxisConfig(stage="sx", direction="+X", tilt_deg=tilts.get("x", (0.0, 0.0))),
            "y": ScannerAxisConfig(stage="sy", direction="+Y", tilt_deg=tilts.get("y", (0.0, 0.0))),
            "z": ScannerAxisConfig(stage="sz", direction="+Z", tilt_deg=tilts.get("z", (0.0, 0.0))),
        },
    )
    return add_water_tank(world, "tank", config)


def home_all(tank: WaterTankScanner, clock: VirtualClock) -> None:
    for axis in tank.axis_names:
        home(tank.stage(axis), clock)


def test_ideal_scanner_is_origin_plus_carriage_positions(world: World, clock: VirtualClock) -> None:
    tank = three_axis(world)
    # At power-up every stage sits mid-travel (150 mm): the carriage is at origin + 150 on each axis.
    np.testing.assert_allclose(tank.carriage_position_mm(), [0.0, 0.0, -100.0], atol=1e-9)
    home_all(tank, clock)
    np.testing.assert_allclose(tank.carriage_position_mm(), [-150.0, -150.0, -250.0], atol=1e-9)
    move(tank.stage("x"), clock, 100.0)
    move(tank.stage("z"), clock, 30.0)
    np.testing.assert_allclose(tank.carriage_position_mm(), [-50.0, -150.0, -220.0], atol=1e-6)
    np.testing.assert_allclose(tank.room_from_carriage()[:3, 3], tank.carriage_position_mm())
    np.testing.assert_allclose(tank.room_from_carriage()[:3, :3], np.eye(3))
    for pair in (("x", "y"), ("x", "z"), ("y", "z")):
        assert tank.axis_angle_deg(*pair) == pytest.approx(90.0, abs=1e-12)


def test_the_carriage_carries_the_stage_errors(world: World, clock: VirtualClock) -> None:
    """Backlash lives in the stage's true carriage, so the room position shows it along the axis direction."""
    world.add_stage("sx", StageConfig(travel_mm=(0.0, 300.0), backlash_mm=0.05, pitch_error_um_per_m=100.0))
    tank = add_water_tank(
        world, "tank", WaterTankConfig(axes={"x": ScannerAxisConfig(stage="sx", direction="-Y")})
    )
    stage = tank.stage("x")
    home(stage, clock)
    move(stage, clock, 200.0)  # approach from below: the carriage trails by the backlash
    expected_q = 200.0 * (1 + 100e-6) - 0.05
    assert stage.carriage_position_mm() == pytest.approx(expected_q, abs=1e-6)
    np.testing.assert_allclose(tank.carriage_position_mm(), [0.0, -expected_q, 0.0], atol=1e-6)


def test_tilt_is_recovered_by_a_two_point_measurement(world: World, clock: VirtualClock) -> None:
    """X tilted 0.2° toward Y and −0.1° toward Z: moving X by L shifts Y by L·tan 0.2°, Z by −L·tan 0.1°."""
    tank = three_axis(world, x=(0.2, -0.1), y=(0.05, 0.3), z=(-0.15, 0.25))
    home_all(tank, clock)
    move(tank.stage("x"), clock, 10.0)
    p0 = tank.carriage_position_mm()
    move(tank.stage("x"), clock, 290.0)
    p1 = tank.carriage_position_mm()
    delta = p1 - p0
    assert math.degrees(math.atan(delta[1] / delta[0])) == pytest.approx(0.2, abs=1e-9)
    assert math.degrees(math.atan(delta[2] / delta[0])) == pytest.approx(-0.1, abs=1e-9)
    assert np.linalg.norm(delta) == pytest.approx(280.0, abs=1e-6)  # a tilt does not change the scale
    # Y leans toward Z (first angle) and X (second); Z toward X and Y.
    dy, dz = tank.axis_direction("y"), tank.axis_direction("z")
    assert math.degrees(math.atan(dy[2] / dy[1])) == pytest.approx(0.05, abs=1e-12)
    assert math.degrees(math.atan(dy[0] / dy[1])) == pytest.approx(0.3, abs=1e-12)
    assert math.degrees(math.atan(dz[0] / dz[2])) == pytest.approx(-0.15, abs=1e-12)
    assert math.degrees(math.atan(dz[1] / dz[2])) == pytest.approx(0.25, abs=1e-12)


def test_non_orthogonality_follows_from_the_tilts(world: World) -> None:
    tank = three_axis(world, x=(0.2, 0.0))
    # X leans 0.2° toward Y, Y is ideal: the pair is 0.2° short of square; Z stays square to both.
    assert tank.axis_angle_deg("x", "y") == pytest.approx(89.8, abs=1e-9)
    assert tank.axis_angle_deg("x", "z") == pytest.approx(90.0, abs=1e-9)
    tank.set_error(tilt_deg={"y": (0.0, 0.3)})  # Y now also leans 0.3° toward X
    assert tank.axis_angle_deg("x", "y") == pytest.approx(89.5, abs=1e-6)
    for axis in tank.axis_names:
        assert np.linalg.norm(tank.axis_direction(axis)) == pytest.approx(1.0)
    np.testing.assert_allclose(tank.nominal_direction("y"), [0.0, 1.0, 0.0])


def test_negative_nominal_direction_keeps_the_tilt_sense(world: World, clock: VirtualClock) -> None:
    world.add_stage("s", StageConfig(**IDEAL))
    axis = ScannerAxisConfig(stage="s", direction="-X", tilt_deg=(0.5, 0.0))
    tank = add_water_tank(world, "tank", WaterTankConfig(axes={"x": axis}))
    d = tank.axis_direction("x")
    assert d[0] < 0 and d[1] > 0  # moving along −X it drifts toward +Y
    assert math.degrees(math.atan(d[1] / abs(d[0]))) == pytest.approx(0.5)


def test_set_error_moves_origin_and_validates(world: World) -> None:
    tank = three_axis(world)
    tank.set_error(origin_mm=(1.0, 2.0, 3.0))
    np.testing.assert_allclose(tank.carriage_position_mm(), [151.0, 152.0, 153.0], atol=1e-9)
    with pytest.raises(KeyError, match="no axis"):
        tank.set_error(tilt_deg={"w": (0.0, 0.0)})
    with pytest.raises(ValidationError, match="tilt_deg"):
        tank.set_error(tilt_deg={"x": (20.0, 0.0)})
    assert tank.axis_angle_deg("x", "y") == pytest.approx(90.0)  # a refused change leaves it alone


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="drives two axes"):
        WaterTankConfig(
            axes={
                "x": ScannerAxisConfig(stage="s", direction="+X"),
                "y": ScannerAxisConfig(stage="s", direction="+Y"),
            }
        )
    with pytest.raises(ValidationError, match="same IEC axis"):
        WaterTankConfig(
            axes={
                "a": ScannerAxisConfig(stage="s1", direction="+X"),
                "b": ScannerAxisConfig(stage="s2", direction="-X"),
            }
        )
    with pytest.raises(ValidationError):
        WaterTankConfig(axes={})
    with pytest.raises(ValidationError):
        ScannerAxisConfig(stage="s", direction="+Q")
    stages = {"s1": StageConfig()}
    with pytest.raises(ValueError, match="unknown stage"):
        check_water_tank_wiring(
            stages, {"t": WaterTankConfig(axes={"x": ScannerAxisConfig(stage="s9", direction="+X")})}
        )
    one = WaterTankConfig(axes={"x": ScannerAxisConfig(stage="s1", direction="+X")})
    with pytest.raises(ValueError, match="drives two scanner axes"):
        check_water_tank_wiring(stages, {"t1": one, "t2": one})


def test_missing_stage_is_refused(world: World) -> None:
    config = WaterTankConfig(axes={"x": ScannerAxisConfig(stage="nope", direction="+X")})
    with pytest.raises(KeyError):
        add_water_tank(world, "tank", config)
    with pytest.raises(KeyError, match="no stage named"):
        WaterTankScanner("tank", config, {})
