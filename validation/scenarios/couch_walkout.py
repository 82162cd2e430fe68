"""Blind scenario for C3 (couch-rotation-walkout): a displaced (and, when the simulator offers it, tilted)
isocentric rotation axis, yaw scale and play, couch scatter and tracker noise.

Truths: the axis line is ``d + s·n`` (d = (dx, dy, 0) the walkout, n the axis direction: vertical, or
tilted toward +X/+Y); ``axis_x``/``axis_y`` are where it crosses the isocentre height (z = 0); ``walkout``
is the distance of the isocentre from that line (TG-142 "couch rotation isocenter").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform, signed_uniform
from validation.scenarios import register
from validation.scenarios.couch_truth import apply_couch


class CouchWalkoutScenario(Scenario):
    sequence = "couch-rotation-walkout"
    params: ClassVar[Mapping[str, Any]] = {
        "profile": "tg142-annual-guarded"
    }  # the rule that can promise no false accept

    def draw(self, rng: np.random.Generator) -> Injection:
        radius = magnitude_uniform(rng, 2.0)  # 0 … 2× the 1 mm limit
        direction = float(rng.uniform(-math.pi, math.pi))
        inj: Injection = {
            "walkout_x_mm": radius * math.cos(direction),
            "walkout_y_mm": radius * math.sin(direction),
            "scale_W": signed_uniform(rng, 0.05),
            "backlash_W": magnitude_uniform(rng, 0.2),
            "true_noise_mm": magnitude_uniform(rng, 0.2),
            "true_noise_deg": magnitude_uniform(rng, 0.05),
            "readback_noise_deg": magnitude_uniform(rng, 0.002),
            "marker_noise_rms_mm": float(rng.uniform(0.03, 0.3)),
        }
        inj["axis_tilt_x_deg"] = signed_uniform(rng, 1.0)
        inj["axis_tilt_y_deg"] = signed_uniform(rng, 1.0)
        return inj

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        apply_couch(raw_rig, injection)

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        d = np.array([injection["walkout_x_mm"], injection["walkout_y_mm"], 0.0])
        tx, ty = (math.radians(injection.get(k, 0.0)) for k in ("axis_tilt_x_deg", "axis_tilt_y_deg"))
        n = np.array(
            [math.sin(tx), math.sin(ty), math.sqrt(max(0.0, 1 - math.sin(tx) ** 2 - math.sin(ty) ** 2))]
        )
        at_iso_height = d - (d[2] / n[2]) * n
        walkout = float(np.linalg.norm(d - (d @ n) * n))
        return {
            "walkout": TruthValue(value=walkout),
            "axis_x": TruthValue(value=float(at_iso_height[0]), verdict=False),
            "axis_y": TruthValue(value=float(at_iso_height[1]), verdict=False),
            "axis_tilt_xz": TruthValue(value=math.degrees(math.atan2(n[0], n[2])), verdict=False),
            "axis_tilt_yz": TruthValue(value=math.degrees(math.atan2(n[1], n[2])), verdict=False),
        }


register(CouchWalkoutScenario())
