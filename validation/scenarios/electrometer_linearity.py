"""Blind test of D2 (chamber + electrometer charge linearity with delivered dose), on the Keithley 6517B.

Injected per rig: a gain nonlinearity b of the electrometer (a reading shows Q·(1 + b·|Q|)), scaled so the
true largest deviation from the line is uniform in 0 to twice the 2 % limit (0 in 15 % of rigs, either
sign of b), and the relative reading noise. Everything else the truth depends on is written into the rig:
a chamber whose collected charge is S·D exactly (no recombination, polarity, leakage or settling), still room
air at the chamber's reference conditions, a uniform photon field. The truth is then this module's own
model: level charges Q_i = S·D_i·(1 + b·S·D_i), a straight line Q = a + c·D fitted by least squares with
weights 1/Q_i² (the sequence weighs by the pooled relative scatter, so its weights are ∝ 1/Q_i² too), and
the largest |100·(Q_i − Q̂_i)/Q̂_i|.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform
from validation.scenarios import register

SENSITIVITY_C_PER_GY = 2.0e-8
RATE_GY_PER_MIN = 6.0  # the sequence's default dose rate
BEAM_TIMES_S = (5.0, 10.0, 20.0, 50.0, 100.0)  # the sequence's default levels
LIMIT_PCT = 2.0
CHAMBER = "chamber_b"
EXACT_CHAMBER: dict[str, Any] = {
    "sensitivity_c_per_gy": SENSITIVITY_C_PER_GY,
    "chamber_position_mm": [0.0, 0.0, 0.0],
    "k_pol": 1.0,
    "pulsed_recombination_v_per_gy": 0.0,
    "continuous_recombination_v2_s_per_gy": 0.0,
    "leakage_current_a": 0.0,
    "settling_amplitude": 0.0,
    "bias_transient_a_per_v": 0.0,
    "reference_temperature_c": 20.0,
    "reference_pressure_hpa": 1013.25,
    "charge_noise_c": 1.0e-14,
}
STILL_ROOM = {
    "temperature_c": 20.0,
    "pressure_hpa": 1013.25,
    "temperature_amplitude_c": 0.0,
    "pressure_amplitude_hpa": 0.0,
    "temperature_rate_c_per_h": 0.0,
    "pressure_rate_hpa_per_h": 0.0,
}


def doses_gy() -> np.ndarray:
    return RATE_GY_PER_MIN / 60.0 * np.array(BEAM_TIMES_S)


def max_deviation_pct(b_per_c: float) -> float:
    """Largest relative deviation (%) of the true level charges from their weighted straight line."""
    d = doses_gy()
    q = SENSITIVITY_C_PER_GY * d
    q = q * (1.0 + b_per_c * q)
    x = np.column_stack([np.ones_like(d), d])
    w = 1.0 / q**2
    beta = np.linalg.solve(x.T @ (w[:, None] * x), x.T @ (w * q))
    fitted = x @ beta
    return float(np.max(np.abs(100.0 * (q - fitted) / fitted)))


def nonlinearity_for(target_pct: float, sign: float) -> float:
    """The gain nonlinearity b (1/C, sign given) whose true largest deviation is ``target_pct``."""
    if target_pct <= 0.0:
        return 0.0
    low, high = 0.0, 1.0e3
    while max_deviation_pct(sign * high) < target_pct:
        high *= 2.0
    for _ in range(80):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if max_deviation_pct(sign * mid) < target_pct else (low, mid)
    return sign * 0.5 * (low + high)


class ElectrometerLinearityScenario(Scenario):
    sequence: ClassVar[str] = "electrometer-linearity"
    params: ClassVar[Mapping[str, Any]] = {"dosimeter": "electrometer_6517b", "range": "auto"}

    def draw(self, rng: np.random.Generator) -> Injection:
        target = magnitude_uniform(rng, 2.0 * LIMIT_PCT)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        return {
            "charge_nonlinearity_per_c": nonlinearity_for(target, sign),
            "relative_noise": float(rng.uniform(2.0e-4, 3.0e-3)),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        simulation = raw_rig["simulation"]
        chamber = simulation["electrometers"][CHAMBER]
        chamber.update(EXACT_CHAMBER)
        chamber.update(
            charge_nonlinearity_per_c=injection["charge_nonlinearity_per_c"],
            relative_noise=injection["relative_noise"],
            source="beam",
        )
        simulation["environments"][chamber["environment"]].update(STILL_ROOM)
        simulation.setdefault("radiation", {}).update(field="uniform")

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        b = injection["charge_nonlinearity_per_c"]
        if not math.isfinite(b):
            raise ValueError(f"non-finite nonlinearity {b}")
        return {
            "linearity": TruthValue(value=max_deviation_pct(b)),
            "reading_scatter": TruthValue(value=100.0 * injection["relative_noise"], verdict=False),
        }


register(ElectrometerLinearityScenario())
