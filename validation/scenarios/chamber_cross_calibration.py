"""Blind test of D8 (chamber cross-calibration with alternating positions).

Injected per rig: the field chamber's sensitivity (±2 % around the built-in rig's chamber_b, so the change
from the default previous coefficient spans the 1 % limit), a linear field gradient along IEC y between the
two chamber positions (up to ±3 % over the 30 mm), and the two electrometers' relative reading noise (the
ratio's CoV from 0 to about twice its 0.5 % limit). Everything else the truth depends on is written into the
rig: both chambers with the same polarity, recombination and air references, no leakage and no bias
settling, so the truth below comes from this module's own model only:

* a reading of chamber c at position x is S_c·g(x)·D·(air and recombination factors common to both), with
  g(x) = 1 + G·x (the field's shape), so the ratio of the pair is S_ref·g(x_ref)/(S_field·g(x_field));
* N_field = N_ref·S_ref/S_field with N_ref the sequence's built-in default 5.0e7 Gy/C (= 1/S_ref here);
* field_non_uniformity: what the chambers collect at the two positions, g₁·f(g₁)/(g₂·f(g₂)) − 1 with
  g₁ = 1, g₂ = 1 + 30 mm·G and Boag's pulsed-beam collection efficiency f = ln(1 + u)/u, u = α·Ḋ·g/(PRF·V):
  the swap cancels recombination in the ratio, not in the non-uniformity, where the dose-rate dependence
  of f stays;
* CoV of the ratio = √(ρ_ref² + ρ_field² + (σ_q/Q_ref)² + (σ_q/Q_field)²): each reading's relative noise ρ
  and its absolute charge noise σ_q, over the pair.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register

S_REF = 2.0e-8  # C/Gy, chamber_a (the reference, on the UNIDOS)
S_FIELD_NOMINAL = 2.1e-8  # C/Gy, chamber_b (the field chamber, on the 6517B)
N_REF = 5.0e7  # Gy/C: the sequence's default reference coefficient (the built-in rig states no certificate)
N_PREVIOUS = 4.762e7  # Gy/C: the sequence's default previous coefficient
SEPARATION_MM = 30.0  # chamber_b's position along IEC y; chamber_a sits at the isocentre
CHARGE_NOISE_C = 1.0e-15
DOSE_RATE_GY_S = 6.0 / 60.0  # the sequence's default dose rate
DOSE_GY = DOSE_RATE_GY_S * 20.0  # and beam time
PULSE_HZ = 360.0
BIAS_V = 300.0
COV_LIMIT_PCT = 0.5

CHAMBER = {
    "k_pol": 1.0,
    "reference_polarity": 1,
    "pulsed_recombination_v_per_gy": 1.1e4,
    "continuous_recombination_v2_s_per_gy": 5.4e3,
    "leakage_current_a": 0.0,
    "settling_amplitude": 0.0,
    "bias_transient_a_per_v": 0.0,
    "reference_temperature_c": 20.0,
    "reference_pressure_hpa": 1013.25,
    "charge_noise_c": CHARGE_NOISE_C,
    "charge_nonlinearity_per_c": 0.0,
}


def collection_efficiency(relative_dose: float) -> float:
    """Boag, pulsed beam: f = ln(1 + u)/u with u = α·(dose per pulse)/V at this point of the field."""
    u = CHAMBER["pulsed_recombination_v_per_gy"] * DOSE_RATE_GY_S * relative_dose / PULSE_HZ / BIAS_V
    return math.log1p(u) / u


class CrossCalibrationScenario(Scenario):
    sequence: ClassVar[str] = "chamber-cross-calibration"

    def draw(self, rng: Any) -> Injection:
        per_reading = 2.0 * COV_LIMIT_PCT / 100.0 / math.sqrt(2.0)
        return {
            "field_sensitivity_offset": signed_uniform(rng, 0.02),
            "gradient_per_mm": signed_uniform(rng, 1.0e-3),
            "relative_noise_ref": magnitude_uniform(rng, per_reading),
            "relative_noise_field": magnitude_uniform(rng, per_reading),
        }

    def _s_field(self, injection: Injection) -> float:
        return S_FIELD_NOMINAL * (1.0 + injection["field_sensitivity_offset"])

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        simulation = raw_rig["simulation"]
        chambers = simulation["electrometers"]
        chambers["chamber_a"].update(
            CHAMBER,
            source="beam",
            sensitivity_c_per_gy=S_REF,
            chamber_position_mm=[0.0, 0.0, 0.0],
            relative_noise=injection["relative_noise_ref"],
            initial_bias_v=300.0,
        )
        chambers["chamber_b"].update(
            CHAMBER,
            source="beam",
            sensitivity_c_per_gy=self._s_field(injection),
            chamber_position_mm=[0.0, SEPARATION_MM, 0.0],
            relative_noise=injection["relative_noise_field"],
        )
        simulation["radiation"].update(
            beam_type="pulsed",
            pulse_repetition_hz=PULSE_HZ,
            field="linear_gradient",
            gradient_per_mm=[0.0, injection["gradient_per_mm"], 0.0],
        )

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        s_field = self._s_field(injection)
        n_field = N_REF * S_REF / s_field
        g2 = 1.0 + SEPARATION_MM * injection["gradient_per_mm"]
        q_ref, q_field = S_REF * DOSE_GY, s_field * DOSE_GY * g2
        cov = 100.0 * math.sqrt(
            injection["relative_noise_ref"] ** 2
            + injection["relative_noise_field"] ** 2
            + (CHARGE_NOISE_C / q_ref) ** 2
            + (CHARGE_NOISE_C / q_field) ** 2
        )
        change = 100.0 * (n_field / N_PREVIOUS - 1.0)
        return {
            "CoV_ratio": TruthValue(value=cov),
            "coefficient_change": TruthValue(value=abs(change)),
            "N_field": TruthValue(value=n_field * 1e-7, verdict=False),
            "ratio": TruthValue(value=S_REF / s_field, verdict=False),
            "field_non_uniformity": TruthValue(
                value=100.0 * (collection_efficiency(1.0) / (g2 * collection_efficiency(g2)) - 1.0),
                verdict=False,
            ),
            "coefficient_change_signed": TruthValue(value=change, verdict=False),
        }


register(CrossCalibrationScenario())
