"""Couch readback analysis and the couch part of the safety envelope, without hardware."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.engine import dry_run
from controller.errors import PreflightError
from controller.interlocks import SafetyEnvelope
from controller.messages import MoveCouch
from controller.results import Outcome
from drivers.errors import LimitViolation
from drivers.roles.couch import COUCH_AXES, CouchSetpoint
from sequences.couch_pose_readback import (
    CouchPoseReadback,
    CouchReadbackParams,
    analyze_couch_readback,
    max_noise_halfwidth,
    repeatability,
)
from sequences.uncertainty import max_abs_halfwidth


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


# -- uncertainty of the maxima and of the repeatability ---------------------------------------------------
def noisy_rows(
    rng: np.random.Generator, offsets: np.ndarray, sigma_mm: float, sigma_deg: float, repeats: int = 3
) -> list[dict[str, float]]:
    """Readings of len(offsets) poses: readback = commanded + offset[pose] + noise, per IEC axis."""
    out = []
    sigma = np.array([sigma_mm] * 3 + [sigma_deg] * 3)
    for repeat in range(repeats):
        for pose, offset in enumerate(offsets):
            cmd = CouchSetpoint(lateral_mm=float(pose)).as_dict()
            noise = rng.standard_normal(6) * sigma
            rb = {axis: cmd[axis] + offset[i] + noise[i] for i, axis in enumerate(COUCH_AXES)}
            out.append(
                {"repeat": repeat, "pose": pose, **{f"cmd_{k}": v for k, v in cmd.items()}}
                | {f"rb_{k}": v for k, v in rb.items()}
            )
    return out


def test_max_noise_halfwidth_matches_the_known_sigma_case_and_widens_for_few_dof():
    known = max_abs_halfwidth([0.01] * 42 * 3)
    assert max_noise_halfwidth([(42, 0.01, 10**6, 0.0)] * 3) == pytest.approx(known, rel=0.02)
    few = max_noise_halfwidth([(42, 0.01, 4, 0.0)] * 3)
    assert few > 1.15 * known  # σ from 4 dof: the quantile must allow for an underestimated σ
    assert max_noise_halfwidth([(42, 0.0, 0, 0.001)]) == pytest.approx(
        max_abs_halfwidth([0.001] * 42), rel=0.02
    )


def test_repeatability_is_pooled_within_poses_so_the_pose_offsets_do_not_enter():
    diff = np.array([1.0, 1.2, 5.0, 5.4, -3.0, -3.0])
    poses = np.array([0, 0, 1, 1, 2, 2])
    sd, dof = repeatability(diff, poses)
    assert sd == pytest.approx(math.sqrt((0.02 + 0.08 + 0.0) / 3))
    assert dof == 1  # Welch–Satterthwaite: (0.1)² / (0.02² + 0.08²) = 1.47, one pose dominates
    alike = np.array([0.0, 1.0, 5.0, 6.0, 2.0, 3.0])  # every pose scatters alike: N − P
    assert repeatability(alike, poses) == (pytest.approx(math.sqrt(0.5)), 3)
    assert repeatability(diff[:3], np.array([0, 1, 2])) == (0.0, 0)


def test_the_max_deviation_covers_its_noise_free_truth_at_95_percent_even_at_zero():
    """The plain maximum of noisy readings is biased upward, most when the truth is 0: U must cover it."""
    rng = np.random.default_rng(7)
    covered = {"Δt": 0, "Δθ": 0, "sd_lateral_mm": 0}
    trials = 200
    for trial in range(trials):
        offsets = np.zeros((14, 6)) if trial % 2 else rng.normal(0, 0.3, (14, 6))
        truth = {
            "Δt": np.abs(offsets[:, :3]).max(),
            "Δθ": np.abs(offsets[:, 3:]).max(),
            "sd_lateral_mm": 0.05,
        }
        result = analyze_couch_readback(CouchReadbackParams(), noisy_rows(rng, offsets, 0.05, 0.02))
        measured = {v.metric: v.measured for v in result.verdicts} | result.informative
        for metric in covered:
            m = measured[metric]
            covered[metric] += abs(m.value - truth[metric]) <= m.expanded_uncertainty
    for metric, hits in covered.items():
        assert hits / trials >= 0.92, (metric, hits / trials)
    # ... and not by being absurdly wide: U stays below 5σ of the noise (Δ; 3.4σ with σ known exactly, the
    # rest is the Welch–Satterthwaite dof of a σ estimated from 3 repeats) or 0.8·SD (sd).
    assert result.verdicts[0].measured.expanded_uncertainty < 5 * 0.05
    assert result.informative["sd_lateral_mm"].expanded_uncertainty < 0.8 * 0.05


def test_notes_say_what_a_readback_cannot_show():
    result = analyze_couch_readback(CouchReadbackParams(), rows())
    text = " ".join(result.notes)
    assert "strut encoders" in text and "C1–C6" in text and "walkout" in text and "JCGM 101" in text
