"""What a run is doing, in words an engineer at the console reads: one label per plan message, and an ETA.

The engine reports each finished message with ``describe``; a display that knows the whole plan (the dry
run's messages) labels the message running *now* with ``plan_labels``, which adds why a dwell waits (a
600 s dwell after a bias change is the bias settling, not a hang). ``EtaEstimator`` turns the plan's
remaining dwells and message count into a time to go, from what the run has cost so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.messages import (
    Beam,
    Checkpoint,
    ConfigureDosimeter,
    Dwell,
    HoldIntegration,
    Home,
    LoadCouch,
    Message,
    MoveCouch,
    MoveTo,
    ReadAxis,
    ReadCouch,
    ReadDosimeter,
    ReadEnvironment,
    ReadTracker,
    ResetIntegration,
    StartIntegration,
    SwapChambers,
    Together,
    ZeroDosimeter,
)


def format_seconds(seconds: float) -> str:
    """``600 s``, ``20 min``, ``1 h 05 min``: a duration as a plan states it, not ``0:10:00``."""
    if seconds < 1000:
        return f"{seconds:g} s"
    minutes = seconds / 60.0
    if minutes < 60:
        return f"{minutes:.3g} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest:02d} min"


def describe(message: Message, why: str = "") -> str:
    """One message as an engineer would say it, e.g. ``MoveTo phantom_x 150 mm``, ``Dwell 600 s``."""
    text = _describe(message)
    return f"{text} ({why})" if why else text


def _describe(message: Message) -> str:
    if isinstance(message, MoveTo):
        return f"MoveTo {message.device} {message.target_mm:g} mm"
    if isinstance(message, Home):
        return f"Home {message.device}"
    if isinstance(message, ReadAxis):
        return f"Read {message.device} position"
    if isinstance(message, Dwell):
        return f"Dwell {format_seconds(message.seconds)}"
    if isinstance(message, Checkpoint):
        return f"Checkpoint {message.label}".rstrip()
    if isinstance(message, MoveCouch):
        moved = {k: v for k, v in message.setpoint.as_dict().items() if v != 0.0}
        return f"MoveCouch {message.device} " + (", ".join(f"{k}={v:g}" for k, v in moved.items()) or "home")
    if isinstance(message, ReadCouch):
        return f"Read {message.device} pose"
    if isinstance(message, ConfigureDosimeter):
        s = message.settings
        timer = f", timer {format_seconds(s.integration_time_s)}" if s.integration_time_s else ""
        return f"Configure {message.device}: {s.mode}, range {s.range}, bias {s.bias_voltage_v:+g} V{timer}"
    if isinstance(message, ZeroDosimeter):
        return f"Zero {message.device}"
    if isinstance(message, StartIntegration):
        return f"Start integration {message.device}"
    if isinstance(message, HoldIntegration):
        return f"Hold integration {message.device}"
    if isinstance(message, ResetIntegration):
        return f"Reset integration {message.device}"
    if isinstance(message, ReadDosimeter):
        return f"Read {message.device}"
    if isinstance(message, ReadEnvironment):
        return f"Read air ({message.device})"
    if isinstance(message, ReadTracker):
        return f"Read {message.device}" + (f" ×{message.samples}" if message.samples > 1 else "")
    if isinstance(message, LoadCouch):
        return f"Load {message.device} {message.payload_kg:g} kg"
    if isinstance(message, Beam):
        if not message.on:
            return "Beam OFF"
        length = f" for {format_seconds(message.duration_s)}" if message.duration_s else ""
        return f"Beam ON {message.dose_rate_gy_per_min:g} Gy/min{length}"
    if isinstance(message, SwapChambers):
        verb = "Swap chambers" if message.swapped else "Chambers home"
        return f"{verb} {message.device} ↔ {message.other}"
    if isinstance(message, Together):
        return "Together: " + " | ".join(_describe(member) for member in message.messages)
    return type(message).__name__


def plan_labels(messages: Sequence[Message]) -> list[str]:
    """A label for every message of a plan; a dwell says what it waits for, from the messages before it."""
    labels: list[str] = []
    integrating: set[str] = set()
    beam_on = False
    previous: Message | None = None
    for message in messages:
        why = ""
        if isinstance(message, Dwell):
            if integrating:
                why = "integrating" + (", beam on" if beam_on else ", beam off")
            elif isinstance(previous, Beam) and previous.on:
                why = "beam settle"
            elif isinstance(previous, ConfigureDosimeter):
                why = "bias settle"
            elif isinstance(previous, MoveTo | MoveCouch | Home):
                why = "settle after motion"
            elif isinstance(previous, LoadCouch):
                why = "load settle"
            elif isinstance(previous, Beam):
                why = "beam off"
        labels.append(describe(message, why))
        if isinstance(message, StartIntegration):
            integrating.add(message.device)
        elif isinstance(message, HoldIntegration | ResetIntegration):
            integrating.discard(message.device)
        elif isinstance(message, Beam):
            beam_on = message.on
        previous = message
    return labels


def next_checkpoint(messages: Sequence[Message], index: int) -> str:
    """The label of the first checkpoint at or after ``index`` (what the work there completes), or ""."""
    for message in messages[index:]:
        if isinstance(message, Checkpoint):
            return message.label
    return ""


@dataclass
class EtaEstimator:
    """Time to go: the plan's remaining dwell seconds at the rate the rig's clock has run so far (1 on a
    real rig, about 0 on a virtual clock), plus the remaining other messages at their mean cost so far.

    ``exclude`` is wall time spent waiting for a person (a prompt): it is not the rig's cost.
    """

    messages: Sequence[Message]
    now: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._last = self.now()
        self._dwell_wall = 0.0
        self._dwell_planned = 0.0
        self._other_wall = 0.0
        self._others = 0
        self._done = 0
        self._eta = self._estimate()

    def exclude(self, seconds: float) -> None:
        self._last += seconds

    def advance(self, index: int) -> None:
        now = self.now()
        spent = max(0.0, now - self._last)
        self._last = now
        if 0 <= index < len(self.messages):
            message = self.messages[index]
            if isinstance(message, Dwell):
                self._dwell_wall += spent
                self._dwell_planned += message.seconds
            else:
                self._other_wall += spent
                self._others += 1
        self._done = index + 1
        self._eta = self._estimate()

    def _estimate(self) -> float:
        remaining = self.messages[self._done :]
        dwell_s = sum(m.seconds for m in remaining if isinstance(m, Dwell))
        others = sum(1 for m in remaining if not isinstance(m, Dwell))
        rate = self._dwell_wall / self._dwell_planned if self._dwell_planned > 0 else 1.0
        per_message = self._other_wall / self._others if self._others else 0.5
        return dwell_s * rate + others * per_message

    def remaining_s(self) -> float:
        """Seconds to go, counting down while the current message runs (never below zero)."""
        return max(0.0, self._eta - max(0.0, self.now() - self._last))
