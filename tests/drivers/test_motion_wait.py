"""Waits planned from the commanded motion: Zaber and PI GCS against scripted bytes, on a fake clock.

Each test lists the bytes the driver must send and the replies, and records the fake clock's time at every
status query (a transport listener), so "no look before the expected arrival minus its margin" is checked
on virtual time, never on the wall clock.
"""

from __future__ import annotations

import itertools
import math

import pytest

from drivers.clock import (
    ARRIVAL_SLACK_S,
    FAST_POLL_S,
    LATE_FLOOR_S,
    WATCH_S,
    MotionPlan,
    next_poll_delay,
    trapezoid_s,
    wait_planned,
)
from drivers.errors import DeviceFault
from drivers.pi_gcs import GcsConnection, GcsMotionError, GcsStopped, HexapodController
from drivers.transport.base import Exchange
from drivers.transport.expected import ExpectedProtocolTransport
from drivers.zaber import MotionTimeout, ZaberAxis, ZaberConnection
from tests.drivers import test_pi_gcs_hexapod as gcs
from tests.drivers.test_zaber_axis import BUSY, CONNECT_REFERENCED, FIRST_MOVE, IDLE, STATUS, FakeClock, ok

#: The Zaber profile FIRST_MOVE reports: maxspeed 163840 → 10 mm/s, accel 164 → 100.098 mm/s².
SPEED, ACCEL = 10.0, 164 / 1.6384e-4 * 0.1 / 1000.0


class Timed:
    """A scripted transport whose writes are stamped with the fake clock's time."""

    def __init__(self, script: list[tuple[bytes | None, bytes | None]]) -> None:
        self.clock = FakeClock()
        self.transport = ExpectedProtocolTransport(script, device="port")
        self.writes: list[tuple[float, bytes]] = []
        self.transport.add_listener(self._heard)

    def _heard(self, exchange: Exchange) -> None:
        if exchange.direction == "tx":
            self.writes.append((self.clock.now(), exchange.data))

    def times_of(self, data: bytes) -> list[float]:
        return [t for t, sent in self.writes if sent == data]


def zaber(
    *script: tuple[bytes | None, bytes | None], poll_interval_s: float = 0.05
) -> tuple[ZaberAxis, Timed]:
    timed = Timed([*CONNECT_REFERENCED, *script])
    axis = ZaberAxis(
        ZaberConnection(timed.transport),
        name="phantom-x",
        address=1,
        axis=1,
        microstep_size_um=0.1,
        clock=timed.clock,
        poll_interval_s=poll_interval_s,
    )
    axis.connect()
    return axis, timed


# -- the schedule itself ---------------------------------------------------------------------------------
def test_trapezoid_and_triangle_profile_times() -> None:
    assert trapezoid_s(100.0, 10.0, 100.0) == pytest.approx(10.1)  # d/v + v/a
    assert trapezoid_s(0.5, 10.0, 100.0) == pytest.approx(2 * math.sqrt(0.5 / 100.0))  # never reaches v
    assert trapezoid_s(0.5, 10.0, None) == pytest.approx(0.05)  # unknown acceleration: a lower bound
    assert trapezoid_s(0.0, 10.0, 100.0) == 0.0


def test_schedule_is_blind_until_the_margin_then_closes_in_then_backs_off() -> None:
    plan = MotionPlan(start=0.0, duration_s=3.0)
    now, looks = 0.0, []
    while now < plan.arrival + 1.0:
        now += next_poll_delay(now, 0.0, plan, 0.05)
        looks.append(now)
    before = [t for t in looks if t < plan.arrival - plan.margin_s - 1e-12]
    assert before == pytest.approx([1.0, 2.0])  # supervision looks only, one per WATCH_S
    assert any(abs(t - plan.arrival - ARRIVAL_SLACK_S) < 1e-9 for t in looks)  # one just after arrival
    late = [b - a for a, b in itertools.pairwise(looks) if a > plan.arrival]
    assert min(late) >= FAST_POLL_S - 1e-12 and max(late) <= 0.05 + 1e-12


