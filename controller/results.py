"""Result models: every verdict states its measured value, uncertainty, tolerance with source, and rule.

Decision rules follow the two conventions a calibration lab cites:
* ``simple``: simple acceptance, no guard band (ILAC-G8:09/2019 §4.2.1): PASS when the measured value is
  within the limit; the expanded uncertainty is stated beside it.
* ``guarded``: ISO 14253-1:2017 conformance: PASS only when value + U is within the limit, FAIL when
  value − U is beyond it, INCONCLUSIVE in between.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


class DecisionRule(StrEnum):
    SIMPLE = "simple"
    GUARDED = "guarded"

    @property
    def statement(self) -> str:
        if self is DecisionRule.SIMPLE:
            return "simple acceptance (ILAC-G8:09/2019 §4.2.1): PASS if measured value ≤ limit"
        return (
            "guarded acceptance (ISO 14253-1:2017): PASS if value + U ≤ limit, "
            "FAIL if value − U > limit, otherwise INCONCLUSIVE"
        )


class Measurement(BaseModel):
    """A measured quantity with its standard uncertainty and the coverage factor used for U."""

    model_config = ConfigDict(frozen=True)

    value: float
    standard_uncertainty: float = Field(ge=0)
    unit: str
    coverage_factor: float = 2.0

    @property
    def expanded_uncertainty(self) -> float:
        return self.coverage_factor * self.standard_uncertainty

    def __str__(self) -> str:
        return f"{self.value:.4f} ± {self.expanded_uncertainty:.4f} {self.unit} (k={self.coverage_factor:g})"


class Tolerance(BaseModel):
    """An upper limit on a metric, with where the number comes from and how firm it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: float = Field(gt=0)
    unit: str
    source: str = Field(min_length=3)
    confidence: str = Field(default="[T] typical engineering value", min_length=3)


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: str
    description: str
    measured: Measurement
    tolerance: Tolerance
    rule: DecisionRule
    outcome: Outcome

    @property
    def statement(self) -> str:
        return (
            f"{self.metric} = {self.measured} vs limit {self.tolerance.limit:g} {self.tolerance.unit} "
            f"[{self.tolerance.source}] by {self.rule.statement} → {self.outcome}"
        )


def decide(
    metric: str, description: str, measured: Measurement, tolerance: Tolerance, rule: DecisionRule
) -> Verdict:
    """Join a measured value, its uncertainty and an upper limit into an outcome by the stated rule."""
    if measured.unit != tolerance.unit:
        raise ValueError(f"{metric}: measured in {measured.unit} but tolerance in {tolerance.unit}")
    value, expanded, limit = measured.value, measured.expanded_uncertainty, tolerance.limit
    if rule is DecisionRule.SIMPLE:
        outcome = Outcome.PASS if value <= limit else Outcome.FAIL
    elif value + expanded <= limit:
        outcome = Outcome.PASS
    elif value - expanded > limit:
        outcome = Outcome.FAIL
    else:
        outcome = Outcome.INCONCLUSIVE
    return Verdict(
        metric=metric,
        description=description,
        measured=measured,
        tolerance=tolerance,
        rule=rule,
        outcome=outcome,
    )


def overall_outcome(verdicts: list[Verdict]) -> Outcome:
    outcomes = {v.outcome for v in verdicts}
    if Outcome.FAIL in outcomes:
        return Outcome.FAIL
    if Outcome.INCONCLUSIVE in outcomes:
        return Outcome.INCONCLUSIVE
    return Outcome.PASS


class SequenceResult(BaseModel):
    """What a sequence concluded: verdicts, informative metrics and the data behind its plots."""

    model_config = ConfigDict(extra="forbid")

    sequence: str
    title: str
    device: str
    profile: str
    verdicts: list[Verdict]
    informative: dict[str, Measurement] = Field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    frame: str = Field(description="the coordinate system the geometric values are expressed in")
    notes: list[str] = Field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        return overall_outcome(self.verdicts)


class RunSummary(BaseModel):
    """The results.json of a run directory."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    rig: str
    simulated: bool
    state: Literal["completed", "aborted", "faulted"]
    error: str | None = None
    started_wall: float
    ended_wall: float
    clock_elapsed_s: float
    results: list[SequenceResult]
    #: The journal's head hash and record count when the run ended (``hilcal verify`` checks both).
    journal_sha256: str | None = None
    journal_records: int | None = None
    #: What each device the run opened said about itself at connect (vendor, model, serial, firmware).
    devices: dict[str, dict[str, Any]] = Field(default_factory=dict)
