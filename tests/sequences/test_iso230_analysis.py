"""ISO 230-2 analysis on synthetic data with known backlash, scale error and scatter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.results import Outcome
from sequences.phantom_axis_iso230 import (
    Iso230Params,
    analyze_iso230,
    default_targets,
    extreme_value_factors,
)
from sequences.uncertainty import t_coverage_factor


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
        assert "±" in text and "limit" in text and "ISO 230-2:2014" in text and "acceptance" in text


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


# --- extreme statistics: U of a maximum over noisy targets must cover its truth, also at zero truth ---------


def iso_rows(means_up, means_down, sigma, targets, runs=5, seed=0):
    """Readings with known population means per target and direction and one known SD."""
    rng = np.random.default_rng(seed)
    rows = []
    for run in range(runs):
        for direction, means in (("up", means_up), ("down", means_down)):
            order = range(len(targets)) if direction == "up" else reversed(range(len(targets)))
            for i in order:
                t = targets[i]
                rows.append(
                    {
                        "run": run,
                        "direction": direction,
                        "target_mm": t,
                        "position_mm": t,
                        "encoder_mm": t + means[i] + rng.normal(0, sigma),
                        "clock_s": 0.0,
                    }
                )
    return rows


def coverage(metric: str, truth: float, means_up, means_down, sigma: float, seeds: int = 300) -> float:
    targets = [2.0 + 49.0 * i for i in range(len(means_up))]
    hits = 0
    for seed in range(seeds):
        result = analyze_iso230(Iso230Params(), iso_rows(means_up, means_down, sigma, targets, seed=seed))
        found = {v.metric: v.measured for v in result.verdicts} | result.informative
        hits += abs(found[metric].value - truth) <= found[metric].expanded_uncertainty
    return hits / seeds


@pytest.mark.parametrize("backlash", [0.0, 0.05])
def test_b_u_covers_the_true_backlash_even_at_zero(backlash: float):
    sigma, m = 0.004, 7
    cov = coverage("B", backlash, [-backlash] * m, [0.0] * m, sigma)
    assert cov >= 0.93, cov


def test_r_and_a_u_cover_their_population_values_on_a_flat_axis():
    """A flat axis (all means equal) is where max(x̄ + 2s) − min(x̄ − 2s) and max Rᵢ are biased most."""
    sigma, m = 0.004, 7
    assert coverage("R", 4 * sigma, [0.0] * m, [0.0] * m, sigma) >= 0.93
    assert coverage("A", 4 * sigma, [0.0] * m, [0.0] * m, sigma) >= 0.93


def test_one_value_u_would_not_cover_b_at_zero_truth():
    """The statistic really is biased: the SD of a single reversal, ×2, misses zero truth far too often."""
    sigma, m, seeds = 0.004, 7, 200
    targets = [2.0 + 49.0 * i for i in range(m)]
    single = 2 * sigma * math.sqrt(2 / 5)
    misses = 0
    for seed in range(seeds):
        result = analyze_iso230(Iso230Params(), iso_rows([0.0] * m, [0.0] * m, sigma, targets, seed=seed))
        misses += {v.metric: v.measured for v in result.verdicts}["B"].value > single
    assert misses / seeds > 0.2


def test_extreme_value_factor_of_one_reversal_is_the_student_t_quantile():
    """One target, 5 runs each way: B̂ − B = (Z↑ − Z↓)σ/√5 over the pooled SD (8 dof) is √(2/5)·t₈."""
    factors = extreme_value_factors((5,), (5,))
    expected = math.sqrt(2 / 5) * t_coverage_factor(8)
    assert factors.reversal == pytest.approx(expected, rel=0.02)
    many = extreme_value_factors((5,) * 7, (5,) * 7)
    assert many.reversal > factors.reversal  # a max over more targets needs a wider interval


def test_mean_reversal_is_the_magnitude_of_the_iso_mean_and_covers_zero():
    sigma, m = 0.004, 7
    assert coverage("mean_reversal", 0.0, [0.0] * m, [0.0] * m, sigma) >= 0.93


def test_scale_error_coverage_uses_the_pooled_noise():
    sigma, m = 0.004, 7
    targets = [2.0 + 49.0 * i for i in range(m)]
    slope = 300e-6
    means = [slope * t for t in targets]
    assert coverage("scale_error", 300.0, means, means, sigma) >= 0.93


# --- default targets: irregular, so a lead-screw period that divides the nominal step is not aliased ------


def test_default_targets_are_irregular_cover_the_travel_and_are_deterministic():
    targets = default_targets(2.0, 298.0, 50.0)
    assert targets == default_targets(2.0, 298.0, 50.0)
    assert targets[0] == 2.0 and targets[-1] == 298.0 and len(targets) >= 5
    steps = np.diff(targets)
    assert np.all(steps > 0) and np.ptp(steps) > 10.0  # not a uniform grid
    assert len(default_targets(2.0, 148.0, 100.0)) == 5  # ISO 230-2 minimum of five targets


@pytest.mark.parametrize("lead_mm", [2.5, 5.0, 10.0, 12.5, 25.0, 50.0])
def test_default_targets_sample_a_periodic_error_whose_period_divides_the_step(lead_mm: float):
    targets = np.array(default_targets(2.0, 298.0, 50.0))
    sampled = np.sin(2 * np.pi * (targets - 0.0) / lead_mm)
    assert np.ptp(sampled) > 1.0  # at least half the periodic error's peak-to-peak is seen
    grid = 2.0 + 50.0 * np.arange(6)
    assert np.ptp(np.sin(2 * np.pi * grid / lead_mm)) < 1e-9  # the old grid saw a constant
