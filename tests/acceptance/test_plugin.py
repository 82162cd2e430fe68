"""The pytest plugin as an acceptance-test author uses it."""

from __future__ import annotations


def test_simulated_phantom_axis_meets_clinical_limits(hilcal_run):
    outcome = hilcal_run("phantom-axis-iso230", {"runs": 2})
    assert outcome.result is not None and outcome.result.outcome == "PASS", outcome.summary.error


def test_plugin_injects_stage_errors_that_the_sequence_then_catches(hilcal_run):
    outcome = hilcal_run("phantom-axis-iso230", {"runs": 2}, stage_errors={"phantom_x": {"backlash_mm": 0.4}})
    assert outcome.result is not None
    assert {v.metric: v.outcome for v in outcome.result.verdicts}["B"] == "FAIL"