def test_an_exact_plan_overdue_is_a_stall_a_lower_bound_never_is() -> None:
    assert MotionPlan(0.0, 2.0).stall_deadline == pytest.approx(2.0 + LATE_FLOOR_S)
    assert MotionPlan(0.0, 30.0).stall_deadline == pytest.approx(60.0)
    assert MotionPlan(0.0, 2.0, exact=False).stall_deadline == math.inf


# -- Zaber --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target_mm", "steps", "watch_looks", "closing_looks"), [(0.5, 5000, 0, 0), (100.0, 1_000_000, 10, 3)]
)
def test_zaber_move_is_not_polled_before_its_expected_arrival(
    target_mm: float, steps: int, watch_looks: int, closing_looks: int
) -> None:
    """0.5 mm (a triangle, 0.14 s) and 100 mm (10.1 s): blind but for one look a second, then the margin."""
    expected = trapezoid_s(target_mm, SPEED, ACCEL)
    axis, timed = zaber(
        *FIRST_MOVE,
        (f"/1 1 move abs {steps}\n".encode(), BUSY),
        *[(STATUS, BUSY)] * watch_looks,  # supervision: a stall or a limit switch is seen within 1 s
        (STATUS, BUSY),  # the first look near the arrival, one margin before it
        *[(STATUS, BUSY)] * closing_looks,  # each halving the gap to the arrival (1 ms steps at most)
        (STATUS, IDLE),
    )
    axis.move_to(target_mm)
    margin = 0.001 + 0.001 * expected
    looks = timed.times_of(STATUS)[1:]  # the first status query is connect's
    supervision, near = looks[:watch_looks], looks[watch_looks:]
    assert supervision == pytest.approx([WATCH_S * (i + 1) for i in range(watch_looks)])
    assert near[0] == pytest.approx(expected - margin)  # nothing between supervision and the margin
    assert all(expected - margin - 1e-9 <= t <= expected + ARRIVAL_SLACK_S + 1e-9 for t in near)
    assert near[-1] == pytest.approx(expected + ARRIVAL_SLACK_S)  # arrival seen 0.1 ms after it is due
    assert axis.state == "ready"
    timed.transport.assert_done()


def test_zaber_next_move_starts_from_the_last_arrival_without_asking() -> None:
    first = trapezoid_s(5.0, SPEED, ACCEL)
    second = trapezoid_s(0.5, SPEED, ACCEL)
    axis, timed = zaber(
        *FIRST_MOVE,
        (b"/1 1 move abs 50000\n", BUSY),
        (STATUS, BUSY),
        (STATUS, IDLE),
        (b"/1 1 move abs 55000\n", BUSY),  # no get pos, no profile: both known
        (STATUS, BUSY),
        (STATUS, IDLE),
    )
    axis.move_to(5.0)
    started = timed.clock.now()
    axis.move_to(5.5)
    assert timed.clock.now() - started == pytest.approx(second + ARRIVAL_SLACK_S)
    assert first > second
    timed.transport.assert_done()


def test_zaber_reads_made_at_rest_plan_the_next_move_without_asking_again() -> None:
    axis, timed = zaber(
        (b"/1 1 get pos\n", ok("7500")),
        (b"/1 1 get maxspeed\n", ok("163840")),
        (b"/1 1 get accel\n", ok("164")),
        (b"/1 1 move abs 57500\n", BUSY),  # plans 5 mm from 0.75 mm with what it just read
        (STATUS, BUSY),
        (STATUS, IDLE),
    )
    assert axis.position_mm() == pytest.approx(0.75)
    axis.max_speed_mm_s()
    axis.acceleration_mm_s2()
    axis.move_to(5.75)
    assert timed.clock.now() == pytest.approx(trapezoid_s(5.0, SPEED, ACCEL) + ARRIVAL_SLACK_S)
    timed.transport.assert_done()


