"""What a validation scenario is: how to draw a rig's errors, build the rig, and say what is true.

A scenario never imports the simulators: it edits the rig file's ``simulation`` section (plain data, the
same knobs ``hilcal run --set`` reaches) and computes the truth from the injected numbers with its own
model of the physics, so a misreading in the simulator, the sequence or the scenario shows as a miss.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from controller.config import RigConfig, load_rig_config

#: Injected errors by name (scenario-specific, e.g. ``{"backlash_mm": 0.12}``); plain floats, JSON-able.
Injection = dict[str, float]


class TruthValue(BaseModel):
    """The true value of one scored metric of one rig, and whether it lies within the sequence's limit."""

    model_config = ConfigDict(frozen=True)

    value: float
    #: Whether this metric's verdict (if it has one) is scored for false accept / false reject.
    verdict: bool = True


class Scenario(ABC):
    """One sequence under blind test. Subclasses declare the distributions and the truth model."""

    #: The sequence this scenario tests (a key of ``sequences.SEQUENCES``).
    sequence: ClassVar[str]
    #: A short name, unique among scenarios (defaults to the sequence name).
    name: ClassVar[str] = ""
    #: Sequence parameters for every rig of the campaign (the sequence's defaults when empty).
    params: ClassVar[Mapping[str, Any]] = {}

    @property
    def key(self) -> str:
        return self.name or self.sequence

    @abstractmethod
    def draw(self, rng: np.random.Generator) -> Injection:
        """Draw one rig's injected errors (zero, near and beyond each limit all have to occur)."""

    @abstractmethod
    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        """Write ``injection`` into a rig file's data (``raw_rig['simulation'][...]``) in place."""

    @abstractmethod
    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        """The true value of each scored metric (verdict or informative metric name → truth)."""

    def base_rig(self) -> dict[str, Any]:
        """The rig file the scenario starts from: the built-in simulated rig, as data."""
        return copy.deepcopy(_default_rig_data())

    def rig(self, injection: Injection, seed: int) -> RigConfig:
        """The rig of one campaign task: its own simulation seed, the injected errors, a virtual clock."""
        raw = self.base_rig()
        raw["simulation"]["seed"] = int(seed)
        raw["simulation"]["clock"] = "virtual"
        for device in raw["devices"].values():
            # Transport timeouts are wall-clock even on a virtual-clock rig: a campaign sharing its cores
            # with other work must not turn a slow reply into an errored task.
            device["timeout_s"] = max(float(device.get("timeout_s", 1.0)), CAMPAIGN_TIMEOUT_S)
        self.apply(raw, injection)
        return RigConfig.model_validate(raw)


#: Wall-clock transport timeout of every device of a campaign rig (seconds).
CAMPAIGN_TIMEOUT_S = 15.0

_DEFAULT_RIG: dict[str, Any] | None = None


def _default_rig_data() -> dict[str, Any]:
    global _DEFAULT_RIG
    if _DEFAULT_RIG is None:
        _DEFAULT_RIG = load_rig_config().model_dump(mode="json")
    return _DEFAULT_RIG


def signed_uniform(rng: np.random.Generator, high: float, p_zero: float = 0.15) -> float:
    """0 with probability ``p_zero``, else uniform in ±[0, high] (a random sign)."""
    if rng.random() < p_zero:
        return 0.0
    return float(rng.uniform(-high, high))


def magnitude_uniform(rng: np.random.Generator, high: float, p_zero: float = 0.15) -> float:
    """0 with probability ``p_zero``, else uniform in [0, high] (for quantities that are never negative)."""
    if rng.random() < p_zero:
        return 0.0
    return float(rng.uniform(0.0, high))
