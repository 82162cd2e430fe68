"""D2 linearity: the weighted line and its residual budget, and blind recovery of an injected gain
nonlinearity on both simulated electrometers (UNIDOS over a pty, 6517B through pyvisa-py ASRL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.config import RigConfig, load_rig_config
from controller.results import Outcome
from controller.session import run_sequence
from sequences.electrometer_linearity import LinearityParams, analyze_linearity, fit_line, max_deviation

DEVICES = {"electrometer_unidos": ("chamber_a", "MEDIUM"), "electrometer_6517b": ("chamber_b", "auto")}
SENSITIVITY = 2.0e-8
RATE_GY_PER_MIN = 6.0
BEAM_TIMES = [5.0, 10.0, 20.0, 50.0, 100.0]
#: Everything the truth depends on, written into the rig: a chamber whose charge is S·D exactly.
EXACT_CHAMBER = {
    "sensitivity_c_per_gy": SENSITIVITY,
    "chamber_position_mm": [0.0, 0.0, 0.0],
    "k_pol": 1.0,
    "pulsed_recombination_v_per_gy": 0.0,
    "continuous_recombination_v2_s_per_gy": 0.0,
    "leakage_current_a": 0.0,
    "settling_amplitude": 0.0,
    "bias_transient_a_per_v": 0.0,
    "reference_temperature_c": 20.0,
    "reference_pressure_hpa": 1013.25,
}
STILL_ROOM = {
    "temperature_c": 20.0,
    "pressure_hpa": 1013.25,
    "temperature_amplitude_c": 0.0,
    "pressure_amplitude_hpa": 0.0,
    "temperature_rate_c_per_h": 0.0,
    "pressure_rate_hpa_per_h": 0.0,
}


def exact_rig(
    chamber: str, radiation: dict[str, Any] | None = None, seed: int | None = None, **changes: Any
) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    simulation = raw["simulation"]
    if seed is not None:
        simulation["seed"] = seed
    config = simulation["electrometers"][chamber]
    config.update(EXACT_CHAMBER, **changes)
    simulation["environments"][config["environment"]].update(STILL_ROOM)
    simulation["radiation"].update(field="uniform", **(radiation or {}))
    return RigConfig.model_validate(raw)


def true_max_deviation(b_per_c: float, fit: str = "intercept", extra_gy: float = 0.0) -> float:
    """The metric's truth by this module's own model: Q = S·(D + E)·(1 + b·S·(D + E)), weights ∝ 1/Q²."""
    doses = RATE_GY_PER_MIN / 60.0 * np.array(BEAM_TIMES)
    q = SENSITIVITY * (doses + extra_gy)
    q = q * (1.0 + b_per_c * q)
    return float(np.max(np.abs(fit_line(doses, q, q, fit).deviation_pct)))  # type: ignore[arg-type]


def run(config: RigConfig, device: str, tmp_path: Path, **params: Any):
    chamber, range_name = DEVICES[device]
    outcome = run_sequence(
        config,
        "electrometer-linearity",
        {"dosimeter": device, "range": range_name, "settle_s": 60.0, **params},
        runs_dir=tmp_path,
        write_report=False,
    )
    assert outcome.result is not None, outcome.summary.error
    return outcome.result


# ------------------------------------------------------------------------------------------ estimator
def test_an_exact_line_has_no_deviation_and_a_quadratic_its_known_one():
    doses = np.array([1.0, 2.0, 4.0, 8.0])
    line = fit_line(doses, 3.0 + 2.0 * doses, np.ones(4))
    assert line.slope == pytest.approx(2.0) and line.intercept == pytest.approx(3.0)
    assert np.allclose(line.deviation_pct, 0.0, atol=1e-12)
    # through the origin, with equal weights: b = ΣDQ/ΣD²; Q = D + 0.1·D² gives b = 1 + 0.1·ΣD³/ΣD²
    q = doses + 0.1 * doses**2
    origin = fit_line(doses, q, np.ones(4), "origin")
    b = 1.0 + 0.1 * float(np.sum(doses**3) / np.sum(doses**2))
    assert origin.slope == pytest.approx(b)
    assert origin.deviation_pct == pytest.approx(100.0 * (q - b * doses) / (b * doses))


def test_the_residual_covariance_matches_monte_carlo():
    rng = np.random.default_rng(7)
    doses = np.array([0.5, 1.0, 2.0, 5.0, 10.0])
    truth = 20.0 * doses
    sigmas = 0.001 * truth
    nominal = fit_line(doses, truth, sigmas)
    draws = np.array(
        [fit_line(doses, truth + rng.normal(0, sigmas), sigmas).deviation_pct for _ in range(4000)]
    )
    scale = float(np.max(np.diag(nominal.deviation_cov)))  # off-diagonal sampling error ~ scale/√4000·√2
    assert np.cov(draws.T) == pytest.approx(nominal.deviation_cov, rel=0.1, abs=0.05 * scale)


def test_the_max_deviation_interval_covers_at_its_stated_probability():
    rng = np.random.default_rng(11)
    doses = np.array([0.5, 1.0, 2.0, 5.0, 10.0])
    truth = 20.0 * doses * (1.0 + 0.002 * doses)
    sigmas = 0.0005 * truth
    target = float(np.max(np.abs(fit_line(doses, truth, sigmas).deviation_pct)))
    hits = 0
    for _ in range(400):
        measured = max_deviation(fit_line(doses, truth + rng.normal(0, sigmas), sigmas), dof=1e9)
        hits += abs(measured.value - target) <= measured.expanded_uncertainty
    assert hits / 400 >= 0.93


def test_analysis_of_hand_made_readings_flags_a_bent_response():
    params = LinearityParams()
    rng = np.random.default_rng(3)
    rows = []
    for repeat in range(3):
        for level, t in enumerate(params.beam_times_s):
            dose = params.dose_gy(t)
            q = 2e-8 * dose * (1.0 + 0.01 * dose)  # 10 % bend at 10 Gy
            rows.append(
                {"level": level, "repeat": repeat, "beam_time_s": t, "dose_gy": dose, "unit": "C",
                 "clock_s": 0.0, "value": q * (1 + rng.normal(0, 2e-4))}
            )  # fmt: skip
    result = analyze_linearity(params, {"deliveries": rows})
    (verdict,) = result.verdicts
    assert verdict.outcome is Outcome.FAIL and verdict.measured.value > 2.0
    assert len(result.tables["levels"]) == 5


# ------------------------------------------------------------------------------------------ simulated rig
def test_defaults_run_on_the_built_in_rig_and_pass(tmp_path: Path):
    outcome = run_sequence(load_rig_config(), "electrometer-linearity", {}, runs_dir=tmp_path,
                           write_report=True)  # fmt: skip
    assert outcome.result is not None, outcome.summary.error
    assert outcome.result.outcome is Outcome.PASS
    report = (outcome.run_dir / "report.html").read_text(encoding="utf-8")
    assert "limit-line" in report and "action-line" in report  # the figure draws tolerance and action level
    assert [row["readings"] for row in outcome.result.tables["levels"]] == [3] * 5


@pytest.mark.parametrize("seed", range(6))
def test_blind_nonlinearity_is_recovered_within_u(tmp_path: Path, seed: int):
    """Injected gain nonlinearity (0 to about twice the limit) and reading noise, drawn blind per seed."""
    rng = np.random.default_rng(1000 + seed)
    b = float(rng.uniform(0.0, 5.0e5))
    noise = float(rng.uniform(5e-5, 1e-3))
    device = list(DEVICES)[seed % 2]
    chamber = DEVICES[device][0]
    config = exact_rig(
        chamber, seed=seed, charge_nonlinearity_per_c=b, relative_noise=noise, charge_noise_c=1e-15
    )
    result = run(config, device, tmp_path)
    (verdict,) = result.verdicts
    truth = true_max_deviation(b)
    measured, u_expanded = verdict.measured.value, verdict.measured.expanded_uncertainty
    assert abs(measured - truth) <= u_expanded, (b, noise, truth, verdict.measured)
    limit = verdict.tolerance.limit
    # the guarded rule: a recovered value within U never passes a truth above the limit, never fails one below
    if truth > limit:
        assert verdict.outcome is not Outcome.PASS
    else:
        assert verdict.outcome is not Outcome.FAIL
    if truth + 2 * u_expanded <= limit:
        assert verdict.outcome is Outcome.PASS
    if truth - 2 * u_expanded > limit:
        assert verdict.outcome is Outcome.FAIL


def test_a_switch_on_extra_dose_is_the_intercept_not_a_nonlinearity(tmp_path: Path):
    extra = 0.005  # Gy per switch-on: 0.05 s of beam at 6 Gy/min
    config = exact_rig("chamber_b", radiation={"switch_on_extra_dose_gy": extra}, seed=1, relative_noise=5e-5)
    with_intercept = run(config, "electrometer_6517b", tmp_path)
    intercept = with_intercept.informative["intercept"]
    assert abs(intercept.value - SENSITIVITY * extra * 1e12) <= intercept.expanded_uncertainty, intercept
    assert (
        with_intercept.verdicts[0].measured.value <= with_intercept.verdicts[0].measured.expanded_uncertainty
    )
    through_origin = run(config, "electrometer_6517b", tmp_path, fit="origin")
    truth = true_max_deviation(0.0, "origin", extra)
    measured = through_origin.verdicts[0].measured
    assert truth > 0.5 and abs(measured.value - truth) <= measured.expanded_uncertainty