def test_zaber_setting_the_speed_makes_the_next_move_read_it_again() -> None:
    axis, timed = zaber(
        *FIRST_MOVE,
        (b"/1 1 move abs 50000\n", BUSY),
        (STATUS, BUSY),
        (STATUS, IDLE),
        (b"/1 1 set maxspeed 327680\n", IDLE),  # 20 mm/s
        (b"/1 1 get maxspeed\n", ok("327680")),  # the acceleration is still known
        (b"/1 1 move abs 150000\n", BUSY),
        (STATUS, BUSY),
        (STATUS, IDLE),
    )
    axis.move_to(5.0)
    axis.set_max_speed_mm_s(20.0)
    started = timed.clock.now()
    axis.move_to(15.0)
    assert timed.clock.now() - started == pytest.approx(trapezoid_s(10.0, 20.0, ACCEL) + ARRIVAL_SLACK_S)
    timed.transport.assert_done()


def test_zaber_stall_is_seen_at_the_next_supervision_look_not_at_the_planned_arrival() -> None:
    axis, timed = zaber(*FIRST_MOVE, (b"/1 1 move abs 1000000\n", BUSY), (STATUS, ok(flag="FS")))
    with pytest.raises(DeviceFault, match="FS"):
        axis.move_to(100.0)  # planned for 10.1 s
    assert timed.clock.now() == pytest.approx(WATCH_S)
    assert axis.state == "fault"
    assert axis.motion_plan is None


def test_zaber_limit_switch_seen_before_arrival_is_a_fault_and_the_next_move_asks_where_it_is() -> None:
    axis, timed = zaber(
        *FIRST_MOVE,
        (b"/1 1 move abs 20000\n", BUSY),
        (STATUS, ok(flag="WL")),
        (b"/1 1 warnings clear\n", ok("01 WL")),
        (b"/1 1 warnings\n", ok("00")),
        (b"/1 1 get pos\n", ok("9000")),  # stopped short: the start of the next move is read, not assumed
        (b"/1 1 move abs 10000\n", BUSY),
        (STATUS, BUSY),
        (STATUS, IDLE),
    )
    with pytest.raises(DeviceFault, match="WL"):
        axis.move_to(2.0)
    axis.clear_warnings()
    started = timed.clock.now()
    axis.move_to(1.0)
    assert timed.clock.now() - started == pytest.approx(trapezoid_s(0.1, SPEED, ACCEL) + ARRIVAL_SLACK_S)
    timed.transport.assert_done()


def _late_looks(plan: MotionPlan, slow_s: float) -> int:
    """Status queries of a wait that never sees IDLE, up to the plan's stall deadline."""
    now, looks = plan.start, 0
    while now < plan.stall_deadline:
        now += min(next_poll_delay(now, plan.start, plan, slow_s), plan.stall_deadline - now)
        looks += 1
    return looks


def test_zaber_move_still_busy_long_after_its_arrival_times_out_before_the_callers_timeout() -> None:
    plan = MotionPlan(0.0, trapezoid_s(0.5, SPEED, ACCEL))
    axis, timed = zaber(
        *FIRST_MOVE,
        (b"/1 1 move abs 5000\n", BUSY),
        *[(STATUS, BUSY)] * _late_looks(plan, 1.0),
        poll_interval_s=1.0,
    )
    with pytest.raises(MotionTimeout, match="still busy after 10.14"):
        axis.move_to(0.5, timeout_s=120.0)
    assert timed.clock.now() == pytest.approx(plan.stall_deadline)
    timed.transport.assert_done()


# -- PI GCS hexapod -------------------------------------------------------------------------------------
def hexapod(*script: tuple[bytes | None, bytes | None], **profile: float) -> tuple[HexapodController, Timed]:
    timed = Timed([*gcs.connect_script(), *script])
    controller = HexapodController(GcsConnection(timed.transport), name="couch", clock=timed.clock, **profile)
    controller.connect()
    return controller, timed


PROFILE = {"accel_mm_s2": 50.0, "angular_velocity_deg_s": 5.0, "angular_accel_deg_s2": 20.0, "settle_s": 0.1}
SET_VLS_10 = [(b"VLS 10\n", None), gcs.ERR_OK]


