"""Proton output constancy: the k_TP-corrected charge at the reference depth against its baseline, on the
simulated rig with injected output changes (chamber-response offsets, an output drift) and other room air."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError
from controller.results import Outcome
from controller.session import run_sequence
from sequences import get_sequence
from sequences.proton_output_constancy import analyze_output_constancy

SEQUENCE = get_sequence("proton-output-constancy")
SENSITIVITY = 2.0e-9  # the built-in rig's chamber_tank


def rig(seed: int, *, chamber: dict[str, Any] | None = None, **proton: Any) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["seed"] = seed
    raw["simulation"]["proton"].update(proton)
    raw["simulation"]["electrometers"]["chamber_tank"].update(chamber or {})
    return RigConfig.model_validate(raw)


def run(config: RigConfig, tmp_path: Path, **params: Any):
    outcome = run_sequence(config, SEQUENCE.name, params, runs_dir=tmp_path, write_report=False)
    assert outcome.result is not None, outcome.summary.error
    return outcome.result


def test_parameters_and_devices_are_checked():
    with pytest.raises(ConfigError, match="deliveries"):
        SEQUENCE.parse_params({"deliveries": 1})
    with pytest.raises(ConfigError, match="profile"):
        SEQUENCE.parse_params({"profile": "tg224-weekly"})
    params = SEQUENCE.parse_params({})
    roles = {need.device: need.role for need in SEQUENCE.device_needs(params)}
    assert roles == {
        "electrometer_tank": "dosimeter",
        "room_sensor": "environment",
        "phantom_z": "positioner",
        "phantom_x": "positioner",
        "phantom_y": "positioner",
    }


def test_the_analysis_corrects_each_delivery_with_its_own_air():
    params = SEQUENCE.parse_params({"baseline_charge_nc": 1.0})
    # 1 nC at reference air (20 °C, 101.325 kPa) read in warmer, thinner air: raw = 1 nC / k_TP
    rows = []
    for index, (t, p) in enumerate([(22.0, 100.0), (24.0, 99.0), (21.0, 101.0)]):
        ktp = (273.2 + t) / 293.2 * 101.325 / p
        rows.append({"index": index, "value": 1e-9 / ktp, "unit": "C", "clock_s": float(index),
                     "temperature_c": t, "pressure_kpa": p, "provenance": "test"})  # fmt: skip
    result = analyze_output_constancy(params, {"deliveries": rows})
    assert result.informative["output_deviation"].value == pytest.approx(0.0, abs=1e-9)
    assert [r["corrected_nC"] for r in result.tables["deliveries"]] == pytest.approx([1.0] * 3)


def test_defaults_on_the_built_in_rig_match_the_baseline(tmp_path: Path):
    result = run(load_rig_config(), tmp_path)
    (verdict,) = result.verdicts
    measured = result.informative["output_deviation"]
    assert abs(measured.value) <= measured.expanded_uncertainty
    assert verdict.outcome is Outcome.PASS
    assert measured.expanded_uncertainty < 0.5


@pytest.mark.parametrize(
    ("offset_pct", "profile", "expected"),
    [
        (2.5, "tg224-daily", Outcome.PASS),
        (-4.0, "tg224-daily", Outcome.FAIL),
        (2.5, "tg224-monthly", Outcome.FAIL),
    ],
)
def test_an_output_offset_is_recovered_and_judged(
    tmp_path: Path, offset_pct: float, profile: str, expected: Outcome
):
    """A changed response per delivered dose (to this test, the same as a changed output)."""
    chamber = {"sensitivity_c_per_gy": SENSITIVITY * (1.0 + offset_pct / 100.0)}
    result = run(rig(11, chamber=chamber), tmp_path, profile=profile)
    measured = result.informative["output_deviation"]
    assert abs(measured.value - offset_pct) <= measured.expanded_uncertainty
    assert result.verdicts[0].outcome is expected


def test_an_output_drift_is_recovered_at_the_deliveries_times(tmp_path: Path):
    drift = 30.0  # %/h from the moment the simulated room starts
    result = run(rig(12, output_drift_percent_per_h=drift), tmp_path)
    # each delivery's beam midpoint: read after post_s (0.5 s) and half the 10 s beam before
    midpoints = np.array([row["clock_s"] for row in result.tables["deliveries"]]) - 0.5 - 5.0
    truth = float(np.mean(drift * midpoints / 3600.0))
    measured = result.informative["output_deviation"]
    assert truth > 1.0 and abs(measured.value - truth) <= measured.expanded_uncertainty


def test_other_room_air_is_corrected_by_k_tp(tmp_path: Path):
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["environments"]["room"].update(temperature_c=26.0, pressure_hpa=985.0)
    result = run(RigConfig.model_validate(raw), tmp_path)
    measured = result.informative["output_deviation"]
    assert result.informative["k_TP"].value > 1.03  # uncorrected, the charge would read 3 % low
    assert abs(measured.value) <= measured.expanded_uncertainty
