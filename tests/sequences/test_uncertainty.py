"""The shared uncertainty arithmetic against published values and against its own coverage claim."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sequences.uncertainty import (
    max_abs_halfwidth,
    max_abs_halfwidth_mc,
    sd_interval,
    t_coverage_factor,
    welch_satterthwaite,
)


@pytest.mark.parametrize(("dof", "k"), [(1, 13.97), (2, 4.53), (5, 2.65), (10, 2.28), (50, 2.05)])
def test_t_factors_match_gum_table_g2(dof: int, k: float):
    assert t_coverage_factor(dof) == pytest.approx(k, abs=0.01)


def test_infinite_dof_gives_k2():
    assert t_coverage_factor(math.inf) == pytest.approx(2.0, abs=1e-3)


def test_welch_satterthwaite_gum_example():
    # two equal type-A components with 4 dof each combine to 8 dof; a type-B exact component adds none
    assert welch_satterthwaite([1.0, 1.0], [4, 4]) == pytest.approx(8.0)
    assert welch_satterthwaite([1.0, 0.0], [4, math.inf]) == pytest.approx(4.0)
    assert math.isinf(welch_satterthwaite([1.0], [math.inf]))


def test_sd_interval_covers_the_true_sd_at_its_level():
    rng = np.random.default_rng(1)
    n, hits, trials = 5, 0, 4000
    for _ in range(trials):
        s = float(np.std(rng.normal(0, 1.0, n), ddof=1))
        low, high = sd_interval(s, n - 1)
        hits += low <= 1.0 <= high
    assert 0.94 < hits / trials < 0.97


@pytest.mark.parametrize(
    "truth", [np.zeros(8), np.array([0.0, 0.0, 0.0, 5.0, 0, 0, 0, 0]), np.linspace(0, 1, 8)]
)
def test_max_abs_halfwidth_covers_any_truth(truth: np.ndarray):
    rng = np.random.default_rng(2)
    sigma = np.full(truth.size, 0.3)
    q = max_abs_halfwidth(sigma)
    estimates = np.max(np.abs(truth + rng.normal(0, sigma, (5000, truth.size))), axis=1)
    coverage = float(np.mean(np.abs(estimates - np.max(np.abs(truth))) <= q))
    assert coverage >= 0.94


def test_max_abs_halfwidth_is_the_single_value_interval_for_one_value():
    assert max_abs_halfwidth([0.5]) == pytest.approx(1.0, rel=1e-3)  # 2σ at 95.45 %
    assert max_abs_halfwidth([]) == 0.0


def test_monte_carlo_agrees_with_the_exact_quantile_for_independent_noise():
    sigmas = [0.1, 0.2, 0.3]
    assert max_abs_halfwidth_mc(np.diag(np.square(sigmas)), draws=200000) == pytest.approx(
        max_abs_halfwidth(sigmas), rel=0.02
    )
