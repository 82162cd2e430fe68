"""IEC 61217 ↔ hexapod mapping: agreement with the geometry core, round trips, pivot and rotation order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers.pi_gcs import (
    DEFAULT_MOUNTING,
    HexapodMounting,
    UvwConvention,
    hexapod_to_setpoint,
    iec_ranges,
    setpoint_to_hexapod,
)
from drivers.pi_gcs.iec import decompose_uvw, platform_pose, table_top_pose, uvw_rotation
from drivers.roles.couch import COUCH_AXES, CouchSetpoint
from geometry import MachineState, angle_difference_deg, transform
from geometry.errors import GimbalLockError
from geometry.rotations import rot_x, rot_y, rot_z

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRAVEL = {
    "X": (-50.0, 50.0),
    "Y": (-50.0, 50.0),
    "Z": (-25.0, 25.0),
    "U": (-15.0, 15.0),
    "V": (-15.0, 15.0),
    "W": (-30.0, 30.0),
}

mm = st.floats(min_value=-500.0, max_value=500.0, allow_nan=False)
tilt = st.floats(min_value=-30.0, max_value=30.0, allow_nan=False)


@st.composite
def setpoints(draw: st.DrawFn) -> CouchSetpoint:
    return CouchSetpoint(
        lateral_mm=draw(mm),
        longitudinal_mm=draw(mm),
        vertical_mm=draw(mm),
        couch_rotation_deg=draw(st.floats(min_value=-179.0, max_value=179.0)),
        pitch_deg=draw(tilt),
        roll_deg=draw(tilt),
    )


@st.composite
def mountings(draw: st.DrawFn) -> HexapodMounting:
    """A hexapod standing upright (Z up, within 5°) at any yaw, anywhere, with any pivot, either UVW order."""
    small = st.floats(min_value=-5.0, max_value=5.0)
    axes = rot_z(draw(st.floats(min_value=-180.0, max_value=180.0))) @ rot_x(draw(small)) @ rot_y(draw(small))
    vec = st.tuples(mm, mm, mm)
    return HexapodMounting(
        origin_mm=draw(vec),
        x_axis=tuple(axes[:, 0]),
        y_axis=tuple(axes[:, 1]),
        z_axis=tuple(axes[:, 2]),
        table_top_origin_mm=draw(vec),
        pivot_mm=draw(st.one_of(st.none(), vec)),
        uvw_convention=draw(st.sampled_from(list(UvwConvention))),
    )


def machine_state(setpoint: CouchSetpoint) -> MachineState:
    return MachineState(
        couch_rotation_deg=setpoint.couch_rotation_deg,
        table_lateral_mm=setpoint.lateral_mm,
        table_longitudinal_mm=setpoint.longitudinal_mm,
        table_vertical_mm=setpoint.vertical_mm,
        table_pitch_deg=setpoint.pitch_deg,
        table_roll_deg=setpoint.roll_deg,
    )


def assert_same_setpoint(a: CouchSetpoint, b: CouchSetpoint, tol: float = 1e-8) -> None:
    for axis in COUCH_AXES:
        x, y = getattr(a, axis), getattr(b, axis)
        delta = angle_difference_deg(x, y) if axis.endswith("_deg") else x - y
        assert abs(delta) < tol, (axis, x, y)


# -- the geometry core is the reference ----------------------------------------------------------------
@FAST
@given(setpoint=setpoints())
def test_table_top_pose_is_the_geometry_core_transform(setpoint: CouchSetpoint) -> None:
    np.testing.assert_allclose(
        table_top_pose(setpoint), transform("t", "f", machine_state(setpoint)), atol=1e-9
    )


@FAST
@given(setpoint=setpoints(), mounting=mountings(), point=st.tuples(mm, mm, mm))
def test_a_table_top_point_lands_where_the_geometry_core_puts_it(
    setpoint: CouchSetpoint, mounting: HexapodMounting, point: tuple[float, float, float]
) -> None:
    """Through the hexapod (mounting → POS? values → platform → table top) or through IEC t → f: one place."""
    pose = setpoint_to_hexapod(setpoint, mounting)
    p_t = np.array([*point, 1.0])
    via_hexapod = (
        mounting.room_from_hexapod()
        @ platform_pose(pose, mounting)
        @ mounting.platform_from_table_top()
        @ p_t
    )
    via_geometry = transform("t", "f", machine_state(setpoint)) @ p_t
    np.testing.assert_allclose(via_hexapod, via_geometry, atol=1e-8)


# -- round trips ---------------------------------------------------------------------------------------
@FAST
@given(setpoint=setpoints(), mounting=mountings())
def test_setpoint_round_trips_through_the_hexapod(setpoint: CouchSetpoint, mounting: HexapodMounting) -> None:
    assert_same_setpoint(hexapod_to_setpoint(setpoint_to_hexapod(setpoint, mounting), mounting), setpoint)


@FAST
@given(
    xyz=st.tuples(mm, mm, mm),
    uvw=st.tuples(tilt, tilt, st.floats(min_value=-179.0, max_value=179.0)),
    mounting=mountings(),
)
def test_hexapod_pose_round_trips_through_iec(
    xyz: tuple[float, float, float], uvw: tuple[float, float, float], mounting: HexapodMounting
) -> None:
    pose = dict(zip(("X", "Y", "Z", "U", "V", "W"), (*xyz, *uvw), strict=True))
    back = setpoint_to_hexapod(hexapod_to_setpoint(pose, mounting), mounting)
    for axis, value in pose.items():
        delta = angle_difference_deg(back[axis], value) if axis in "UVW" else back[axis] - value
        assert abs(delta) < 1e-8, (axis, value, back[axis])


# -- the default mount ---------------------------------------------------------------------------------
def test_default_mount_is_identity_without_isocentric_rotation() -> None:
    """With θs = 0, IEC pitch-then-roll is exactly PI's U-then-V with W = 0: the axes map one to one."""
    setpoint = CouchSetpoint(lateral_mm=10, longitudinal_mm=-20, vertical_mm=5, pitch_deg=1.5, roll_deg=-2)
    pose = setpoint_to_hexapod(setpoint)
    expected = {"X": 10.0, "Y": -20.0, "Z": 5.0, "U": 1.5, "V": -2.0, "W": 0.0}
    assert pose == pytest.approx(expected, abs=1e-12)
    assert list(pose) == ["X", "Y", "Z", "U", "V", "W"]


