"""Blind test of tracker-registration: misplaced fiducials, tracker noise and frame dropouts.

Injected per rig:

* where each registration tool really is (``simulation.trackers.tracker.tools.reg_i.pose``) against
  where the rig file declares it (``tracker_registration.points_mm``): a displacement pattern (one fiducial
  mostly, the others a little) scaled so the true residual is uniform in [0, 2 × the 0.35 mm limit],
  exactly 0 in 15 % of rigs;
* the tracker's marker noise (3-D RMS per marker, 0.02–0.30 mm) and its per-frame dropout probability.

Truth model: the registration residual is a property of the geometry alone — the RMS distance of the
declared points from the TRUE tool origins after the best rigid fit. It is computed here with a Kabsch fit
of our own. Tracker noise is not part of the measurand (it is the measurement's error), so its truth is
well defined at any noise level; the sequence's uncertainty has to cover the noise-driven bias of the RMS
of a fit residual (large when the truth is 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, _default_rig_data, magnitude_uniform
from validation.scenarios import register

LIMIT_MM = 0.35
TOOLS = ("reg_1", "reg_2", "reg_3", "reg_4")
AXES = ("x", "y", "z")


def _declared(raw_rig: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    rig = raw_rig if raw_rig is not None else _default_rig_data()
    points = rig["tracker_registration"]["points_mm"]
    return {name: np.asarray(points[name], dtype=float) for name in TOOLS}


def _residuals(declared: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Per-point residual vectors of the best rigid fit of ``declared`` onto ``actual`` (Kabsch)."""
    a0, b0 = declared - declared.mean(axis=0), actual - actual.mean(axis=0)
    u, _, vt = np.linalg.svd(a0.T @ b0)
    d = 1.0 if np.linalg.det(vt.T @ u.T) >= 0 else -1.0
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    residual: np.ndarray = a0 @ rotation.T - b0
    return residual


class TrackerRegistrationScenario(Scenario):
    sequence = "tracker-registration"

    def draw(self, rng: np.random.Generator) -> Injection:
        declared = np.array(list(_declared().values()))
        target = magnitude_uniform(rng, 2.0 * LIMIT_MM)
        pattern = rng.normal(0.0, 0.15, size=(len(TOOLS), 3))
        pattern[rng.integers(len(TOOLS))] += rng.normal(0.0, 1.0, size=3)  # the misplaced fiducial
        rms = float(np.sqrt(np.mean(np.sum(_residuals(declared, declared + pattern) ** 2, axis=1))))
        displacement = pattern * (target / rms if rms > 0 else 0.0)
        injection: Injection = {
            f"d{axis}_{tool}_mm": float(displacement[i, j])
            for i, tool in enumerate(TOOLS)
            for j, axis in enumerate(AXES)
        }
        injection["marker_noise_rms_mm"] = float(rng.uniform(0.02, 0.30))
        injection["dropout_probability"] = float(rng.choice([0.0, rng.uniform(0.0, 0.2)]))
        return injection

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        tracker = raw_rig["simulation"]["trackers"]["tracker"]
        tracker["marker_noise_rms_mm"] = injection["marker_noise_rms_mm"]
        tracker["dropout_probability"] = injection["dropout_probability"]
        for tool, declared in _declared(raw_rig).items():
            actual = declared + np.array([injection[f"d{axis}_{tool}_mm"] for axis in AXES])
            tracker["tools"][tool]["pose"]["translation_mm"] = [float(v) for v in actual]

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        declared = np.array(list(_declared().values()))
        displacement = np.array([[injection[f"d{axis}_{tool}_mm"] for axis in AXES] for tool in TOOLS])
        distances = np.linalg.norm(_residuals(declared, declared + displacement), axis=1)
        return {
            "residual": TruthValue(value=float(np.sqrt(np.mean(distances**2)))),
            "max_residual": TruthValue(value=float(distances.max()), verdict=False),
        }


register(TrackerRegistrationScenario())
