"""Blind test of the proton output constancy: an injected change of the charge per delivered dose.

Injected per rig: a change δ of the chamber's response per unit dose (0, or uniform within ±6 %: zero, near
and beyond the ±3 % daily limit) — to a constancy test the same as a change of the beam's output — and the
chamber's relative reading noise (0 to 0.3 %). The room air keeps the rig's own slow drifts, which k_TP
must remove. Truth by this module's own model: the k_TP-corrected charge is the nominal charge times
(1 + δ); the sequence's default baseline is that nominal charge, so output = 100·δ (the 1 fA of leakage,
which does not scale with δ, changes this by under 0.003 % of itself).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register

OUTPUT_LIMIT_PCT = 3.0  # TG-224 daily
SENSITIVITY_C_PER_GY = 2.0e-9  # the built-in rig's carriage chamber, written into every rig


class ProtonOutputConstancyScenario(Scenario):
    sequence: ClassVar[str] = "proton-output-constancy"

    def draw(self, rng: np.random.Generator) -> Injection:
        return {
            "output_change_pct": signed_uniform(rng, 2.0 * OUTPUT_LIMIT_PCT),
            "relative_noise": magnitude_uniform(rng, 3.0e-3),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        chamber = raw_rig["simulation"]["electrometers"]["chamber_tank"]
        chamber["sensitivity_c_per_gy"] = SENSITIVITY_C_PER_GY * (
            1.0 + injection["output_change_pct"] / 100.0
        )
        chamber["relative_noise"] = injection["relative_noise"]

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        change = injection["output_change_pct"]
        return {
            "output": TruthValue(value=abs(change)),
            "output_deviation": TruthValue(value=change, verdict=False),
        }


register(ProtonOutputConstancyScenario())
