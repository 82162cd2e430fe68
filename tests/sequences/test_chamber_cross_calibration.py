"""D8 cross-calibration: the swap cancels a field non-uniformity, an injected field-chamber sensitivity is
recovered within U on the simulated rig (both electrometers integrating each delivery at once), the
coefficients come from the rig file's certificates, and the operator action really moves the chambers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from controller.config import RigConfig, load_rig_config
from controller.devices import DeviceSet, place_chambers_instruction
from controller.engine import RunEngine
from controller.errors import ConfigError
from controller.interlocks import SafetyEnvelope
from controller.journal import Journal, read_journal
from controller.messages import Checkpoint, SwapChambers
from controller.results import Outcome
from controller.session import run_sequence
from sequences.chamber_cross_calibration import CrossCalibrationParams, estimate_ratio

S_REF = 2.0e-8  # chamber_a, read by the UNIDOS: N_ref = 1/S_ref = 5e7 Gy/C
N_REF = 1.0 / S_REF
POSITION_2_Y_MM = 30.0  # chamber_b sits 30 mm from chamber_a along IEC y
#: Everything the truth depends on, equal for both chambers: the ratio of the charges is S_ref·g₁/(S_f·g₂).
EXACT_CHAMBER = {
    "k_pol": 1.0,
    "pulsed_recombination_v_per_gy": 0.0,
    "continuous_recombination_v2_s_per_gy": 0.0,
    "leakage_current_a": 0.0,
    "settling_amplitude": 0.0,
    "bias_transient_a_per_v": 0.0,
    "reference_temperature_c": 20.0,
    "reference_pressure_hpa": 1013.25,
}
FAST = {"cycles": 2, "readings": 3, "settle_s": 0.0, "after_swap_s": 10.0, "beam_time_s": 10.0}


def rig(
    field_sensitivity: float, gradient_per_mm: float = 0.0, seed: int | None = None, **raw_changes: Any
) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    simulation = raw["simulation"]
    if seed is not None:
        simulation["seed"] = seed
    chambers = simulation["electrometers"]
    chambers["chamber_a"].update(
        EXACT_CHAMBER, sensitivity_c_per_gy=S_REF, chamber_position_mm=[0.0, 0.0, 0.0]
    )
    chambers["chamber_b"].update(
        EXACT_CHAMBER, sensitivity_c_per_gy=field_sensitivity, chamber_position_mm=[0.0, POSITION_2_Y_MM, 0.0]
    )
    simulation["radiation"].update(field="linear_gradient", gradient_per_mm=[0.0, gradient_per_mm, 0.0])
    for key, value in raw_changes.items():
        raw["devices"][key].update(value)
    return RigConfig.model_validate(raw)


def run(config: RigConfig, tmp_path: Path, **params: Any):
    outcome = run_sequence(
        config, "chamber-cross-calibration", {**FAST, **params}, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    return outcome


# ------------------------------------------------------------------------------------------ estimator
def test_the_geometric_mean_cancels_any_non_uniformity_and_measures_it():
    """r_A = (S_r·D₁)/(S_f·D₂), r_B = (S_r·D₂)/(S_f·D₁): √(r_A·r_B) = S_r/S_f, √(r_A/r_B) = D₁/D₂."""
    true_ratio, d1_over_d2 = 0.95, 1.03
    r_a, r_b = true_ratio * d1_over_d2, true_ratio / d1_over_d2
    rows = [
        (0, False, math.log(r_a)),
        (0, False, math.log(r_a)),
        (1, True, math.log(r_b)),
        (1, True, math.log(r_b)),
    ]
    est = estimate_ratio(rows)
    assert math.exp(est.ln_ratio) == pytest.approx(true_ratio, rel=1e-12)
    assert math.exp(est.ln_nonuniformity) == pytest.approx(d1_over_d2, rel=1e-12)
    assert est.within_sd == 0.0


def test_block_scatter_beyond_the_readings_widens_the_type_a_u():
    """A chamber put back a little elsewhere: the block means scatter more than the deliveries explain."""
    tight = [(b, b % 2 == 1, 0.01 * (i - 1) * 1e-3) for b in range(4) for i in range(3)]
    moved = [(b, s, v + (2e-3 if b in (0, 3) else -2e-3)) for b, s, v in tight]
    assert estimate_ratio(moved).u_ln_ratio > 10 * estimate_ratio(tight).u_ln_ratio
    assert estimate_ratio(moved).dof == 2  # 4 blocks − 2 arrangement means


def test_params_refuse_one_electrometer_for_both_chambers():
    with pytest.raises(ValueError, match="an electrometer each"):
        CrossCalibrationParams.model_validate(
            {"field": {"dosimeter": "electrometer_unidos", "range": "MEDIUM"}}
        )


def test_the_swap_prompt_says_what_to_do():
    text = place_chambers_instruction("electrometer_unidos", "electrometer_6517b", True, "")
    assert "Swap the chambers" in text and "electrometer_6517b" in text and text.endswith("Placed?")
    assert "back at their own positions" in place_chambers_instruction("a", "b", False, "")


# ------------------------------------------------------------------------------------------ simulated rig
def test_blind_field_chamber_sensitivity_is_recovered_within_u_in_a_non_uniform_field(tmp_path: Path):
    """3 % field gradient over the 30 mm between the positions, field chamber 1.7 % off the previous value."""
    s_field = 2.1e-8 * 0.983
    gradient = 1.0e-3  # per mm: position 2 gets 3 % more dose than position 1
    outcome = run(rig(s_field, gradient, seed=11), tmp_path)
    result = outcome.result
    truth = N_REF * S_REF / s_field  # N_field = N_ref·S_ref/S_field (chambers otherwise identical)
    n_field = result.informative["N_field"]
    assert abs(n_field.value * 1e7 - truth) <= n_field.expanded_uncertainty * 1e7
    # the transfer's uncertainty is dominated by the certificate (0.6 %), the rest is small
    assert 0.011 < n_field.expanded_uncertainty / n_field.value < 0.02
    non_uniformity = result.informative["field_non_uniformity"]  # D₁/D₂ − 1 = 1/(1 + 30·G) − 1
    true_g = 100.0 * (1.0 / (1.0 + POSITION_2_Y_MM * gradient) - 1.0)
    assert abs(non_uniformity.value - true_g) <= non_uniformity.expanded_uncertainty
    # without the swap (own positions only) the ratio would be 3 % off: the cancellation is what worked
    own = [row["ratio"] for row in result.tables["blocks"] if row["arrangement"] == "own positions"]
    assert abs(sum(own) / len(own) * N_REF - truth) / truth > 0.02
    # the change from the previous coefficient (4.762e7, the default) is 1.7 %: beyond the 1 % tolerance
    change = next(v for v in result.verdicts if v.metric == "coefficient_change")
    true_change = 100.0 * abs(truth / 4.762e7 - 1.0)
    assert abs(change.measured.value - true_change) <= change.measured.expanded_uncertainty
    assert change.outcome is Outcome.FAIL
    cov = next(v for v in result.verdicts if v.metric == "CoV_ratio")
    assert cov.outcome is Outcome.PASS


def test_both_electrometers_integrate_each_delivery_together_and_the_chambers_are_swapped(tmp_path: Path):
    outcome = run(rig(2.1e-8), tmp_path, cycles=2, readings=2)
    records = read_journal(outcome.run_dir / "journal.jsonl").records
    messages = [r["message"] for r in records if r["kind"] == "msg"]
    swaps = [m["swapped"] for m in messages if m["type"] == "SwapChambers"]
    assert swaps == [False, True, False]  # A, B | B, A: home, swap once, back home at the end
    groups = [m for m in messages if m["type"] == "Together"]
    starts = [g for g in groups if {x["type"] for x in g["messages"]} == {"StartIntegration"}]
    assert len(starts) == 2 * 2 * 2  # every delivery: both started in one group
    assert outcome.summary.state == "completed"


def test_the_reference_coefficient_comes_from_the_rig_file_certificate(tmp_path: Path):
    certificate = {"id": "PSDL-1", "coefficient": 5.1, "unit": "cGy/nC", "issued": "2026-01-01",
                   "expires": "2099-01-01"}  # fmt: skip
    config = rig(2.1e-8, electrometer_unidos={"certificate": certificate})
    result = run(config, tmp_path, cycles=1, readings=2).result
    assert result.informative["N_field"].value == pytest.approx(5.1 * 2.0 / 2.1, rel=2e-3)
    assert any("certificate PSDL-1 of electrometer_unidos" in note for note in result.notes)
    with pytest.raises(ConfigError, match="differs from"):
        run_sequence(
            config, "chamber-cross-calibration", {**FAST, "reference_coefficient_gy_per_c": 5.0e7},
            runs_dir=tmp_path, write_report=False,
        )  # fmt: skip


class _RecordingOperator:
    def __init__(self) -> None:
        self.placed: list[tuple[str, str, bool]] = []

    def load_couch(self, device: str, payload_kg: float, description: str) -> None:
        raise AssertionError("not used")

    def place_chambers(self, device: str, other: str, swapped: bool, description: str) -> None:
        self.placed.append((device, other, swapped))


def test_a_resumed_run_puts_the_chambers_back_where_the_journal_left_them(tmp_path: Path, step_clock):
    """The arrangement is a setting: after a replay the newest one is made again before going live."""

    def plan():
        yield SwapChambers("a", "b", True)
        yield Checkpoint("swapped")
        yield SwapChambers("a", "b", False)
        yield Checkpoint("home")

    operator = _RecordingOperator()
    journal = Journal(tmp_path, step_clock)
    engine = RunEngine(DeviceSet(operator=operator), step_clock, journal, SafetyEnvelope())
    replay = [
        ({"type": "SwapChambers", "device": "a", "other": "b", "swapped": True, "description": ""}, None),
        ({"type": "Checkpoint", "label": "swapped"}, None),
    ]
    engine.run(plan(), replay=replay)
    journal.close()
    assert operator.placed == [("a", "b", True), ("a", "b", False)]  # restored, then the live step
    restored = [r for r in read_journal(journal.path).records if r["kind"] == "restore"]
    assert restored[0]["message"]["type"] == "SwapChambers"