def test_hexapod_translation_waits_for_profile_and_settle_before_looking() -> None:
    expected = trapezoid_s(1.0, 10.0 / 10.0, 50.0 / 10.0) + 0.1  # 10 mm at 10 mm/s, 50 mm/s², 0.1 s settle
    controller, timed = hexapod(
        *SET_VLS_10,
        *gcs.MOV_X10,
        (b"\x05", b"1\n"),  # supervision look at 1 s
        *[(b"\x05", b"0\n"), (gcs.q("ONT?"), gcs.flags("011111"))] * 2,  # settling as planned: no ERR?
        *gcs.ARRIVE,
        **PROFILE,
    )
    controller.set_velocity(10.0)
    controller.start_move({"X": 10.0})
    plan = controller.motion_plan
    assert plan is not None and plan.exact and plan.duration_s == pytest.approx(expected)
    controller.wait_until_idle()
    looks = timed.times_of(b"\x05")[1:]  # the first is connect's
    assert looks[:2] == pytest.approx([WATCH_S, expected - plan.margin_s])
    assert looks[-1] == pytest.approx(expected + ARRIVAL_SLACK_S)
    assert controller.state == "ready" and controller.motion_plan is None
    timed.transport.assert_done()


def test_hexapod_rotation_uses_the_angular_limits_and_unknowns_give_a_lower_bound_or_none() -> None:
    move_w = [(b"VMO? W 2\n", b"1\n"), (b"MOV W 2\n", None), gcs.ERR_OK]
    controller, _ = hexapod(*SET_VLS_10, *move_w, **PROFILE)
    controller.set_velocity(10.0)
    controller.start_move({"W": 2.0})
    plan = controller.motion_plan
    assert plan is not None and plan.duration_s == pytest.approx(trapezoid_s(2.0, 5.0, 20.0) + 0.1)
    bare, _ = hexapod(*SET_VLS_10, *move_w)
    bare.set_velocity(10.0)
    bare.start_move({"W": 2.0})
    assert bare.motion_plan is None  # no angular velocity given: nothing bounds a pure rotation
    lower, _ = hexapod(*SET_VLS_10, *gcs.MOV_X10)
    lower.set_velocity(10.0)
    lower.start_move({"X": 10.0})
    plan = lower.motion_plan
    assert plan is not None and not plan.exact and plan.duration_s == pytest.approx(1.0)  # d/v only


def test_hexapod_stall_during_a_planned_move_is_seen_at_the_supervision_look() -> None:
    controller, timed = hexapod(
        *SET_VLS_10,
        *gcs.MOV_X10,
        (b"\x05", b"0\n"),  # stopped dead half-way: no motion, not on target, error 1024
        (gcs.q("ONT?"), gcs.flags("011111")),
        (b"ERR?\n", b"1024\n"),
        **PROFILE,
    )
    controller.set_velocity(10.0)
    controller.start_move({"X": 10.0})
    with pytest.raises(GcsMotionError):
        controller.wait_until_idle()
    assert timed.clock.now() == pytest.approx(WATCH_S)
    assert controller.state == "fault"


def test_hexapod_stopped_inside_the_planned_settle_is_seen_at_the_arrival_look() -> None:
    """Not on target in the planned settle is not asked about (no ``ERR?``); at the arrival look it is, and
    a stop by someone else (error 10) ends the wait there."""
    expected = trapezoid_s(1.0, 10.0 / 10.0, 50.0 / 10.0) + 0.1
    settling = [(b"\x05", b"0\n"), (gcs.q("ONT?"), gcs.flags("011111"))]
    controller, timed = hexapod(
        *SET_VLS_10,
        *gcs.MOV_X10,
        (b"\x05", b"1\n"),  # supervision look at 1 s
        *settling * 2,  # the margin look and one closing look: settling as planned
        *settling,
        (b"ERR?\n", b"10\n"),  # the arrival look: still not on target, and stopped
        (gcs.q("POS?"), gcs.floats(9.5, 0, 0, 0, 0, 0)),
        **PROFILE,
    )
    controller.set_velocity(10.0)
    controller.start_move({"X": 10.0})
    with pytest.raises(GcsStopped):
        controller.wait_until_idle()
    assert timed.times_of(b"ERR?\n")[-1] == pytest.approx(expected + ARRIVAL_SLACK_S)
    assert controller.state == "ready"
    assert controller.last_position == {**dict.fromkeys("XYZUVW", 0.0), "X": 9.5}
    timed.transport.assert_done()


