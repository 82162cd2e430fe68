"""The tracker-based couch plans: dry runs inside the couch limits, refusals, and replays that reproduce."""

from __future__ import annotations

from collections import Counter

import pytest

from controller.engine import dry_run
from controller.errors import PreflightError
from controller.interlocks import SafetyEnvelope
from controller.messages import LoadCouch, MoveCouch, ReadCouch, ReadTracker
from sequences import SEQUENCES
from sequences.couch_accuracy import CouchAccuracyParams
from sequences.couch_load import CouchLoadParams
from sequences.couch_rotation import CouchRotationParams
from sequences.couch_walkout import CouchWalkoutParams
from tests.sequences.couch_world import Context, CouchErrors, SyntheticCouch, blind_draw, execute

NAMES = (
    "couch-translation-accuracy",
    "couch-rotation-walkout",
    "couch-rotation-accuracy",
    "couch-load-positioning",
)


def hexapod_envelope() -> SafetyEnvelope:
    """The default rig's hexapod: travel ±50/±50/±30 mm, pitch/roll ±3°, rotation ±5° (soft limits)."""
    envelope = SafetyEnvelope()
    envelope.set_couch_limits(
        "couch",
        {
            "lateral_mm": (-50.0, 50.0),
            "longitudinal_mm": (-50.0, 50.0),
            "vertical_mm": (-30.0, 30.0),
            "pitch_deg": (-3.0, 3.0),
            "roll_deg": (-3.0, 3.0),
            "couch_rotation_deg": (-5.0, 5.0),
        },
        "hexapod travel ∩ rig soft limits",
    )
    return envelope


@pytest.mark.parametrize("name", NAMES)
def test_default_plan_dry_runs_inside_the_hexapod_limits(name: str):
    sequence = SEQUENCES[name]
    params = sequence.params_model()
    messages = dry_run(sequence.plan(params, Context()), hexapod_envelope())
    kinds = Counter(type(m).__name__ for m in messages)
    readings = kinds[ReadCouch.__name__]
    assert kinds[ReadTracker.__name__] == params.registration_samples + readings * params.samples
    assert kinds[MoveCouch.__name__] >= readings
    assert all(m.device == "vega" for m in messages if isinstance(m, ReadTracker))
    if name == "couch-load-positioning":
        loads = [m.payload_kg for m in messages if isinstance(m, LoadCouch)]
        assert loads == [0.0, 80.0, 135.0, 0.0]


@pytest.mark.parametrize("name", NAMES)
def test_plan_without_a_registration_phantom_is_refused(name: str):
    sequence = SEQUENCES[name]
    with pytest.raises(PreflightError, match="tracker_registration"):
        dry_run(sequence.plan(sequence.params_model(), Context(registered=False)), hexapod_envelope())


@pytest.mark.parametrize(
    ("params", "axis"),
    [
        (CouchAccuracyParams(offsets_mm={"vertical_mm": [10.0, -40.0]}), "vertical_mm"),
        (CouchWalkoutParams(angles_deg=[-6.0, 0.0, 6.0]), "couch_rotation_deg"),
        (CouchRotationParams(poses=[{"pitch_deg": 1.0}, {"roll_deg": 3.5}]), "roll_deg"),
        (CouchLoadParams(grid=[{}, {"lateral_mm": 60.0}]), "lateral_mm"),
    ],
)
def test_pose_beyond_the_couch_limits_is_refused_before_motion(params, axis: str):
    sequence = next(s for s in SEQUENCES.values() if s.params_model is type(params))
    with pytest.raises(PreflightError, match=axis):
        dry_run(sequence.plan(params, Context()), hexapod_envelope())


def test_parameters_that_cannot_measure_are_refused():
    with pytest.raises(ValueError, match="2 different offsets"):
        CouchAccuracyParams(offsets_mm={"lateral_mm": [5.0, 5.0]})
    with pytest.raises(ValueError, match="2 different table heights"):
        CouchWalkoutParams(heights_mm=[0.0])
    with pytest.raises(ValueError, match="increasing mass"):
        CouchLoadParams(payloads=[{"payload_kg": 80.0}, {"payload_kg": 0.0}])


@pytest.mark.parametrize("name", NAMES)
def test_replayed_data_reproduce_the_analysis_and_plot(name: str):
    sequence = SEQUENCES[name]
    params = sequence.params_model(dwell_s=0, samples=3, registration_samples=5)
    rng, _ = blind_draw()
    data = execute(sequence, params, SyntheticCouch(CouchErrors(), rng, tool_offset_mm=params.tool_offset_mm))
    first, second = sequence.analyze(params, data), sequence.analyze(params, data)
    assert first.model_dump() == second.model_dump()
    assert first.informative["registration_rms_residual"].unit == "mm"
    [figure] = sequence.figures(type(first).model_validate_json(first.model_dump_json()))
    assert figure.axes
    import matplotlib.pyplot as plt

    plt.close(figure)
