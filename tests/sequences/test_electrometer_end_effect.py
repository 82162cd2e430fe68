"""D4 end effect: the closed form and its budget, and blind recovery of an injected switch-on extra dose on
both simulated electrometers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.config import load_rig_config
from controller.results import Outcome
from controller.session import run_sequence
from sequences.electrometer_end_effect import (
    EndEffectParams,
    analyze_end_effect,
    end_effect,
    end_effect_budget,
)
from tests.sequences.test_electrometer_linearity import DEVICES, exact_rig

RATE_GY_S = 6.0 / 60.0  # the sequence's default dose rate


def run(config: Any, device: str, tmp_path: Path, **params: Any):
    outcome = run_sequence(
        config,
        "electrometer-end-effect",
        {"dosimeter": device, "range": DEVICES[device][1], "settle_s": 60.0, **params},
        runs_dir=tmp_path,
        write_report=False,
    )
    assert outcome.result is not None, outcome.summary.error
    return outcome.result


# ------------------------------------------------------------------------------------------ estimator
def test_worked_example_of_the_closed_form():
    """A constructed example: 100 MU → 20.000 nC, ten 10-MU deliveries → 20.040 nC, δ = 4/179.96 MU."""
    assert end_effect(20.000, 20.040, 100.0, 10) == pytest.approx(4.0 / 179.96, rel=1e-12)
    assert round(end_effect(20.000, 20.040, 100.0, 10), 4) == 0.0222


def test_the_closed_form_inverts_the_model_and_its_sensitivities_are_the_derivatives():
    k, total, n, delta = 2.0e-9, 60.0, 10, 0.037
    long_c, short_c = k * (total + delta), k * (total + n * delta)
    assert end_effect(long_c, short_c, total, n) == pytest.approx(delta, rel=1e-10)
    h = 1e-6 * long_c
    numeric_long = (
        (end_effect(long_c + h, short_c, total, n) - end_effect(long_c - h, short_c, total, n)) / 2 / h
    )
    numeric_short = (
        (end_effect(long_c, short_c + h, total, n) - end_effect(long_c, short_c - h, total, n)) / 2 / h
    )
    est = end_effect_budget(long_c, short_c, 1.0, 2.0, total, n, dof=4)
    assert est.components["long"] == pytest.approx(abs(numeric_long), rel=1e-5)
    assert est.components["short"] == pytest.approx(2.0 * abs(numeric_short), rel=1e-5)


def test_the_interval_covers_at_its_stated_probability():
    rng = np.random.default_rng(5)
    params = EndEffectParams(repeats=3)
    k, delta, noise = 2.0e-9, 0.01, 2e-4
    hits = 0
    for _ in range(400):
        rows = [
            {"repeat": j, "kind": kind, "unit": "C", "clock_s": 0.0,
             "value": k * (60.0 + m * delta) * (1 + rng.normal(0, noise))}
            for j in range(3)
            for kind, m in (("long", 1), ("short", 10))
        ]  # fmt: skip
        measured = analyze_end_effect(params, {"readings": rows}).informative["end_effect_time"]
        hits += abs(measured.value - delta) <= measured.expanded_uncertainty
    assert hits / 400 >= 0.93


# ------------------------------------------------------------------------------------------ simulated rig
def test_defaults_run_on_the_built_in_rig_and_pass(tmp_path: Path):
    outcome = run_sequence(load_rig_config(), "electrometer-end-effect", {}, runs_dir=tmp_path,
                           write_report=True)  # fmt: skip
    assert outcome.result is not None, outcome.summary.error
    assert outcome.result.outcome is Outcome.PASS
    report = (outcome.run_dir / "report.html").read_text(encoding="utf-8")
    assert "limit-line" in report and "action-line" in report  # the figure draws tolerance and action level
    assert [p["repeat"] for p in outcome.result.tables["pairs"]] == [0, 1, 2, 3, 4]


BLIND_SEEDS = 12


def test_blind_end_effects_are_recovered_within_u_at_the_stated_rate(tmp_path: Path):
    """Injected extra dose per switch-on (either sign, up to about twice the limit) and noise, drawn blind per
    seed, on both electrometers. U is a 95 % interval from few readings (Student t), so a stated share of
    misses is expected: at least 10 of 12 must be recovered (P(fewer) ≈ 2 % at 95 % coverage), and every
    recovered one's outcome must follow from the guarded rule."""
    recovered = 0
    for seed in range(BLIND_SEEDS):
        rng = np.random.default_rng(2000 + seed)
        extra = float(rng.uniform(-0.002, 0.002))  # Gy; the limit is 2 % of 0.5 s at 0.1 Gy/s = 0.001 Gy
        noise = float(rng.uniform(2e-5, 3e-4))
        device = list(DEVICES)[seed % 2]
        config = exact_rig(
            DEVICES[device][0],
            radiation={"switch_on_extra_dose_gy": extra},
            seed=seed,
            relative_noise=noise,
            charge_noise_c=1e-15,
        )
        result = run(config, device, tmp_path)
        delta = result.informative["end_effect_time"]
        (verdict,) = result.verdicts
        truth = 100.0 * abs(extra / RATE_GY_S) / 0.5
        u_expanded, limit = verdict.measured.expanded_uncertainty, verdict.tolerance.limit
        if abs(delta.value - extra / RATE_GY_S) > delta.expanded_uncertainty:
            continue
        recovered += 1
        assert abs(verdict.measured.value - truth) <= u_expanded
        if truth > limit:
            assert verdict.outcome is not Outcome.PASS, (seed, truth, verdict.measured)
        else:
            assert verdict.outcome is not Outcome.FAIL, (seed, truth, verdict.measured)
        if truth + 2 * u_expanded <= limit:
            assert verdict.outcome is Outcome.PASS, (seed, truth, verdict.measured)
        if truth - 2 * u_expanded > limit:
            assert verdict.outcome is Outcome.FAIL, (seed, truth, verdict.measured)
    assert recovered >= BLIND_SEEDS - 2
