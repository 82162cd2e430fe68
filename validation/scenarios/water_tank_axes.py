"""Blind test of water-tank-axes (W2): tank axis misalignment, stage pitch error and backlash, tracker noise
and registration-phantom placement.

Injected per rig (``simulation.water_tanks.tank.axes.<a>.tilt_deg``, ``simulation.stages.<stage>.*``,
``simulation.trackers.tracker.*``):

* the six tilt angles of the three tank axes, in one of three modes: an ideal tank (15 %), a rigidly rotated
  tank (15 %: one rotation about one IEC axis, so the axes stay exactly orthogonal but are off level or off
  the beam axis), or six independent tilts (70 %, each ±0.25°, 0 in 15 %) — pairwise orthogonality reaches
  0.5° (limit 0.2°), level 0.25° (0.1°), beam axis 0.35° (0.19°);
* each stage's pitch error k (±1000 µm/m) and backlash (0–0.3 mm);
* the tracker's marker noise (0.02–0.3 mm 3-D RMS per marker);
* each registration fiducial's true position against its declared one (N(0, 0.05 mm) per coordinate: the
  rig file's stated placement uncertainty).

Truth model (our own geometry): a tank axis whose nominal direction is e_a, tilted by (α, β) toward the next
two IEC axes in cyclic order (X → Y, Z; Y → Z, X; Z → X, Y), moves the carriage along
d = normalise(e_a + tan α e_b + tan β e_c) in the true room frame; the carriage's travel along d per
commanded mm is 1 + k. Then, with every angle in degrees:

* orthogonality_ab = ∠(d_a, d_b) − 90°, orthogonality = max |orthogonality_ab|;
* level = max over x, y of |asin(d_z-component)|; beam_axis = ∠(d_z, Zf);
* angle_from_declared_a = ∠(d_a, e_a); scale_error_a = k_a.

Backlash, tracker noise and fiducial placement are not part of any measurand: they are the measurement's
errors, which the stated U has to cover.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register

AXES = {"x": ("phantom_x", 0), "y": ("phantom_y", 1), "z": ("phantom_z", 2)}
#: The two IEC axes each tank axis tilts toward, in order (the tilt knob's definition).
TOWARD = {0: (1, 2), 1: (2, 0), 2: (0, 1)}
FIDUCIALS = ("reg_1", "reg_2", "reg_3", "reg_4")
TILT_DEG = 0.25
ROTATION_DEG = 0.3


def direction(axis: int, alpha_deg: float, beta_deg: float) -> np.ndarray:
    vector = np.zeros(3)
    vector[axis] = 1.0
    b, c = TOWARD[axis]
    vector[b] += math.tan(math.radians(alpha_deg))
    vector[c] += math.tan(math.radians(beta_deg))
    return vector / np.linalg.norm(vector)


def angle_deg(u: np.ndarray, v: np.ndarray) -> float:
    return math.degrees(math.atan2(float(np.linalg.norm(np.cross(u, v))), float(u @ v)))


def _tilts(rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    mode = rng.random()
    if mode < 0.15:
        return {label: (0.0, 0.0) for label in AXES}
    if mode < 0.30:
        # a rigid rotation γ about IEC axis r: the axis after r (cyclic) tilts toward the one after it by γ,
        # and that one toward the first by −γ (tan-exact, so the pair stays exactly orthogonal)
        gamma = signed_uniform(rng, ROTATION_DEG, p_zero=0.0)
        r = int(rng.integers(3))
        first, second = (r + 1) % 3, (r + 2) % 3
        tilts = {label: [0.0, 0.0] for label in AXES}
        names = {index: label for label, (_, index) in AXES.items()}
        tilts[names[first]][TOWARD[first].index(second)] = gamma
        tilts[names[second]][TOWARD[second].index(first)] = -gamma
        return {label: (a, b) for label, (a, b) in tilts.items()}
    return {label: (signed_uniform(rng, TILT_DEG), signed_uniform(rng, TILT_DEG)) for label in AXES}


class WaterTankAxesScenario(Scenario):
    sequence = "water-tank-axes"

    def draw(self, rng: np.random.Generator) -> Injection:
        injection: Injection = {}
        for label, (alpha, beta) in _tilts(rng).items():
            injection[f"tilt_{label}_a_deg"] = alpha
            injection[f"tilt_{label}_b_deg"] = beta
        for label in AXES:
            injection[f"pitch_{label}_um_per_m"] = signed_uniform(rng, 1000.0)
            injection[f"backlash_{label}_mm"] = magnitude_uniform(rng, 0.3)
        injection["marker_noise_rms_mm"] = float(rng.uniform(0.02, 0.3))
        for name in FIDUCIALS:
            for coordinate in "xyz":
                injection[f"placement_{name}_{coordinate}_mm"] = float(rng.normal(0.0, 0.05))
        return injection

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        sim = raw_rig["simulation"]
        tank = sim["water_tanks"]["tank"]["axes"]
        for label, (stage, _) in AXES.items():
            tank[label]["tilt_deg"] = [injection[f"tilt_{label}_a_deg"], injection[f"tilt_{label}_b_deg"]]
            sim["stages"][stage]["pitch_error_um_per_m"] = injection[f"pitch_{label}_um_per_m"]
            sim["stages"][stage]["backlash_mm"] = injection[f"backlash_{label}_mm"]
        tracker = sim["trackers"]["tracker"]
        tracker["marker_noise_rms_mm"] = injection["marker_noise_rms_mm"]
        declared = raw_rig["tracker_registration"]["points_mm"]
        for name in FIDUCIALS:
            offset = [injection[f"placement_{name}_{c}_mm"] for c in "xyz"]
            tracker["tools"][name]["pose"]["translation_mm"] = [
                float(p + d) for p, d in zip(declared[name], offset, strict=True)
            ]

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        d = {
            label: direction(index, injection[f"tilt_{label}_a_deg"], injection[f"tilt_{label}_b_deg"])
            for label, (_, index) in AXES.items()
        }
        nominal = {label: np.eye(3)[index] for label, (_, index) in AXES.items()}
        values: dict[str, tuple[float, bool]] = {}
        pairs = {f"{a}{b}": angle_deg(d[a], d[b]) - 90.0 for a, b in (("x", "y"), ("x", "z"), ("y", "z"))}
        for name, value in pairs.items():
            values[f"orthogonality_{name}"] = (value, False)
        values["orthogonality"] = (max(abs(v) for v in pairs.values()), True)
        values["level"] = (max(abs(math.degrees(math.asin(d[h][2]))) for h in ("x", "y")), True)
        values["beam_axis"] = (angle_deg(d["z"], np.array([0.0, 0.0, 1.0])), True)
        for label in AXES:
            values[f"angle_from_declared_{label}"] = (angle_deg(d[label], nominal[label]), False)
            values[f"scale_error_{label}"] = (injection[f"pitch_{label}_um_per_m"], False)
        return {name: TruthValue(value=value, verdict=verdict) for name, (value, verdict) in values.items()}


register(WaterTankAxesScenario())
