"""ISO 230-2 analysis on synthetic data with known backlash, scale error and scatter."""

from __future__ import annotations

import numpy as np
import pytest

from controller.results import Outcome
from sequences.phantom_axis_iso230 import Iso230Params, analyze_iso230


def synthetic(backlash: float, scale_um_per_m: float, noise: float, runs: int = 5, seed: int = 1):
    rng = np.random.default_rng(seed)
    targets = [2.0 + 50.0 * i for i in range(6)]
    rows = []
    for run in range(runs):
        for direction, sign in (("up", -1), ("down", 1)):
            for t in targets if direction == "up" else targets[::-1]:
                encoder = t * (1 + scale_um_per_m * 1e-6) + sign * backlash / 2 + rng.normal(0, noise)
                rows.append(
                    {
                        "run": run,
                        "direction": direction,
                        "target_mm": t,
                        "position_mm": t,
                        "encoder_mm": encoder,
                        "clock_s": 0.0,
                    }
                )
    return rows


def test_exact_data_gives_exact_metrics():
    result = analyze_iso230(Iso230Params(), synthetic(0.1, 200.0, 0.0))
    verdicts = {v.metric: v for v in result.verdicts}
    assert verdicts["B"].measured.value == pytest.approx(0.1, abs=1e-12)
    assert verdicts["R"].measured.value == pytest.approx(0.1, abs=1e-12)  # no scatter: R = |B|
    # A spans the scale error over 250 mm plus the reversal: 0.05 mm + 0.1 mm
    assert verdicts["A"].measured.value == pytest.approx(0.25 * 200e-3 + 0.1, abs=1e-9)
    assert result.informative["scale_error"].value == pytest.approx(200.0, abs=1e-6)
    assert result.informative["mean_reversal"].value == pytest.approx(0.1, abs=1e-12)


def test_noisy_data_recovers_known_errors_within_stated_uncertainty():
    result = analyze_iso230(Iso230Params(), synthetic(0.08, -150.0, 0.003, seed=7))
    mean_reversal = result.informative["mean_reversal"]
    assert abs(mean_reversal.value - 0.08) <= mean_reversal.expanded_uncertainty
    scale = result.informative["scale_error"]
    assert abs(scale.value - (-150.0)) <= scale.expanded_uncertainty
    assert all(v.measured.standard_uncertainty > 0 for v in result.verdicts)


def test_large_backlash_fails_and_small_passes():
    assert analyze_iso230(Iso230Params(), synthetic(0.35, 0.0, 0.002)).outcome is Outcome.FAIL
    assert analyze_iso230(Iso230Params(), synthetic(0.02, 30.0, 0.002)).outcome is Outcome.PASS


def test_every_verdict_states_value_uncertainty_limit_source_and_rule():
    result = analyze_iso230(Iso230Params(), synthetic(0.05, 10.0, 0.002))
    for verdict in result.verdicts:
        text = verdict.statement
        assert "±" in text and "limit" in text and "qa-tests.md W1" in text and "acceptance" in text


def test_params_reject_unknown_profile_and_single_run():
    with pytest.raises(ValueError, match="profile 'strict' is unknown"):
        Iso230Params(profile="strict")
    with pytest.raises(ValueError, match="greater than or equal to 2"):
        Iso230Params(runs=1)


def test_missing_encoder_is_a_clear_error():
    rows = synthetic(0.0, 0.0, 0.0)
    rows[0]["encoder_mm"] = None
    with pytest.raises(ValueError, match="no encoder reading"):
        analyze_iso230(Iso230Params(), rows)
