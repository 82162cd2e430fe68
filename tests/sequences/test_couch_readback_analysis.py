"""Couch readback analysis and the couch part of the safety envelope, without hardware."""

from __future__ import annotations

import pytest

from controller.engine import dry_run
from controller.errors import PreflightError
from controller.interlocks import SafetyEnvelope
from controller.messages import MoveCouch
from controller.results import Outcome
from drivers.errors import LimitViolation
from drivers.roles.couch import CouchSetpoint
from sequences.couch_pose_readback import CouchPoseReadback, CouchReadbackParams, analyze_couch_readback


def rows(offset_mm: float = 0.0, offset_deg: float = 0.0) -> list[dict[str, float]]:
    out = []
    for i, lateral in enumerate((0.0, 10.0, -10.0)):
        cmd = CouchSetpoint(lateral_mm=lateral, pitch_deg=1.0).as_dict()
        rb = dict(cmd, lateral_mm=lateral + offset_mm, pitch_deg=1.0 + offset_deg)
        out.append(
            {
                "repeat": 0,
                "pose": i,
                **{f"cmd_{k}": v for k, v in cmd.items()},
                **{f"rb_{k}": v for k, v in rb.items()},
            }
        )
    return out


def test_exact_readback_passes_and_offsets_are_measured():
    result = analyze_couch_readback(CouchReadbackParams(), rows())
    assert result.outcome is Outcome.PASS
    result = analyze_couch_readback(CouchReadbackParams(profile="tg142-monthly-srs"), rows(1.3, 0.2))
    verdicts = {v.metric: v for v in result.verdicts}
    assert verdicts["Δt"].measured.value == pytest.approx(1.3) and verdicts["Δt"].outcome is Outcome.FAIL
    assert verdicts["Δθ"].measured.value == pytest.approx(0.2) and verdicts["Δθ"].outcome is Outcome.PASS
    assert "lateral_mm" in verdicts["Δt"].description and "pitch_deg" in verdicts["Δθ"].description


def _envelope() -> SafetyEnvelope:
    envelope = SafetyEnvelope()
    limits = {a: (-20.0, 20.0) for a in ("lateral_mm", "longitudinal_mm", "vertical_mm")}
    limits.update({a: (-3.0, 3.0) for a in ("couch_rotation_deg", "pitch_deg", "roll_deg")})
    envelope.set_couch_limits("couch", limits, "hexapod TMN/TMX")
    envelope.set_couch_limits("couch", {"pitch_deg": (-2.0, 2.0)}, "site")
    return envelope


def test_couch_pose_outside_site_limits_is_refused_naming_axis_and_source():
    with pytest.raises(LimitViolation, match=r"pitch_deg \(hexapod TMN/TMX ∩ site\) 2.5 deg .* by 0.5 deg"):
        _envelope().check(MoveCouch("couch", CouchSetpoint(pitch_deg=2.5)))


def test_couch_plan_is_dry_run_before_motion():
    sequence = CouchPoseReadback()
    bad = CouchReadbackParams(poses=[{"lateral_mm": 5.0}, {"roll_deg": 4.0}], repeats=1)
    with pytest.raises(PreflightError, match="roll_deg"):
        dry_run(sequence.plan(bad, context=None), _envelope())  # type: ignore[arg-type]
    good = CouchReadbackParams(poses=[{"lateral_mm": 5.0}], repeats=2, dwell_s=0)
    assert len(dry_run(sequence.plan(good, context=None), _envelope())) == 1 + 2 * 3 + 1  # type: ignore[arg-type]


def test_path_check_sees_previous_and_next_target():
    envelope = _envelope()
    seen = []
    envelope.add_couch_path_check(lambda device, start, end: seen.append((start, end)))
    envelope.check(MoveCouch("couch", CouchSetpoint(lateral_mm=1.0)))
    envelope.check(MoveCouch("couch", CouchSetpoint(lateral_mm=2.0)))
    assert seen == [
        (None, CouchSetpoint(lateral_mm=1.0)),
        (CouchSetpoint(lateral_mm=1.0), CouchSetpoint(lateral_mm=2.0)),
    ]
