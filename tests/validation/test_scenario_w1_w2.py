"""W1 and W2 blind-test scenarios: the draws span 0 to beyond each limit and the truth model is sane."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.config import RigConfig
from validation.scenarios import SCENARIOS
from validation.scenarios.phantom_axis_iso230 import targets_mm
from validation.scenarios.water_tank_axes import direction

W1 = SCENARIOS["phantom-axis-iso230"]
W2 = SCENARIOS["water-tank-axes"]


def draws(scenario, count: int = 300) -> list[dict[str, float]]:
    return [scenario.draw(np.random.default_rng(seed)) for seed in range(count)]


def test_w1_draws_include_zero_and_twice_each_limit():
    truths = [W1.truth(injection) for injection in draws(W1)]
    for metric, limit in (("A", 0.5), ("R", 0.2), ("B", 0.2)):
        values = [t[metric].value for t in truths]
        assert min(values) <= 0.1 * limit and max(values) >= 1.5 * limit, metric
    assert any(t["B"].value == 0.0 for t in truths)


def test_w1_truth_of_a_perfect_axis_is_zero_and_pure_backlash_is_exact():
    zero = {"backlash_mm": 0.0, "pitch_error_um_per_m": 0.0, "periodic_error_um": 0.0}
    zero |= {"screw_lead_mm": 2.0, "noise_um": 0.0}
    truth = W1.truth(zero)
    assert truth["A"].value < 0.16e-3  # only the microstep rounding of the targets
    assert truth["R"].value == 0.0 and truth["B"].value == 0.0
    backlash = W1.truth(zero | {"backlash_mm": 0.1, "noise_um": 5.0})
    assert backlash["B"].value == 0.1 and backlash["mean_reversal"].value == 0.1
    assert backlash["R"].value == pytest.approx(0.1 + 4 * 0.005, abs=1e-5)  # 4σ + B
    assert backlash["A"].value == pytest.approx(0.1 + 4 * 0.005, abs=2e-4)


def test_w1_scale_truth_is_the_pitch_error_without_periodic_error():
    injection = {"backlash_mm": 0.05, "pitch_error_um_per_m": 321.0, "periodic_error_um": 0.0}
    injection |= {"screw_lead_mm": 2.0, "noise_um": 1.0}
    assert W1.truth(injection)["scale_error"].value == pytest.approx(321.0, abs=0.5)


def test_w1_rig_gets_the_injected_stage_errors():
    injection = draws(W1, 1)[0]
    rig = W1.rig(injection, seed=1)
    assert isinstance(rig, RigConfig)
    stage = rig.model_dump(mode="json")["simulation"]["stages"]["phantom_x"]
    assert {k: stage[k] for k in injection} == pytest.approx(injection)


def test_w1_targets_are_irregular_and_within_the_inset_travel():
    targets = targets_mm(2.0, 298.0, 50.0)
    assert targets[0] == 2.0 and targets[-1] == 298.0 and len(set(np.diff(targets).round(3))) > 3


def test_w2_draws_include_an_ideal_tank_and_each_limit_twice_over():
    truths = [W2.truth(injection) for injection in draws(W2)]
    for metric, limit in (("orthogonality", 0.2), ("level", 0.1), ("beam_axis", 0.19)):
        values = [t[metric].value for t in truths]
        assert min(values) == 0.0 and max(values) >= 1.5 * limit, metric
    # a rigidly rotated tank: exactly orthogonal, yet off level or off the beam axis
    assert any(
        t["orthogonality"].value < 1e-9 and t["level"].value + t["beam_axis"].value > 0.05 for t in truths
    )


def test_w2_tilt_knob_model():
    x = direction(0, 0.0, 0.3)  # X tilted toward Z by 0.3°
    assert math.degrees(math.asin(x[2])) == pytest.approx(0.3, abs=1e-9)
    z = direction(2, 0.2, 0.0)  # Z tilted toward X
    assert math.degrees(math.atan2(z[0], z[2])) == pytest.approx(0.2, abs=1e-12)


def test_w2_rig_gets_tilts_pitch_noise_and_fiducial_placement():
    injection = draws(W2, 5)[4]
    raw = W2.rig(injection, seed=4).model_dump(mode="json")
    sim = raw["simulation"]
    assert sim["water_tanks"]["tank"]["axes"]["x"]["tilt_deg"] == [
        injection["tilt_x_a_deg"],
        injection["tilt_x_b_deg"],
    ]
    assert sim["stages"]["phantom_y"]["pitch_error_um_per_m"] == injection["pitch_y_um_per_m"]
    assert sim["trackers"]["tracker"]["marker_noise_rms_mm"] == injection["marker_noise_rms_mm"]
    declared = raw["tracker_registration"]["points_mm"]["reg_1"]
    actual = sim["trackers"]["tracker"]["tools"]["reg_1"]["pose"]["translation_mm"]
    assert actual[0] - declared[0] == pytest.approx(injection["placement_reg_1_x_mm"])
