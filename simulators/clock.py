"""Clocks for the simulated world.

Every simulated model evaluates its state at ``clock.now()``, so one clock object decides whether the world
runs on virtual time (tests, in-process CI: a 2 s dwell costs nothing and results are deterministic) or on
real time (an outside client such as ``zaber.serial`` that waits with ``time.sleep``).

The drivers declare the same ``now()/sleep()`` protocol on their side; the two are kept separate on purpose
(simulators import nothing from drivers) and meet only structurally.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the world needs from a clock: a monotonic time line in seconds and a way to let time pass."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class VirtualClock:
    """Time that only moves when somebody sleeps.

    ``sleep`` advances time at once. A lock makes ``now()`` safe to read from server threads while the
    controller thread sleeps; the time line never goes backwards.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance virtual time by ``seconds``; non-positive values are a no-op (like a real sleep)."""
        if seconds > 0:
            with self._lock:
                self._now += float(seconds)

    def advance_to(self, t: float) -> None:
        """Jump to absolute virtual time ``t``; a ``t`` in the past is ignored (time is monotonic)."""
        with self._lock:
            self._now = max(self._now, float(t))

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.now():.6f})"


class RealTimeClock:
    """Wall time since construction, for simulators that real-time clients talk to."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return f"RealTimeClock(now={self.now():.6f})"
