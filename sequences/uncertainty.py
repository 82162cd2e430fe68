"""Uncertainty arithmetic every sequence shares: coverage factors, effective degrees of freedom, extremes.

Why a module of its own: a blind validation campaign showed that a coverage factor of 2 on a type-A
estimate from a handful of points, or the standard uncertainty of one value attached to the maximum of
many noisy values, does not cover the truth 95 % of the time. These are the textbook remedies:

* Student-t coverage factors for few degrees of freedom (JCGM 100:2008, GUM, G.3 and Table G.2);
* Welch–Satterthwaite effective degrees of freedom (GUM G.4.1, eq. G.2b);
* a chi-square interval for a standard deviation or a coefficient of variation estimated from n
  readings (the sampling distribution of s², e.g. NIST/SEMATECH e-Handbook §7.2.3.1);
* for a statistic that is the maximum magnitude of several noisy values, a coverage interval from the
  distribution of the largest noise term (propagation of distributions, JCGM 101:2008, GUM Supplement 1):
  since ``|max|x̂ᵢ| − max|xᵢ|| ≤ maxᵢ|x̂ᵢ − xᵢ|``, the quantile of ``maxᵢ|εᵢ|`` at the coverage
  probability is an interval half-width that holds for *any* true values, including all zero, where the
  plain maximum is biased upward most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

#: The coverage probability that k = 2 stands for with a normal distribution (GUM G.1.3).
COVERAGE_P = 0.9545


def t_coverage_factor(dof: float, p: float = COVERAGE_P) -> float:
    """Student-t coverage factor for ``dof`` degrees of freedom (infinite dof gives 2.0 at p = 95.45 %)."""
    if not dof > 0:
        raise ValueError(f"degrees of freedom must be positive, got {dof}")
    if math.isinf(dof):
        return float(stats.norm.ppf(0.5 + p / 2))
    return float(stats.t.ppf(0.5 + p / 2, dof))


def welch_satterthwaite(components: Sequence[float], dofs: Sequence[float]) -> float:
    """Effective degrees of freedom of a combined standard uncertainty (GUM G.4.1).

    ``components`` are the standard-uncertainty contributions u_i (already times their sensitivity),
    ``dofs`` their degrees of freedom (``math.inf`` for a type-B contribution known exactly).
    """
    if len(components) != len(dofs):
        raise ValueError("one degree of freedom per component")
    total = sum(u * u for u in components) ** 2
    if total == 0:
        return math.inf
    denominator = sum(u**4 / nu for u, nu in zip(components, dofs, strict=True) if not math.isinf(nu))
    return math.inf if denominator == 0 else total / denominator


def sd_interval(sd: float, dof: int, p: float = COVERAGE_P) -> tuple[float, float]:
    """Two-sided interval for a true standard deviation from a sample SD with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"need at least one degree of freedom, got {dof}")
    alpha = 1.0 - p
    low = sd * math.sqrt(dof / stats.chi2.ppf(1 - alpha / 2, dof))
    high = sd * math.sqrt(dof / stats.chi2.ppf(alpha / 2, dof))
    return float(low), float(high)


def max_abs_halfwidth(sigmas: Sequence[float], p: float = COVERAGE_P) -> float:
    """Half-width q with P(maxᵢ|εᵢ| ≤ q) = p for independent εᵢ ~ N(0, σᵢ²).

    Solves ``Πᵢ (2Φ(q/σᵢ) − 1) = p``. Used as the expanded uncertainty of ``max|x̂ᵢ|`` (or of
    ``max x̂ᵢ``) as an estimate of ``max|xᵢ|``: the interval holds for any true values.
    """
    s = np.asarray([x for x in sigmas if x > 0], dtype=float)
    if s.size == 0:
        return 0.0

    def excess(q: float) -> float:
        return float(np.sum(np.log(2 * stats.norm.cdf(q / s) - 1))) - math.log(p)

    high = float(s.max()) * 10.0
    return float(optimize.brentq(excess, 1e-12 * float(s.max()), high, xtol=1e-12 * float(s.max())))


def max_abs_halfwidth_mc(
    covariance: np.ndarray, p: float = COVERAGE_P, draws: int = 20000, seed: int = 0
) -> float:
    """As ``max_abs_halfwidth`` for correlated noise: the p-quantile of maxᵢ|εᵢ|, ε ~ N(0, Σ) (GUM S1)."""
    cov = np.atleast_2d(np.asarray(covariance, dtype=float))
    rng = np.random.default_rng(seed)
    eps = rng.multivariate_normal(np.zeros(cov.shape[0]), cov, size=draws, method="eigh")
    return float(np.quantile(np.max(np.abs(eps), axis=1), p))
