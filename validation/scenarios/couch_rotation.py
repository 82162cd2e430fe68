"""Blind scenario for C4 (couch-rotation-accuracy): rotation scale and play, translation scale (it spoils
the isocentric compensation), a displaced yaw axis, couch scatter and tracker noise.

The compensated point is put 108 mm from the couch tool (``iso_point_mm`` = (40, 100, 0) mm in t), so the
lever arm tool → point and the translation errors of the compensation are part of the test; pivot offsets
are not injected (the driver refuses a pivot that differs from its mounting).

Truths (``couch_truth`` model, the plan's visits replayed): per pose the *systematic* value (mean over
repeats; the couch's random scatter is not part of it) of tracker-minus-commanded yaw, pitch, roll
(decomposed in IEC order, relative to the mean reference orientation) and of the compensated point's
residual translation; ``Δyaw``/``Δpitch``/``Δroll``/``Δiso`` are the largest magnitudes over the poses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from geometry import decompose_table_top_rotation, wrap180
from geometry.rotations import rot_x, rot_y, rot_z
from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register
from validation.scenarios.couch_truth import (
    CouchRun,
    apply_couch,
    commanded_pose,
    errors_from,
    point,
    setpoint,
)

ISO_POINT = (40.0, 100.0, 0.0)
REPEATS = 2


def poses() -> list[tuple[float, float, float]]:
    """(yaw, pitch, roll) in the sequence's default order."""
    out = [(0.0, a, 0.0) for a in (0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0)]
    out += [(0.0, 0.0, a) for a in (0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0)]
    out += [
        (0.0, p, r) for p, r in ((1.0, 1.0), (-1.0, -1.0), (2.0, -2.0), (-2.0, 2.0), (2.5, 2.5), (-2.5, -2.5))
    ]
    out += [(y, 0.0, 0.0) for y in (1.0, -1.0, 2.0, -2.0, 3.0, -3.0)]
    out.append((2.0, 1.5, -1.5))
    return out


def compensated(yaw: float, pitch: float, roll: float) -> dict[str, float]:
    """Translations that keep ISO_POINT where it is at the zero pose: Rz·(T + Rx·Ry·p) = p."""
    p = np.array(ISO_POINT)
    t = rot_z(-yaw) @ p - rot_x(pitch) @ rot_y(roll) @ p
    return setpoint(
        couch_rotation_deg=yaw,
        pitch_deg=pitch,
        roll_deg=roll,
        lateral_mm=round(float(t[0]), 6),
        longitudinal_mm=round(float(t[1]), 6),
        vertical_mm=round(float(t[2]), 6),
    )


class CouchRotationScenario(Scenario):
    sequence = "couch-rotation-accuracy"
    params: ClassVar[Mapping[str, Any]] = {
        "iso_point_mm": ISO_POINT,
    }

    def draw(self, rng: np.random.Generator) -> Injection:
        inj: Injection = {}
        for a in "UVW":
            inj[f"scale_{a}"] = signed_uniform(rng, 0.45)  # 3° × 0.33 = the 1° limit
            inj[f"backlash_{a}"] = magnitude_uniform(rng, 0.5)
        for a in "XYZ":
            inj[f"scale_{a}"] = signed_uniform(rng, 0.3)  # compensation of ~5 mm: up to 1.5 mm
        radius = magnitude_uniform(rng, 2.0)
        angle = float(rng.uniform(-np.pi, np.pi))
        inj["walkout_x_mm"], inj["walkout_y_mm"] = (
            radius * float(np.cos(angle)),
            radius * float(np.sin(angle)),
        )
        inj["true_noise_mm"] = magnitude_uniform(rng, 0.3)
        inj["true_noise_deg"] = magnitude_uniform(rng, 0.2)
        inj["readback_noise_deg"] = magnitude_uniform(rng, 0.002)
        inj["marker_noise_rms_mm"] = float(rng.uniform(0.03, 0.3))
        return inj

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        apply_couch(raw_rig, injection)

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        run = CouchRun(errors_from(injection))
        run.home()
        ref_sp = setpoint()
        refs, visits = [], []
        for _ in range(REPEATS):
            refs.append(run.move(ref_sp))
            for index, (yaw, pitch, roll) in enumerate(poses()):
                sp = compensated(yaw, pitch, roll)
                visits.append((index, sp, run.move(sp)))
        u, _, vt = np.linalg.svd(np.mean([r[:3, :3] for r in refs], axis=0))
        ref_rotation = u @ vt
        ref_tool = np.mean([point(r) for r in refs], axis=0)
        lever = point(commanded_pose(ref_sp), ISO_POINT) - point(commanded_pose(ref_sp))
        iso_ref = ref_tool + lever
        angles: dict[int, list[np.ndarray]] = {}
        residual: dict[int, list[np.ndarray]] = {}
        for index, sp, pose in visits:
            delta = pose[:3, :3] @ ref_rotation.T
            measured = np.array(decompose_table_top_rotation(delta))
            commanded = np.array([sp["couch_rotation_deg"], sp["pitch_deg"], sp["roll_deg"]])
            angles.setdefault(index, []).append(np.vectorize(wrap180)(measured - commanded))
            iso = point(pose) + delta @ lever
            expected = point(commanded_pose(sp), ISO_POINT) - point(commanded_pose(ref_sp), ISO_POINT)
            residual.setdefault(index, []).append(iso - iso_ref - expected)
        mean_angles = np.array([np.mean(v, axis=0) for v in angles.values()])
        worst = np.max(np.abs(mean_angles), axis=0)
        iso = max(float(np.linalg.norm(np.mean(v, axis=0))) for v in residual.values())
        return {
            "Δyaw": TruthValue(value=float(worst[0])),
            "Δpitch": TruthValue(value=float(worst[1])),
            "Δroll": TruthValue(value=float(worst[2])),
            "Δiso": TruthValue(value=iso),
        }


register(CouchRotationScenario())