def test_isocentric_rotation_is_w_plus_the_translation_that_keeps_the_isocentre() -> None:
    """θs turns the table top about the isocentre, so the table-top origin at (Tx, Ty) swings on a circle."""
    pose = setpoint_to_hexapod(CouchSetpoint(lateral_mm=0.0, longitudinal_mm=-300.0, couch_rotation_deg=10.0))
    c, s = math.cos(math.radians(10)), math.sin(math.radians(10))
    assert pose == pytest.approx({"X": 300 * s, "Y": -300 * c, "Z": 0, "U": 0, "V": 0, "W": 10.0}, abs=1e-9)


def test_pivot_off_the_isocentre_is_compensated_by_x_and_y() -> None:
    """A pivot 200 mm lateral of the table-top origin: W alone would swing the isocentre; X, Y undo it."""
    mounting = HexapodMounting(pivot_mm=(200.0, 0.0, 0.0))
    pose = setpoint_to_hexapod(CouchSetpoint(couch_rotation_deg=10.0), mounting)
    c, s = math.cos(math.radians(10)), math.sin(math.radians(10))
    assert pose == pytest.approx(
        {"X": 200 * (c - 1), "Y": 200 * s, "Z": 0, "U": 0, "V": 0, "W": 10.0}, abs=1e-9
    )
    isocentre_follows = (
        mounting.room_from_hexapod() @ platform_pose(pose, mounting) @ np.array([0, 0, 0, 1.0])
    )
    np.testing.assert_allclose(isocentre_follows[:3], 0.0, atol=1e-9)
    uncompensated = hexapod_to_setpoint({"X": 0, "Y": 0, "Z": 0, "U": 0, "V": 0, "W": 10.0}, mounting)
    assert math.hypot(uncompensated.lateral_mm, uncompensated.longitudinal_mm) == pytest.approx(
        2 * 200 * math.sin(math.radians(5))
    )


