"""Blind test of D5 + D6 (polarity effect and ion recombination, two-voltage and Jaffé), pulsed beam, on the
Keithley 6517B.

Injected per rig: the chamber's polarity effect k_pol (true |P_pol − 1| uniform in 0 to twice the 0.4 %
limit, either sign) and its pulsed recombination constant α (true P_ion − 1 uniform in 0 to twice the 5 %
limit). Everything else the truth depends on is written into the rig: no leakage, no settling or bias-change
transients, still reference air, a uniform pulsed field at the built-in repetition rate. The truth is this
module's own model:

* collection efficiency by Boag's pulsed expression f(V) = ln(1 + u)/u, u = α·Ḋ/(PRF·V), so the true
  P_ion at V_H is 1/f(V_H) and each voltage's mean reading is proportional to f(V);
* the reading at the opposite polarity is the reference one times (2·k_pol − 1), so that
  (|M₊| + |M₋|)/(2|M₊|) = k_pol (TG-51's P_pol);
* the "recombination" verdict's truth is the true P_ion − 1 (the sequence states the TG-51 two-voltage
  value and carries that formula's approximation of Boag's expression in its U);
* the Jaffé and methods verdicts are defined on the protocol formulas, so their truths are those formulas
  (TG-51 two-voltage, AAPM TG-51 Eq. 12; IAEA TRS-398 §4.4.3.4 k_s with the pulsed coefficients of its
  Table 9 for V_H/V_L = 3) applied to the true mean readings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register
from validation.scenarios.electrometer_linearity import CHAMBER, EXACT_CHAMBER, STILL_ROOM

RATE_GY_S = 6.0 / 60.0  # the sequence's default dose rate
PRF_HZ = 360.0
V_HIGH, V_MID, V_LOW = 300.0, 150.0, 100.0  # the sequence's default voltages
#: IAEA TRS-398 Table 9, pulsed beams, V1/V2 = 3.0: k_s = a0 + a1·(M1/M2) + a2·(M1/M2)².
TRS398_A_RATIO_3 = (1.198, -0.875, 0.677)
POLARITY_LIMIT_PCT = 0.4
RECOMBINATION_LIMIT_PCT = 5.0


def efficiency(alpha_v_per_gy: float, bias_v: float) -> float:
    """Boag's pulsed collection efficiency ln(1 + u)/u (1 when α = 0)."""
    u = alpha_v_per_gy * RATE_GY_S / PRF_HZ / bias_v
    return 1.0 if u == 0.0 else math.log1p(u) / u


def alpha_for(p_ion: float) -> float:
    """The α whose true P_ion at V_H is ``p_ion`` (bisection on u/ln(1 + u), increasing in u)."""
    if p_ion <= 1.0:
        return 0.0
    low, high = 0.0, 10.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if mid / math.log1p(mid) < p_ion else (low, mid)
    return 0.5 * (low + high) * PRF_HZ * V_HIGH / RATE_GY_S


def tg51_two_voltage(m_high: float, m_low: float, v_high: float, v_low: float) -> float:
    """AAPM TG-51 pulsed-beam two-voltage P_ion(V_H) = (1 − V_H/V_L)/(M_H/M_L − V_H/V_L)."""
    ratio = v_high / v_low
    return (1.0 - ratio) / (m_high / m_low - ratio)


class PolarityRecombinationScenario(Scenario):
    sequence: ClassVar[str] = "chamber-polarity-recombination"
    params: ClassVar[Mapping[str, Any]] = {"dosimeter": "electrometer_6517b", "range": "auto"}

    def draw(self, rng: np.random.Generator) -> Injection:
        p_ion = 1.0 + magnitude_uniform(rng, 2.0 * RECOMBINATION_LIMIT_PCT / 100.0)
        return {
            "k_pol": 1.0 + signed_uniform(rng, 2.0 * POLARITY_LIMIT_PCT / 100.0),
            "pulsed_recombination_v_per_gy": alpha_for(p_ion),
            "relative_noise": float(rng.uniform(2.0e-5, 2.0e-4)),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        simulation = raw_rig["simulation"]
        chamber = simulation["electrometers"][CHAMBER]
        chamber.update(EXACT_CHAMBER)
        chamber.update(
            k_pol=injection["k_pol"],
            pulsed_recombination_v_per_gy=injection["pulsed_recombination_v_per_gy"],
            relative_noise=injection["relative_noise"],
            charge_noise_c=1.0e-15,
            source="beam",
        )
        simulation["environments"][chamber["environment"]].update(STILL_ROOM)
        simulation.setdefault("radiation", {}).update(
            field="uniform", beam_type="pulsed", pulse_repetition_hz=PRF_HZ
        )

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        alpha, k_pol = injection["pulsed_recombination_v_per_gy"], injection["k_pol"]
        m = {v: efficiency(alpha, v) for v in (V_HIGH, V_MID, V_LOW)}
        p_ion = 1.0 / m[V_HIGH]
        two_v = tg51_two_voltage(m[V_HIGH], m[V_LOW], V_HIGH, V_LOW)
        two_v_mid = tg51_two_voltage(m[V_HIGH], m[V_MID], V_HIGH, V_MID)
        a0, a1, a2 = TRS398_A_RATIO_3
        ratio = m[V_HIGH] / m[V_LOW]
        k_s = a0 + a1 * ratio + a2 * ratio**2
        return {
            "P_pol": TruthValue(value=100.0 * abs(k_pol - 1.0)),
            "P_ion": TruthValue(value=100.0 * (p_ion - 1.0)),
            "Jaffé": TruthValue(value=100.0 * abs(two_v - two_v_mid)),
            "methods": TruthValue(value=100.0 * abs(two_v - k_s)),
            "P_ion_TG51": TruthValue(value=p_ion, verdict=False),
        }


register(PolarityRecombinationScenario())
