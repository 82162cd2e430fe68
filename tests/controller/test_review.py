"""`hilcal review` reads any run's journal back, whatever roles produced the readings."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import load_rig_config
from controller.review import describe_reading, summarize_journal
from controller.session import run_sequence


@pytest.mark.parametrize(
    ("sequence", "params", "expected"),
    [
        ("tracker-registration", {"samples": 2}, "reg_1 ok"),
        (
            "couch-pose-readback",
            {"poses": [{"lateral_mm": 3.0}], "repeats": 1, "dwell_s": 0},
            "lateral_mm 3.0",
        ),
        (
            "electrometer-leakage-reproducibility",
            {
                "dosimeter": "electrometer_6517b",
                "readings": 3,
                "leakage_time_s": 20,
                "beam_time_s": 2,
                "environment": "room_sensor",
            },
            "kPa (sensor room_sensor)",
        ),
    ],
)
def test_review_describes_every_kind_of_reading(tmp_path: Path, sequence, params, expected):
    outcome = run_sequence(load_rig_config(), sequence, params, runs_dir=tmp_path, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error
    text = summarize_journal(outcome.run_dir)
    assert expected in text and "run ended: completed" in text


def test_unknown_reading_kinds_are_named_not_fatal():
    assert describe_reading({"type": "Spectrum", "clock_s": 3.0}) == "Spectrum at rig clock 3.00 s"
    assert describe_reading(42) == "42"
