"""D1 + D3 analysis on synthetic electrometer data with a known leakage current and scatter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from controller.results import DecisionRule, Outcome, Tolerance, decide
from sequences.electrometer_leakage_reproducibility import (
    LeakageReproducibilityParams,
    analyze_leakage_reproducibility,
    cov_estimate,
    display_resolution,
    fit_slope,
    leakage_current_budget,
)


def window(
    name: str,
    t0: float,
    leak_a: float,
    params: LeakageReproducibilityParams,
    rng: np.random.Generator,
    noise_c: float = 0.0,
    relative: float = 0.0,
) -> dict:
    times = t0 + np.linspace(0.0, params.leakage_time_s, params.leakage_readings)
    charges = leak_a * (times - t0)
    charges = charges + rng.normal(0.0, 1.0, times.size) * np.hypot(noise_c, relative * charges)
    return {
        "phase": name,
        "readings": [
            {"value": float(q), "unit": "C", "clock_s": float(t), "status": []}
            for t, q in zip(times, charges, strict=True)
        ],
    }


def synthetic(
    leak_a: float,
    charge_c: float,
    cov: float,
    n: int = 10,
    seed: int = 3,
    noise_c: float = 0.0,
    params: LeakageReproducibilityParams | None = None,
) -> dict:
    rng = np.random.default_rng(seed)
    params = params or LeakageReproducibilityParams()
    signal = [
        {
            "index": i,
            "value": charge_c * (1 + rng.normal(0, cov)) + leak_a * params.signal_time_s,
            "unit": "C",
            "clock_s": 0.0,
            "status": [],
        }
        for i in range(n)
    ]
    leakage = [
        window("before", 0.0, leak_a, params, rng, noise_c),
        window("after", 1000.0, leak_a, params, rng, noise_c),
    ]
    return {"leakage": leakage, "signal": signal}


def test_known_leakage_is_measured_and_removed():
    params = LeakageReproducibilityParams()
    result = analyze_leakage_reproducibility(params, synthetic(5e-15, 20e-9, 0.0))
    assert result.informative["leakage_current"].value == pytest.approx(5.0)  # fA
    assert result.informative["mean_charge"].value == pytest.approx(20.0)  # nC, leakage removed
    leakage = {v.metric: v for v in result.verdicts}["leakage"]
    assert leakage.measured.value == pytest.approx(100 * 5e-15 * 30 / 20e-9)  # one timed 30 s integration
    assert result.outcome is Outcome.PASS


def test_large_leakage_and_poor_reproducibility_fail():
    params = LeakageReproducibilityParams()
    result = analyze_leakage_reproducibility(params, synthetic(2e-12, 10e-9, 0.02, n=20))
    outcomes = {v.metric: v.outcome for v in result.verdicts}
    assert outcomes == {"leakage": Outcome.FAIL, "CoV": Outcome.FAIL}


def test_cov_is_recovered_within_its_uncertainty():
    params = LeakageReproducibilityParams(readings=30)
    result = analyze_leakage_reproducibility(params, synthetic(1e-15, 20e-9, 0.002, n=30))
    cov = {v.metric: v for v in result.verdicts}["CoV"].measured
    assert abs(cov.value - 0.2) <= cov.expanded_uncertainty
    assert abs(result.informative["CoV_sample"].value - 0.2) < 0.1


def test_slope_fit_recovers_a_line_and_its_scatter():
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 120.0, 13)
    fits = [fit_slope(t, 5e-13 * t + rng.normal(0.0, 2e-14, t.size)) for _ in range(2000)]
    slopes = np.array([f.slope for f in fits])
    us = np.array([f.u for f in fits])
    assert fits[0].dof == 11
    assert np.mean(slopes) == pytest.approx(5e-13, rel=1e-3)
    # HC3 is a consistent estimate of the slope's spread (slightly conservative in small samples)
    assert 0.9 < np.sqrt(np.mean(us**2)) / np.std(slopes) < 1.3


@pytest.mark.parametrize("relative", [0.0, 0.01])
def test_leakage_current_interval_covers_at_its_stated_probability(relative: float):
    """Monte Carlo: two noisy windows (absolute + charge-proportional noise) through the whole budget."""
    rng = np.random.default_rng(11)
    params = LeakageReproducibilityParams()
    true_a, hits, trials = 6e-13, 0, 1000
    for _ in range(trials):
        fits = {}
        for phase, t0 in (("before", 0.0), ("after", 1000.0)):
            w = window(phase, t0, true_a, params, rng, noise_c=3e-14, relative=relative)
            fits[phase] = fit_slope(
                [r["clock_s"] for r in w["readings"]], [r["value"] for r in w["readings"]]
            )
        budget, _ = leakage_current_budget(fits, resolution_c=1e-16, offset_u_a=0.0)
        hits += abs(budget.value - true_a) <= budget.k * budget.u
    assert 0.93 <= hits / trials <= 0.99


def test_a_drift_between_windows_widens_the_leakage_current_interval():
    t = np.linspace(0.0, 120.0, 13)
    rng = np.random.default_rng(1)
    steady = {p: fit_slope(t, 4e-15 * t + rng.normal(0, 1e-16, t.size)) for p in ("before", "after")}
    drifting = {
        "before": fit_slope(t, 4.5e-15 * t + rng.normal(0, 1e-16, t.size)),
        "after": steady["after"],
    }
    calm, _ = leakage_current_budget(steady, 1e-16, 0.0)
    drift, _ = leakage_current_budget(drifting, 1e-16, 0.0)
    assert calm.components["drift"][0] == 0.0
    # half the 0.5 fA disagreement, rectangular
    assert drift.components["drift"][0] == pytest.approx(0.25e-15 / math.sqrt(3), rel=0.05)
    assert drift.k * drift.u >= 0.25e-15  # the steady value (the after window) is inside the interval


def test_display_resolution_is_the_last_displayed_digit():
    assert display_resolution([19.776e-9, 19.781e-9, 19.779e-9], 1e-13) == pytest.approx(1e-12)
    assert display_resolution([20.76606e-9, 20.76611e-9], 1e-15) == pytest.approx(1e-14)
    assert display_resolution([0.0, 0.0], 1e-13) == 1e-13
    assert display_resolution([1.234567891e-9], 1e-13) == 1e-13  # finer than declared: declared


def test_cov_interval_is_the_chi_square_interval_stated_symmetrically():
    rng = np.random.default_rng(5)
    charges = 20e-9 * (1 + rng.normal(0, 0.003, 10))
    est = cov_estimate(charges, resolution_c=1e-15)
    s = 100 * np.std(charges, ddof=1) / np.mean(charges)
    assert est.sample == pytest.approx(s)
    assert est.high == pytest.approx(s * math.sqrt(9 / stats.chi2.ppf(0.0455 / 2, 9)))
    assert est.low == pytest.approx(s * math.sqrt(9 / stats.chi2.ppf(1 - 0.0455 / 2, 9)))
    measured = est.measurement()
    assert measured.value - measured.expanded_uncertainty == pytest.approx(est.low, rel=1e-4)
    assert measured.value + measured.expanded_uncertainty == pytest.approx(est.high, rel=1e-4)
    assert measured.standard_uncertainty == pytest.approx(s / math.sqrt(18), rel=1e-3)


@pytest.mark.parametrize(("p", "n", "true_cov"), [(0.9545, 10, 0.5), (0.99, 20, 0.5), (0.99, 20, 0.52)])
def test_guarded_cov_decision_accepts_a_true_cov_above_the_limit_rarely(p: float, n: int, true_cov: float):
    """At or above the limit, a guarded PASS happens at most (1 − p)/2 of the time (the claimed risk)."""
    rng = np.random.default_rng(n)
    limit = Tolerance(limit=0.5, unit="%", source="synthetic limit")
    trials, accepted = 3000, 0
    for _ in range(trials):
        est = cov_estimate(20e-9 * (1 + rng.normal(0, true_cov / 100, n)), resolution_c=1e-15, p=p)
        verdict = decide("CoV", "", est.measurement(), limit, DecisionRule.GUARDED)
        accepted += verdict.outcome is Outcome.PASS
    risk = (1 - p) / 2
    assert accepted / trials <= risk + 3 * math.sqrt(risk * (1 - risk) / trials)


def test_cov_covers_its_truth_at_the_stated_probability():
    rng = np.random.default_rng(8)
    trials = 2000
    hits = 0
    for _ in range(trials):
        est = cov_estimate(20e-9 * (1 + rng.normal(0, 0.003, 10)), resolution_c=1e-15)
        hits += abs(est.value - 0.3) <= est.measurement().expanded_uncertainty
    assert 0.94 <= hits / trials <= 0.97  # the exact chi-square interval: p = 95.45 %


def test_constant_quantised_readings_keep_a_resolution_floor():
    est = cov_estimate([19.776e-9] * 10, resolution_c=1e-12)
    assert est.value == 0.0
    assert pytest.approx(100 * 1e-12 / 19.776e-9) == est.U


def test_the_profile_decides_guarded_on_the_cov_upper_bound():
    params = LeakageReproducibilityParams()
    quiet = analyze_leakage_reproducibility(params, synthetic(1e-15, 20e-9, 0.0005, n=20))
    marginal = analyze_leakage_reproducibility(params, synthetic(1e-15, 20e-9, 0.004, n=20))
    for result, expected in ((quiet, Outcome.PASS), (marginal, Outcome.INCONCLUSIVE)):
        cov = {v.metric: v for v in result.verdicts}["CoV"]
        assert cov.rule is DecisionRule.GUARDED and cov.outcome is expected
        upper = cov.measured.value + cov.measured.expanded_uncertainty
        assert upper == pytest.approx(result.informative["CoV_upper_bound"].value, rel=1e-3)


def test_current_readings_are_refused():
    data = synthetic(1e-15, 20e-9, 0.0)
    data["signal"][0]["unit"] = "A"
    with pytest.raises(ValueError, match="expected charge readings in C"):
        analyze_leakage_reproducibility(LeakageReproducibilityParams(), data)


def test_zero_bias_is_refused():
    with pytest.raises(ValueError, match="bias_voltage_v = 0"):
        LeakageReproducibilityParams(bias_voltage_v=0)


def test_defaults_name_a_device_of_the_built_in_rig():
    from controller.config import load_rig_config

    params = LeakageReproducibilityParams()
    assert params.dosimeter in load_rig_config().devices
