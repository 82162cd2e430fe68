"""Blind test of the proton range check: an injected range shift of the pencil beam.

Injected per rig: the beam's range shift (0, or uniform within ±2 mm: zero, near and beyond the ±1 mm
limit) and the chamber's relative reading noise (0 to 0.2 %, ten times the rig's own). The truth is this
module's own model of a range shift: the whole depth-dose curve moves rigidly along depth, so every distal
level moves with it, ΔR90 = ΔR80 = the shift. The sequence's baselines are the nominal beam's (its
defaults, the unshifted rig's), so its verdict metrics' truth is |shift|. (The spot's growth with depth
does not move with the shift; on the spot axis that changes the shift of a level by under 0.1 %.)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register

RANGE_LIMIT_MM = 1.0  # TG-224 ±1 mm


class ProtonRangeCheckScenario(Scenario):
    sequence: ClassVar[str] = "proton-range-check"

    def draw(self, rng: np.random.Generator) -> Injection:
        return {
            "range_shift_mm": signed_uniform(rng, 2.0 * RANGE_LIMIT_MM),
            "relative_noise": magnitude_uniform(rng, 2.0e-3),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        simulation = raw_rig["simulation"]
        simulation["proton"]["range_shift_mm"] = injection["range_shift_mm"]
        simulation["electrometers"]["chamber_tank"]["relative_noise"] = injection["relative_noise"]

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        shift = injection["range_shift_mm"]
        return {
            "ΔR90": TruthValue(value=abs(shift)),
            "ΔR80": TruthValue(value=abs(shift)),
            "R90_shift": TruthValue(value=shift, verdict=False),
            "R80_shift": TruthValue(value=shift, verdict=False),
        }


register(ProtonRangeCheckScenario())