def test_hexapod_reference_run_waits_its_given_time_watched_once_a_second() -> None:
    controller, timed = hexapod(
        (gcs.q("SVO?"), gcs.flags("111111")),
        (b"FRF X Y Z U V W\n", None),
        gcs.ERR_OK,
        (b"\x07", gcs.BUSY_BYTE),  # supervision look at 1 s
        (b"\x07", gcs.READY_BYTE),  # done early, before the 2.5 s given: seen at the 2 s look
        (gcs.q("FRF?"), gcs.flags("111111")),
        (gcs.q("POS?"), gcs.ZERO),
        reference_time_s=2.5,
    )
    controller.reference()
    assert timed.times_of(b"\x07") == pytest.approx([WATCH_S, 2 * WATCH_S])
    assert controller.state == "ready" and controller.motion_plan is None
    timed.transport.assert_done()


def test_zaber_learns_the_stages_settle_and_still_looks_from_the_profiles_end() -> None:
    """A stage BUSY for a while after its profile: the next plan adds that settle but looks from the end."""
    profile = trapezoid_s(5.0, SPEED, ACCEL)
    axis, timed = zaber(
        *FIRST_MOVE,
        (b"/1 1 move abs 50000\n", BUSY),
        *[(STATUS, BUSY)] * 14,  # margin look, arrival look, then twelve late looks while it settles
        (STATUS, IDLE),
        (b"/1 1 move abs 100000\n", BUSY),
        (STATUS, IDLE),  # this time settled already when the profile ended
    )
    axis.move_to(5.0)
    settle = timed.clock.now() - profile - ARRIVAL_SLACK_S
    assert settle > 0.002  # late looks back off: it was seen some milliseconds after the profile
    started = timed.clock.now()
    axis.move_to(10.0)
    plan_margin = 0.001 + 0.001 * (profile + settle)
    assert timed.times_of(STATUS)[-1] - started == pytest.approx(profile - plan_margin)
    timed.transport.assert_done()


def test_zaber_looks_when_the_profile_ends_before_waiting_out_a_learned_settle() -> None:
    """A settle learned once (here some milliseconds) is an estimate: the next move is looked at just after
    its profile ends, and a stage already at rest then is seen then, not one learned settle later."""
    profile = trapezoid_s(5.0, SPEED, ACCEL)
    axis, timed = zaber(
        *FIRST_MOVE,
        (b"/1 1 move abs 50000\n", BUSY),
        *[(STATUS, BUSY)] * 14,  # margin look, arrival look, then twelve late looks while it settles
        (STATUS, IDLE),
        (b"/1 1 move abs 100000\n", BUSY),
        (STATUS, BUSY),  # the margin look, before the profile ends
        (STATUS, IDLE),  # just after the profile ends: settled already
    )
    axis.move_to(5.0)
    settle = timed.clock.now() - profile - ARRIVAL_SLACK_S
    assert settle > 0.002
    started = timed.clock.now()
    axis.move_to(10.0)
    margin_look, end_look = (t - started for t in timed.times_of(STATUS)[-2:])
    assert margin_look == pytest.approx(profile - 0.001 - 0.001 * (profile + settle))
    assert end_look == pytest.approx(profile + ARRIVAL_SLACK_S)  # not profile + settle
    assert axis.state == "ready" and axis.motion_plan is None
    timed.transport.assert_done()


