"""D1 + D3 analysis on synthetic electrometer data with a known leakage current and scatter."""

from __future__ import annotations

import numpy as np
import pytest

from controller.results import Outcome
from sequences.electrometer_leakage_reproducibility import (
    LeakageReproducibilityParams,
    analyze_leakage_reproducibility,
)


def synthetic(leak_a: float, charge_c: float, cov: float, n: int = 10, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    params = LeakageReproducibilityParams()
    t_signal = params.beam_time_s + 1.0

    def phase(name: str, t0: float) -> dict:
        return {
            "phase": name,
            "start": {"value": 0.0, "unit": "C", "clock_s": t0, "status": []},
            "end": {
                "value": leak_a * params.leakage_time_s,
                "unit": "C",
                "clock_s": t0 + params.leakage_time_s,
                "status": [],
            },
        }

    signal = [
        {
            "index": i,
            "value": charge_c * (1 + rng.normal(0, cov)) + leak_a * t_signal,
            "unit": "C",
            "clock_s": 0.0,
            "status": [],
        }
        for i in range(n)
    ]
    return {"leakage": [phase("before", 0.0), phase("after", 1000.0)], "signal": signal}


def test_known_leakage_is_measured_and_removed():
    params = LeakageReproducibilityParams()
    result = analyze_leakage_reproducibility(params, synthetic(5e-15, 20e-9, 0.0))
    assert result.informative["leakage_current"].value == pytest.approx(5.0)  # fA
    assert result.informative["mean_charge"].value == pytest.approx(20.0)  # nC, leakage removed
    leakage = {v.metric: v for v in result.verdicts}["leakage"]
    assert leakage.measured.value == pytest.approx(100 * 5e-15 * 31 / 20e-9)
    assert result.outcome is Outcome.PASS


def test_large_leakage_and_poor_reproducibility_fail():
    params = LeakageReproducibilityParams()
    result = analyze_leakage_reproducibility(params, synthetic(2e-12, 10e-9, 0.01))
    outcomes = {v.metric: v.outcome for v in result.verdicts}
    assert outcomes == {"leakage": Outcome.FAIL, "CoV": Outcome.FAIL}


def test_cov_is_recovered_within_its_uncertainty():
    params = LeakageReproducibilityParams(readings=30)
    result = analyze_leakage_reproducibility(params, synthetic(1e-15, 20e-9, 0.002, n=30))
    cov = {v.metric: v for v in result.verdicts}["CoV"].measured
    assert abs(cov.value - 0.2) <= cov.expanded_uncertainty


def test_current_readings_are_refused():
    data = synthetic(1e-15, 20e-9, 0.0)
    data["signal"][0]["unit"] = "A"
    with pytest.raises(ValueError, match="expected charge readings in C"):
        analyze_leakage_reproducibility(LeakageReproducibilityParams(), data)


def test_zero_bias_is_refused():
    with pytest.raises(ValueError, match="bias_voltage_v = 0"):
        LeakageReproducibilityParams(bias_voltage_v=0)