def test_pitch_about_a_pivot_below_the_table_top_keeps_the_table_top_origin() -> None:
    """IEC pitch turns about the table-top origin; a pivot 300 mm below needs Y and Z to compensate."""
    mounting = HexapodMounting(pivot_mm=(0.0, 0.0, -300.0))
    pose = setpoint_to_hexapod(CouchSetpoint(pitch_deg=2.0), mounting)
    assert pose["U"] == pytest.approx(2.0)
    assert pose["Y"] == pytest.approx(300 * math.sin(math.radians(2)), abs=1e-9)
    assert pose["Z"] == pytest.approx(300 * (1 - math.cos(math.radians(2))), abs=1e-9)


def test_a_mount_turned_by_90_degrees_swaps_lateral_and_longitudinal() -> None:
    mounting = HexapodMounting(x_axis=(0.0, 1.0, 0.0), y_axis=(-1.0, 0.0, 0.0))
    pose = setpoint_to_hexapod(CouchSetpoint(lateral_mm=10.0, longitudinal_mm=4.0, pitch_deg=1.0), mounting)
    assert pose == pytest.approx({"X": 4.0, "Y": -10.0, "Z": 0.0, "U": 0.0, "V": -1.0, "W": 0.0}, abs=1e-12)


def test_a_hexapod_below_the_isocentre_is_at_zero_when_the_table_top_is() -> None:
    mounting = HexapodMounting(origin_mm=(0.0, 0.0, -800.0), table_top_origin_mm=(0.0, 0.0, 800.0))
    assert setpoint_to_hexapod(CouchSetpoint(), mounting) == pytest.approx(
        dict.fromkeys("XYZUVW", 0.0), abs=1e-12
    )
    assert setpoint_to_hexapod(CouchSetpoint(vertical_mm=-12.0), mounting)["Z"] == pytest.approx(-12.0)


# -- PI's rotation order -------------------------------------------------------------------------------
def test_moving_axes_order_is_x_then_moved_y_then_moved_z() -> None:
    u, v, w = 3.0, -4.0, 7.0
    np.testing.assert_allclose(
        uvw_rotation(u, v, w, UvwConvention.MOVING_AXES), rot_x(u) @ rot_y(v) @ rot_z(w)
    )
    np.testing.assert_allclose(
        uvw_rotation(u, v, w, UvwConvention.FIXED_AXES), rot_z(w) @ rot_y(v) @ rot_x(u)
    )


@FAST
@given(
    u=st.floats(min_value=-179.0, max_value=179.0),
    v=st.floats(min_value=-89.0, max_value=89.0),
    w=st.floats(min_value=-179.0, max_value=179.0),
    convention=st.sampled_from(list(UvwConvention)),
)
def test_uvw_decomposition_inverts_the_composition(
    u: float, v: float, w: float, convention: UvwConvention
) -> None:
    assert decompose_uvw(uvw_rotation(u, v, w, convention), convention) == pytest.approx((u, v, w), abs=1e-7)


def test_the_two_orders_differ_at_combined_tilts() -> None:
    moving = uvw_rotation(3.0, 3.0, 0.0, UvwConvention.MOVING_AXES)
    fixed = uvw_rotation(3.0, 3.0, 0.0, UvwConvention.FIXED_AXES)
    angle = math.degrees(math.acos((np.trace(moving.T @ fixed) - 1) / 2))
    assert angle == pytest.approx(math.degrees(math.radians(3) ** 2), rel=0.01)  # ≈ 0.157°