def test_zaber_plan_starts_midway_between_the_move_command_and_its_reply() -> None:
    """The device starts moving when it executes ``move abs``, before its reply is back: with 1 ms on the
    wire each way the plan starts 1 ms after the write, and the arrival is looked for from there."""
    expected = trapezoid_s(0.5, SPEED, ACCEL)
    axis, timed = zaber(*FIRST_MOVE, (b"/1 1 move abs 5000\n", BUSY), (STATUS, BUSY), (STATUS, IDLE))
    move = b"/1 1 move abs 5000\n"

    def wire(exchange: Exchange) -> None:  # the command out and its reply back take 2 ms together
        if exchange.data == move:
            timed.clock.t += 0.002

    timed.transport.add_listener(wire)
    axis.start_move_to(0.5)
    written = timed.times_of(move)[0]
    plan = axis.motion_plan
    assert plan is not None and timed.clock.now() == pytest.approx(written + 0.002)
    assert plan.start == pytest.approx(written + 0.001)
    axis.wait_until_idle()
    assert timed.times_of(STATUS)[-1] == pytest.approx(written + 0.001 + expected + ARRIVAL_SLACK_S)
    timed.transport.assert_done()


def test_hexapod_plan_starts_midway_between_mov_and_the_err_answer() -> None:
    """The controller starts the motion when it executes ``MOV``, before the ``ERR?`` answer is back: with
    2 ms from the ``MOV`` write to that answer the plan starts 1 ms after the write."""
    expected = trapezoid_s(1.0, 10.0 / 10.0, 50.0 / 10.0) + 0.1
    controller, timed = hexapod(
        *SET_VLS_10,
        *gcs.MOV_X10,
        *[(b"\x05", b"1\n")] * 3,  # supervision at 1 s, the margin look, one closing look
        *gcs.ARRIVE,
        **PROFILE,
    )

    def wire(exchange: Exchange) -> None:
        if exchange.data == b"MOV X 10\n":
            timed.clock.t += 0.002

    timed.transport.add_listener(wire)
    controller.set_velocity(10.0)
    controller.start_move({"X": 10.0})
    written = timed.times_of(b"MOV X 10\n")[0]
    plan = controller.motion_plan
    assert plan is not None and plan.start == pytest.approx(written + 0.001)
    controller.wait_until_idle()
    assert timed.times_of(b"\x05")[-1] == pytest.approx(written + 0.001 + expected + ARRIVAL_SLACK_S)
    timed.transport.assert_done()


class LateClock(FakeClock):
    """A fake clock whose sleeps all end ``late_s`` after they were due, as a busy computer wakes threads."""

    def __init__(self, late_s: float) -> None:
        super().__init__()
        self.late_s = late_s

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds + self.late_s)


@pytest.mark.parametrize("late_s", [60e-6, 500e-6])
def test_arrival_look_allows_for_how_late_the_clock_wakes_never_before_the_arrival(late_s: float) -> None:
    """Sleeps that end late are asked for that much earlier (learned from the sleeps themselves, at most the
    0.1 ms slack), so the arrival look lands just after the arrival again, and never before it."""
    clock = LateClock(late_s)
    moves: list[list[float]] = []
    for _ in range(30):
        plan = MotionPlan(clock.now(), 0.5)
        looks: list[float] = []

        def done(plan: MotionPlan = plan, looks: list[float] = looks) -> bool:
            looks.append(clock.now() - plan.arrival)
            return clock.now() >= plan.arrival

        assert wait_planned(clock, done, plan=plan, timeout_s=10.0, slow_s=0.05)
        moves.append(looks)
    assert all(looks[-1] >= 0 and all(t < 0 for t in looks[:-1]) for looks in moves)
    assert all(len(looks) == len(moves[-1]) for looks in moves[1:])  # no extra look from an early wake
    expected = ARRIVAL_SLACK_S + late_s - min(late_s, ARRIVAL_SLACK_S)
    assert moves[-1][-1] == pytest.approx(expected, abs=2e-6)  # 0.1 ms after the arrival; 0.4 ms if 0.5 late
