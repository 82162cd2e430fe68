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

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    """Upper limits on a metric — tolerance and action level — with where each comes from and how firm it is.

    ``limit`` is the *tolerance level*: the decision rule judges the verdict against it, and a result beyond
    it is acted on soon (investigated, corrected at the next opportunity). ``action_limit`` is the *action
    level*: beyond it the device is taken out of clinical use until it is put right (docs/tolerances.md).
    Results written before action levels existed have none (``None``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    limit: float = Field(gt=0, description="tolerance level, used by the decision rule")
    unit: str
    source: str = Field(min_length=3, description="where the tolerance comes from (publication, table)")
    confidence: str = Field(default="not stated", min_length=3, description="how firm the tolerance is")
    action_limit: float | None = Field(default=None, gt=0, description="action level (≥ limit)")
    action_source: str | None = Field(
        default=None, min_length=3, description="where the action level comes from"
    )

    @model_validator(mode="after")
    def _action_not_below_tolerance(self) -> Tolerance:
        if self.action_limit is not None and self.action_limit < self.limit:
            raise ValueError(
                f"action_limit = {self.action_limit:g} {self.unit}: expected ≥ the tolerance limit "
                f"{self.limit:g} {self.unit} (the action level is the further one)"
            )
        return self

    def action_exceeded(self, measured: Measurement, rule: DecisionRule) -> bool | None:
        """Whether the value is beyond the action level by the rule's own FAIL test; None without one.

        Simple rule: value > action level. Guarded rule: value − U > action level (beyond it even at the
        favourable end of its uncertainty).
        """
        if self.action_limit is None:
            return None
        if rule is DecisionRule.SIMPLE:
            return measured.value > self.action_limit
        return measured.value - measured.expanded_uncertainty > self.action_limit


class ToleranceOverride(BaseModel):
    """A site's change to one tolerance of the profile a result was judged by (from a site tolerance file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tolerance: str = Field(description="the profile's tolerance name, e.g. 'accuracy'")
    applies_to: str = Field(default="", description="the verdict metrics judged by it, e.g. 'ΔX, ΔY, ΔZ'")
    unit: str
    limit_before: float
    limit_after: float
    action_limit_before: float | None = None
    action_limit_after: float | None = None
    source: str = Field(min_length=3, description="the site's reference for the new value")
    reason: str = Field(min_length=3, description="why the site departs from the library value")
    file: str = Field(description="the site tolerance file the override came from")
    site: str = Field(default="", description="the site the file names")


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
    #: A site tolerance file's changes to the profile's limits (empty: the library profile as published).
    tolerance_overrides: list[ToleranceOverride] = Field(default_factory=list)

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
