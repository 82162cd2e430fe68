"""Ctrl-C at the console: the first press pauses the run at its next safe point, the second stops it now.

``install`` puts a SIGINT handler in place for ``hilcal run`` and returns the ``RunControl`` the rig
carries to the engine. While paused by the operator the console asks "resume or abort"; while paused by an
interlock it says what is open and resumes by itself once everything is clear. SIGTERM keeps its own
meaning (an immediate safe stop, the run resumable): a supervisor cannot answer a prompt.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

from rich.console import Console

from controller.run_control import PausableEngine, PauseNotice, RunControl


@contextmanager
def _live_display_suspended(console: Console) -> Iterator[None]:
    """Stop the progress bar while the operator reads and types, so it is not redrawn over the prompt."""
    stack = getattr(console, "_live_stack", None)
    live = stack[-1] if stack else None
    if live is not None:
        live.stop()
    try:
        yield
    finally:
        if live is not None:
            live.start()


def describe(notice: PauseNotice) -> str:
    """The pause in the operator's words: why, what was made safe, what will be done again."""
    lines = [f"Paused before step {notice.index + 1} ({notice.message}): {notice.reason}."]
    if notice.held:
        lines.append(f"Integration held on {', '.join(notice.held)}; it is void and will be repeated.")
    if notice.beam_switched_off:
        lines.append("Beam switched off.")
    stopped = [name for name, state in notice.motion.items() if state == "stopped"]
    if stopped:
        lines.append(f"Stopped: {', '.join(stopped)}.")
    elif notice.motion:
        lines.append(f"Standing still: {', '.join(notice.motion)}.")
    if notice.repeat_from is not None:
        step = notice.repeat_from + 1
        lines.append(f"On resume the work from step {step} (after the last checkpoint) is done again.")
    return "\n".join(lines)


def console_control(console: Console, stdin: TextIO | None = None) -> RunControl:
    """A ``RunControl`` whose pause prompt reads the operator's answer from ``stdin`` (EOF: abort)."""
    source = stdin if stdin is not None else sys.stdin

    def on_paused(engine: PausableEngine, notice: PauseNotice) -> None:
        with _live_display_suspended(console):
            console.print(f"[yellow]{describe(notice)}[/yellow]", highlight=False)
            if notice.interlocks and not notice.operator:
                console.print("Resumes by itself when every interlock is clear; Ctrl-C: safe stop now.")
                return
            while True:
                console.print("[bold]r[/bold]esume or [bold]a[/bold]bort (Ctrl-C: safe stop now)? ", end="")
                answer = source.readline()
                if not answer:
                    console.print("\nno answer (end of input): aborting")
                    engine.request_abort()
                    return
                word = answer.strip().lower()
                if word in ("r", "resume"):
                    if notice.interlocks:
                        console.print("Resuming once every interlock is clear.")
                    engine.request_resume()
                    return
                if word in ("a", "abort"):
                    engine.request_abort()
                    return

    def on_resumed(notice: PauseNotice, paused_s: float) -> None:
        console.print(f"[green]Resumed after {paused_s:.1f} s paused.[/green]", highlight=False)

    return RunControl(on_paused=on_paused, on_resumed=on_resumed)


def install_pause(console: Console, err_console: Console | None = None) -> RunControl:
    """SIGINT → pause at the next safe point; again while pausing or paused → ``KeyboardInterrupt`` (stop)."""
    control = console_control(console)
    if threading.current_thread() is not threading.main_thread():
        return control
    notices = err_console or console

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if control.interrupt():
            notices.print(
                "[yellow]Ctrl-C: pausing at the next safe point (Ctrl-C again: safe stop now)[/yellow]"
            )
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    return control


def with_control(
    control: RunControl, then: Callable[[Any], None] | None = None
) -> Callable[[Any], None]:
    """An ``on_rig_ready`` hook that hands the rig the console's control, then runs ``then``."""

    def ready(rig: Any) -> None:
        rig.control = control
        if then is not None:
            then(rig)

    return ready
