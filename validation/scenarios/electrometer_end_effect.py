"""Blind test of D4 (timer end effect), on the Keithley 6517B.

Injected per rig: the extra dose the beam delivers at each switch-on (either sign: an overshoot or a lagging
ramp-up), scaled so that the true end effect is uniform in 0 to about twice the limit (0 in 15 % of rigs),
and the relative reading noise. The chamber, room and field are written exact, as for D2 (a charge of S·D
exactly, still reference air, a uniform field), so the truth is this module's own model: a switch-on
delivering E extra gray at the nominal rate Ḋ is an extra beam time δ = E/Ḋ, and the verdict's truth is
100·|δ| / (the shortest clinical delivery, 0.5 s by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, signed_uniform
from validation.scenarios import register
from validation.scenarios.electrometer_linearity import CHAMBER, EXACT_CHAMBER, STILL_ROOM

RATE_GY_S = 6.0 / 60.0  # the sequence's default dose rate
SHORTEST_DELIVERY_S = 0.5  # the sequence's default verdict reference
LIMIT_PCT = 2.0


class ElectrometerEndEffectScenario(Scenario):
    sequence: ClassVar[str] = "electrometer-end-effect"
    params: ClassVar[Mapping[str, Any]] = {"dosimeter": "electrometer_6517b", "range": "auto"}

    def draw(self, rng: np.random.Generator) -> Injection:
        limit_gy = LIMIT_PCT / 100.0 * SHORTEST_DELIVERY_S * RATE_GY_S
        return {
            "switch_on_extra_dose_gy": signed_uniform(rng, 2.0 * limit_gy),
            "relative_noise": float(rng.uniform(2.0e-5, 3.0e-4)),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        simulation = raw_rig["simulation"]
        chamber = simulation["electrometers"][CHAMBER]
        chamber.update(EXACT_CHAMBER)
        chamber.update(relative_noise=injection["relative_noise"], charge_noise_c=1.0e-15, source="beam")
        simulation["environments"][chamber["environment"]].update(STILL_ROOM)
        simulation.setdefault("radiation", {}).update(
            field="uniform", switch_on_extra_dose_gy=injection["switch_on_extra_dose_gy"]
        )

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        delta_s = injection["switch_on_extra_dose_gy"] / RATE_GY_S
        return {
            "end_effect": TruthValue(value=100.0 * abs(delta_s) / SHORTEST_DELIVERY_S),
            "end_effect_time": TruthValue(value=delta_s, verdict=False),
            "end_effect_dose": TruthValue(value=injection["switch_on_extra_dose_gy"] * 1e3, verdict=False),
        }


register(ElectrometerEndEffectScenario())
