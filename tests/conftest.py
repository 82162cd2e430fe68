"""Shared fixtures: a virtual clock double for controller tests that do not need the simulated world."""

from __future__ import annotations

import pytest


class StepClock:
    """A clock whose sleep advances time at once (the controller-side view of a virtual clock)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


@pytest.fixture
def step_clock() -> StepClock:
    return StepClock()