@pytest.mark.parametrize("convention", list(UvwConvention))
def test_gimbal_lock_is_refused(convention: UvwConvention) -> None:
    with pytest.raises(GimbalLockError):
        decompose_uvw(uvw_rotation(10.0, 90.0, 5.0, convention), convention)


# -- the mounting model --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"x_axis": (2.0, 0.0, 0.0)}, "unit vectors"),
        ({"y_axis": (0.6, 0.8, 0.0)}, "perpendicular"),
        ({"z_axis": (0.0, 0.0, -1.0)}, "right-handed"),
        ({"origin_mm": (0.0, float("nan"), 0.0)}, "finite"),
        ({"pivot": (0.0, 0.0, 0.0)}, "Extra inputs"),
    ],
)
def test_bad_mountings_are_refused(fields: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        HexapodMounting.model_validate(fields)


def test_default_pivot_is_the_table_top_origin_and_the_mounting_is_frozen() -> None:
    mounting = HexapodMounting(table_top_origin_mm=(0.0, 0.0, 120.0))
    assert mounting.pivot == (0.0, 0.0, 120.0)
    with pytest.raises(ValidationError):
        mounting.origin_mm = (1.0, 0.0, 0.0)  # type: ignore[misc]
    assert HexapodMounting.model_validate_json(mounting.model_dump_json()) == mounting


# -- limits --------------------------------------------------------------------------------------------
def test_default_mount_ranges_are_the_travel_axis_for_axis() -> None:
    ranges = iec_ranges(TRAVEL)
    expected = {
        "lateral_mm": TRAVEL["X"],
        "longitudinal_mm": TRAVEL["Y"],
        "vertical_mm": TRAVEL["Z"],
        "pitch_deg": TRAVEL["U"],
        "roll_deg": TRAVEL["V"],
        "couch_rotation_deg": TRAVEL["W"],
    }
    for axis, (low, high) in expected.items():
        assert ranges[axis] == pytest.approx((low, high), abs=1e-6)


def test_coupled_mount_narrows_the_isocentric_rotation() -> None:
    """With the pivot 400 mm from the isocentre line, every degree of θs costs X and Y travel too."""
    mounting = HexapodMounting(pivot_mm=(0.0, 400.0, 0.0))
    low, high = iec_ranges(TRAVEL, mounting)["couch_rotation_deg"]
    # |Y| = 400·(1 − cos θ) stays small; |X| = 400·sin θ reaches 50 mm first: θ = asin(50/400).
    assert high == pytest.approx(math.degrees(math.asin(50 / 400)), abs=1e-6)
    assert low == pytest.approx(-high, abs=1e-6)
    assert DEFAULT_MOUNTING.pivot == (0.0, 0.0, 0.0)


def test_a_travel_without_zero_is_explored_from_its_middle() -> None:
    ranges = iec_ranges({**TRAVEL, "X": (10.0, 50.0)})
    assert ranges["lateral_mm"] == pytest.approx((10.0, 50.0), abs=1e-6)


def test_iec_ranges_reach_the_travel_exactly_at_wire_resolution() -> None:
    """A pose exactly at ±5° θs or ±3° pitch is allowed: the check uses the 6-decimal value that is sent."""
    from drivers.pi_gcs.iec import iec_ranges

    travel = {
        "X": (-50.0, 50.0),
        "Y": (-50.0, 50.0),
        "Z": (-30.0, 30.0),
        "U": (-3.0, 3.0),
        "V": (-3.0, 3.0),
        "W": (-5.0, 5.0),
    }
    ranges = iec_ranges(travel)
    assert ranges["couch_rotation_deg"] == (-5.0, 5.0)
    assert ranges["pitch_deg"] == (-3.0, 3.0) and ranges["roll_deg"] == (-3.0, 3.0)
