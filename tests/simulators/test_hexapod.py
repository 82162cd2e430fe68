"""The hexapod model: kinematics on virtual time, referencing, the workspace, each injected error's effect.

Defaults used below: system velocity 10 mm/s, 50 mm/s², 5 °/s, 20 °/s², referencing 15 s, settle 0.1 s. A
20 mm line therefore accelerates for 0.2 s over 1 mm, cruises 1.8 s and brakes 0.2 s: 2.2 s in all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from simulators.clock import VirtualClock
from simulators.hexapod import (
    AXES,
    PATH_SAMPLES,
    BusyError,
    Hexapod,
    HexapodConfig,
    HexapodMounting,
    NotReadyError,
    PivotError,
    StewartGeometry,
    UnreachableError,
    VelocityError,
    add_hexapod,
    forward_kinematics,
    leg_lengths,
    leg_lengths_along,
    legs_ok,
    pose_from_matrix,
    pose_matrix,
    pose_vector,
    translation_clear_of_stroke,
)
from simulators.world import World

MakeHexapod = Callable[..., Hexapod]

#: A wide, strut-free hexapod for error tests that need large rotations.
WIDE_TRAVEL = {
    "X": (-100, 100),
    "Y": (-100, 100),
    "Z": (-50, 50),
    "U": (-10, 10),
    "V": (-10, 10),
    "W": (-95, 95),
}


@pytest.fixture
def make_hexapod(world: World) -> MakeHexapod:
    """``make_hexapod(**HexapodConfig fields)`` → a hexapod named "couch" in the fixture world."""

    def make(name: str = "couch", **fields: Any) -> Hexapod:
        return add_hexapod(world, name, HexapodConfig(**fields))

    return make


def settle(hexapod: Hexapod, clock: VirtualClock) -> None:
    clock.advance_to(hexapod.busy_until())


def ready(hexapod: Hexapod, clock: VirtualClock) -> Hexapod:
    """Servo on, referenced, at rest."""
    hexapod.set_servo(True)
    hexapod.reference()
    settle(hexapod, clock)
    assert hexapod.referenced
    return hexapod


def go(hexapod: Hexapod, clock: VirtualClock, **target: float) -> None:
    hexapod.move_to(target)
    settle(hexapod, clock)


def true_xyz(hexapod: Hexapod, point: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    return hexapod.table_top_to_base(np.array(point))


# ---------------------------------------------------------------------------------------- power-up, reference
def test_power_up_is_unreferenced_with_servo_off(make_hexapod: MakeHexapod) -> None:
    hexapod = make_hexapod(power_on_pose={"X": 10.0, "W": 2.0})
    assert not hexapod.servo and not hexapod.referenced
    assert hexapod.readback().tolist() == [0.0] * 6  # the controller does not know where it is yet
    assert hexapod.true_pose() == pytest.approx([10, 0, 0, 0, 0, 2])
    with pytest.raises(NotReadyError):
        hexapod.reference()  # needs the servo
    hexapod.set_servo(True)
    with pytest.raises(NotReadyError):
        hexapod.move_to({"X": 1.0})  # needs the reference
    assert not any(hexapod.on_target().values())


def test_referencing_takes_the_reference_time_and_ends_at_zero(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = make_hexapod(power_on_pose={"X": 10.0, "W": 2.0})
    hexapod.set_servo(True)
    hexapod.reference()
    assert hexapod.referencing and all(hexapod.moving().values())
    assert hexapod.busy_until() == pytest.approx(15.1)
    clock.advance_to(7.5)  # the symmetric profile is half-way in s at half time
    assert hexapod.position() == pytest.approx([5, 0, 0, 0, 0, 1])
    assert hexapod.readback().tolist() == [0.0] * 6 and not hexapod.referenced
    clock.advance_to(15.0)
    assert hexapod.referenced and not hexapod.referencing and not any(hexapod.moving().values())
    assert hexapod.readback().tolist() == [0.0] * 6
    assert hexapod.true_pose_matrix() == pytest.approx(np.eye(4))
    assert not any(hexapod.on_target().values())  # settling
    clock.advance_to(15.1)
    assert all(hexapod.on_target().values())


def test_halt_or_servo_off_aborts_referencing(make_hexapod: MakeHexapod, clock: VirtualClock) -> None:
    hexapod = make_hexapod(power_on_pose={"Y": 20.0})
    hexapod.set_servo(True)
    hexapod.reference()
    clock.advance_to(7.5)
    hexapod.halt()
    settle(hexapod, clock)
    assert not hexapod.referenced and not hexapod.referencing
    assert 0.0 < hexapod.position()[1] < 10.0  # braked on the way, past the middle
    hexapod.reference()
    clock.advance_to(clock.now() + 1.0)
    hexapod.set_servo(False)
    assert not hexapod.referencing and not hexapod.is_moving() and not hexapod.referenced


# ------------------------------------------------------------------------------------------- kinematics
def test_trapezoid_on_the_path_parameter(make_hexapod: MakeHexapod, clock: VirtualClock) -> None:
    hexapod = ready(make_hexapod(), clock)
    t0 = clock.now()
    hexapod.move_to({"X": 20.0})
    assert hexapod.busy_until() - t0 == pytest.approx(2.3)  # 2.2 s of motion + 0.1 s settle
    for dt, x in {0.1: 0.25, 0.2: 1.0, 1.0: 9.0, 2.1: 19.75, 2.2: 20.0}.items():
        clock.advance_to(t0 + dt)
        assert hexapod.position()[0] == pytest.approx(x)
    assert hexapod.readback().tolist() == [20.0, 0, 0, 0, 0, 0]


def test_all_axes_move_on_one_line_and_arrive_together(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(), clock)
    t0 = clock.now()
    hexapod.move_to({"X": 1.0, "W": 5.0})  # limited by rotation: ṡ ≤ 5/5, s̈ ≤ 20/5 → 1.25 s
    assert hexapod.busy_until() - t0 == pytest.approx(1.35)
    clock.advance_to(t0 + 0.25)
    assert hexapod.position() == pytest.approx([0.125, 0, 0, 0, 0, 0.625])
    for dt in np.linspace(0.0, 1.25, 11):
        clock.advance_to(t0 + dt)
        x, w = hexapod.position()[[0, 5]]
        assert w == pytest.approx(5.0 * x)
    clock.advance_to(t0 + 1.25)
    assert hexapod.position() == pytest.approx([1, 0, 0, 0, 0, 5])


def test_moving_and_on_target_per_axis_over_time(make_hexapod: MakeHexapod, clock: VirtualClock) -> None:
    hexapod = ready(make_hexapod(), clock)
    t0 = clock.now()
    hexapod.move_to({"Y": -20.0})
    assert hexapod.moving() == {a: a == "Y" for a in AXES}
    assert hexapod.on_target() == {a: a != "Y" for a in AXES}
    clock.advance_to(t0 + 2.25)  # stopped, still settling
    assert not any(hexapod.moving().values()) and not hexapod.on_target()["Y"]
    clock.advance_to(t0 + 2.3)
    assert all(hexapod.on_target().values())


def test_a_new_target_while_moving_brakes_on_the_line_first(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(), clock)
    go(hexapod, clock, X=20.0)
    t0 = clock.now()
    hexapod.move_to({"X": -20.0})
    clock.advance_to(t0 + 1.0)
    assert hexapod.position()[0] == pytest.approx(11.0)
    hexapod.move_to({"X": 0.0, "Y": 5.0})
    assert hexapod.target().tolist() == [0, 5, 0, 0, 0, 0]
    clock.advance_to(t0 + 1.2)  # braked from −10 mm/s over 0.2 s: 1 mm further
    assert hexapod.position() == pytest.approx([10, 0, 0, 0, 0, 0])
    settle(hexapod, clock)
    assert hexapod.position() == pytest.approx([0, 5, 0, 0, 0, 0])


def test_halt_brakes_smoothly_and_stop_stops_dead(make_hexapod: MakeHexapod, clock: VirtualClock) -> None:
    hexapod = ready(make_hexapod(), clock)
    t0 = clock.now()
    hexapod.move_to({"X": 20.0})
    clock.advance_to(t0 + 1.0)
    hexapod.halt()
    assert hexapod.target()[0] == pytest.approx(10.0)  # where it will come to rest
    assert hexapod.busy_until() == pytest.approx(t0 + 1.3)
    settle(hexapod, clock)
    assert hexapod.position()[0] == pytest.approx(10.0)
    t1 = clock.now()
    hexapod.move_to({"X": 0.0})
    clock.advance_to(t1 + 0.5)
    hexapod.stop()
    assert not hexapod.is_moving()
    assert hexapod.position()[0] == pytest.approx(6.0) == hexapod.target()[0]


def test_velocity_is_set_only_at_rest_and_within_range(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(), clock)
    for bad in (0.0, -1.0, 30.5):
        with pytest.raises(VelocityError):
            hexapod.set_velocity(bad)
    hexapod.set_velocity(20.0)
    t0 = clock.now()
    hexapod.move_to({"Z": 20.0})
    assert hexapod.busy_until() - t0 == pytest.approx(1.0 + 0.4 + 0.1)  # 20/20 + 20/50 + settle
    with pytest.raises(BusyError):
        hexapod.set_velocity(10.0)


# ------------------------------------------------------------------------------------------- workspace
def test_workspace_is_the_travel_box_cut_by_strut_lengths(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(), clock)
    for axis, (lo, hi) in HexapodConfig().travel.items():
        assert hexapod.can_reach({axis: lo}) and hexapod.can_reach({axis: hi})
        assert not hexapod.can_reach({axis: hi + 0.001})
    assert hexapod.can_reach({"X": 50.0, "Y": 50.0})
    corner = {"X": 50.0, "Y": 50.0, "Z": 30.0}
    assert not hexapod.can_reach(corner)  # inside the box, but a strut would be 536.9 mm > 512
    with pytest.raises(UnreachableError, match="strut lengths"):
        hexapod.move_to(corner)
    with pytest.raises(UnreachableError, match="outside the travel"):
        hexapod.move_to({"U": 3.5})
    assert hexapod.target().tolist() == [0.0] * 6 and not hexapod.is_moving()  # a refused move moves nothing


def test_reachability_is_judged_from_the_commanded_target(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(), clock)
    go(hexapod, clock, Z=30.0)
    assert not hexapod.can_reach({"U": 3.0})  # Z 30 and U 3 together overstretch a strut
    assert hexapod.can_reach({"Z": 0.0, "U": 3.0})
    with pytest.raises(UnreachableError):
        hexapod.move_by({"U": 3.0})


def _path_verdict_one_pose_at_a_time(
    geometry: StewartGeometry, start: np.ndarray, end: np.ndarray, pivot: np.ndarray
) -> float | None:
    """The path check as it was written first (one ``legs_ok`` per sample): the first failing s, or None."""
    for s in np.linspace(0.0, 1.0, PATH_SAMPLES + 1)[1:]:
        if not legs_ok(geometry, start + s * (end - start), pivot):
            return float(s)
    return None


def test_leg_lengths_along_a_path_equal_the_one_pose_lengths() -> None:
    geometry = StewartGeometry()
    rng = np.random.default_rng(15)
    lo, hi = np.array([-50, -50, -30, -3, -3, -5.0]), np.array([50, 50, 30, 3, 3, 5.0])
    for pivot in (np.zeros(3), np.array([5.0, -3.0, 80.0])):
        poses = rng.uniform(lo, hi, size=(200, 6))
        expected = np.array([leg_lengths(geometry, pose, pivot) for pose in poses])
        assert leg_lengths_along(geometry, poses, pivot) == pytest.approx(expected, abs=1e-9)
        translations = np.column_stack([poses[:, :3], np.tile([1.0, -2.0, 3.0], (200, 1))])  # one rotation
        expected = np.array([leg_lengths(geometry, pose, pivot) for pose in translations])
        assert leg_lengths_along(geometry, translations, pivot) == pytest.approx(expected, abs=1e-9)


def test_a_translation_shown_clear_in_closed_form_is_clear_at_every_sample() -> None:
    """The closed-form short cut for pure translations only ever says "clear" when every sampled strut
    length is inside the stroke (with room to spare); it says so for most such paths, and not for paths
    that leave the stroke, at an end or only in the middle."""
    geometry = StewartGeometry()
    lo, hi = geometry.leg_length_mm
    rng = np.random.default_rng(61217)
    low, high = np.array([-50, -50, -30, -3, -3, -5.0]), np.array([50, 50, 30, 3, 3, 5.0])
    shown = 0
    for _ in range(2000):
        start = rng.uniform(low, high)
        end = np.concatenate([rng.uniform(low[:3], high[:3]), start[3:]])
        pivot = rng.uniform(-20, 20, 3) * [1, 1, 5]
        samples = np.linspace(0.0, 1.0, PATH_SAMPLES + 1)
        lengths = leg_lengths_along(geometry, start + samples[:, None] * (end - start), pivot)
        if translation_clear_of_stroke(geometry, start, end, pivot):
            shown += 1
            assert lengths.min() > lo and lengths.max() < hi
    assert shown > 150  # about one random translation in eight is inside the stroke all along
    # struts upright at the zero pose, 450 mm long, the stroke starting at 450.2: a line from X −20 to +20
    # has both ends inside (450.44 mm) and its middle outside (450 mm), which only the samples see
    upright = StewartGeometry(
        base_radius_mm=250.0,
        platform_radius_mm=250.0,
        platform_half_angle_deg=48.0,
        leg_length_mm=(450.2, 700.0),
    )
    start, end = pose_vector({"X": -20.0}), pose_vector({"X": 20.0})
    ends = leg_lengths_along(upright, np.array([start, end]))
    assert ends.min() > 450.2 and leg_lengths(upright, np.zeros(6)).max() < 450.2
    assert not translation_clear_of_stroke(upright, start, end, np.zeros(3))
    assert _path_verdict_one_pose_at_a_time(upright, start, end, np.zeros(3)) == 0.1875  # X −12.5: 450.17 mm


def test_reachability_answers_are_those_of_the_one_pose_at_a_time_check(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    """``VMO?``/``MOV`` check a whole path at once; over many random paths, from random rest poses and with a
    moved pivot, they answer exactly as checking each sample pose on its own did, and name the same s."""
    hexapod = ready(make_hexapod(), clock)
    geometry = hexapod.config.legs
    assert geometry is not None
    rng = np.random.default_rng(2026)
    lo, hi = hexapod.config.travel_vectors()
    answers = {True: 0, False: 0}
    for trial in range(600):
        if trial == 300:
            go(hexapod, clock, U=0.0, V=0.0, W=0.0)  # the pivot moves only with the rotations at zero
            hexapod.set_pivot({"T": 60.0})
        pivot = np.array(hexapod.pivot_mm)
        start = hexapod.target()
        end = rng.uniform(lo, hi)
        if trial % 3 == 0:
            end[3:] = start[3:]  # a pure translation
        expected = _path_verdict_one_pose_at_a_time(geometry, start, end, pivot)
        target = dict(zip(AXES, end.tolist(), strict=True))
        assert hexapod.can_reach(target) is (expected is None)
        answers[expected is None] += 1
        if expected is None:
            go(hexapod, clock, **target)
        else:
            with pytest.raises(UnreachableError, match=f"at s={expected:.3f} "):
                hexapod.move_to(target)
    assert min(answers.values()) > 100  # both answers were exercised many times


def test_leg_lengths_are_symmetric_at_zero_and_follow_the_pose(make_hexapod: MakeHexapod) -> None:
    hexapod = make_hexapod()
    geometry = hexapod.config.legs
    assert geometry is not None
    zero = hexapod.leg_lengths(np.zeros(6))
    assert zero == pytest.approx(np.full(6, zero[0]))
    base_joint = (300 * math.cos(math.radians(12)), 300 * math.sin(math.radians(12)), -450)
    platform_joint = (250 * math.cos(math.radians(48)), 250 * math.sin(math.radians(48)), 0)
    assert zero[0] == pytest.approx(math.dist(base_joint, platform_joint))
    up = leg_lengths(geometry, pose_vector({"Z": 10.0}))
    assert np.all(up > zero)


def test_pivot_changes_only_with_uvw_zero_and_rotations_keep_it_fixed(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(), clock)
    go(hexapod, clock, X=10.0)
    hexapod.set_pivot({"R": 5.0, "T": 300.0})
    assert hexapod.pivot_mm == (5.0, 0.0, 300.0)
    go(hexapod, clock, U=3.0, V=-2.0)
    # The pivot rides with the translation: it sits at X + R in the base frame and does not move on rotation.
    assert true_xyz(hexapod, (5.0, 0.0, 300.0)) == pytest.approx([15.0, 0.0, 300.0])
    with pytest.raises(PivotError):
        hexapod.set_pivot({"R": 0.0})
    hexapod.move_to({"U": 0.0, "V": 0.0})
    with pytest.raises(PivotError):  # moving back, not there yet
        hexapod.set_pivot({"R": 0.0})


@pytest.mark.parametrize("pose", [[1, -2, 3, 0.5, -1.5, 2.5], [-40, 10, 0, 0, 0, -80], [0, 0, 0, 9, 0, 0]])
def test_pose_matrix_round_trip(pose: list[float]) -> None:
    pivot = (12.0, -7.0, 150.0)
    assert pose_from_matrix(pose_matrix(pose, pivot), pivot) == pytest.approx(pose)


# ------------------------------------------------------------------------------------------- injected errors
def test_scale_error_scales_the_true_travel_only(make_hexapod: MakeHexapod, clock: VirtualClock) -> None:
    hexapod = ready(make_hexapod(errors={"scale_error": {"X": 0.001, "W": -0.01}}), clock)
    go(hexapod, clock, X=40.0)
    assert hexapod.readback()[0] == 40.0
    assert true_xyz(hexapod)[0] == pytest.approx(40.04)
    go(hexapod, clock, X=0.0, W=4.0)
    assert hexapod.true_pose()[5] == pytest.approx(3.96)


def test_squareness_error_leaks_y_travel_into_x(make_hexapod: MakeHexapod, clock: VirtualClock) -> None:
    hexapod = ready(make_hexapod(errors={"squareness_xy_deg": 0.1, "squareness_yz_deg": -0.05}), clock)
    go(hexapod, clock, Y=50.0)
    x, y, z = true_xyz(hexapod)
    assert (x, y, z) == pytest.approx((50 * math.sin(math.radians(0.1)), 50 * math.cos(math.radians(0.1)), 0))
    go(hexapod, clock, Y=0.0, Z=20.0)
    assert true_xyz(hexapod)[1] == pytest.approx(20 * math.sin(math.radians(-0.05)))


def test_walkout_traces_the_circle_of_the_research_vector(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    """Constructed vector: axis at (0.30, −0.20) mm, marker 0.80 mm from it, couch at 270/315/0/45/90°."""
    hexapod = ready(make_hexapod(travel=WIDE_TRAVEL, legs=None, errors={"walkout_mm": (0.3, -0.2)}), clock)
    marker = (1.1, -0.2, 0.0)  # on the table top; at W = 0 the walkout does not show
    expected = {
        -90: (0.3, -1.0),
        -45: (0.865685, -0.765685),
        0: (1.1, -0.2),
        45: (0.865685, 0.365685),
        90: (0.3, 0.6),
    }
    for w, xy in expected.items():
        go(hexapod, clock, W=float(w))
        assert true_xyz(hexapod, marker)[:2] == pytest.approx(xy, abs=1e-6)
    # The isocentre itself (the pivot) walks on a circle of radius |d| around pivot + d.
    for yaw in (-60.0, 30.0, 90.0):
        go(hexapod, clock, W=yaw)
        offset = true_xyz(hexapod)[:2] - np.array([0.3, -0.2])
        assert np.hypot(*offset) == pytest.approx(math.hypot(0.3, 0.2))
    assert hexapod.readback()[5] == 90.0


def test_backlash_shows_as_a_reversal_offset_on_the_true_pose(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(errors={"backlash": {"X": 0.05, "U": 0.01}}), clock)
    go(hexapod, clock, X=10.0)  # approached from below: trails by B
    up = true_xyz(hexapod)[0]
    go(hexapod, clock, X=15.0)
    go(hexapod, clock, X=10.0)  # approached from above (overshoot 5 mm > B): no play
    down = true_xyz(hexapod)[0]
    assert (up, down) == pytest.approx((9.95, 10.0))
    assert down - up == pytest.approx(0.05)
    assert hexapod.readback()[0] == 10.0
    go(hexapod, clock, U=2.0)
    assert hexapod.true_pose()[3] == pytest.approx(1.99)
    hexapod.set_error(backlash={"X": 0.0, "U": 0.004})
    assert hexapod.play()[[0, 3]] == pytest.approx([0.0, 0.004])  # clamped to the new backlash
    hexapod.reference()
    settle(hexapod, clock)
    assert hexapod.true_pose_matrix() == pytest.approx(np.eye(4))  # referencing takes up the play


def test_sag_grows_with_payload_and_extension(make_hexapod: MakeHexapod, clock: VirtualClock) -> None:
    errors = {"sag_um_per_kg": 1.0, "sag_um_per_kg_m": 10.0, "sag_axis": "Y", "sag_lever_arm_mm": 500.0}
    hexapod = ready(make_hexapod(errors=errors), clock)
    go(hexapod, clock, Y=50.0)
    assert true_xyz(hexapod)[2] == 0.0  # no payload, no sag
    sag = {}
    for kg in (35.0, 70.0, 140.0):
        hexapod.set_payload(kg)
        sag[kg] = -true_xyz(hexapod)[2]
    assert sag[70.0] == pytest.approx(70 * (1 + 10 * 0.55) / 1000)  # 0.455 mm
    assert sag[140.0] == pytest.approx(2 * sag[70.0]) and sag[35.0] == pytest.approx(sag[70.0] / 2)
    go(hexapod, clock, Y=-50.0)
    assert -true_xyz(hexapod)[2] == pytest.approx(140 * (1 + 10 * 0.45) / 1000)
    assert hexapod.readback()[2] == 0.0


def test_load_tilt_turns_the_table_top_about_the_pivot_in_proportion_to_payload(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    """λ = (0.004, −0.002) °/kg: 70 kg turn the table top 0.28° about X, −0.14° about Y, about the pivot."""
    pivot = (0.0, 0.0, 120.0)
    hexapod = ready(make_hexapod(pivot_mm=pivot, errors={"load_tilt_deg_per_kg": (0.004, -0.002)}), clock)
    go(hexapod, clock, X=10.0, Y=-20.0, Z=5.0)
    assert hexapod.true_pose_matrix()[:3, :3] == pytest.approx(np.eye(3))  # no payload, no tilt
    hexapod.set_payload(70.0)
    m = hexapod.true_pose_matrix()
    a, b = math.radians(70 * 0.004), math.radians(70 * -0.002)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    assert m[:3, :3] == pytest.approx(rx @ ry, abs=1e-12)
    p = np.array([10.0, -20.0, 5.0]) + np.array(pivot)  # where the pivot is now
    assert true_xyz(hexapod, pivot) == pytest.approx(p, abs=1e-12)  # the pivot does not move
    lever = np.array([0.0, 800.0, 0.0])  # a point 800 mm along +Y from the pivot dips by 800·sin(0.28°)
    assert true_xyz(hexapod, tuple(np.array(pivot) + lever)) == pytest.approx(p + rx @ ry @ lever, abs=1e-12)
    assert (true_xyz(hexapod, tuple(np.array(pivot) + lever)) - p)[2] == pytest.approx(800 * math.sin(a))
    hexapod.set_payload(140.0)
    assert hexapod.true_pose()[3:5] == pytest.approx([0.56, -0.28], abs=1e-9)  # linear in payload
    assert hexapod.readback()[3:] == pytest.approx([0.0, 0.0, 0.0])  # the controller knows nothing of it


def test_rotation_axis_tilt_turns_about_the_tilted_axis_through_the_pivot(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    """A W axis leaning 0.5° toward +X and −0.3° toward +Y: every table-top point turns about that axis."""
    tilt = (0.5, -0.3)
    pivot = (0.0, 0.0, 0.0)
    hexapod = ready(
        make_hexapod(travel=WIDE_TRAVEL, legs=None, pivot_mm=pivot, errors={"rotation_axis_tilt_deg": tilt}),
        clock,
    )
    go(hexapod, clock, W=0.0)
    assert hexapod.true_pose_matrix() == pytest.approx(np.eye(4))  # no W, no effect
    sa, sb = math.sin(math.radians(tilt[0])), math.sin(math.radians(tilt[1]))
    axis = np.array([sa, sb, math.sqrt(1 - sa**2 - sb**2)])
    assert math.degrees(math.acos(axis @ [0, 0, 1])) == pytest.approx(math.hypot(*tilt), rel=1e-3)
    for w in (-60.0, 30.0, 90.0):
        go(hexapod, clock, W=w)
        for point in ((400.0, 0.0, 0.0), (0.0, -700.0, 50.0), (0.0, 0.0, 0.0)):
            moved = true_xyz(hexapod, point)
            p = np.array(point)
            # Rodrigues about the axis through the pivot
            c, s = math.cos(math.radians(w)), math.sin(math.radians(w))
            expected = p * c + np.cross(axis, p) * s + axis * (axis @ p) * (1 - c)
            assert moved == pytest.approx(expected, abs=1e-9)
            # the point keeps its distance from the axis and its height along it
            assert axis @ moved == pytest.approx(axis @ p, abs=1e-9)
    # Off the axis a pure W rotation moves a point vertically: at W = 90° a point 400 mm along +X rises by
    # 400·(ax·az − ay) = 400·(sin 0.5°·cos… + sin 0.3°) ≈ 5.58 mm.
    dz = true_xyz(hexapod, (400.0, 0.0, 0.0))[2]
    assert dz == pytest.approx(400 * (axis[0] * axis[2] - axis[1]), abs=1e-9)
    assert dz == pytest.approx(5.585, abs=1e-3)
    assert hexapod.readback()[5] == 90.0
    with pytest.raises(ValidationError):
        hexapod.set_error(rotation_axis_tilt_deg=(6.0, 0.0))


def test_walkout_and_axis_tilt_combine_about_the_displaced_tilted_axis(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(
        make_hexapod(
            travel=WIDE_TRAVEL,
            legs=None,
            errors={"walkout_mm": (0.3, -0.2), "rotation_axis_tilt_deg": (0.2, 0.1)},
        ),
        clock,
    )
    d = np.array([0.3, -0.2, 0.0])
    sa, sb = math.sin(math.radians(0.2)), math.sin(math.radians(0.1))
    axis = np.array([sa, sb, math.sqrt(1 - sa**2 - sb**2)])
    go(hexapod, clock, W=45.0)
    c, s = math.cos(math.radians(45)), math.sin(math.radians(45))
    for point in ((1.1, -0.2, 0.0), (0.0, 300.0, 100.0)):
        p = np.array(point) - d
        expected = d + p * c + np.cross(axis, p) * s + axis * (axis @ p) * (1 - c)
        assert true_xyz(hexapod, point) == pytest.approx(expected, abs=1e-9)


def test_forward_kinematics_inverts_the_strut_lengths() -> None:
    geometry = StewartGeometry()
    for pose, pivot in (
        ([10.0, -5.0, 3.0, 1.0, -1.0, 2.0], (0, 0, 0)),
        ([-20, 30, -10, -2, 2.5, -4], (5, -3, 80)),
    ):
        lengths = leg_lengths(geometry, pose, pivot)
        assert forward_kinematics(geometry, lengths, pivot) == pytest.approx(pose, abs=1e-9)


def test_a_strut_error_moves_the_platform_and_shows_in_the_readback(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    """The encoders measure each strut 'error' longer than commanded; POS? is the FK of what they measure,
    and the platform really is there too (no other error injected: true pose = readback)."""
    strut_error = (0.5, -0.3, 0.0, 0.2, 0.0, -0.4)
    hexapod = ready(make_hexapod(errors={"strut_error_mm": strut_error}), clock)
    go(hexapod, clock, X=10.0, Y=-5.0, Z=3.0, U=1.0, V=-1.0, W=2.0)
    commanded = np.array([10.0, -5.0, 3.0, 1.0, -1.0, 2.0])
    assert hexapod.position() == pytest.approx(commanded)  # the trajectory reached its end
    measured = hexapod.measured_leg_lengths()
    assert measured - hexapod.leg_lengths() == pytest.approx(strut_error)
    reported = hexapod.readback()
    geometry = hexapod.config.legs
    assert geometry is not None
    assert leg_lengths(geometry, reported) == pytest.approx(measured, abs=1e-9)  # POS? = FK(encoders)
    assert np.max(np.abs(reported - commanded)) > 0.2  # visible: a few tenths of a mm / degree
    assert hexapod.true_pose() == pytest.approx(reported, abs=1e-9)
    assert hexapod.on_target() == dict.fromkeys(AXES, True)  # no on-target window configured


def test_errors_downstream_of_the_encoders_do_not_reach_the_readback(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    """Scale, squareness, backlash, walkout, axis tilt, sag and load tilt move only the true pose."""
    errors = {
        "scale_error": {"X": 0.01, "W": 0.02},
        "squareness_xy_deg": 0.2,
        "backlash": {"X": 0.05},
        "walkout_mm": (0.3, -0.2),
        "rotation_axis_tilt_deg": (0.2, 0.1),
        "sag_um_per_kg": 5.0,
        "load_tilt_deg_per_kg": (0.002, 0.001),
    }
    hexapod = ready(make_hexapod(errors=errors, payload_kg=70.0), clock)
    go(hexapod, clock, X=20.0, Y=10.0, W=3.0)
    assert hexapod.readback() == pytest.approx([20.0, 10.0, 0.0, 0.0, 0.0, 3.0], abs=1e-12)
    assert np.max(np.abs(hexapod.true_pose() - hexapod.readback())) > 0.1


def test_the_on_target_window_judges_the_strut_error(make_hexapod: MakeHexapod, clock: VirtualClock) -> None:
    hexapod = ready(
        make_hexapod(on_target_window_mm=0.05, errors={"strut_error_mm": (0.04, 0, 0, 0, 0, -0.04)}), clock
    )
    go(hexapod, clock, X=5.0)
    assert hexapod.on_target() == dict.fromkeys(AXES, True)  # inside the window: on target, POS? shows it
    hexapod.set_error(strut_error_mm=(0.0, 0.0, 0.06, 0.0, 0.0, 0.0))
    assert hexapod.on_target() == dict.fromkeys(AXES, False)  # outside: never on target
    assert not hexapod.is_moving()
    with pytest.raises(ValidationError):
        hexapod.set_error(strut_error_mm=(25.0, 0, 0, 0, 0, 0))
    strutless = make_hexapod("strutless", legs=None)
    with pytest.raises(ValueError, match="legs"):
        strutless.set_error(strut_error_mm=(0.1, 0, 0, 0, 0, 0))
    with pytest.raises(ValidationError, match="legs"):
        HexapodConfig(legs=None, errors={"strut_error_mm": (0.1, 0, 0, 0, 0, 0)})


def test_readback_noise_spreads_pos_but_not_the_true_pose(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(errors={"readback_noise_mm": 0.01, "readback_noise_deg": 0.002}), clock)
    go(hexapod, clock, X=10.0)
    samples = np.array([hexapod.readback() for _ in range(4000)])
    assert samples.mean(axis=0) == pytest.approx([10, 0, 0, 0, 0, 0], abs=0.002)
    assert samples.std(axis=0) == pytest.approx([0.01] * 3 + [0.002] * 3, rel=0.1)
    assert hexapod.true_pose() == pytest.approx([10, 0, 0, 0, 0, 0])


def test_true_noise_is_one_scatter_per_move_whatever_the_polling() -> None:
    config = HexapodConfig(errors={"true_noise_mm": 0.02, "true_noise_deg": 0.01}, velocity_mm_s=30.0)

    def landing_errors(polls: int) -> np.ndarray:
        clock = VirtualClock()
        hexapod = ready(add_hexapod(World(clock, seed=7), "couch", config), clock)
        out = []
        for i in range(300):
            go(hexapod, clock, X=5.0 if i % 2 else -5.0)
            for _ in range(polls):
                hexapod.readback()
            landed = hexapod.true_pose()
            clock.advance_to(clock.now() + 1.0)
            assert hexapod.true_pose() == pytest.approx(landed)  # at rest the scatter stays put
            out.append(landed - hexapod.position())
        return np.array(out)

    quiet = landing_errors(polls=0)
    assert quiet.std(axis=0) == pytest.approx([0.02] * 3 + [0.01] * 3, rel=0.2)
    assert np.abs(quiet.mean(axis=0)).max() < 0.005
    assert np.array_equal(landing_errors(polls=5), quiet)  # POS? polling never shifts the true-pose stream


def test_errors_can_be_injected_at_run_time_and_are_validated(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    hexapod = ready(make_hexapod(), clock)
    go(hexapod, clock, X=30.0)
    hexapod.set_error(scale_error={"X": -0.002}, walkout_mm=(0.5, 0.0))
    assert true_xyz(hexapod)[0] == pytest.approx(29.94)
    assert hexapod.errors.walkout_mm == (0.5, 0.0)
    with pytest.raises(ValidationError):
        hexapod.set_error(backlash={"X": -0.1})
    with pytest.raises(ValidationError):
        hexapod.set_error(scale_error={"Q": 0.1})
    with pytest.raises(ValidationError):
        hexapod.set_error(no_such_error=1.0)
    assert hexapod.errors.scale_error == {"X": -0.002}


# ------------------------------------------------------------------------------------------- frames, config
def test_table_top_points_map_to_the_room_through_the_mounting(
    make_hexapod: MakeHexapod, clock: VirtualClock
) -> None:
    mounting = HexapodMounting(origin_mm=(0.0, 0.0, -800.0), rotation_deg=(0.0, 0.0, 90.0))
    hexapod = ready(make_hexapod(mounting=mounting), clock)
    go(hexapod, clock, X=10.0, Z=5.0)
    # Hexapod +X points along room +Y; the base origin sits 800 mm below the room origin.
    points = hexapod.table_top_to_room([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]])
    assert points == pytest.approx(np.array([[0.0, 10.0, -795.0], [0.0, 110.0, -795.0]]))
    assert hexapod.room_from_base @ hexapod.true_pose_matrix() @ [100, 0, 0, 1] == pytest.approx(
        [0, 110, -795, 1]
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"spurious": 1},
        {"travel": {"X": (-1, 1)}},
        {"travel": {**WIDE_TRAVEL, "X": (1.0, 5.0)}},
        {"power_on_pose": {"X": 60.0}},
        {"power_on_pose": {"X": 50.0, "Y": 50.0, "Z": 30.0}},
        {"velocity_mm_s": 40.0},
        {"legs": {"leg_length_mm": (500.0, 400.0)}},
        {"errors": {"squareness_xy_deg": 10.0}},
    ],
)
def test_config_rejects_inconsistent_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HexapodConfig(**fields)


def test_world_registration_and_state_snapshot(world: World, clock: VirtualClock) -> None:
    hexapod = add_hexapod(world, "couch", HexapodConfig())
    assert world.get("couch", Hexapod) is hexapod and "couch" in world
    ready(hexapod, clock)
    hexapod.move_to({"V": 1.0})
    state = hexapod.state()
    assert state.referenced and state.servo and not state.referencing
    assert state.moving["V"] and not state.on_target["V"] and state.target["V"] == 1.0
    assert state.velocity_mm_s == 10.0 and state.pivot_mm == (0.0, 0.0, 0.0) and state.payload_kg == 0.0


def test_u_v_w_compose_about_moving_axes_as_pi_documents():
    """PI (H-820 MS207E §3.7.4): rotation axes move with the platform; order U -> V -> W.

    U = 90° then V = 90° about the *moved* Y axis takes the platform's X axis to room +Y; read about fixed
    axes it would end at −Z. The driver implements the same manual independently (drivers/pi_gcs/iec.py).
    """
    from simulators.hexapod import pose_from_matrix, pose_matrix, rotation_matrix

    x_axis = rotation_matrix(90.0, 90.0, 0.0) @ np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(x_axis, [0.0, 1.0, 0.0], atol=1e-12)
    pose = np.array([1.0, -2.0, 3.0, 2.5, -1.5, 4.0])
    np.testing.assert_allclose(pose_from_matrix(pose_matrix(pose, (0, 0, 50)), (0, 0, 50)), pose, atol=1e-9)
