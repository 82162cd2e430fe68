"""Proton range check: the distal-range estimator on known curves, parameter and plan checks, the default
baselines against the simulated beam's own depth dose, and blind recovery of injected range shifts on the
simulated rig (the tank carriage carrying the chamber, a UNIDOS reading it over a pty)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import erfc

from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError
from controller.plan_check import check_plan
from controller.results import Outcome
from controller.session import run_sequence
from sequences import get_sequence
from sequences.proton_range_check import (
    SIMULATED_RIG_R80_MM,
    SIMULATED_RIG_R90_MM,
    RangeCheckParams,
    distal_ranges,
    peak,
)
from simulators.clock import VirtualClock
from simulators.proton import ProtonBeamConfig, ProtonSource

SEQUENCE = get_sequence("proton-range-check")


def edge(depths: np.ndarray, r50: float, sigma: float) -> np.ndarray:
    """A distal edge 0.5·erfc((z − R50)/(√2σ)) on a flat plateau of 1."""
    return 0.5 * erfc((depths - r50) / (math.sqrt(2.0) * sigma))


# ------------------------------------------------------------------------------------------ estimator
def test_a_parabola_peak_is_found_exactly():
    z = np.arange(-3.0, 3.01, 0.5)
    values = 10.0 - 0.2 * (z - 0.3) ** 2
    depth, value = peak(z, values, 1.0)
    assert depth == pytest.approx(0.3) and value == pytest.approx(10.0)


def test_distal_levels_of_an_erf_edge_are_found_within_the_linear_interpolation_bound():
    sigma = 3.0
    depths = np.concatenate([np.arange(100.0, 150.0, 2.5), np.arange(150.0, 170.01, 0.25)])
    values = edge(depths, 160.0, sigma) * (1.0 + 1e-4 * (depths - 100.0))  # peak just before the edge
    curve = distal_ranges(depths, values, 1.0)
    fine = np.linspace(150.0, 170.0, 200001)
    exact = edge(fine, 160.0, sigma) * (1.0 + 1e-4 * (fine - 100.0))
    top = float(exact.max())
    for level in (0.9, 0.8, 0.2):
        truth = fine[int(np.argmax((fine > fine[int(np.argmax(exact))]) & (exact < level * top)))]
        found = curve.ranges[level]
        assert found is not None and abs(found - truth) < 0.01


def test_no_distal_crossing_is_none_not_a_guess():
    depths = np.arange(0.0, 10.0, 1.0)
    curve = distal_ranges(depths, 1.0 + depths, 1.0)  # still rising at the scan's end
    assert curve.ranges[0.9] is None and curve.brackets[0.9] is None


# ------------------------------------------------------------------------------------------ parameters
def test_parameters_are_checked_with_clear_errors():
    with pytest.raises(ConfigError, match="must be deeper than"):
        SEQUENCE.parse_params({"coarse_start_depth_mm": 170.0, "coarse_end_depth_mm": 120.0})
    with pytest.raises(ConfigError, match="finer than"):
        SEQUENCE.parse_params({"fine_step_mm": 3.0})
    with pytest.raises(ConfigError, match="beyond the scan's end"):
        SEQUENCE.parse_params({"baseline_r80_mm": 180.0, "baseline_r90_mm": 179.0})


def test_the_plan_check_refuses_a_scan_beyond_the_tanks_travel_before_anything_opens():
    params = SEQUENCE.parse_params({"coarse_end_depth_mm": 260.0})  # depth 260 mm: phantom_z at −10 mm
    with pytest.raises(ConfigError, match="phantom_z"):
        check_plan(load_rig_config(), SEQUENCE, params, source="test")
    checked = check_plan(load_rig_config(), SEQUENCE, SEQUENCE.parse_params({}), source="test")
    assert {"electrometer_tank", "phantom_x", "phantom_y", "phantom_z"} <= set(checked.devices)


def test_default_baselines_are_the_simulated_rigs_nominal_central_axis_ranges():
    """Recompute R90 and R80 of the built-in rig's beam from its own depth dose on a 1 µm grid."""
    raw = load_rig_config().model_dump(mode="json")
    source = ProtonSource(
        "p", ProtonBeamConfig.model_validate(raw["simulation"]["proton"]), clock=VirtualClock()
    )
    depths = np.arange(150.0, 165.0, 0.001)
    dose = np.array([source.relative_dose((0.0, 0.0, -d)) for d in depths])
    top = int(np.argmax(dose))
    for level, baseline in ((0.9, SIMULATED_RIG_R90_MM), (0.8, SIMULATED_RIG_R80_MM)):
        beyond = top + int(np.argmax(dose[top:] < level * dose[top]))
        assert depths[beyond] == pytest.approx(baseline, abs=0.006)
    defaults = RangeCheckParams()
    assert (defaults.baseline_r90_mm, defaults.baseline_r80_mm) == (
        SIMULATED_RIG_R90_MM,
        SIMULATED_RIG_R80_MM,
    )


# ------------------------------------------------------------------------------------------ simulated rig
def shifted_rig(shift_mm: float, seed: int, **chamber: Any) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["seed"] = seed
    raw["simulation"]["proton"]["range_shift_mm"] = shift_mm
    raw["simulation"]["electrometers"]["chamber_tank"].update(chamber)
    return RigConfig.model_validate(raw)


@pytest.mark.parametrize(
    ("shift_mm", "seed", "expected"),
    [(0.0, 1, Outcome.PASS), (0.6, 2, Outcome.PASS), (-1.5, 3, Outcome.FAIL)],
)
def test_an_injected_range_shift_is_recovered_within_u(
    tmp_path: Path, shift_mm: float, seed: int, expected: Outcome
):
    outcome = run_sequence(
        shifted_rig(shift_mm, seed), SEQUENCE.name, {}, runs_dir=tmp_path, write_report=False
    )
    result = outcome.result
    assert result is not None, outcome.summary.error
    for name in ("R90_shift", "R80_shift"):
        measured = result.informative[name]
        assert abs(measured.value - shift_mm) <= measured.expanded_uncertainty, name
    verdicts = {v.metric: v for v in result.verdicts}
    assert verdicts["ΔR90"].measured.value == pytest.approx(abs(result.informative["R90_shift"].value))
    assert verdicts["ΔR90"].outcome is expected and verdicts["ΔR80"].outcome is expected
    # the fine pass brackets the distal edge: R90 and R80 lie inside it, with the fine step between points
    curve = result.tables["curve"]
    spacing = np.diff([row["depth_mm"] for row in curve if 150.0 < row["depth_mm"] < 162.0])
    assert np.all(spacing < 0.6)
    assert result.informative["distal_falloff"].value == pytest.approx(4.22, abs=0.15)


def test_noisier_readings_widen_u_and_still_cover(tmp_path: Path):
    outcome = run_sequence(
        shifted_rig(0.3, 5, relative_noise=3e-3), SEQUENCE.name, {}, runs_dir=tmp_path, write_report=True
    )
    result = outcome.result
    assert result is not None, outcome.summary.error
    measured = result.informative["R90_shift"]
    assert abs(measured.value - 0.3) <= measured.expanded_uncertainty
    scatter = next(
        r for r in result.tables["budget"] if r["range"] == "R90" and r["component"] == "readings' scatter"
    )
    assert scatter["u_mm"] > 0.005  # the scatter term now matters
    report = (outcome.run_dir / "report.html").read_text(encoding="utf-8")
    assert "limit-line" in report and "action-line" in report  # the figure draws tolerance and action level
