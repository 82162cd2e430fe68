"""Months of QA in minutes: a QA programme run day after day on the simulated rig, with a slow drift.

Each scheduled run is a real run (real protocols over real transports, its own run folder and journal)
on the simulated rig, dated on the programme's calendar rather than the wall clock, and written to the
QA record. A drift is an injected error that grows by a fixed amount per day from a given day on — a
stage's backlash wearing in, a couch's scale creeping — so the trend analysis can be shown to warn before
the first result out of tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.config import RigConfig, rig_field_parent
from controller.errors import ConfigError
from controller.session import RecordSink, RunOutcome, run_sequence


class Drift(BaseModel):
    """A rig-file field (dotted path) that grows linearly from ``from_day`` on."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    path: str = Field(description="dotted path in the rig file, e.g. simulation.stages.phantom_x.backlash_mm")
    start: float = Field(description="value up to and on from_day")
    per_day: float = Field(description="growth per day after from_day")
    from_day: int = Field(default=0, ge=0)

    def value(self, day: int) -> float:
        return self.start + self.per_day * max(day - self.from_day, 0)


class ProgrammeItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sequence: str
    params: dict[str, Any] = Field(default_factory=dict)
    every_days: int = Field(default=1, ge=1, description="1 daily, 7 weekly, 30 monthly")


class HistoryPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(default=180, ge=1, le=3650)
    start: datetime = Field(default=datetime(2026, 1, 5, 8, 0, tzinfo=UTC), description="the first QA day")
    items: list[ProgrammeItem] = Field(min_length=1)
    drifts: list[Drift] = Field(default_factory=list)
    seed: int = Field(default=20260105, description="day d's simulated world is seeded seed + d")


def default_plan(days: int = 180) -> HistoryPlan:
    """The documented demonstration: a daily water-tank axis test whose backlash wears in.

    Backlash 0.02 mm for a 20-day commissioning period, then +0.0015 mm a day: it reaches the 0.2 mm
    limit (ISO 230-2 reversal value, the sequence's clinical profile) about 120 days later.
    """
    return HistoryPlan(
        days=days,
        items=[ProgrammeItem(sequence="phantom-axis-iso230", params={"runs": 2, "step_mm": 100.0})],
        drifts=[
            Drift(path="simulation.stages.phantom_x.backlash_mm", start=0.02, per_day=0.0015, from_day=20)
        ],
    )


def rig_on_day(config: RigConfig, plan: HistoryPlan, day: int) -> RigConfig:
    """The rig as it is on ``day``: every drift applied and the world seeded for that day."""
    if config.simulation is None:
        raise ConfigError(
            "simulate-history", ["the rig has no simulation section: a history needs a simulated rig"]
        )
    raw = config.model_dump(mode="json")
    raw["simulation"]["seed"] = plan.seed + day
    for drift in plan.drifts:
        target, field = rig_field_parent(raw, drift.path, "simulate-history drift path")
        target[field] = drift.value(day)
    return RigConfig.model_validate(raw)


def simulate_history(
    config: RigConfig,
    plan: HistoryPlan,
    runs_dir: Path,
    store: RecordSink | None,
    on_run: Callable[[int, RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Run the programme day by day; every run goes to its folder and the QA record."""
    rig_on_day(config, plan, 0)  # a bad drift path is found before the first run
    outcomes = []
    for day in range(plan.days):
        for item in plan.items:
            if day % item.every_days:
                continue
            outcome = run_sequence(
                rig_on_day(config, plan, day),
                item.sequence,
                item.params,
                runs_dir=runs_dir,
                rig_source="simulate-history",
                write_report=False,
                store=store,
                performed_at=plan.start + timedelta(days=day),
            )
            outcomes.append(outcome)
            if on_run is not None:
                on_run(day, outcome)
    return outcomes
