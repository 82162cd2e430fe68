"""Decision rules join measured value, uncertainty and limit exactly as stated."""

from __future__ import annotations

import pytest

from controller.results import DecisionRule, Measurement, Outcome, Tolerance, decide, overall_outcome

LIMIT = Tolerance(limit=0.5, unit="mm", source="test limit")


@pytest.mark.parametrize(
    ("value", "u", "rule", "expected"),
    [
        (0.40, 0.02, DecisionRule.SIMPLE, Outcome.PASS),
        (0.49, 0.05, DecisionRule.SIMPLE, Outcome.PASS),  # simple acceptance ignores U
        (0.51, 0.01, DecisionRule.SIMPLE, Outcome.FAIL),
        (0.40, 0.02, DecisionRule.GUARDED, Outcome.PASS),  # 0.40 + 0.04 ≤ 0.5
        (0.49, 0.05, DecisionRule.GUARDED, Outcome.INCONCLUSIVE),
        (0.70, 0.05, DecisionRule.GUARDED, Outcome.FAIL),  # 0.70 − 0.10 > 0.5
    ],
)
def test_decision_rules(value, u, rule, expected):
    verdict = decide(
        "A", "accuracy", Measurement(value=value, standard_uncertainty=u, unit="mm"), LIMIT, rule
    )
    assert verdict.outcome is expected
    assert "test limit" in verdict.statement and rule.statement in verdict.statement


def test_unit_mismatch_is_refused():
    with pytest.raises(ValueError, match="µm"):
        decide("A", "a", Measurement(value=1, standard_uncertainty=0, unit="µm"), LIMIT, DecisionRule.SIMPLE)


def test_overall_outcome_is_the_worst():
    m = Measurement(value=0.1, standard_uncertainty=0.0, unit="mm")
    ok = decide("A", "a", m, LIMIT, DecisionRule.SIMPLE)
    bad = decide(
        "B", "b", Measurement(value=0.9, standard_uncertainty=0, unit="mm"), LIMIT, DecisionRule.SIMPLE
    )
    assert overall_outcome([ok, ok]) is Outcome.PASS
    assert overall_outcome([ok, bad]) is Outcome.FAIL
