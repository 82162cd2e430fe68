"""Small test helpers that let virtual time run (no real sleeping anywhere)."""

from __future__ import annotations

from simulators.clock import VirtualClock
from simulators.stage import LinearStage


def settle(stage: LinearStage, clock: VirtualClock) -> None:
    """Advance virtual time until ``stage`` is idle."""
    clock.advance_to(stage.busy_until())


def home(stage: LinearStage, clock: VirtualClock) -> None:
    """Home ``stage`` and let it finish."""
    stage.home()
    settle(stage, clock)
    assert stage.referenced


def move(stage: LinearStage, clock: VirtualClock, target_mm: float) -> None:
    """Absolute move to ``target_mm`` (rounded to a microstep) and let it finish."""
    stage.move_to(stage.usteps_from_mm(target_mm))
    settle(stage, clock)
