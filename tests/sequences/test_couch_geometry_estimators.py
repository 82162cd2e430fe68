"""The extreme-value estimators of the couch sequences: their U covers the truth, worst at a true zero.

A maximum (or percentile) of noisy values is biased upward; the campaign found 6–20 % coverage when the U
of one value was attached to it. These checks draw many synthetic data sets at the worst case (all true
values zero) and at a mixed case, and count how often |estimate − truth| ≤ U.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sequences.couch_accuracy import reproducibility_p95
from sequences.couch_geometry import max_norm_halfwidth, pooled_scatter


def _coverage_of_max_norm(truth: np.ndarray, sigma: np.ndarray, trials: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    halfwidth = max_norm_halfwidth(sigma, dim=truth.shape[1])
    true_max = float(np.max(np.linalg.norm(truth, axis=1)))
    hits = 0
    for _ in range(trials):
        noisy = truth + rng.standard_normal(truth.shape) * sigma
        hits += abs(float(np.max(np.linalg.norm(noisy, axis=1))) - true_max) <= halfwidth
    return hits / trials


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_max_norm_halfwidth_covers_a_true_zero_at_the_stated_probability(dim: int) -> None:
    sigma = np.full((18, dim), 0.1)
    coverage = _coverage_of_max_norm(np.zeros((18, dim)), sigma, 4000, seed=dim)
    assert 0.94 <= coverage <= 0.97, coverage  # exactly 95.45 % at zero, the worst case


def test_max_norm_halfwidth_is_valid_for_anisotropic_noise_and_any_truth() -> None:
    sigma = np.tile([0.05, 0.05, 0.15], (12, 1))  # a tool origin noisier out of its plane
    truth = np.random.default_rng(1).uniform(-1, 1, (12, 3))
    assert _coverage_of_max_norm(truth, sigma, 3000, seed=2) >= 0.95
    assert _coverage_of_max_norm(np.zeros((12, 3)), sigma, 3000, seed=3) >= 0.94


def test_max_norm_halfwidth_reduces_to_the_chi_quantile_and_widens_with_few_dof() -> None:
    assert max_norm_halfwidth([1.0], dim=3) == pytest.approx(2.833, abs=1e-3)  # χ₃ at 95.45 %
    assert max_norm_halfwidth([1.0], dim=3, dof=5) > 1.2 * max_norm_halfwidth([1.0], dim=3)
    assert max_norm_halfwidth([0.0, 0.0]) == 0.0


def test_pooled_scatter_is_per_coordinate() -> None:
    rng = np.random.default_rng(4)
    groups = [rng.standard_normal((3, 3)) * [0.1, 0.1, 0.4] + rng.uniform(-5, 5, 3) for _ in range(200)]
    sd, dof = pooled_scatter(groups)
    assert dof == 400
    assert sd == pytest.approx([0.1, 0.1, 0.4], rel=0.1)


@pytest.mark.parametrize("couch_sigma", [0.0, 0.05, 0.5])
def test_reproducibility_p95_removes_the_tracker_noise_and_covers(couch_sigma: float) -> None:
    """49 reference readings: couch scatter (the truth) plus tracker noise of 0.05 mm per coordinate."""
    rng = np.random.default_rng(int(couch_sigma * 1000))
    tracker = np.array([0.04, 0.04, 0.07])
    truth = couch_sigma * math.sqrt(float(np.quantile(rng.chisquare(3, 400000), 0.95)))
    hits, trials = 0, 400
    for _ in range(trials):
        points = rng.standard_normal((49, 3)) * couch_sigma + rng.standard_normal((49, 3)) * tracker
        distances = np.linalg.norm(points - points.mean(axis=0), axis=1)
        m = reproducibility_p95(distances, tracker)
        hits += abs(m.value - truth) <= m.expanded_uncertainty
    assert hits / trials >= 0.93, hits / trials
