"""The clock seam: every wait in drivers and the controller goes through a ``Clock``.

On real hardware this is wall time. In simulated CI the rig factory injects the simulated world's virtual
clock, whose ``sleep`` advances time at once, so a 2 s dwell costs nothing and results stay deterministic.
Drivers only declare what they need (this Protocol); they never import the simulator's clock.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds on this clock's monotonic time line."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass on this clock's time line."""
        ...


class WallClock:
    """Real monotonic time; the clock of a real rig."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


# -- waits planned from the motion a driver commanded --------------------------------------------------
#: Shortest pause between status queries: once an arrival is due (or with no plan) the first looks come
#: this fast; a pty round trip (0.3–0.9 ms) already spaces them.
FAST_POLL_S = 0.0002
#: Closing in on an expected arrival, each look halves the gap until it is at most two of these steps.
CLOSING_STEP_S = 0.001
#: First look this long before the expected arrival, plus ``ARRIVAL_MARGIN_FRACTION`` of the motion time
#: (a device's integer speed and acceleration settings round its profile by about 0.1 %).
ARRIVAL_MARGIN_S = 0.001
ARRIVAL_MARGIN_FRACTION = 0.001
#: Wake this long after the expected arrival, so a float tie with the device's own end time is not a miss.
ARRIVAL_SLACK_S = 1e-4
#: Longest blind sleep during a long motion: a fault (stall, limit switch) is seen within this.
WATCH_S = 1.0
#: Once the expected arrival has passed (or when none is known), each pause is this share of the time
#: spent waiting so far, between ``FAST_POLL_S`` and the driver's ``poll_interval_s``.
BACKOFF_FRACTION = 0.25
#: A fully known plan still busy this long after its expected arrival (at least ``LATE_FLOOR_S``, or one
#: more motion time) is a stalled motion: the wait gives up there, or at the caller's timeout if sooner.
LATE_FLOOR_S = 10.0


def trapezoid_s(distance: float, speed: float, accel: float | None) -> float:
    """Rest-to-rest time over ``distance`` at top ``speed`` and ``accel``: d/v + v/a, or 2·√(d/a) when the
    move is too short to reach ``speed`` (a triangle). ``accel`` None means unknown: d/v, a lower bound."""
    if distance <= 0.0:
        return 0.0
    if accel is None:
        return distance / speed
    if distance >= speed * speed / accel:
        return distance / speed + speed / accel
    return 2.0 * math.sqrt(distance / accel)


@dataclass(frozen=True)
class MotionPlan:
    """When a commanded motion should end, on the rig clock.

    ``duration_s`` is the profile (plus any settle the driver knows) from ``start``; ``exact`` is False
    when a quantity was unknown and the duration is only a lower bound (then no stall deadline is drawn
    from it). ``uncertain_s`` is a part of the duration the driver only estimated (a settle time it
    learned): the first close look comes that much earlier.
    """

    start: float
    duration_s: float
    exact: bool = True
    uncertain_s: float = 0.0

    @property
    def arrival(self) -> float:
        return self.start + self.duration_s

    @property
    def margin_s(self) -> float:
        return ARRIVAL_MARGIN_S + ARRIVAL_MARGIN_FRACTION * self.duration_s + self.uncertain_s

    @property
    def stall_deadline(self) -> float:
        """An exact plan still busy here (``LATE_FLOOR_S`` or one more motion time late) has stalled."""
        if not self.exact:
            return math.inf
        return self.arrival + max(LATE_FLOOR_S, self.duration_s)


def next_poll_delay(now: float, started: float, plan: MotionPlan | None, slow_s: float) -> float:
    """How long to sleep before the next status query.

    With a plan: blind (at most ``WATCH_S`` at a time) until the arrival minus its margin, then halving
    the gap to just after the arrival (down to ``CLOSING_STEP_S`` steps). A plan with an estimated part
    (``uncertain_s``, a learned settle) is also looked at just after its certain part ends, so a device
    done by then is seen then, not after the estimate. After the arrival, or without a plan, each pause is
    ``BACKOFF_FRACTION`` of the time waited since then (since ``started`` without a plan), kept within
    ``FAST_POLL_S``..``slow_s``: a late or unplanned motion costs a few polls per doubling of its time.
    """
    since = started
    if plan is not None:
        arrival = plan.arrival
        first_look = arrival - plan.margin_s
        if now < first_look:
            return min(WATCH_S, first_look - now)
        certain_end = arrival - plan.uncertain_s + ARRIVAL_SLACK_S
        wake = arrival + ARRIVAL_SLACK_S
        if now < certain_end < wake:
            wake = certain_end  # look when the certain part ends first, then close in on the arrival
        left = wake - now
        if left > 0:
            return left if left <= 2 * CLOSING_STEP_S else left / 2  # closing in: each look halves the gap
        since = wake
    return min(slow_s, max(FAST_POLL_S, BACKOFF_FRACTION * (now - since)))


#: How late each clock's sleeps have ended of late (an average, per clock object; a virtual clock's are 0).
_wake_late_s: weakref.WeakKeyDictionary[Clock, float] = weakref.WeakKeyDictionary()
#: Weight of the newest sleep in that average.
WAKE_LATE_WEIGHT = 0.2


def _sleep_early(clock: Clock, seconds: float) -> None:
    """Sleep ``seconds`` less the clock's usual lateness (at most ``ARRIVAL_SLACK_S``), and note how late
    this sleep ended: the operating system wakes a thread some tens of microseconds after it asked, so a look
    due just after an arrival would otherwise come that much later again. A look aimed at the arrival plus
    ``ARRIVAL_SLACK_S`` therefore never comes before the arrival itself.
    """
    try:
        late = _wake_late_s.get(clock, 0.0)
    except TypeError:  # a clock that cannot be weakly referenced: plain sleeps
        clock.sleep(seconds)
        return
    asked = max(0.0, seconds - min(late, ARRIVAL_SLACK_S))
    before = clock.now()
    clock.sleep(asked)
    if asked > 0:
        overshoot = min(max(clock.now() - before - asked, 0.0), WATCH_S)
        _wake_late_s[clock] = late + WAKE_LATE_WEIGHT * (overshoot - late)


def wait_planned(
    clock: Clock,
    done: Callable[[], bool],
    *,
    plan: MotionPlan | None,
    timeout_s: float,
    slow_s: float,
    look_first: bool = False,
) -> bool:
    """Query ``done`` on the schedule of ``next_poll_delay`` until it is True (return True), or until
    ``timeout_s`` from now or the plan's stall deadline passes (return False; the caller raises its own
    timeout). ``look_first`` queries once before sleeping; at least one query is always made.
    """
    entered = clock.now()
    started = entered if plan is None else plan.start
    deadline = entered + timeout_s if plan is None else min(entered + timeout_s, plan.stall_deadline)
    looked = look_first
    if look_first and done():
        return True
    while True:
        now = clock.now()
        if now >= deadline:
            return done() if not looked else False
        delay = min(next_poll_delay(now, started, plan, slow_s), deadline - now)
        if plan is None:
            clock.sleep(delay)
        else:
            _sleep_early(clock, delay)
        looked = True
        if done():
            return True
