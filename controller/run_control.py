"""The console's handle on the run that is going on now: Ctrl-C, the pause prompt and its notices.

The engine attaches itself while it runs. A first interrupt asks it to pause at its next safe point; a
second one while it is pausing or paused is an immediate safe stop (``interrupt`` returns False and the
caller raises ``KeyboardInterrupt``, the engine's abort path). ``on_paused`` is called on the engine's
thread once the run stands safe: the console prompts for resume or abort there; a test inspects the
simulated world and answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PauseNotice:
    """What the engine did when it paused, and why (the same facts as the journal's ``pause`` record)."""

    index: int  # the plan message the run will continue with (or repeat from, see ``repeat_from``)
    message: str  # that message's type
    reason: str
    operator: bool  # an operator asked (Ctrl-C, request_pause): only an operator answer resumes
    interlocks: dict[str, str] = field(default_factory=dict)  # open sources and why
    held: tuple[str, ...] = ()  # dosimeters whose integration was held (that work is repeated)
    beam_switched_off: bool = False
    motion: dict[str, str] = field(default_factory=dict)  # positioner/couch -> "idle" or "stopped"
    repeat_from: int | None = None  # first message done again after the pause (None: nothing repeated)
    clock_s: float = 0.0


class PausableEngine(Protocol):
    state: str

    def request_pause(self, reason: str = ...) -> None: ...

    def request_resume(self) -> None: ...

    def request_abort(self) -> None: ...

    def pause_pending(self) -> bool: ...


PauseHandler = Callable[[PausableEngine, PauseNotice], None]


class RunControl:
    """Connects the engine that is running to a console (or a test); one engine at a time."""

    def __init__(
        self,
        on_paused: PauseHandler | None = None,
        on_resumed: Callable[[PauseNotice, float], None] | None = None,
    ) -> None:
        self.on_paused = on_paused
        self.on_resumed = on_resumed
        self._engine: PausableEngine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> PausableEngine | None:
        return self._engine

    def attach(self, engine: PausableEngine) -> None:
        with self._lock:
            self._engine = engine

    def detach(self, engine: PausableEngine) -> None:
        with self._lock:
            if self._engine is engine:
                self._engine = None

    def request_pause(self, reason: str = "operator request") -> bool:
        """Ask the running engine to pause; False when no run is in its engine (connecting, analysing)."""
        engine = self._engine
        if engine is None or engine.state != "running":
            return False
        engine.request_pause(reason)
        return True

    def interrupt(self, reason: str = "Ctrl-C at the console") -> bool:
        """A Ctrl-C: True when it became a pause request; False means stop now (second press, or no run)."""
        engine = self._engine
        if engine is None or engine.state == "paused" or engine.pause_pending():
            return False
        return self.request_pause(reason)

    def paused(self, engine: PausableEngine, notice: PauseNotice) -> None:
        if self.on_paused is not None:
            self.on_paused(engine, notice)

    def resumed(self, notice: PauseNotice, paused_s: float) -> None:
        if self.on_resumed is not None:
            self.on_resumed(notice, paused_s)
