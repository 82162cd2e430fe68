"""C5 + C6 on a synthetic couch: an injected sag coefficient and load roll are recovered (blind draws)."""

from __future__ import annotations

from controller.results import Outcome
from sequences.couch_load import CouchLoadParams, CouchLoadPositioning
from tests.sequences.couch_world import (
    STATISTICAL,
    CouchErrors,
    SyntheticCouch,
    blind_draw,
    execute,
    recovered,
)

FAST = {"dwell_s": 0, "settle_s": 0, "samples": 4, "registration_samples": 10}


def run(couch: SyntheticCouch, **changes):
    params = CouchLoadParams(**{**FAST, **changes})
    sequence = CouchLoadPositioning()
    return sequence.analyze(params, execute(sequence, params, couch)), params


def test_error_free_couch_passes_and_the_load_is_removed_at_the_end():
    rng, _ = blind_draw()
    couch = SyntheticCouch(CouchErrors(), rng)
    result, _ = run(couch, profile="tg224-proton")
    assert result.outcome is Outcome.PASS, [v.statement for v in result.verdicts]
    assert couch.loads == [0.0, 80.0, 135.0, 0.0]
    assert [v.metric for v in result.verdicts] == ["sag", "tilt", "E95@0kg", "E95@80kg", "E95@135kg"]


def test_blind_sag_coefficient_and_load_roll_are_recovered():
    rng, draw = blind_draw()
    coefficient = draw.uniform(2.0, 15.0)  # µm per kg: 0.27–2 mm at 135 kg
    roll = draw.uniform(-0.004, 0.004)  # degrees per kg
    drawn = {"sag_um_per_kg": coefficient, "roll_deg_per_kg": roll}
    couch = SyntheticCouch(CouchErrors(sag_um_per_kg=coefficient, load_roll_deg_per_kg=roll), rng)
    result, _ = run(couch, profile="tg224-proton")
    info = result.informative
    # differences at the same pose: tracker noise only (type A), checked at 2U
    recovered(info["sag_coefficient"], coefficient, drawn, "sag coefficient (µm/kg)", STATISTICAL)
    recovered(info["sag_mean_135kg"], coefficient * 0.135, drawn, "mean sag at 135 kg", STATISTICAL)
    recovered(info["roll_change_135kg"], roll * 135.0, drawn, "roll change at 135 kg", STATISTICAL)
    recovered(info["pitch_change_135kg"], 0.0, drawn, "pitch change at 135 kg", STATISTICAL)
    verdicts = {v.metric: v for v in result.verdicts}
    recovered(verdicts["E95@135kg"].measured, coefficient * 0.135, drawn, "E95 at 135 kg (the sag itself)")
    sag = verdicts["sag"]  # the largest over the grid, with the U of a maximum (covers at any truth)
    recovered(sag.measured, coefficient * 0.135, drawn, "largest sag")
    recovered(verdicts["tilt"].measured, abs(roll) * 135.0, drawn, "largest tilt (the load roll)")
    # guarded rule: an outcome is certain only when the truth is 2U from the limit (the value may sit U
    # from the truth, and the guard band is another U)
    margin = 2 * sag.measured.expanded_uncertainty
    if coefficient * 0.135 > 1.0 + margin:  # TG-224 1 mm
        assert sag.outcome is Outcome.FAIL, (sag.statement, drawn)
    elif coefficient * 0.135 < 1.0 - margin:
        assert sag.outcome is Outcome.PASS, (sag.statement, drawn)
