"""The live progress display of a run at the console, and the prompts that interrupt it.

Two lines that survive an 80-column terminal: ``step k/n``, a fixed-width bar, percent, elapsed time and
an ETA; below it the action running now ("Dwell 10 min (bias settle)"), cut with an ellipsis rather than
squeezing the bar. A prompt stops the display, asks on a clean line and restarts it; the wait is left out
of the ETA.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.prompt import Confirm
from rich.text import Text

from controller.devices import BeamRequest, attach_console
from controller.messages import Beam, Message
from controller.progress import EtaEstimator, next_checkpoint, plan_labels
from controller.session import ProgressSink

if TYPE_CHECKING:
    from controller.rig import Rig

BAR_WIDTH = 28  # with "step 1234/1234", percent, elapsed and ETA: 70 columns


def format_clock(seconds: float) -> str:
    """``0:04:05``; ``1 d 2:03:04`` beyond a day."""
    whole = int(seconds + 0.5)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days} d {clock}" if days else clock


class _EtaColumn(ProgressColumn):
    def __init__(self, eta: Callable[[], float | None]) -> None:
        super().__init__()
        self._eta = eta

    def render(self, task: Task) -> Text:
        remaining = self._eta()
        if remaining is None:
            remaining = task.time_remaining
        return Text("ETA " + ("-:--:--" if remaining is None else format_clock(remaining)), style="cyan")


class _Display(Progress):
    """A Progress whose tasks table is followed by the current action on a line of its own."""

    def __init__(self, action: Callable[[], str], *columns: ProgressColumn, **kwargs: Any) -> None:
        self._action = action
        super().__init__(*columns, **kwargs)

    def get_renderables(self) -> Iterator[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield Text("  ▸ " + self._action(), no_wrap=True, overflow="ellipsis", style="bold")


class LiveProgress(ProgressSink):
    """The run's progress on ``console``; the prompts of a real rig go through ``ask``."""

    def __init__(self, console: Console, *, now: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self._now = now
        self._task: Any = None
        self._title = ""
        self._total = 0
        self._done = 0
        self._last = ""
        self._messages: Sequence[Message] = ()
        self._labels: list[str] = []
        self._eta: EtaEstimator | None = None
        self._live = False
        self._started_at = now()
        self._progress = _Display(
            self.action,
            TextColumn("step {task.completed:>.0f}/{task.total:.0f}"),
            BarColumn(bar_width=BAR_WIDTH),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            _EtaColumn(self.eta),
            console=console,
            transient=True,
        )

    # -- the ProgressSink the session drives ------------------------------------------------------
    def start(self, total: int, title: str) -> None:
        self._title, self._total, self._started_at = title, total, self._now()
        self._task = self._progress.add_task(title, total=total)
        self._progress.start()
        self._live = True

    def planned(self, messages: Sequence[Message]) -> None:
        """The dry run's messages: labels for what runs next, and the remaining dwells for the ETA."""
        self._messages = list(messages)
        self._labels = plan_labels(self._messages)
        self._eta = EtaEstimator(self._messages, now=self._now)
        self._total = len(self._messages)
        if self._task is not None:
            self._progress.update(self._task, total=self._total)

    def advance(self, index: int, label: str) -> None:
        self._done, self._last = index + 1, label
        if self._eta is not None:
            self._eta.advance(index)
        if self._task is not None:
            self._progress.update(self._task, completed=self._done)

    def finish(self) -> None:
        if self._live:
            self._progress.stop()
            self._live = False
        if self._task is not None:
            spent = format_clock(self._now() - self._started_at)
            self.console.print(
                f"{escape(self._title)}: {self._done}/{self._total} steps in {spent}", highlight=False
            )

    # -- what is shown --------------------------------------------------------------------------
    def action(self) -> str:
        """The message running now (from the plan), else the last one reported."""
        if self._labels:
            return self._labels[self._done] if self._done < len(self._labels) else "analysing"
        return self._last or "starting"

    def eta(self) -> float | None:
        return self._eta.remaining_s() if self._eta is not None else None

    def renderable(self) -> RenderableType:
        """The display as it is now (for a test, or a console that is not live)."""
        return Group(*self._progress.get_renderables())

    # -- prompts ----------------------------------------------------------------------------------
    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the live display for a prompt and restart it after; the wait is not the rig's time."""
        live = self._live
        if live:
            self._progress.stop()
            self._live = False
        began = self._now()
        try:
            yield
        finally:
            if self._eta is not None:
                self._eta.exclude(self._now() - began)
            if live:
                self._progress.start()
                self._live = True

    def ask(self, instruction: str) -> bool:
        """Ask on a clean line (the display stopped); end of input counts as a refusal."""
        with self.paused():
            try:
                question = f"[bold yellow]{escape(instruction)}[/]"
                return Confirm.ask(question, console=self.console, default=True)
            except EOFError:
                return False

    def beam_request(self, dose_rate_gy_per_min: float) -> BeamRequest | None:
        """The beam request the plan is at: the running ``Beam`` (or, restoring a resumed run's beam, the
        last one before it), with its planned duration and the reading it serves."""
        for index in range(min(self._done, len(self._messages) - 1), -1, -1):
            message = self._messages[index]
            if isinstance(message, Beam) and message.on:
                return BeamRequest(
                    dose_rate_gy_per_min=dose_rate_gy_per_min,
                    duration_s=message.duration_s,
                    beam=message.beam,
                    purpose=next_checkpoint(self._messages, index),
                    gy_per_mu=message.gy_per_mu,
                )
        return None

    def attach_console(self, rig: Rig) -> None:
        """``on_rig_ready``: on real hardware the beam and the loads are asked of the operator, here."""
        if not rig.config.simulated:
            attach_console(rig.devices, self.ask, self.beam_request)
