"""Typed values: affine arithmetic in one frame, errors across frames, explicit transforms, serialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

from geometry import (
    Direction,
    Displacement,
    FrameMismatchError,
    MachineState,
    MissingStateError,
    Point,
    Pose,
    System,
    table_top_rotation,
)
from tests.geometry.strategies import FAST, coordinates_mm, machine_states, systems

COUCH_30 = MachineState(couch_rotation_deg=30.0)


def _p(system: str, x: float, y: float, z: float, state: MachineState | None = None) -> Point:
    return Point.from_xyz(system, (x, y, z), state)


def test_affine_arithmetic_in_one_frame() -> None:
    a, b = _p("f", 1, 2, 3), _p("f", 4, 6, 3)
    d = b - a
    assert isinstance(d, Displacement)
    assert d.norm_mm == pytest.approx(5.0)
    assert a + d == b
    assert b - d == a
    assert (2 * d).norm_mm == pytest.approx(10.0)
    assert (d - d).norm_mm == 0.0
    assert a.distance_mm(b) == pytest.approx(5.0)
    np.testing.assert_allclose(d.direction().xyz, [0.6, 0.8, 0.0])


def test_combining_different_systems_is_refused_with_a_hint() -> None:
    with pytest.raises(
        FrameMismatchError, match=r"Point in IEC f and a Point in IEC t; transform one with \.to"
    ):
        _p("f", 0, 0, 0) - _p("t", 0, 0, 0)
    with pytest.raises(FrameMismatchError):
        _p("f", 0, 0, 0) + Displacement(system=System.GANTRY, x_mm=1, y_mm=0, z_mm=0)
    with pytest.raises(FrameMismatchError):
        Direction(system=System.FIXED, x=1, y=0, z=0).angle_to_deg(
            Direction(system=System.TABLE_TOP, x=1, y=0, z=0)
        )


def test_moving_frames_at_different_states_do_not_mix_but_fixed_ones_do() -> None:
    with pytest.raises(FrameMismatchError, match="different machine states"):
        _p("t", 0, 0, 0, COUCH_30) - _p("t", 1, 0, 0, MachineState())
    d = _p("f", 0, 0, 0, COUCH_30) - _p("f", 1, 0, 0, MachineState())
    assert d.state is None
    assert (_p("t", 0, 0, 0, COUCH_30) - _p("t", 1, 0, 0)).state == COUCH_30


def test_bare_numbers_are_refused() -> None:
    point = _p("f", 0, 0, 0)
    with pytest.raises(TypeError, match="explicit system"):
        bare = (1.0, 2.0, 3.0)
        point + bare  # type: ignore[operator]
    with pytest.raises(TypeError):
        np.array([1.0, 2.0, 3.0]) + point
    with pytest.raises(TypeError, match="explicit system"):
        point + Direction(system=System.FIXED, x=1, y=0, z=0)  # type: ignore[operator]


def test_transform_needs_a_state_and_records_it() -> None:
    in_t = _p("t", 0.0, -100.0, 0.0)
    with pytest.raises(MissingStateError, match="pass state="):
        in_t.to("f")
    in_f = in_t.to("f", COUCH_30)
    assert in_f.system is System.FIXED
    assert in_f.state == COUCH_30
    np.testing.assert_allclose(in_f.xyz_mm, [50.0, -100.0 * math.cos(math.radians(30.0)), 0.0], atol=1e-9)
    back = in_f.to("t")  # the carried state is used on the way back
    np.testing.assert_allclose(back.xyz_mm, in_t.xyz_mm, atol=1e-9)


@FAST
@given(state=machine_states(), a=systems, b=systems, xyz=coordinates_mm)
def test_point_and_displacement_round_trips(
    state: MachineState, a: System, b: System, xyz: tuple[float, float, float]
) -> None:
    point = Point.from_xyz(a, xyz, state)
    np.testing.assert_allclose(point.to(b).to(a).xyz_mm, point.xyz_mm, atol=1e-8)
    shift = Displacement.from_xyz(a, xyz, state)
    assert shift.to(b).norm_mm == pytest.approx(shift.norm_mm, abs=1e-8)


@FAST
@given(state=machine_states(), a=systems, b=systems, xyz=coordinates_mm)
def test_directions_stay_unit_and_keep_angles(
    state: MachineState, a: System, b: System, xyz: tuple[float, float, float]
) -> None:
    if np.linalg.norm(xyz) < 1e-3:
        return
    u = Direction.from_xyz(a, xyz, state)
    v = Direction.from_xyz(a, (1.0, 0.0, 0.0), state)
    assert np.linalg.norm(u.to(b).xyz) == pytest.approx(1.0, abs=1e-12)
    assert u.to(b).angle_to_deg(v.to(b)) == pytest.approx(u.angle_to_deg(v), abs=1e-7)


def test_direction_is_normalised_and_refuses_zero() -> None:
    u = Direction(system=System.FIXED, x=3, y=4, z=0)
    assert (u.x, u.y, u.z) == (0.6, 0.8, 0.0)
    assert u.scaled(10.0).norm_mm == pytest.approx(10.0)
    assert (-u).dot(u) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="finite, non-zero vector"):
        Direction(system=System.FIXED, x=0, y=0, z=0)
    assert u.angle_to_deg(Direction.from_xyz("f", (0.6, 0.8, 1e-12))) < 1e-9


def test_values_serialise_with_their_frame_and_round_trip() -> None:
    point = _p("t", 1.5, -2.0, 3.25, COUCH_30)
    dumped = point.model_dump(mode="json")
    assert dumped["system"] == "t"
    assert dumped["state"]["couch_rotation_deg"] == 30.0
    assert Point.model_validate_json(point.model_dump_json()) == point
    direction = Direction(system=System.GANTRY, x=1, y=1, z=1)
    assert Direction.model_validate_json(direction.model_dump_json()) == direction
    assert (
        Point.model_validate({"system": "table_top", "x_mm": 0, "y_mm": 0, "z_mm": 0}).system
        is System.TABLE_TOP
    )


def test_pose_of_table_top_in_fixed_and_its_angles() -> None:
    state = MachineState(
        couch_rotation_deg=12.0, table_pitch_deg=2.0, table_roll_deg=-1.5, table_vertical_mm=-40.0
    )
    pose = Pose.of_system("t", "f", state)
    angles = pose.table_top_angles()
    assert (angles.rotation_deg, angles.pitch_deg, angles.roll_deg) == pytest.approx(
        (12.0, 2.0, -1.5), abs=1e-9
    )
    np.testing.assert_allclose(pose.origin().xyz_mm, [0.0, 0.0, -40.0], atol=1e-9)
    np.testing.assert_allclose(pose.apply((0.0, 100.0, 0.0)).xyz_mm, _p("t", 0, 100, 0).to("f", state).xyz_mm)
    np.testing.assert_allclose(pose.axis(2).xyz, table_top_rotation(12.0, 2.0, -1.5)[:, 2], atol=1e-12)
    in_s = pose.to("s")
    np.testing.assert_allclose(in_s.matrix(), Pose.of_system("t", "s", state).matrix(), atol=1e-9)
    assert Pose.model_validate_json(pose.model_dump_json()) == pose


def test_pose_refuses_a_non_rotation() -> None:
    with pytest.raises(ValueError, match="proper rotation"):
        Pose(system=System.FIXED, origin_mm=(0, 0, 0), rotation=((1, 0, 0), (0, 1, 0), (0, 0, -1)))
