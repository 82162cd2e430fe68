"""The lead-screw stage model: motion profiles in virtual time, backlash and screw errors, faults.

Defaults used below: 20 mm/s, 100 mm/s², so an acceleration phase takes 0.2 s and 2 mm.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulators.clock import VirtualClock
from simulators.stage import (
    LinearStage,
    NotReferencedError,
    OutOfTravelError,
    StageConfig,
    plan_move,
)

from .helpers import home, move, settle

MakeStage = Callable[..., LinearStage]


# ------------------------------------------------------------------------------------------- kinematics
def test_trapezoid_positions_at_virtual_times(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    t0 = clock.now()
    stage.move_to(stage.usteps_from_mm(100.0))
    assert stage.busy_until() - t0 == pytest.approx(5.2)  # 100/20 + 20/100
    expected = {0.1: 0.5, 0.2: 2.0, 2.7: 52.0, 5.1: 99.5, 5.2: 100.0}
    for dt, mm in expected.items():
        clock.advance_to(t0 + dt)
        assert stage.motor_position_mm() == pytest.approx(mm, abs=1e-6), dt
        if dt == 2.7:
            assert stage.state().velocity_mm_s == pytest.approx(20.0)


def test_short_move_is_a_triangle(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    t0 = clock.now()
    stage.move_to(stage.usteps_from_mm(1.0))
    assert stage.busy_until() - t0 == pytest.approx(0.2)  # 2·sqrt(1/100): never reaches 20 mm/s
    clock.advance_to(t0 + 0.1)
    state = stage.state()
    assert state.motor_mm == pytest.approx(0.5)
    assert state.velocity_mm_s == pytest.approx(10.0)  # peak = sqrt(a·d)


def test_busy_then_idle_with_settle(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage(settle_s=0.5)
    home(stage, clock)
    t0 = clock.now()
    stage.move_to(stage.usteps_from_mm(1.0))
    assert stage.is_busy() and stage.is_moving()
    clock.advance_to(t0 + 0.3)
    assert stage.is_busy() and not stage.is_moving()  # at rest, still settling
    clock.advance_to(t0 + 0.7)
    assert not stage.is_busy()


def test_status_flags_are_the_states_flags_at_every_stage_of_a_motion(
    make_stage: MakeStage, clock: VirtualClock
) -> None:
    """What a controller's status reply reads (no position evaluated) agrees with the full snapshot."""
    stage = make_stage(settle_s=0.05)
    fields = ("busy", "referenced", "stalled", "interrupted", "limit_triggered", "emergency_stopped")

    def agree() -> None:
        state, flags = stage.state(), stage.status_flags()
        assert [getattr(flags, f) for f in fields] == [getattr(state, f) for f in fields]

    agree()  # unreferenced, at rest
    home(stage, clock)
    agree()
    stage.inject_stall(fraction=0.5)
    stage.move_to(stage.usteps_from_mm(10.0))
    for dt in (0.1, 0.3, 0.6):  # moving, then stalled halfway
        clock.advance_to(clock.now() + dt)
        agree()
    assert stage.status_flags().stalled
    stage.clear_faults()
    stage.move_to(stage.usteps_from_mm(1.0))
    t0 = clock.now()
    for dt in (0.05, 0.95, 1.0 + 0.02, 2.0):  # moving, in the settle, settled
        clock.advance_to(t0 + dt)
        agree()
    stage.move_to(stage.usteps_from_mm(5.0))
    stage.stop()
    agree()
    assert stage.status_flags().interrupted
    stage.emergency_stop()
    agree()
    assert stage.status_flags().emergency_stopped


