"""chamber-polarity-recombination: worked examples through the analysis, the plan, and blind simulated runs
that recover an injected polarity effect and recombination within U on both electrometers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from controller.config import RigConfig, load_rig_config
from controller.engine import dry_run
from controller.interlocks import SafetyEnvelope
from controller.messages import ConfigureDosimeter, Dwell
from controller.results import Outcome
from controller.session import run_sequence
from sequences import SEQUENCES
from sequences.chamber_polarity_recombination import (
    STEPS,
    ChamberPolarityRecombination,
    PolarityRecombinationParams,
    analyze_polarity_recombination,
)
from tests.sequences.couch_world import Context

NAME = "chamber-polarity-recombination"
RATE_GY_S = 6.0 / 60.0  # the sequence's default 6 Gy/min
PRF_HZ = 360.0  # the built-in rig's pulse repetition frequency
DEVICES = {"electrometer_6517b": ("chamber_b", "auto"), "electrometer_unidos": ("chamber_a", "MEDIUM")}


def synthetic(values_nc: dict[str, float], params: PolarityRecombinationParams) -> dict[str, Any]:
    """Three identical readings per step (nC → C), no air readings."""
    steps = []
    for index, (label, voltage, sign) in enumerate(STEPS):
        group = "opp" if label == "opposite" else voltage
        readings = [
            {"value": values_nc[group] * 1e-9 * sign, "unit": "C", "clock_s": 100.0 * index + k}
            for k in range(3)
        ]
        steps.append({"step": label, "bias_v": params.bias(voltage, sign), "readings": readings, "air": []})
    return {"steps": steps}


# ------------------------------------------------------------------------------------- worked examples
# pylinac's TG-51 / TRS-398 test vectors (tests_basic/test_tg51.py, test_trs398.py), also used by
# tests/dosimetry/test_worked_examples.py: P_pol(19.8, −20.1) = 1.0075; at 300/150 V, M_H = 20.10 and
# M_L = 20.05 give TG-51 pulsed P_ion 1.0025, TRS-398 pulsed k_s 1.00241 and the continuous form 1.00083.
def test_published_worked_example_through_the_analysis():
    params = PolarityRecombinationParams(voltage_low_v=150.0, voltage_mid_v=200.0, environment=None)
    # M_M on the straight line 1/M = a + b/V through the two published points: a linear chamber
    a_inv, b_inv = 1 / 20.10, 1 / 20.05
    slope = (b_inv - a_inv) / (1 / 150 - 1 / 300)
    m_mid = 1 / (a_inv + slope * (1 / 200 - 1 / 300))
    data = synthetic({"high": 20.10, "low": 20.05, "mid": m_mid, "opp": 20.1 * 20.10 / 19.8}, params)
    result = analyze_polarity_recombination(params, data)
    assert round(result.informative["P_ion_TG51"].value, 4) == 1.0025
    assert round(result.informative["k_s_TRS398"].value, 5) == 1.00241
    assert result.informative["P_ion_Jaffe_fit"].value == pytest.approx(
        result.informative["P_ion_TG51"].value, abs=1e-9
    )
    verdicts = {v.metric: v for v in result.verdicts}
    assert verdicts["Jaffé"].measured.value == pytest.approx(0.0, abs=1e-7)
    # |M₋|/|M₊| = 20.1/19.8; the published 1.0075 is stated to ±1e-4 (as in the dosimetry tests)
    assert result.informative["P_pol"].value == pytest.approx(1.0075, abs=1e-4)
    assert result.informative["P_pol"].value == pytest.approx(39.9 / 39.6, rel=1e-12)
    # 0.75 % polarity effect is beyond the reference-class 0.4 %
    assert verdicts["P_pol"].outcome is Outcome.FAIL
    continuous = params.model_copy(update={"beam_time_structure": "continuous"})
    result = analyze_polarity_recombination(continuous, data)
    assert round(result.informative["P_ion_TG51"].value, 5) == 1.00083
    assert result.informative["k_s_TRS398"].value == pytest.approx(1.00083, abs=5e-6)


def test_curved_jaffe_plot_is_flagged():
    params = PolarityRecombinationParams(environment=None)
    # 1/M linear between 300 and 100 V, but the 150 V point 0.5 % off the line
    inv = {300.0: 1 / 20.0, 100.0: 1 / 19.8}
    slope = (inv[100.0] - inv[300.0]) / (1 / 100 - 1 / 300)
    m_mid = 1 / (inv[300.0] + slope * (1 / 150 - 1 / 300)) * 0.995
    data = synthetic({"high": 20.0, "low": 19.8, "mid": m_mid, "opp": 20.0}, params)
    verdicts = {v.metric: v for v in analyze_polarity_recombination(params, data).verdicts}
    assert verdicts["Jaffé"].outcome is Outcome.FAIL
    assert verdicts["P_pol"].outcome is Outcome.PASS and verdicts["P_ion"].outcome is Outcome.PASS


# ------------------------------------------------------------------------------------------------ plan
def test_plan_settles_after_every_bias_change_and_is_registered():
    assert NAME in SEQUENCES and isinstance(SEQUENCES[NAME], ChamberPolarityRecombination)
    params = PolarityRecombinationParams(settle_s=900.0)
    messages = dry_run(SEQUENCES[NAME].plan(params, Context()), SafetyEnvelope())
    biased = [
        i for i, m in enumerate(messages) if isinstance(m, ConfigureDosimeter) and m.settings.bias_voltage_v
    ]
    assert [messages[i].settings.bias_voltage_v for i in biased] == [300, -300, 300, 100, 150, 100, 300]
    for i in biased:
        assert isinstance(messages[i + 1], Dwell) and messages[i + 1].seconds == 900.0


def test_untabulated_pulsed_voltage_ratio_is_refused():
    with pytest.raises(ValueError, match="no TRS-398 k_s coefficients"):
        PolarityRecombinationParams(voltage_low_v=110.0, voltage_mid_v=150.0)
    PolarityRecombinationParams(voltage_low_v=110.0, voltage_mid_v=150.0, beam_time_structure="continuous")


# ------------------------------------------------------------------------------------------- simulated
def rig(chamber: str, seed: int, beam_type: str = "pulsed", **changes: Any) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["seed"] = seed
    raw["simulation"]["radiation"]["beam_type"] = beam_type
    raw["simulation"]["electrometers"][chamber].update(changes)
    return RigConfig.model_validate(raw)


def boag_pulsed_p_ion(alpha_v_per_gy: float, bias_v: float) -> float:
    u = alpha_v_per_gy * RATE_GY_S / PRF_HZ / bias_v
    return u / math.log1p(u)


def run(config: RigConfig, tmp_path: Path, **params: Any) -> Any:
    outcome = run_sequence(config, NAME, params, runs_dir=tmp_path, write_report=False)
    assert outcome.result is not None, outcome.summary.error
    return outcome.result


def within_u(measured: Any, truth: float) -> None:
    assert abs(measured.value - truth) <= measured.expanded_uncertainty, (measured, truth)


@pytest.mark.parametrize(
    ("device", "seed", "k_pol", "alpha"),
    [
        ("electrometer_6517b", 1, 1.003, 4.4e4),
        ("electrometer_6517b", 2, 0.998, 2.2e4),
        ("electrometer_6517b", 3, 1.0015, 6.0e4),
        ("electrometer_unidos", 4, 1.002, 4.4e4),
        ("electrometer_unidos", 5, 0.9975, 1.1e4),
    ],
)
def test_blind_pulsed_polarity_and_recombination_recovered_within_u(
    tmp_path: Path, device: str, seed: int, k_pol: float, alpha: float
):
    chamber, range_name = DEVICES[device]
    config = rig(chamber, seed, k_pol=k_pol, pulsed_recombination_v_per_gy=alpha)
    result = run(config, tmp_path, dosimeter=device, range=range_name)
    within_u(result.informative["P_pol"], k_pol)
    within_u(result.informative["P_ion_TG51"], boag_pulsed_p_ion(alpha, 300.0))
    assert result.outcome is Outcome.PASS, [(v.metric, v.outcome) for v in result.verdicts]
    verdicts = {v.metric: v for v in result.verdicts}
    within_u(verdicts["P_pol"].measured, 100 * abs(k_pol - 1))


def test_blind_continuous_recombination_recovered_within_u(tmp_path: Path):
    """Five seeds: U is a 95 % interval, so one seed of five may fall outside it, none outside 2U."""
    beta = 1.8e4  # 1/f = 1 + β·Ḋ/V²: P_ion = 1.02 at 300 V and 6 Gy/min
    truth = 1.0 + beta * RATE_GY_S / 300.0**2
    ratios = []
    for seed in range(11, 16):
        config = rig("chamber_b", seed, "continuous", continuous_recombination_v2_s_per_gy=beta)
        result = run(
            config, tmp_path, beam_time_structure="continuous", voltage_low_v=120.0, voltage_mid_v=200.0
        )
        for key in ("P_ion_TG51", "k_s_TRS398"):  # the continuous forms are the same formula
            measured = result.informative[key]
            ratios.append(abs(measured.value - truth) / measured.expanded_uncertainty)
        assert result.outcome is Outcome.PASS
    assert sum(r <= 1.0 for r in ratios[::2]) >= 4 and max(ratios) <= 2.0, ratios


def test_blind_large_polarity_effect_and_recombination_fail(tmp_path: Path):
    alpha = 1.35e5  # P_ion ≈ 1.06 at 300 V, 6 Gy/min: above TG-51's 1.05
    config = rig("chamber_b", 21, k_pol=1.008, pulsed_recombination_v_per_gy=alpha)
    result = run(config, tmp_path)
    verdicts = {v.metric: v for v in result.verdicts}
    assert verdicts["P_pol"].outcome is Outcome.FAIL
    assert verdicts["P_ion"].outcome is Outcome.FAIL
    within_u(result.informative["P_ion_TG51"], boag_pulsed_p_ion(alpha, 300.0))


def test_figures_carry_limit_lines(tmp_path: Path):
    result = run(rig("chamber_b", 31), tmp_path)
    figures = ChamberPolarityRecombination().figures(result)
    gids = [line.get_gid() or "" for fig in figures for ax in fig.axes for line in ax.get_lines()]
    assert any(g.startswith("limit-line") for g in gids) and any(g.startswith("action-line") for g in gids)


def test_each_settings_k_tp_carries_the_air_sensors_repeatability():
    """Two air readings 0.02 °C and 0.03 hPa repeatable: each setting's k_TP has a relative u of
    hypot(0.02/293.15, 0.03/1013.25)/√2, added to the interpolation's half change (here 0)."""
    from sequences.chamber_polarity_recombination import air_corrected

    air = [{"clock_s": t, "temperature_c": 20.0, "pressure_kpa": 101.325} for t in (0.0, 10.0)]
    step = {"readings": [{"value": 1e-8, "clock_s": 5.0}], "air": air}
    assert air_corrected(step)[1] == 0.0
    expected = math.hypot(0.02 / 293.15, 0.03 / 1013.25) / math.sqrt(2.0)
    assert air_corrected(step, 0.02, 0.03)[1] == pytest.approx(expected, rel=1e-12)
