"""The treatment room's door switch, as the controller's room-door interlock sees it.

A real room's door opens a hardware interlock chain: the linac's own interlock cuts the beam, and the
console shows the door open. The simulated door is only the signal: a test (or a scripted scenario) opens
and closes it at chosen times on the world's clock, and it is read lazily at ``clock.now()`` like every
other model, so a door scheduled to open at t = 120 s on a virtual clock opens exactly there.
"""

from __future__ import annotations

import bisect
import threading

from simulators.clock import Clock

DOOR_NAME = "room_door"


class RoomDoor:
    """A door switch with a time line of open/close events (closed before the first one)."""

    def __init__(self, name: str, clock: Clock) -> None:
        self._name = name
        self._clock = clock
        self._times: list[float] = []
        self._open: list[bool] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def open(self, at: float | None = None) -> None:
        """Open the door now, or at clock time ``at`` (a scheduled event; earlier ones stay)."""
        self._schedule(True, at)

    def close(self, at: float | None = None) -> None:
        """Close the door now, or at clock time ``at``."""
        self._schedule(False, at)

    def is_open(self, t: float | None = None) -> bool:
        """Whether the door is open at ``t`` (default: now); an event at exactly ``t`` has happened."""
        when = self._clock.now() if t is None else t
        with self._lock:
            position = bisect.bisect_right(self._times, when)
            return self._open[position - 1] if position else False

    def events(self) -> list[tuple[float, bool]]:
        """The door's time line as (clock time, open) pairs, in time order."""
        with self._lock:
            return list(zip(self._times, self._open, strict=True))

    def _schedule(self, opened: bool, at: float | None) -> None:
        when = self._clock.now() if at is None else float(at)
        with self._lock:
            position = bisect.bisect_right(self._times, when)
            self._times.insert(position, when)
            self._open.insert(position, opened)

    def __repr__(self) -> str:
        return f"RoomDoor({self._name!r}, open={self.is_open()})"
