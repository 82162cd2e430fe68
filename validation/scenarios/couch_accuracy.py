"""Blind scenario for C1 + C2 (couch-translation-accuracy): scale, squareness, backlash, couch scatter.

Truths (model: ``validation.scenarios.couch_truth``, the plan's visit order replayed through it):

* ``ΔX``/``ΔY``/``ΔZ``: the largest 3-D *systematic* deviation (mean over repeats, the couch's random
  scatter excluded) of the table-top point from its commanded displacement, per axis's offsets;
* ``Δindicator``: the same over all axes (the simulated readback is the commanded pose);
* ``R95``: the population 95th percentile of the 3-D distance of a reference visit's true position from
  the mean — the backlash states of the planned reference visits mixed with the couch's Gaussian scatter
  (Monte Carlo, fixed seed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register
from validation.scenarios.couch_truth import CouchRun, apply_couch, errors_from, point, setpoint

OFFSETS = {
    "lateral_mm": [5.0, -5.0, 10.0, -10.0, 20.0, -20.0],
    "longitudinal_mm": [5.0, -5.0, 10.0, -10.0, 20.0, -20.0],
    "vertical_mm": [5.0, -5.0, 10.0, -10.0],
}
LABEL = {"lateral_mm": "X", "longitudinal_mm": "Y", "vertical_mm": "Z"}
REPEATS = 3




class CouchAccuracyScenario(Scenario):
    sequence = "couch-translation-accuracy"

    def draw(self, rng: np.random.Generator) -> Injection:
        inj: Injection = {}
        for a in "XYZ":
            inj[f"scale_{a}"] = signed_uniform(rng, 0.15)  # 20 mm × 0.1 = the 2 mm limit
            inj[f"backlash_{a}"] = magnitude_uniform(rng, 1.5)
        for key in ("squareness_xy_deg", "squareness_xz_deg", "squareness_yz_deg"):
            inj[key] = signed_uniform(rng, 4.0)
        inj["true_noise_mm"] = magnitude_uniform(rng, 1.4)  # R95 = 2.8 σ: 0 … 2× the 2 mm limit
        inj["readback_noise_mm"] = magnitude_uniform(rng, 0.005)
        inj["marker_noise_rms_mm"] = float(rng.uniform(0.03, 0.3))
        return inj

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        apply_couch(raw_rig, injection)

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        errors = errors_from(injection)
        run = CouchRun(errors)
        run.home()
        reference = setpoint()
        refs = [point(run.move(reference))]
        groups: dict[tuple[str, float], list[np.ndarray]] = {}
        for _ in range(REPEATS):
            for axis, offsets in OFFSETS.items():
                for offset in offsets:
                    target = setpoint(**{axis: offset})
                    moved = point(run.move(target))
                    command = np.array(
                        [target["lateral_mm"], target["longitudinal_mm"], target["vertical_mm"]]
                    )
                    groups.setdefault((axis, offset), []).append(moved - command)
                    refs.append(point(run.move(reference)))
        ref = np.array(refs)
        zero = ref.mean(axis=0)
        worst = {axis: 0.0 for axis in OFFSETS}
        for (axis, _), values in groups.items():
            worst[axis] = max(worst[axis], float(np.linalg.norm(np.mean(values, axis=0) - zero)))
        truth = {f"Δ{LABEL[a]}": TruthValue(value=v) for a, v in worst.items()}
        truth["Δindicator"] = TruthValue(value=max(worst.values()))
        truth["R95"] = TruthValue(value=_r95(ref - zero, errors.squareness(), injection["true_noise_mm"]))
        return truth


def _r95(states: np.ndarray, directions: np.ndarray, sigma: float, draws: int = 4000) -> float:
    """P95 of |state + M·n|, n ~ N(0, σ² I), over equally likely states (Monte Carlo, fixed seed)."""
    if sigma == 0:
        return float(np.percentile(np.linalg.norm(states, axis=1), 95))
    rng = np.random.default_rng(95)
    noise = rng.standard_normal((draws, 3)) * sigma @ directions.T
    distances = np.linalg.norm(states[:, None, :] + noise[None, :, :], axis=2)
    return float(np.quantile(distances.reshape(-1), 0.95))


register(CouchAccuracyScenario())
