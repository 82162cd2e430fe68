"""k_TP over a session: published P_TP values reproduced through the sequence's analysis, and a blind air
drift injected into the simulated room recovered within U from the room sensor's readings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.config import RigConfig, load_rig_config
from controller.results import Outcome
from controller.session import run_sequence
from sequences.air_density_stability import AirDensityParams, analyze_air_density, fit_drift

STILL = {"temperature_amplitude_c": 0.0, "pressure_amplitude_hpa": 0.0}


def rig(seed: int | None = None, **room: Any) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    if seed is not None:
        raw["simulation"]["seed"] = seed
    raw["simulation"]["environments"]["room"].update(STILL, **room)
    return RigConfig.model_validate(raw)


def run(config: RigConfig, tmp_path: Path, **params: Any):
    outcome = run_sequence(config, "air-density-stability", params, runs_dir=tmp_path, write_report=False)
    assert outcome.result is not None, outcome.summary.error
    return outcome.result


def constant_air(temperature_c: float, pressure_kpa: float) -> dict[str, Any]:
    readings = [
        {"temperature_c": temperature_c, "pressure_kpa": pressure_kpa, "provenance": "test", "clock_s": t}
        for t in (0.0, 60.0, 120.0)
    ]
    return {"readings": readings}


# ------------------------------------------------------------------------------------------ published values
@pytest.mark.parametrize(
    ("temperature_c", "pressure_kpa", "reference", "expected", "digits"),
    [
        # TG-51 P_TP = ((273.2 + T)/295.2)·(101.33/P) (Almond et al., Med. Phys. 26:1847 (1999), eq. 10)
        (22.0, 101.33, "TG-51", 1.000, 3),
        (25.0, 102.66, "TG-51", 0.997, 3),
        (25.0, 102.66, "TG-51", 0.99708, 5),
        (19.0, 98.66, "TG-51", 1.01663, 5),
        # the same air to the TG-51 (22 °C) and the TRS-398 (20 °C) reference: 0.68 % apart
        (22.0, 100.15, "TG-51", 1.01178, 5),
        (22.0, 100.15, "TRS-398", 1.01863, 5),
    ],
)
def test_published_k_tp_values_through_the_analysis(
    temperature_c: float, pressure_kpa: float, reference: str, expected: float, digits: int
):
    params = AirDensityParams(reference_conditions=reference, duration_s=120.0)  # type: ignore[arg-type]
    result = analyze_air_density(params, constant_air(temperature_c, pressure_kpa))
    assert round(result.informative["k_TP_mean"].value, digits) == pytest.approx(expected, abs=1e-12)
    assert result.verdicts[0].measured.value == pytest.approx(0.0, abs=1e-12)  # still air: no drift


def test_the_line_fit_recovers_an_exact_slope():
    t = np.arange(10.0) * 60.0
    intercept, slope, u, dof = fit_drift(t, 1.0 + 2e-6 * t)
    assert slope == pytest.approx(2e-6) and intercept == pytest.approx(1.0) and u < 1e-15 and dof == 8


def test_too_few_readings_are_refused():
    with pytest.raises(ValueError, match="fewer than 3"):
        AirDensityParams(interval_s=600.0, duration_s=900.0)


# ------------------------------------------------------------------------------------------ simulated room
def true_drift_pct(rate_c_per_h: float, rate_hpa_per_h: float, duration_s: float, interval_s: float) -> float:
    """By this module's own model: T, P linear in time from the room's start values; k_TP at each reading
    time; the least-squares line's change over the readings relative to the mean (TRS-398 reference)."""
    t = np.arange(0.0, duration_s + 1e-9, interval_s)
    temperature = 21.5 + rate_c_per_h * t / 3600.0
    pressure_kpa = (1009.0 + rate_hpa_per_h * t / 3600.0) / 10.0
    ktp = (273.2 + temperature) / 293.2 * 101.325 / pressure_kpa
    slope = np.polyfit(t, ktp, 1)[0]
    return float(100.0 * slope * (t[-1] - t[0]) / ktp.mean())


@pytest.mark.parametrize(
    ("rate_c_per_h", "rate_hpa_per_h", "seed", "outcome"),
    [(0.0, 0.0, 3, Outcome.PASS), (1.5, 0.0, 14, Outcome.FAIL), (0.0, -4.0, 5, Outcome.FAIL)],
)
def test_blind_air_drift_is_recovered_within_u(
    tmp_path: Path, rate_c_per_h: float, rate_hpa_per_h: float, seed: int, outcome: Outcome
):
    config = rig(seed, temperature_rate_c_per_h=rate_c_per_h, pressure_rate_hpa_per_h=rate_hpa_per_h)
    result = run(config, tmp_path, duration_s=1800.0, interval_s=60.0)
    verdict = result.verdicts[0]
    truth = abs(true_drift_pct(rate_c_per_h, rate_hpa_per_h, 1800.0, 60.0))
    assert abs(verdict.measured.value - truth) <= verdict.measured.expanded_uncertainty
    assert verdict.outcome is outcome
    rate = result.informative["temperature_drift_rate"]
    assert abs(rate.value - rate_c_per_h) <= rate.expanded_uncertainty


def test_defaults_run_on_the_built_in_rig(tmp_path: Path):
    result = run(load_rig_config(), tmp_path)
    assert len(result.tables["readings"]) == 31 and result.verdicts[0].metric == "k_TP_drift"
