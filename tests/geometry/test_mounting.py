"""AxisMounting: a stage axis placed in the room, scalar position ↔ IEC point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry import AxisMounting, Direction, InvalidInputError, MachineState, Point, System
from tests.geometry.strategies import FAST

# A tank X stage whose zero sits 150 mm left of and 200 mm below the isocentre, running toward −Xf (reversed)
# and tilted 0.5° down.
TILT = math.radians(0.5)
MOUNT = AxisMounting(
    name="tank_x",
    origin=Point(system=System.FIXED, x_mm=150.0, y_mm=0.0, z_mm=-200.0),
    direction=Direction(system=System.FIXED, x=-math.cos(TILT), y=0.0, z=-math.sin(TILT)),
)


def test_position_maps_to_iec_point_and_back() -> None:
    point = MOUNT.point_at(150.0 / math.cos(TILT))
    assert point.system is System.FIXED
    assert point.x_mm == pytest.approx(0.0, abs=1e-9)
    assert MOUNT.position_mm(point) == pytest.approx(150.0 / math.cos(TILT), abs=1e-9)
    assert MOUNT.off_axis_mm(point) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(MOUNT.displacement(10.0).xyz_mm, 10.0 * MOUNT.direction.xyz)


@FAST
@given(position=st.floats(min_value=-500, max_value=500), off=st.floats(min_value=0.0, max_value=5.0))
def test_projection_recovers_position_and_off_axis_distance(position: float, off: float) -> None:
    sideways = Direction(system=System.FIXED, x=0.0, y=1.0, z=0.0).scaled(off)
    point = MOUNT.point_at(position) + sideways
    assert MOUNT.position_mm(point) == pytest.approx(position, abs=1e-9)
    assert MOUNT.off_axis_mm(point) == pytest.approx(off, abs=1e-9)


def test_off_axis_limit_is_enforced() -> None:
    point = MOUNT.point_at(10.0) + Direction(system=System.FIXED, x=0, y=1, z=0).scaled(2.0)
    with pytest.raises(InvalidInputError, match="tank_x: point is 2 mm off the axis"):
        MOUNT.position_mm(point, max_off_axis_mm=1.0)


def test_from_points_and_serialisation() -> None:
    zero = Point(system=System.FIXED, x_mm=0.0, y_mm=-300.0, z_mm=0.0)
    further = Point(system=System.FIXED, x_mm=0.0, y_mm=-200.0, z_mm=0.0)
    mount = AxisMounting.from_points("couch_long", zero, further)
    assert mount.point_at(300.0).y_mm == pytest.approx(0.0)
    assert AxisMounting.model_validate_json(mount.model_dump_json()) == mount


def test_points_in_other_systems_are_transformed_with_their_state() -> None:
    state = MachineState(couch_rotation_deg=90.0)
    in_t = Point(system=System.TABLE_TOP, state=state, x_mm=0.0, y_mm=-100.0, z_mm=0.0)  # → (100, 0, 0) in f
    # offset from the stage zero is (−50, 0, 200) in f; its component along the axis:
    assert MOUNT.position_mm(in_t) == pytest.approx(50.0 * math.cos(TILT) - 200.0 * math.sin(TILT), abs=1e-9)
    assert MOUNT.to("t", state).position_mm(in_t) == pytest.approx(MOUNT.position_mm(in_t), abs=1e-9)


def test_origin_and_direction_must_share_a_system() -> None:
    with pytest.raises(ValueError, match="a Point in IEC f and a Direction in IEC t"):
        AxisMounting(
            name="bad",
            origin=Point(system=System.FIXED, x_mm=0, y_mm=0, z_mm=0),
            direction=Direction(system=System.TABLE_TOP, x=1, y=0, z=0),
        )
