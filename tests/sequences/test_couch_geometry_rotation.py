"""C4 on a synthetic couch: rotation scale errors and a pitch/roll pivot error are recovered (blind draws)."""

from __future__ import annotations

import numpy as np
import pytest

from controller.results import Outcome
from drivers.roles.couch import CouchSetpoint
from sequences.couch_geometry import expected_point
from sequences.couch_rotation import CouchRotationAccuracy, CouchRotationParams, RotationPose
from tests.sequences.couch_world import (
    CouchErrors,
    SyntheticCouch,
    blind_draw,
    execute,
    recovered,
)

FAST = {"dwell_s": 0, "samples": 4, "registration_samples": 10}
TOOL = (0.0, 120.0, 0.0)  # a tool away from the compensated point: the lever arm is part of the test


def run(couch: SyntheticCouch, **changes):
    params = CouchRotationParams(**{**FAST, "tool_offset_mm": TOOL, **changes})
    sequence = CouchRotationAccuracy()
    return sequence.analyze(params, execute(sequence, params, couch)), params


def test_compensated_set_points_keep_the_point_where_it_was():
    params = CouchRotationParams(iso_point_mm=(0.0, 40.0, -60.0), reference={"vertical_mm": 60.0})
    target = expected_point(params.reference.setpoint().as_dict(), params.iso_point_mm)
    for pose in (RotationPose(pitch_deg=3.0), RotationPose(couch_rotation_deg=-2.0, roll_deg=2.5)):
        setpoint = params.setpoint(pose)
        assert expected_point(setpoint.as_dict(), params.iso_point_mm) == pytest.approx(target, abs=1e-5)
        assert (setpoint.pitch_deg, setpoint.roll_deg) == (pose.pitch_deg, pose.roll_deg)


def test_error_free_couch_passes_the_vendor_profile():
    rng, _ = blind_draw()
    result, _ = run(SyntheticCouch(CouchErrors(), rng, tool_offset_mm=TOOL), profile="vendor-pps", repeats=1)
    assert result.outcome is Outcome.PASS, [v.statement for v in result.verdicts]
    assert [v.metric for v in result.verdicts] == ["Δyaw", "Δpitch", "Δroll", "Δiso"]


def test_blind_rotation_scale_and_pivot_error_are_recovered():
    rng, draw = blind_draw()
    scale = {
        a: draw.choice((-1, 1)) * draw.uniform(0.02, 0.06)
        for a in ("couch_rotation_deg", "pitch_deg", "roll_deg")
    }
    pivot = tuple(draw.uniform(-25.0, 25.0) for _ in range(3))
    drawn = {"scale": scale, "pivot_error_mm": pivot}
    couch = SyntheticCouch(CouchErrors(scale=scale, pivot_error_mm=pivot), rng, tool_offset_mm=TOOL)
    result, params = run(couch)
    verdicts = {v.metric: v for v in result.verdicts}
    for axis, label in (("couch_rotation_deg", "yaw"), ("pitch_deg", "pitch"), ("roll_deg", "roll")):
        recovered(result.informative[f"scale_error_{label}"], 100 * scale[axis], drawn, f"scale {label} (%)")
        truth = max(abs(scale[axis] * getattr(pose, axis)) for pose in params.poses)
        # the U of a maximum is the quantile of the largest noise term: it covers at U, not 2U
        recovered(verdicts[f"Δ{label}"].measured, truth, drawn, f"max |Δ{label}|")
    iso = params.iso_point_mm
    start = couch.true_point(iso, CouchSetpoint())
    residuals = []
    for pose in params.poses:
        setpoint = params.setpoint(pose)
        moved = couch.true_point(iso, setpoint) - start
        residuals.append(float(np.linalg.norm(moved - (expected_point(setpoint.as_dict(), iso) - start))))
    # the same for the largest residual of the compensated point
    recovered(verdicts["Δiso"].measured, max(residuals), drawn, "max residual of the point")
