"""The clock seam: every wait in drivers and the controller goes through a ``Clock``.

On real hardware this is wall time. In simulated CI the rig factory injects the simulated world's virtual
clock, whose ``sleep`` advances time at once, so a 2 s dwell costs nothing and results stay deterministic.
Drivers only declare what they need (this Protocol); they never import the simulator's clock.
"""

from __future__ import annotations

import time
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
