"""The QA schedule: which sequence, on which device, how often — and what the QA record says is due.

A schedule item is satisfied by a *completed* run of its sequence on its device that either passed or
carries a valid sign-off (a physicist reviewed a FAIL or INCONCLUSIVE result and accepted it). A FAIL
on its own does not satisfy an item: the test was performed, but the QA item is not done until the
machine passes or someone answerable says why the result is acceptable. Aborted and faulted runs never
satisfy. Simulated runs satisfy only when the schedule says ``accept_simulated: true`` (the demo rig).

Dates are calendar dates in the schedule's time zone. The due date is counted from the last satisfying
run (as QATrack+'s classic frequencies count from the last completed session); the item stays *due*
(not yet overdue) for the frequency's grace window after it, then it is *overdue*. Why each window is
what it is, and which are hilcal's own choice, is in docs/programme.md.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import and_, exists, select

from records.schema import devices, runs, signatures
from records.store import ResultsStore


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"


@dataclass(frozen=True)
class Interval:
    """How far the next due date lies after the last satisfying run, and the grace after it."""

    days: int = 0
    months: int = 0
    grace_days: int = 0
    working_days: bool = False  # daily: the next working day, not the next calendar day


#: The default windows (docs/programme.md gives each one's source or says it is hilcal's choice).
INTERVALS: dict[Frequency, Interval] = {
    Frequency.DAILY: Interval(days=1, grace_days=0, working_days=True),
    Frequency.WEEKLY: Interval(days=7, grace_days=2),
    Frequency.MONTHLY: Interval(months=1, grace_days=7),
    Frequency.QUARTERLY: Interval(months=3, grace_days=14),
    Frequency.ANNUAL: Interval(months=12, grace_days=31),
}

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Status = Literal["ok", "due", "overdue"]


class ScheduleItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sequence: str = Field(min_length=1, description="sequence name, as `hilcal sequences` lists it")
    device: str = Field(
        min_length=1, description="rig device name (e.g. phantom_x) or a part of the device key (a serial)"
    )
    frequency: Frequency
    grace_days: int | None = Field(default=None, ge=0, le=366, description="overrides the frequency's")
    title: str = ""

    def interval(self) -> Interval:
        base = INTERVALS[self.frequency]
        if self.grace_days is None:
            return base
        return Interval(base.days, base.months, self.grace_days, base.working_days)

    def label(self) -> str:
        return self.title or f"{self.sequence} on {self.device}"


class Schedule(BaseModel):
    """A QA programme: items, the time zone its dates are in, the days daily QA is done."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    timezone: str = Field(default="UTC", description="IANA zone the schedule's dates are counted in")
    working_days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    start: date | None = Field(
        default=None, description="programme start: an item never performed is due from this date"
    )
    accept_simulated: bool = Field(
        default=False, description="let runs on a simulated rig satisfy items (demonstration only)"
    )
    items: list[ScheduleItem] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name: Europe/Berlin)") from err
        return value

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class RunSeen:
    run_id: str
    performed_on: date
    outcome: str | None
    signed: bool
    device_key: str | None


@dataclass(frozen=True)
class ItemStatus:
    item: ScheduleItem
    status: Status
    last: RunSeen | None  # the last satisfying run
    due: date | None  # when the item falls due (None: never performed and no programme start)
    overdue_from: date | None  # the first day it counts as overdue
    newer_unsatisfying: RunSeen | None  # a later run that did not satisfy (a FAIL nobody signed)

    @property
    def note(self) -> str:
        parts = []
        if self.last is None:
            parts.append("never performed (no passing or signed-off run)")
        if self.newer_unsatisfying is not None:
            run = self.newer_unsatisfying
            parts.append(
                f"later run {run.run_id} on {run.performed_on.isoformat()} ended {run.outcome}, "
                "not signed off"
            )
        return "; ".join(parts)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_due(last: date, interval: Interval, working_days: list[Weekday]) -> date:
    """The date an item falls due after a satisfying run on ``last``."""
    if interval.working_days:
        allowed = {WEEKDAYS.index(day) for day in working_days}
        candidate = last + timedelta(days=1)
        while candidate.weekday() not in allowed:
            candidate += timedelta(days=1)
        return candidate
    return add_months(last, interval.months) + timedelta(days=interval.days)


def classify(at: date, due: date, grace_days: int) -> Status:
    if at < due:
        return "ok"
    return "due" if at <= due + timedelta(days=grace_days) else "overdue"


def device_matches(wanted: str, device_name: str, device_key: str | None) -> bool:
    """A rig device name (also one part of a composite like ``phantom_x+phantom_y``) or a key part."""
    if wanted == device_name or wanted in device_name.split("+"):
        return True
    return bool(device_key and wanted in device_key)


def item_status(store: ResultsStore, schedule: Schedule, item: ScheduleItem, at: datetime) -> ItemStatus:
    """Where one item stands at ``at``: read from the QA record, newest run first."""
    zone = schedule.zone()
    today = at.astimezone(zone).date()
    signed = exists().where(
        and_(
            signatures.c.run_id == runs.c.run_id,
            signatures.c.voided_at.is_(None),
            signatures.c.journal_sha256 == runs.c.journal_sha256,
            signatures.c.journal_records == runs.c.journal_records,
        )
    )
    query = (
        select(
            runs.c.run_id,
            runs.c.performed_at,
            runs.c.outcome,
            runs.c.simulated,
            runs.c.device_name,
            devices.c.key,
            signed.label("signed"),
        )
        .outerjoin(devices, devices.c.id == runs.c.device_id)
        .where(
            (runs.c.sequence == item.sequence)
            & (runs.c.state == "completed")
            & (runs.c.performed_at <= at.astimezone(UTC))
        )
        .order_by(runs.c.performed_at.desc())
    )
    last: RunSeen | None = None
    newer: RunSeen | None = None
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            if row.simulated and not schedule.accept_simulated:
                continue
            if not device_matches(item.device, row.device_name, row.key):
                continue
            performed = row.performed_at
            performed = performed.replace(tzinfo=UTC) if performed.tzinfo is None else performed
            on = performed.astimezone(zone).date()
            seen = RunSeen(row.run_id, on, row.outcome, bool(row.signed), row.key)
            if seen.outcome == "PASS" or seen.signed:
                last = seen
                break
            newer = newer or seen
    interval = item.interval()
    if last is not None:
        due: date | None = next_due(last.performed_on, interval, schedule.working_days)
    else:
        due = schedule.start
    if due is None:
        return ItemStatus(item, "overdue", None, None, None, newer)
    return ItemStatus(
        item,
        classify(today, due, interval.grace_days),
        last,
        due,
        due + timedelta(days=interval.grace_days + 1),
        newer,
    )


def due_report(store: ResultsStore, schedule: Schedule, at: datetime | None = None) -> list[ItemStatus]:
    """Every item's status at ``at`` (default: now), in the schedule's order."""
    moment = at or datetime.now(UTC)
    return [item_status(store, schedule, item, moment) for item in schedule.items]
