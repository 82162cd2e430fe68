"""Blind test of proton-lateral-profile: spot position and spot size of the simulated proton pencil beam.

Injected per rig: the spot offset on the isocentre plane (X and Y, each 0 or uniform in ±2 mm: zero, near
and beyond the 1 mm annual tolerance) and the fractional in-air spot size error (0 or uniform in ±0.2:
zero, near and beyond ±10 %). The truth is computed here, from these numbers and the beam written into the
rig, by this module's own model of a pencil beam in water (never the simulator's code):

* the spot centre at any depth is the nominal position plus the injected offset (a parallel beam along
  −Z at gantry 0°);
* the spot sigma at depth d is √(((1 + e)·σ_air)² + T₀·d³/3): the in-air spot widened by multiple
  scattering with a constant scattering power T₀ (Fermi–Eyges), T₀ = θ₀²/x after x = 1 cm of water from
  Highland's formula (Particle Data Group), computed below;
* the sequence judges the sigma against its default baseline, the same model with e = 0;
* the 80–20 % penumbra of a Gaussian profile is σ·(√(2 ln 5) − √(2 ln 1.25));
* the chamber's general recombination in this continuous beam, k_s − 1 = β·Ḋ/V² = β·I/(S·V²), is linear in
  its current I, so the sequence is told κ = β/(S·V²) per nA (as a site would enter its measured value),
  with β, S and V written into the rig here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, signed_uniform
from validation.scenarios import register

ENERGY_MEV = 150.0
SIGMA_AIR_MM = 4.0
DEPTH_MM = 20.0
#: The beam written into every rig (the truth model uses exactly these).
BEAM = {
    "energy_mev": ENERGY_MEV,
    "spot_sigma_mm": SIGMA_AIR_MM,
    "spot_position_mm": [0.0, 0.0],
    "detector": "point",
    "water_surface_z_mm": 0.0,
    "reference_depth_mm": 20.0,
}
CHAMBER = "chamber_tank"
SENSITIVITY_C_PER_GY = 2.0e-9
BIAS_V = 400.0
RECOMBINATION_V2_S_PER_GY = 5.4e3
#: k_s − 1 per nA of chamber current, in %: 100·β/(S·V²)·1e-9 A.
RECOMBINATION_PCT_PER_NA = 100.0 * RECOMBINATION_V2_S_PER_GY / (SENSITIVITY_C_PER_GY * BIAS_V**2) * 1e-9
OFFSET_HIGH_MM = 2.0  # twice the 1 mm tolerance
SIZE_HIGH = 0.2  # twice the 10 % tolerance


def scattering_power_rad2_per_cm(energy_mev: float) -> float:
    """Highland: θ₀ = 13.6 MeV/(βcp)·√(x/X₀)·(1 + 0.038·ln(x/(X₀β²))), x = 1 cm, X₀(water) = 36.08 cm."""
    mass = 938.272
    momentum = math.sqrt(energy_mev**2 + 2.0 * energy_mev * mass)
    beta = momentum / (energy_mev + mass)
    t = 1.0 / 36.08
    theta0 = 13.6 / (beta * momentum) * math.sqrt(t) * (1.0 + 0.038 * math.log(t / beta**2))
    return theta0**2


def spot_sigma_mm(size_error: float, depth_mm: float) -> float:
    mcs_mm2 = scattering_power_rad2_per_cm(ENERGY_MEV) * (depth_mm / 10.0) ** 3 / 3.0 * 100.0
    return math.sqrt(((1.0 + size_error) * SIGMA_AIR_MM) ** 2 + mcs_mm2)


class ProtonLateralProfileScenario(Scenario):
    sequence: ClassVar[str] = "proton-lateral-profile"
    #: Coarser than the defaults (a campaign runs many rigs); the chamber is biased from the start.
    params: ClassVar[Mapping[str, Any]] = {
        "core_step_mm": 1.5,
        "tail_step_mm": 3.0,
        "settle_s": 0.0,
        "depths_mm": [DEPTH_MM],
        "bias_voltage_v": BIAS_V,
        "recombination_pct_per_na": RECOMBINATION_PCT_PER_NA,
    }

    def draw(self, rng: np.random.Generator) -> Injection:
        return {
            "offset_x_mm": signed_uniform(rng, OFFSET_HIGH_MM),
            "offset_y_mm": signed_uniform(rng, OFFSET_HIGH_MM),
            "spot_size_error": signed_uniform(rng, SIZE_HIGH),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        proton = raw_rig["simulation"]["proton"]
        proton.update(BEAM)
        proton.update(
            spot_offset_mm=[injection["offset_x_mm"], injection["offset_y_mm"]],
            spot_size_error=injection["spot_size_error"],
        )
        raw_rig["simulation"]["electrometers"][CHAMBER].update(
            sensitivity_c_per_gy=SENSITIVITY_C_PER_GY,
            initial_bias_v=BIAS_V,
            continuous_recombination_v2_s_per_gy=RECOMBINATION_V2_S_PER_GY,
        )

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        sigma = spot_sigma_mm(injection["spot_size_error"], DEPTH_MM)
        baseline = spot_sigma_mm(0.0, DEPTH_MM)
        size_pct = 100.0 * abs(sigma - baseline) / baseline
        penumbra = sigma * (math.sqrt(2.0 * math.log(5.0)) - math.sqrt(2.0 * math.log(1.25)))
        out: dict[str, TruthValue] = {}
        for axis in ("x", "y"):
            tag = f"{axis}@{DEPTH_MM:g}mm"
            offset = injection[f"offset_{axis}_mm"]
            out[f"Δ{tag}"] = TruthValue(value=abs(offset))
            out[f"Δσ{tag}"] = TruthValue(value=size_pct)
            out[f"centre_{tag}"] = TruthValue(value=offset, verdict=False)
            out[f"sigma_{tag}"] = TruthValue(value=sigma, verdict=False)
            out[f"penumbra_80_20_{tag}"] = TruthValue(value=penumbra, verdict=False)
        return out


register(ProtonLateralProfileScenario())
