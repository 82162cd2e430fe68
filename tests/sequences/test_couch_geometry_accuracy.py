"""C1 + C2 on a synthetic couch: injected scale, misalignment and backlash are recovered (blind draws)."""

from __future__ import annotations

import math

import numpy as np

from controller.results import Measurement, Outcome
from drivers.roles.couch import CouchSetpoint
from sequences.couch_accuracy import CouchAccuracyParams, CouchTranslationAccuracy
from tests.sequences.couch_world import (
    STATISTICAL,
    CouchErrors,
    SyntheticCouch,
    blind_draw,
    execute,
    recovered,
    tilted,
)

AXES = ("lateral_mm", "longitudinal_mm", "vertical_mm")
LABEL = {"lateral_mm": "X", "longitudinal_mm": "Y", "vertical_mm": "Z"}
FAST = {"dwell_s": 0, "samples": 4, "registration_samples": 10}


def run(couch: SyntheticCouch, **changes):
    params = CouchAccuracyParams(**{**FAST, **changes})
    sequence = CouchTranslationAccuracy()
    return sequence.analyze(params, execute(sequence, params, couch)), params


def test_error_free_couch_passes_even_the_srs_profile():
    rng, _ = blind_draw()
    result, _ = run(SyntheticCouch(CouchErrors(), rng), profile="tg142-monthly-srs", repeats=2)
    assert result.outcome is Outcome.PASS, [v.statement for v in result.verdicts]
    assert [v.metric for v in result.verdicts] == ["ΔX", "ΔY", "ΔZ", "Δindicator", "R95"]
    for label in "XYZ":
        recovered(result.informative[f"scale_error_{label}"], 0.0, {}, f"scale {label}")
    assert result.informative["registration_rms_residual"].value < 0.1


def test_blind_scale_and_misalignment_are_recovered_per_axis():
    rng, draw = blind_draw()
    scale = {a: draw.choice((-1, 1)) * draw.uniform(0.005, 0.03) for a in AXES}
    tilt = {a: draw.uniform(0.4, 1.5) for a in AXES}
    toward = {"lateral_mm": 1, "longitudinal_mm": 2, "vertical_mm": 0}  # X leans to Y, Y to Z, Z to X
    directions = np.column_stack(
        [tilted(np.eye(3)[i], np.eye(3)[toward[a]], tilt[a]) for i, a in enumerate(AXES)]
    )
    drawn = {"scale": scale, "tilt_deg": tilt}
    couch = SyntheticCouch(CouchErrors(scale=scale, directions=directions), rng)
    result, params = run(couch)
    verdicts = {v.metric: v for v in result.verdicts}
    reference = couch.true_point(params.tool_offset_mm, CouchSetpoint())
    worst_indicator = 0.0
    for axis in AXES:
        label = LABEL[axis]
        recovered(result.informative[f"scale_error_{label}"], 100 * scale[axis], drawn, f"scale {label} (%)")
        recovered(result.informative[f"misalignment_{label}"], tilt[axis], drawn, f"misalignment {label}")
        deviations = []
        for offset in params.offsets_mm[axis]:
            target = CouchSetpoint(**{axis: offset})
            moved = couch.true_point(params.tool_offset_mm, target) - reference
            deviations.append(float(np.linalg.norm(moved - offset * np.eye(3)[AXES.index(axis)])))
        recovered(verdicts[f"Δ{label}"].measured, max(deviations), drawn, f"max |d| {label}")
        worst_indicator = max(worst_indicator, max(deviations))
    # the couch believes it is where it was told: readback − tracker is the true error, sign reversed
    recovered(verdicts["Δindicator"].measured, worst_indicator, drawn, "readback − tracker")


def test_blind_backlash_shows_as_reversal_at_the_reference():
    rng, draw = blind_draw()
    play = {a: draw.uniform(0.1, 0.4) for a in AXES}
    couch = SyntheticCouch(CouchErrors(backlash_mm=play), rng)
    result, _ = run(couch, repeats=3)
    for axis in AXES:
        # approached from below the table top lags by play/2 below, from above by play/2 above (ISO 230-2 B)
        reversal = result.informative[f"reversal_{LABEL[axis]}"]
        recovered(reversal, -play[axis], {"play": play}, f"reversal {axis}", coverage=STATISTICAL)


def test_blind_repeatability_is_the_reference_spread():
    rng, draw = blind_draw()
    sigma = draw.uniform(0.03, 0.12)
    couch = SyntheticCouch(CouchErrors(repeatability_mm=sigma), rng, noise_mm=0.05)
    result, params = run(couch, repeats=3, profile="vendor-pps")
    # the spread of the reference readings is couch scatter plus the tracker noise of a mean of n frames
    expected = math.hypot(sigma, 0.05 / math.sqrt(params.samples))
    # pooled over X, Y, Z (3× the degrees of freedom of one axis: an SD from few readings is skewed low)
    per_axis = [result.informative[f"reproducibility_sd_{c}"] for c in "XYZ"]
    pooled = Measurement(
        value=math.sqrt(sum(m.value**2 for m in per_axis) / 3),
        standard_uncertainty=math.sqrt(sum(m.standard_uncertainty**2 for m in per_axis) / 3) / math.sqrt(3),
        unit="mm",
    )
    recovered(pooled, expected, {"sigma": sigma}, "reproducibility SD (pooled)", coverage=STATISTICAL)
    r95 = {v.metric: v for v in result.verdicts}["R95"]
    assert r95.measured.value > 0.9 * math.sqrt(3) * sigma, (r95.statement, sigma)
