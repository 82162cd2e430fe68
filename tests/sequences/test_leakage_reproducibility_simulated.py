"""D1 + D3 end to end on both simulated electrometers (UNIDOS over a pty, 6517B through pyvisa-py ASRL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.config import RigConfig, load_rig_config
from controller.results import Outcome
from controller.session import run_sequence

DEVICES = [("electrometer_unidos", "chamber_a", "MEDIUM"), ("electrometer_6517b", "chamber_b", "auto")]
FAST = {"settle_s": 600.0, "leakage_time_s": 300.0, "readings": 5, "beam_time_s": 10.0}


def rig_with_chamber(chamber: str, **changes: Any) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["electrometers"][chamber].update(changes)
    return RigConfig.model_validate(raw)


@pytest.mark.parametrize(("device", "chamber", "range_name"), DEVICES)
def test_injected_leakage_is_measured_within_its_uncertainty(tmp_path: Path, device, chamber, range_name):
    config = rig_with_chamber(chamber, leakage_current_a=80e-15, bias_transient_a_per_v=0.0)
    params = {**FAST, "dosimeter": device, "range": range_name}
    outcome = run_sequence(
        config, "electrometer-leakage-reproducibility", params, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    leak = outcome.result.informative["leakage_current"]
    assert abs(leak.value - 80.0) <= max(leak.expanded_uncertainty, 0.02 * 80.0), leak
    assert outcome.result.outcome is Outcome.PASS  # 80 fA over 11 s is ~0.01 % of ~10 nC


@pytest.mark.parametrize(("device", "chamber", "range_name"), DEVICES)
def test_noisy_chamber_fails_reproducibility(tmp_path: Path, device, chamber, range_name):
    # 20 readings: the 99 % chi-square interval's lower bound of a 2 % chamber clears the 0.5 % limit
    config = rig_with_chamber(chamber, relative_noise=0.02)
    params = {**FAST, "dosimeter": device, "range": range_name, "readings": 20}
    outcome = run_sequence(
        config, "electrometer-leakage-reproducibility", params, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    verdicts = {v.metric: v for v in outcome.result.verdicts}
    assert verdicts["CoV"].outcome is Outcome.FAIL and verdicts["CoV"].measured.value > 0.5


def test_default_chambers_pass_with_both_electrometers(tmp_path: Path):
    for device, _, range_name in DEVICES:
        params = {**FAST, "dosimeter": device, "range": range_name}
        outcome = run_sequence(
            load_rig_config(),
            "electrometer-leakage-reproducibility",
            params,
            runs_dir=tmp_path,
            write_report=False,
        )
        assert outcome.result is not None and outcome.result.outcome is Outcome.PASS, outcome.summary.error


def test_sequence_defaults_run_on_the_built_in_rig(tmp_path: Path):
    outcome = run_sequence(
        load_rig_config(), "electrometer-leakage-reproducibility", {}, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    assert len(outcome.result.tables["signal"]) == 20
    assert [w["readings"] for w in outcome.result.tables["leakage"]] == [13, 13]


def test_bias_transient_in_the_first_window_widens_the_leakage_interval(tmp_path: Path):
    """The 6517B biases its chamber at configure: an unsettled transient lifts the *before* window. The
    steady dark current must still lie inside the combined interval (the drift term), not be missed by a
    tight fit of two inconsistent windows."""
    config = rig_with_chamber(
        "chamber_b", leakage_current_a=20e-15, bias_transient_a_per_v=2e-15, charge_noise_c=1e-16
    )
    params = {**FAST, "dosimeter": "electrometer_6517b", "settle_s": 300.0, "charge_resolution_c": 1e-15}
    outcome = run_sequence(
        config, "electrometer-leakage-reproducibility", params, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    info = outcome.result.informative
    before, after = info["leakage_current_before"], info["leakage_current_after"]
    assert before.value - after.value > before.expanded_uncertainty  # the windows disagree
    leak = info["leakage_current"]
    drift = {row["component"]: row["u_fA"] for row in outcome.result.tables["leakage_budget"]}["drift"]
    assert drift > 0 and abs(leak.value - 20.0) <= leak.expanded_uncertainty, leak


def test_air_from_the_room_sensor_gives_k_tp_with_provenance(tmp_path: Path):
    params = {**FAST, "dosimeter": "electrometer_unidos", "range": "MEDIUM", "environment": "room_sensor"}
    outcome = run_sequence(
        load_rig_config(),
        "electrometer-leakage-reproducibility",
        params,
        runs_dir=tmp_path,
        write_report=False,
    )
    assert outcome.result is not None, outcome.summary.error
    ktp = outcome.result.informative["k_TP"]
    # the simulated room: 21.5 °C, 1009 hPa (± its slow drift); TRS-398 reference 20 °C, 101.325 kPa
    expected = (273.2 + 21.5) / 293.2 * (101.325 / 100.9)
    assert abs(ktp.value - expected) < 0.002 and ktp.standard_uncertainty > 0
    assert any("sensor room_sensor" in note for note in outcome.result.notes)


def test_operator_entry_is_used_and_named(tmp_path: Path):
    from controller.session import AirEntry

    params = {
        **FAST,
        "dosimeter": "electrometer_6517b",
        "environment": "operator_entry",
        "reference_conditions": "TG-51",
    }
    outcome = run_sequence(
        load_rig_config(),
        "electrometer-leakage-reproducibility",
        params,
        runs_dir=tmp_path,
        write_report=False,
        air=AirEntry(temperature_c=22.0, pressure_kpa=101.33, operator="A. Physicist"),
    )
    assert outcome.result is not None, outcome.summary.error
    assert outcome.result.informative["k_TP"].value == pytest.approx(1.0, abs=1e-12)
    assert any("operator entry by A. Physicist" in note for note in outcome.result.notes)


@pytest.mark.parametrize(
    ("device", "range_name"), [("electrometer_unidos", "LOW"), ("electrometer_6517b", "2e-9")]
)
def test_overload_on_a_too_sensitive_range_faults_the_run_with_a_typed_error(
    tmp_path: Path, device, range_name
):
    params = {
        **FAST,
        "dosimeter": device,
        "range": range_name,
        "readings": 3,
        "beam_time_s": 30.0,
        "dose_rate_gy_per_min": 20.0,
    }
    outcome = run_sequence(
        load_rig_config(),
        "electrometer-leakage-reproducibility",
        params,
        runs_dir=tmp_path,
        write_report=False,
    )
    error = outcome.summary.error or ""
    assert outcome.summary.state == "faulted" and outcome.result is None  # never a plausible number
    assert error.startswith("DosimeterOverload") and device in error and "reply b'" in error
