"""Blind test of phantom-axis-iso230 (W1): backlash, pitch error, screw periodic error and encoder noise.

Injected per rig into ``simulation.stages.phantom_x`` (0 to about twice each limit of the default
``clinical-suggested`` profile, A 0.5 mm, R 0.2 mm, B 0.2 mm; each exactly 0 in 15 % of rigs):

* ``backlash_mm`` B in [0, 0.4] mm;
* ``pitch_error_um_per_m`` k in ±2000 µm/m (k × 296 mm of targets reaches 0.6 mm of A);
* ``periodic_error_um`` P in [0, 250] µm with a screw lead λ from common leads (many divide 50 mm, the
  old target step, which aliased them away), capped so the nut stays monotonic;
* ``noise_um`` σ in [0, 100] µm (R = 4σ + B reaches 0.5 mm).

Truth model (our own, from the lead-screw physics and ISO 230-2:2014 clause 3 definitions, not the simulator):
the motor goes to the commanded microstep m = round(T/µ)·µ; the nut to n = m + k(m − h) + P sin(2π(m − h)/λ)
(h = the home datum, 0 mm); the carriage lags the nut by the whole play B after an approach from below and
by none after an approach from above (every approach overshoots by 2 mm > B); the encoder (the reference)
reads the carriage plus N(0, σ²) noise. So per target the population mean deviations are
μ↓ = n − T and μ↑ = n − T − B, with population SD σ_e = √(σ² + (c² + µ²)/12) in both directions (c the
encoder count, µ the microstep to which the controller reports it; 0 when σ = 0, readings are then
deterministic). The population ISO 230-2 quantities follow:

* Bᵢ = μ↑ − μ↓ = −B at every target, so B = max|Bᵢ| = B and the mean reversal |B̄| = B;
* Rᵢ = max(2σ_e + 2σ_e + |Bᵢ|, 4σ_e, 4σ_e), so R = 4σ_e + B;
* A = max(μ + 2σ_e) − min(μ − 2σ_e) over the targets and both directions;
* scale_error = the slope of the least-squares line through the true bidirectional mean deviations
  (μ↑ + μ↓)/2 at the targets: k plus the linear share the periodic error has at these targets;
* max_abs_deviation = max |μ| over targets and directions; readback_minus_reference_max = max |m − (μ + T)|
  (the open-loop readback is the commanded microstep).

The targets are recomputed here from the rule documented in docs/sequences/phantom-axis-iso230.md (golden
ratio offsets on a uniform grid over the travel), not taken from the sequence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register

AXIS = "phantom_x"
TRAVEL_MM = (0.0, 300.0)
OVERSHOOT_MM = 2.0
STEP_MM = 50.0
MICROSTEP_MM = 0.15625e-3
COUNT_MM = 0.1e-3
LEADS_MM = (1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5, 10.0, 12.5, 16.0, 20.0, 25.0, 50.0)
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def targets_mm(low: float, high: float, step: float) -> list[float]:
    """The documented default targets: a uniform grid of ≥ 5 over [low, high], interior ones moved by
    0.3·(2·frac(i·φ) − 1) of the grid interval (φ the golden-ratio conjugate), rounded to 1 µm."""
    count = max(math.ceil((high - low) / step - 1e-9) + 1, 5)
    pitch = (high - low) / (count - 1)
    out = [low]
    for i in range(1, count - 1):
        fraction = 0.3 * (2.0 * ((i * GOLDEN) % 1.0) - 1.0)
        out.append(round(low + (i + fraction) * pitch, 3))
    out.append(high)
    return out


def sigma_effective_mm(noise_um: float) -> float:
    if noise_um <= 0:
        return 0.0
    return math.sqrt((noise_um * 1e-3) ** 2 + (COUNT_MM**2 + MICROSTEP_MM**2) / 12.0)


class PhantomAxisIso230Scenario(Scenario):
    sequence = "phantom-axis-iso230"

    def draw(self, rng: np.random.Generator) -> Injection:
        pitch = signed_uniform(rng, 2000.0)
        lead = float(rng.choice(LEADS_MM))
        periodic_cap_um = 0.8 * (1.0 - abs(pitch) * 1e-6) * lead / (2 * math.pi) * 1000.0
        periodic = min(magnitude_uniform(rng, 250.0), periodic_cap_um)
        return {
            "backlash_mm": magnitude_uniform(rng, 0.4),
            "pitch_error_um_per_m": pitch,
            "periodic_error_um": periodic,
            "screw_lead_mm": lead,
            "noise_um": magnitude_uniform(rng, 100.0),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        raw_rig["simulation"]["stages"][AXIS].update(injection)

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        backlash = injection["backlash_mm"]
        k = injection["pitch_error_um_per_m"] * 1e-6
        amplitude = injection["periodic_error_um"] * 1e-3
        lead = injection["screw_lead_mm"]
        home = TRAVEL_MM[0]
        sigma = sigma_effective_mm(injection["noise_um"])
        targets = np.array(targets_mm(TRAVEL_MM[0] + OVERSHOOT_MM, TRAVEL_MM[1] - OVERSHOOT_MM, STEP_MM))
        motor = np.round(targets / MICROSTEP_MM) * MICROSTEP_MM
        nut = motor + k * (motor - home) + amplitude * np.sin(2 * math.pi * (motor - home) / lead)
        down = nut - targets  # population mean deviation, approach from above (no play)
        up = down - backlash  # approach from below: the carriage trails the nut by the whole play
        means = np.concatenate([up, down])
        readback = np.concatenate([motor - (up + targets), motor - (down + targets)])
        values = {
            "A": float(np.max(means + 2 * sigma) - np.min(means - 2 * sigma)),
            "R": 4 * sigma + backlash,
            "B": backlash,
            "mean_reversal": backlash,
            "scale_error": float(np.polyfit(targets, (up + down) / 2, 1)[0]) * 1e6,
            "max_abs_deviation": float(np.max(np.abs(means))),
            "readback_minus_reference_max": float(np.max(np.abs(readback))),
        }
        verdicts = {"A", "R", "B"}
        return {name: TruthValue(value=value, verdict=name in verdicts) for name, value in values.items()}


register(PhantomAxisIso230Scenario())