def test_homing_takes_real_motion_time_and_sets_reference(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()  # powers up mid-travel, 150 mm, not referenced
    assert not stage.referenced
    assert stage.motor_position_mm() == pytest.approx(150.0)
    with pytest.raises(NotReferencedError):
        stage.move_to(0)
    stage.home()
    assert stage.busy_until() == pytest.approx(15.1)  # 150 mm at 10 mm/s homing speed + 0.1 s ramps
    clock.advance_to(15.0)
    assert not stage.referenced
    clock.advance_to(15.1)
    assert stage.referenced and stage.motor_position_usteps() == 0 and stage.at_home_sensor()


def test_homing_near_the_datum_backs_off_first(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage(power_on_position_mm=0.1, backlash_mm=0.2)
    stage.home()
    peak = 0.0
    for _ in range(300):
        clock.sleep(0.001)
        peak = max(peak, stage.motor_position_mm())
    settle(stage, clock)
    assert peak == pytest.approx(0.5, abs=1e-3)  # backed off to max(0.5 mm, 2B) = 0.5 mm, then approached
    state = stage.state()
    assert state.referenced and state.carriage_mm == 0.0 and state.play_mm == 0.0


def test_moves_outside_the_limits_are_refused(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage(travel_mm=(0.0, 50.0))
    home(stage, clock)
    with pytest.raises(OutOfTravelError):
        stage.move_to(stage.usteps_from_mm(50.001))
    with pytest.raises(OutOfTravelError):
        stage.move_by(-1)
    stage.set_limits_usteps(hi=stage.usteps_from_mm(40.0))
    with pytest.raises(OutOfTravelError):
        stage.move_to(stage.usteps_from_mm(45.0))
    with pytest.raises(OutOfTravelError):
        stage.set_limits_usteps(hi=stage.usteps_from_mm(60.0))
    assert not stage.is_busy()


def test_stop_decelerates_and_marks_interrupted(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    t0 = clock.now()
    stage.move_to(stage.usteps_from_mm(100.0))
    clock.advance_to(t0 + 1.0)  # cruising at 18 mm
    stage.stop()
    assert stage.is_busy() and stage.interrupted
    assert stage.busy_until() - clock.now() == pytest.approx(0.2, abs=1e-4)
    settle(stage, clock)
    assert stage.motor_position_mm() == pytest.approx(20.0, abs=2e-4)  # 18 mm + v²/2a = 2 mm
    assert float(stage.motor_position_usteps()) == stage.state().motor_usteps  # rests on a whole microstep
    stage.move_to(0)
    assert not stage.interrupted  # a new motion clears the notice


def test_estop_stops_at_once(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    t0 = clock.now()
    stage.move_to(stage.usteps_from_mm(100.0))
    clock.advance_to(t0 + 1.0)
    stage.estop()
    assert not stage.is_busy() and stage.interrupted
    assert stage.motor_position_mm() == pytest.approx(18.0, abs=2e-4)


def test_estop_or_stop_while_idle_changes_nothing(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    stage.stop()
    stage.estop()
    assert not stage.interrupted and not stage.is_busy()


def test_new_target_mid_move_reverses_smoothly(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    t0 = clock.now()
    stage.move_to(stage.usteps_from_mm(100.0))
    clock.advance_to(t0 + 1.0)
    before = stage.state()
    stage.move_to(0)
    after = stage.state()
    assert (after.motor_mm, after.velocity_mm_s) == pytest.approx((before.motor_mm, before.velocity_mm_s))
    assert stage.busy_until() - clock.now() == pytest.approx(1.4)  # 0.2 s braking to 20 mm, then 20 mm back
    clock.advance_to(t0 + 1.2)
    assert stage.motor_position_mm() == pytest.approx(20.0)
    settle(stage, clock)
    assert stage.motor_position_usteps() == 0


def test_move_velocity_runs_to_the_limit(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage(travel_mm=(0.0, 50.0))
    home(stage, clock)
    t0 = clock.now()
    stage.move_velocity(stage.usteps_from_mm(10.0))
    clock.advance_to(t0 + 1.0)
    assert stage.motor_position_mm() == pytest.approx(9.5)  # 0.1 s ramp to 10 mm/s, then cruise
    settle(stage, clock)
    assert stage.motor_position_mm() == pytest.approx(50.0) and stage.at_away_sensor()
    stage.move_velocity(-stage.usteps_from_mm(10.0))
    clock.sleep(1.0)
    stage.move_velocity(0)
    settle(stage, clock)
    assert not stage.interrupted and stage.motor_position_mm() < 50.0


# ------------------------------------------------------------------------------------------- errors model
def test_ideal_stage_encoder_equals_commanded(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    assert stage.encoder_position_usteps() == stage.motor_position_usteps() == 0
    for target in (1, 7, 12_345, 640_001, 1_919_999, 3):
        stage.move_to(target)
        settle(stage, clock)
        assert stage.encoder_position_usteps() == target == stage.motor_position_usteps()


def test_backlash_deviation_from_each_side_differs_by_b(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage(backlash_mm=0.05)
    home(stage, clock)
    move(stage, clock, 100.0)  # from below
    from_below = stage.encoder_position_mm() - stage.motor_position_mm()
    move(stage, clock, 110.0)
    move(stage, clock, 100.0)  # from above
    from_above = stage.encoder_position_mm() - stage.motor_position_mm()
    assert from_above == pytest.approx(0.0, abs=1e-9)
    assert from_below == pytest.approx(-0.05, abs=1e-9)


def test_reversal_inside_the_play_leaves_the_carriage(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage(backlash_mm=0.05)
    home(stage, clock)
    move(stage, clock, 100.0)
    assert stage.carriage_position_mm() == pytest.approx(99.95)
    move(stage, clock, 99.97)  # 30 µm back: the nut crosses the play, the carriage stays
    assert stage.carriage_position_mm() == pytest.approx(99.95)
    move(stage, clock, 99.94)  # 30 µm more: 20 µm of play left, then the carriage is pushed 10 µm
    assert stage.carriage_position_mm() == pytest.approx(99.94)
    assert stage.state().play_mm == pytest.approx(0.0)


def test_pitch_error_grows_linearly(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage(pitch_error_um_per_m=100.0)
    home(stage, clock)
    for target in (50.0, 150.0, 300.0):
        move(stage, clock, target)
        deviation_um = (stage.encoder_position_mm() - stage.motor_position_mm()) * 1000
        assert deviation_um == pytest.approx(0.1 * target, abs=0.1)  # 100 µm/m, ± one encoder count


def test_periodic_error_follows_the_screw_lead(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage(periodic_error_um=5.0, screw_lead_mm=2.0)
    home(stage, clock)
    for target, expected_um in ((100.5, 5.0), (101.5, -5.0), (102.0, 0.0)):
        move(stage, clock, target)
        deviation_um = (stage.encoder_position_mm() - stage.motor_position_mm()) * 1000
        assert deviation_um == pytest.approx(expected_um, abs=0.1)


def test_iso_230_2_bidirectional_run_recovers_backlash_and_pitch(
    make_stage: MakeStage, clock: VirtualClock
) -> None:
    """What a W1 sequence must find: mean(d↓) − mean(d↑) = B and d↓ rising at the pitch error."""
    stage = make_stage(backlash_mm=0.02, pitch_error_um_per_m=30.0, noise_um=2.0)
    home(stage, clock)
    targets = [10.0, 80.0, 150.0, 220.0, 290.0]
    up: dict[float, list[float]] = {t: [] for t in targets}
    down: dict[float, list[float]] = {t: [] for t in targets}
    for _ in range(5):
        for t in targets:
            move(stage, clock, t - 2.0)
            move(stage, clock, t)
            up[t].append(stage.encoder_position_mm() - t)
        for t in reversed(targets):
            move(stage, clock, t + 2.0)
            move(stage, clock, t)
            down[t].append(stage.encoder_position_mm() - t)
    for t in targets:
        assert float(np.mean(down[t]) - np.mean(up[t])) == pytest.approx(0.02, abs=0.005)
    slope = np.polyfit(targets, [np.mean(down[t] + up[t]) for t in targets], 1)[0]
    # Exactly 30 µm/m with noise_um=0; with 2 µm noise the fit's standard deviation is ≈ 3 µm/m, allow 4σ.
    assert slope * 1e6 == pytest.approx(30.0, abs=12.0)


def test_encoder_noise_has_the_configured_rms_and_is_seeded(clock: VirtualClock) -> None:
    from simulators.world import World

    def readings(seed: int) -> list[int]:
        stage = World(clock, seed=seed).add_stage("x", StageConfig(noise_um=2.0, power_on_position_mm=5.0))
        return [stage.encoder_counts() for _ in range(2000)]

    first = readings(1)
    assert first == readings(1)
    assert first != readings(2)
    assert float(np.std(first)) * 0.1 == pytest.approx(2.0, rel=0.1)  # counts of 0.1 µm


# ------------------------------------------------------------------------------------------- injection
def test_stall_on_next_move(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    stage.inject_stall()
    t0 = clock.now()
    stage.move_to(stage.usteps_from_mm(100.0))
    clock.advance_to(t0 + 2.5)
    assert stage.is_busy() and not stage.stalled
    clock.advance_to(t0 + 2.7)
    assert stage.stalled and not stage.is_busy()
    assert stage.motor_position_mm() == pytest.approx(50.0, abs=2e-4)  # stalled at half of 5.2 s
    stage.clear_faults()
    assert not stage.stalled


def test_stall_at_a_time_and_during_homing(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    stage.inject_stall(at_time=3.0)
    stage.home()
    clock.advance_to(20.0)
    assert stage.stalled and not stage.referenced
    assert stage.motor_position_mm() == pytest.approx(150.0 - 0.5 - 10.0 * 2.9, abs=2e-4)


def test_stall_scheduled_while_idle_is_dropped(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    stage.inject_stall(at_time=clock.now() + 1.0)
    clock.sleep(2.0)
    move(stage, clock, 10.0)
    assert not stage.stalled and stage.motor_position_mm() == pytest.approx(10.0)


def test_errors_injected_after_construction(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    t0 = clock.now()
    stage.move_to(stage.usteps_from_mm(100.0))
    clock.advance_to(t0 + 1.0)
    before = stage.carriage_position_mm()
    stage.set_error(backlash_mm=0.1)
    assert stage.carriage_position_mm() == pytest.approx(before)  # continuous at the change
    settle(stage, clock)
    assert stage.carriage_position_mm() == pytest.approx(99.9)
    stage.update_config(max_speed_mm_s=50.0)
    assert stage.config.max_speed_mm_s == 50.0 and stage.config.backlash_mm == 0.1
    with pytest.raises(ValueError, match="cannot change"):
        stage.update_config(microstep_size_um=1.0)
    with pytest.raises(ValidationError):
        stage.set_error(backlash_mm=-1.0)


@pytest.mark.parametrize(
    "fields",
    [
        {"travel_mm": (10.0, 10.0)},
        {"power_on_position_mm": 400.0},
        {"periodic_error_um": 400.0, "screw_lead_mm": 2.0},
        {"max_speed_mm_s": 0.0},
        {"colour": "red"},
    ],
)
def test_config_rejects_nonsense(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        StageConfig.model_validate(fields)


# ------------------------------------------------------------------------------------------- planner
@settings(max_examples=300, deadline=None)
@given(
    x0=st.floats(-1e6, 1e6),
    v0=st.floats(-2e5, 2e5),
    x1=st.floats(-1e6, 1e6),
    vmax=st.floats(1e2, 2e5),
    accel=st.floats(1e3, 1e7),
)
def test_planned_profiles_are_continuous_monotonic_and_arrive(
    x0: float, v0: float, x1: float, vmax: float, accel: float
) -> None:
    segs = plan_move(0.0, x0, v0, x1, vmax, accel)
    scale = 1e-7 * (1.0 + abs(x0) + abs(x1) + v0 * v0 / accel)
    if not segs:
        assert abs(v0) <= 2e-9 * accel and x0 == pytest.approx(x1, abs=scale)  # nothing measurable to do
        return
    assert segs[0].x0 == x0 and segs[0].v0 == v0
    for a, b in itertools.pairwise(segs):
        assert b.t0 == pytest.approx(a.t1) and b.x0 == pytest.approx(a.x1, abs=scale)
        assert b.v0 == pytest.approx(a.at(a.t1)[1], abs=1e-6 * (1 + abs(b.v0)))
    for seg in segs:
        v_end = seg.at(seg.t1)[1]
        assert seg.v0 * v_end >= -1e-6 * (1 + abs(seg.v0))  # no sign change inside a segment
        assert max(abs(seg.v0), abs(v_end)) <= max(vmax, abs(v0)) * (1 + 1e-9) + 1e-9
    end_x, end_v = segs[-1].at(segs[-1].t1)
    assert end_x == pytest.approx(x1, abs=scale)
    assert end_v == pytest.approx(0.0, abs=1e-6 * (1 + abs(v0) + vmax))


def test_braking_does_not_consume_an_armed_stall(make_stage: MakeStage, clock: VirtualClock) -> None:
    stage = make_stage()
    home(stage, clock)
    stage.move_to(stage.usteps_from_mm(100.0))
    clock.sleep(1.0)
    stage.inject_stall()
    stage.stop()
    settle(stage, clock)
    assert not stage.stalled
    stage.move_to(0)
    settle(stage, clock)
    assert stage.stalled and stage.motor_position_mm() == pytest.approx(10.0, abs=2e-4)
