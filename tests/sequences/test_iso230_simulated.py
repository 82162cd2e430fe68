"""W1 end to end over a real pty against the simulated stage: injected errors must be measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.config import RigConfig, load_rig_config
from controller.results import Outcome
from controller.session import run_sequence


def rig_with_stage(**stage: Any) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["stages"]["phantom_x"].update(stage)
    return RigConfig.model_validate(raw)


def within(measurement, truth: float) -> bool:
    return abs(measurement.value - truth) <= measurement.expanded_uncertainty


def test_default_stage_passes_and_its_errors_are_measured(tmp_path: Path):
    outcome = run_sequence(load_rig_config(), "phantom-axis-iso230", runs_dir=tmp_path, write_report=False)
    result = outcome.result
    assert outcome.summary.state == "completed" and result is not None
    assert result.outcome is Outcome.PASS
    assert within(result.informative["mean_reversal"], 0.02)
    assert within(result.informative["scale_error"], 30.0)


@pytest.mark.parametrize(("backlash_mm", "pitch_um_per_m"), [(0.15, 400.0), (0.06, -250.0)])
def test_injected_backlash_and_pitch_error_are_recovered(
    tmp_path: Path, backlash_mm: float, pitch_um_per_m: float
):
    config = rig_with_stage(backlash_mm=backlash_mm, pitch_error_um_per_m=pitch_um_per_m, noise_um=3.0)
    outcome = run_sequence(config, "phantom-axis-iso230", runs_dir=tmp_path, write_report=False)
    result = outcome.result
    assert result is not None, outcome.summary.error
    verdicts = {v.metric: v for v in result.verdicts}
    assert within(result.informative["mean_reversal"], backlash_mm)
    assert within(verdicts["B"].measured, backlash_mm)  # U of a max over targets covers the truth
    assert abs(verdicts["B"].measured.value - backlash_mm) < 0.01
    assert within(result.informative["scale_error"], pitch_um_per_m)


def test_backlash_beyond_tolerance_fails_on_b_only(tmp_path: Path):
    outcome = run_sequence(
        rig_with_stage(backlash_mm=0.3),
        "phantom-axis-iso230",
        {"runs": 3},
        runs_dir=tmp_path,
        write_report=False,
    )
    result = outcome.result
    assert result is not None
    outcomes = {v.metric: v.outcome for v in result.verdicts}
    assert outcomes["B"] is Outcome.FAIL and result.outcome is Outcome.FAIL
    assert outcomes["A"] is Outcome.PASS  # 0.3 mm + small scale error stays under 0.5 mm


def test_report_and_results_are_written(tmp_path: Path):
    outcome = run_sequence(
        load_rig_config(), "phantom-axis-iso230", {"runs": 2, "step_mm": 100}, runs_dir=tmp_path
    )
    html = (outcome.run_dir / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "positioning deviation per approach direction" in html
    assert "ISO 230-2:2014" in html and "PASS" in html
    assert (outcome.run_dir / "results.json").exists() and (outcome.run_dir / "run.json").exists()


def test_results_are_expressed_in_iec_61217_via_the_rig_mounting(tmp_path: Path):
    outcome = run_sequence(
        load_rig_config(), "phantom-axis-iso230", {"runs": 2}, runs_dir=tmp_path, write_report=False
    )
    result = outcome.result
    assert result is not None
    assert result.frame.startswith("IEC 61217 system f: phantom_x reads 0 mm at (-150, 0, -100) mm")
    first = result.tables["targets"][0]
    # target 2 mm on the axis is 2 mm along +Xf from the axis origin
    assert (first["iec_x_mm"], first["iec_y_mm"], first["iec_z_mm"]) == pytest.approx((-148.0, 0.0, -100.0))


def test_a_reversed_mounting_reports_reversed_iec_positions(tmp_path: Path):
    raw = load_rig_config().model_dump(mode="json")
    raw["devices"]["phantom_x"]["mounting"] = {
        "system": "f",
        "origin_mm": [0, 150, -100],
        "direction": [0, -1, 0],
    }
    outcome = run_sequence(
        RigConfig.model_validate(raw),
        "phantom-axis-iso230",
        {"runs": 2},
        runs_dir=tmp_path,
        write_report=False,
    )
    assert outcome.result is not None
    rows = outcome.result.tables["targets"]
    assert [r["iec_y_mm"] for r in rows] == pytest.approx([150 - r["target_mm"] for r in rows])


def test_a_lead_screw_periodic_error_is_seen_with_the_default_targets(tmp_path: Path):
    """A 5 mm lead divides the nominal 50 mm step: a uniform grid would sample one phase and see nothing."""
    amplitude_mm, lead_mm, noise_um = 0.04, 5.0, 1.0
    config = rig_with_stage(
        backlash_mm=0.0,
        pitch_error_um_per_m=0.0,
        periodic_error_um=amplitude_mm * 1000,
        screw_lead_mm=lead_mm,
        noise_um=noise_um,
    )
    outcome = run_sequence(config, "phantom-axis-iso230", runs_dir=tmp_path, write_report=False)
    result = outcome.result
    assert result is not None, outcome.summary.error
    targets = np.array([row["target_mm"] for row in result.tables["targets"]])
    periodic = amplitude_mm * np.sin(2 * np.pi * targets / lead_mm)  # home datum at 0 mm
    sigma = noise_um / 1000
    a = {v.metric: v.measured for v in result.verdicts}["A"]
    assert within(a, float(np.ptp(periodic)) + 4 * sigma)
    assert a.value > amplitude_mm  # more than half the periodic error's peak-to-peak is in A
    assert within(result.informative["max_abs_deviation"], float(np.max(np.abs(periodic))))

    aliased = run_sequence(
        config,
        "phantom-axis-iso230",
        {"targets_mm": [2.0 + 50.0 * i for i in range(6)]},
        runs_dir=tmp_path,
        write_report=False,
    ).result
    assert aliased is not None
    a_grid = {v.metric: v.measured for v in aliased.verdicts}["A"]
    assert a_grid.value < amplitude_mm / 2  # what the old uniform 50 mm grid reported
