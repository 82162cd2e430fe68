"""proton-lateral-profile: the scan grid, the baseline beam model, the weighted Gaussian fit and its U, and
blind recovery of an injected spot offset and spot size error on the simulated proton beam (the chamber on
the water tank's carriage, read by the second UNIDOS)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError
from controller.journal import read_journal
from controller.results import Outcome
from controller.session import run_sequence
from sequences import get_sequence
from sequences.proton_lateral_profile import (
    PENUMBRA_80_20_PER_SIGMA,
    LateralProfileParams,
    commissioned_sigma_mm,
    fit_gaussian,
    gaussian,
    recombination_corrected,
    scan_offsets,
)
from sequences.uncertainty import t_coverage_factor

SEQUENCE = "proton-lateral-profile"
#: Fewer points than the defaults (the analysis, not the precision, is under test); no bias settling wait
#: (the simulated chamber is biased at 400 V from the start).
#: The rig chamber's general recombination, k_s − 1 = β·I/(S·V²) with β = 5.4e3 V²·s/Gy (the simulated
#: chamber's default), S = 2e-9 C/Gy, V = 400 V: 1.6875 % per nA.
KAPPA_PCT_PER_NA = 100.0 * 5.4e3 / (2.0e-9 * 400.0**2) * 1e-9
FAST: dict[str, Any] = {
    "core_step_mm": 1.5,
    "tail_step_mm": 3.0,
    "settle_s": 0.0,
    "recombination_pct_per_na": KAPPA_PCT_PER_NA,
}
#: The rig's nominal beam: in-air sigma 4 mm. Multiple-scattering variance at depth d by hand from the PDG
#: Highland formula at 150 MeV (βc·p = 279.33 MeV, x/X₀ = 1/36.08): θ₀ = 7.420 mrad per cm of water,
#: T₀ = 5.5055e-5 rad²/cm, σ²_MCS = T₀·d³/3.
SIGMA_AIR_MM = 4.0
T0_RAD2_PER_CM = 5.5055e-5


def true_sigma_mm(size_error: float, depth_mm: float) -> float:
    return math.sqrt(
        ((1.0 + size_error) * SIGMA_AIR_MM) ** 2 + T0_RAD2_PER_CM * (depth_mm / 10.0) ** 3 / 3 * 100
    )


def proton_rig(offset: tuple[float, float], size_error: float, seed: int | None = None) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["proton"].update(spot_offset_mm=list(offset), spot_size_error=size_error)
    if seed is not None:
        raw["simulation"]["seed"] = seed
    return RigConfig.model_validate(raw)


def run(config: RigConfig, tmp_path: Path, **params: Any) -> Any:
    outcome = run_sequence(config, SEQUENCE, {**FAST, **params}, runs_dir=tmp_path, write_report=False)
    assert outcome.result is not None, outcome.summary.error
    return outcome


# ------------------------------------------------------------------------------------------ pure parts
def test_baseline_sigma_is_the_rig_beam_model_by_hand() -> None:
    assert commissioned_sigma_mm(150.0, 4.0, 0.0) == pytest.approx(4.0)
    for depth in (20.0, 100.0, 140.0):
        assert commissioned_sigma_mm(150.0, 4.0, depth) == pytest.approx(true_sigma_mm(0.0, depth), rel=2e-4)
    assert LateralProfileParams().baselines_mm() == [pytest.approx(4.00183, abs=2e-5)]
    assert LateralProfileParams(baseline_sigma_mm=[4.5]).baselines_mm() == [4.5]


def test_scan_is_symmetric_fine_in_the_core_and_coarse_outside() -> None:
    params = LateralProfileParams()
    offsets = scan_offsets(params, 4.0)
    assert offsets == pytest.approx(-offsets[::-1])
    steps = np.diff(offsets)
    core = np.abs(offsets[:-1] + steps / 2) < 8.0
    assert steps[core] == pytest.approx(1.0) and steps[~core] == pytest.approx(2.0)
    assert offsets.max() == pytest.approx(14.0) and offsets.size == 23


def test_an_exact_gaussian_is_recovered_and_the_80_20_constant_is_right() -> None:
    x = np.linspace(-12.0, 12.0, 25)
    q = gaussian(x, 4e-10, 0.7, 4.2, 3e-15)
    fit = fit_gaussian(x, q, 1e-3, 1e-15, 0.0)
    assert (fit.centre, fit.sigma, fit.amplitude) == pytest.approx((0.7, 4.2, 4e-10), rel=1e-6)
    low80, low20 = 0.7 - 4.2 * math.sqrt(2 * math.log(1.25)), 0.7 - 4.2 * math.sqrt(2 * math.log(5.0))
    assert pytest.approx(low80 - low20) == PENUMBRA_80_20_PER_SIGMA * 4.2


def test_the_recombination_correction_restores_the_flattened_top() -> None:
    x = np.linspace(-12.0, 12.0, 25)
    dose = gaussian(x, 4e-10, 0.0, 4.0, 0.0)  # charge over 2 s: 0.2 nA at the peak
    kappa = 2.0  # % per nA
    measured = dose / (1.0 + kappa / 100.0 * dose / 2.0 * 1e9)
    raw = fit_gaussian(x, measured, 1e-3, 1e-15, 0.0)
    corrected = fit_gaussian(x, recombination_corrected(measured, 2.0, kappa), 1e-3, 1e-15, 0.0)
    assert raw.sigma > 4.0 * (1 + 5e-4)  # the top flattened: wider by about 0.2 × 0.4 %
    assert corrected.sigma == pytest.approx(4.0, rel=1e-4)


def test_the_fit_uncertainty_covers_at_its_stated_probability() -> None:
    """Noise of several times the stated reading noise: the χ²/ν scaling and t(ν) must still cover."""
    rng = np.random.default_rng(5)
    x = np.linspace(-12.0, 12.0, 17)
    truth = gaussian(x, 1.0, 0.3, 4.0, 0.0)
    hits = np.zeros(2)
    trials = 300
    for _ in range(trials):
        noisy = truth * (1 + rng.normal(0, 3e-3, x.size)) + rng.normal(0, 1e-3, x.size)
        fit = fit_gaussian(x, noisy, 1e-3, 1e-3, 0.0)
        k = t_coverage_factor(fit.dof)
        hits += [abs(fit.centre - 0.3) <= k * fit.u(1), abs(fit.sigma - 4.0) <= k * fit.u(2)]
    assert np.all(hits / trials >= 0.92), hits / trials


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"baseline_sigma_mm": [4.0, 4.2]}, "2 values for 1 depths"),
        ({"core_half_width_sigmas": 4.0}, "exceeds scan_half_width_sigmas"),
        ({"scan_half_width_sigmas": 1.0, "core_half_width_sigmas": 1.0, "core_step_mm": 2.0}, "at least 7"),
        ({"depths_mm": [20.0, 20.0]}, "named twice"),
        ({"profile": "tg142"}, "unknown"),
    ],
)
def test_bad_parameters_are_refused_with_the_field_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_sequence(SEQUENCE).parse_params(change)


def test_a_scan_outside_the_tank_travel_is_refused_before_anything_opens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"phantom_x: the scan needs .* outside its travel"):
        run_sequence(load_rig_config(), SEQUENCE, {**FAST, "spot_position_mm": [140.0, 0.0]},
                     runs_dir=tmp_path, write_report=False)  # fmt: skip
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------ simulated rig
def test_defaults_run_on_the_built_in_rig_and_the_tank_moves_while_the_electrometer_resets(
    tmp_path: Path,
) -> None:
    outcome = run(load_rig_config(), tmp_path)
    assert outcome.result.outcome is Outcome.PASS
    assert [v.metric for v in outcome.result.verdicts] == ["Δx@20mm", "Δσx@20mm", "Δy@20mm", "Δσy@20mm"]
    groups = [
        r["message"]["messages"]
        for r in read_journal(outcome.run_dir / "journal.jsonl").records
        if r["kind"] == "msg" and r["message"]["type"] == "Together"
    ]
    moving = [g for g in groups if {m["type"] for m in g} == {"MoveTo", "ResetIntegration"}]
    points = sum(line["points"] for line in outcome.result.tables["lines"])
    assert len(moving) == points and points >= 14


CASES = {
    # name: (spot offset (x, y) mm, spot size error, depths, expected outcome of (position, size))
    "zero": ((0.0, 0.0), 0.0, [20.0], (Outcome.PASS, Outcome.PASS)),
    "within": ((0.35, -0.3), 0.05, [20.0], (Outcome.PASS, Outcome.PASS)),
    "beyond": ((1.6, -1.5), -0.16, [20.0], (Outcome.FAIL, Outcome.FAIL)),
    "two-depths": ((-0.5, 0.2), 0.07, [20.0, 100.0], (Outcome.PASS, Outcome.PASS)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_injected_spot_offset_and_size_are_recovered_within_u(tmp_path: Path, case: str) -> None:
    offset, size_error, depths, (position_outcome, size_outcome) = CASES[case]
    outcome = run(proton_rig(offset, size_error, seed=sorted(CASES).index(case)), tmp_path, depths_mm=depths)
    result = outcome.result
    baselines = dict(zip(depths, LateralProfileParams(depths_mm=depths).baselines_mm(), strict=True))
    assert len(result.verdicts) == 4 * len(depths)
    for depth in depths:
        sigma = true_sigma_mm(size_error, depth)
        for index, axis in enumerate("xy"):
            tag = f"{axis}@{depth:g}mm"
            centre = result.informative[f"centre_{tag}"]
            assert abs(centre.value - offset[index]) <= centre.expanded_uncertainty, (tag, centre)
            measured_sigma = result.informative[f"sigma_{tag}"]
            assert abs(measured_sigma.value - sigma) <= measured_sigma.expanded_uncertainty, (tag, sigma)
            verdicts = {v.metric: v for v in result.verdicts}
            position, size = verdicts[f"Δ{tag}"], verdicts[f"Δσ{tag}"]
            assert abs(position.measured.value - abs(offset[index])) <= position.measured.expanded_uncertainty
            true_size = 100.0 * abs(sigma - baselines[depth]) / baselines[depth]
            assert abs(size.measured.value - true_size) <= size.measured.expanded_uncertainty
            assert (position.outcome, size.outcome) == (position_outcome, size_outcome), tag
            penumbra = result.informative[f"penumbra_80_20_{tag}"]
            assert penumbra.value == pytest.approx(PENUMBRA_80_20_PER_SIGMA * sigma, abs=0.02)
