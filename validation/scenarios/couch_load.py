"""Blind scenario for C5 + C6 (couch-load-positioning): load sag (constant and growing with extension),
load tilt when the simulator offers it, translation scale, squareness and play, couch scatter, tracker noise.

Truths (``couch_truth`` model, the plan's visits replayed; the couch's random scatter is not part of any):

* ``sag``: the largest mean-over-repeats drop of the table-top point at a grid pose, loaded minus the first
  case; ``sag_mean_<m>kg`` the grid mean per case; ``sag_coefficient`` the least-squares slope through the
  first case of those means (µm/kg);
* ``tilt``: the largest change of IEC pitch or roll under load at a pose;
* ``E95@<m>kg``: the 95th percentile (linear interpolation, as the sequence computes it) over the grid of
  the 3-D systematic error per pose |mean true − commanded displacement|, from the first case's reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geometry import decompose_table_top_rotation
from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register
from validation.scenarios.couch_truth import CouchRun, apply_couch, errors_from, point, setpoint

PAYLOADS = (0.0, 80.0, 135.0)
GRID = [
    setpoint(),
    setpoint(lateral_mm=10.0),
    setpoint(lateral_mm=-10.0),
    setpoint(longitudinal_mm=20.0),
    setpoint(longitudinal_mm=-20.0),
    setpoint(vertical_mm=10.0),
    setpoint(vertical_mm=-10.0),
    setpoint(lateral_mm=10.0, longitudinal_mm=20.0, vertical_mm=-10.0),
    setpoint(lateral_mm=-10.0, longitudinal_mm=-20.0, vertical_mm=10.0),
]
REPEATS = 2




class CouchLoadScenario(Scenario):
    sequence = "couch-load-positioning"

    def draw(self, rng: np.random.Generator) -> Injection:
        inj: Injection = {
            "sag_um_per_kg": magnitude_uniform(rng, 20.0),  # 135 kg × 15 µm/kg = the 2 mm limit
            "sag_um_per_kg_m": magnitude_uniform(rng, 15.0),
            "sag_lever_arm_mm": float(rng.uniform(200.0, 1000.0)),
        }
        for a in "XYZ":
            inj[f"scale_{a}"] = signed_uniform(rng, 0.06)
            inj[f"backlash_{a}"] = magnitude_uniform(rng, 0.3)
        for key in ("squareness_xy_deg", "squareness_xz_deg", "squareness_yz_deg"):
            inj[key] = signed_uniform(rng, 1.5)
        inj["true_noise_mm"] = magnitude_uniform(rng, 0.3)
        inj["true_noise_deg"] = magnitude_uniform(rng, 0.1)
        inj["readback_noise_mm"] = magnitude_uniform(rng, 0.005)
        inj["marker_noise_rms_mm"] = float(rng.uniform(0.03, 0.3))
        inj["load_tilt_x_deg_per_kg"] = signed_uniform(rng, 0.015)  # 135 kg: 0 … 2°
        inj["load_tilt_y_deg_per_kg"] = signed_uniform(rng, 0.015)
        return inj

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        apply_couch(raw_rig, injection)

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        run = CouchRun(errors_from(injection))
        run.home()
        cells: dict[tuple[int, int], list[np.ndarray]] = {}
        for case, mass in enumerate(PAYLOADS):
            run.move(GRID[0])
            run.payload_kg = mass
            for _ in range(REPEATS):
                for index, sp in enumerate(GRID):
                    cells.setdefault((case, index), []).append(run.move(sp))
        zero = np.mean([point(p) for p in cells[(0, 0)]], axis=0)
        truth: dict[str, TruthValue] = {}
        sags, tilts, mean_sag = [], [], []
        for case, mass in enumerate(PAYLOADS):
            errors = []
            for index, sp in enumerate(GRID):
                command = np.array([sp["lateral_mm"], sp["longitudinal_mm"], sp["vertical_mm"]])
                mean = np.mean([point(p) for p in cells[(case, index)]], axis=0)
                errors.append(float(np.linalg.norm(mean - zero - command)))
            truth[f"E95@{mass:g}kg"] = TruthValue(value=float(np.percentile(errors, 95)))
            if case == 0:
                continue
            case_sags = []
            for index in range(len(GRID)):
                base = np.mean([point(p)[2] for p in cells[(0, index)]])
                loaded = np.mean([point(p)[2] for p in cells[(case, index)]])
                case_sags.append(float(base - loaded))
                change = _mean_rotation(cells[(case, index)]) @ _mean_rotation(cells[(0, index)]).T
                _, d_pitch, d_roll = decompose_table_top_rotation(change)
                tilts.append(max(abs(d_pitch), abs(d_roll)))
            sags += case_sags
            mean_sag.append(float(np.mean(case_sags)))
            truth[f"sag_mean_{mass:g}kg"] = TruthValue(value=mean_sag[-1], verdict=False)
        dm = np.array(PAYLOADS[1:]) - PAYLOADS[0]
        truth["sag"] = TruthValue(value=max(sags))
        truth["tilt"] = TruthValue(value=max(tilts))
        truth["sag_coefficient"] = TruthValue(
            value=1000.0 * float(dm @ np.array(mean_sag) / (dm @ dm)), verdict=False
        )
        return truth


def _mean_rotation(poses: list[np.ndarray]) -> np.ndarray:
    u, _, vt = np.linalg.svd(np.mean([p[:3, :3] for p in poses], axis=0))
    rotation: np.ndarray = u @ vt
    return rotation


register(CouchLoadScenario())
