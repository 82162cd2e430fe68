"""Results out of the QA record for other QA systems: CSV, JSON, and QATrack+ test-list instances.

One selection (a run, or runs performed in a date range) and three shapes, all documented in
docs/programme.md: CSV with one row per metric; JSON with one object per run holding its metrics and
signatures; and, for a centre that keeps its programme in QATrack+, one object per run in the shape its
REST API takes at ``POST /api/qa/testlistinstances/`` (field names from QATrack+'s API guide,
``docs/api/guide.rst``): ``unit_test_collection``, ``work_started``, ``work_completed``, ``in_progress``,
``include_for_scheduling``, ``user_key``, ``comment`` and ``tests`` keyed by test macro name (slug), each
``{"value": …, "comment": …}``. Which unit test collection and which slug a hilcal result maps to is the
centre's configuration (``QATrackMap``); without one, placeholders and generated slugs are written.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from records.schema import devices, metrics, runs, signatures
from records.store import ResultsStore, as_utc

ExportFormat = Literal["csv", "json", "qatrack"]
JSON_FORMAT = "hilcal-results"
QATRACK_FORMAT = "hilcal-qatrack-testlistinstances"
FORMAT_VERSION = 1
#: QATrack+ rejects a second test-list instance with the same user_key (at most 255 characters).
USER_KEY_MAX = 255


class ExportMetric(BaseModel):
    metric: str
    description: str
    kind: str
    value: float
    standard_uncertainty: float
    coverage_factor: float
    expanded_uncertainty: float
    unit: str
    tolerance_limit: float | None
    action_limit: float | None
    tolerance_source: str | None
    rule: str | None
    outcome: str | None


class ExportSignature(BaseModel):
    by: str
    role: str
    at: datetime
    journal_sha256: str
    journal_records: int
    note: str
    void: bool = Field(description="void in the QA record (the run was re-recorded since)")
    void_reason: str | None = None


class ExportRun(BaseModel):
    run_id: str
    rig: str
    sequence: str
    title: str
    state: str
    outcome: str | None
    simulated: bool
    performed_at: datetime
    ended_at: datetime
    device_name: str
    device_key: str | None
    profile: str
    journal_sha256: str | None
    journal_records: int | None
    error: str | None
    signatures: list[ExportSignature]
    metrics: list[ExportMetric]


def select_runs(
    store: ResultsStore,
    since: datetime | None = None,
    until: datetime | None = None,
    run_id: str | None = None,
) -> list[ExportRun]:
    """Runs performed in [since, until) (or the one run), oldest first, with metrics and signatures."""
    query = (
        select(runs, devices.c.key.label("device_key"))
        .outerjoin(devices, devices.c.id == runs.c.device_id)
        .order_by(runs.c.performed_at, runs.c.run_id)
    )
    if run_id is not None:
        query = query.where(runs.c.run_id == run_id)
    if since is not None:
        query = query.where(runs.c.performed_at >= since)
    if until is not None:
        query = query.where(runs.c.performed_at < until)
    with store.engine.connect() as conn:
        run_rows = conn.execute(query).all()
        ids = [row.run_id for row in run_rows]
        by_run: dict[str, list[ExportMetric]] = {run: [] for run in ids}
        signed: dict[str, list[ExportSignature]] = {run: [] for run in ids}
        for chunk in _chunks(ids, 500):
            for m in conn.execute(
                select(metrics).where(metrics.c.run_id.in_(chunk)).order_by(metrics.c.run_id, metrics.c.id)
            ):
                by_run[m.run_id].append(
                    ExportMetric(
                        metric=m.metric,
                        description=m.description,
                        kind=m.kind,
                        value=m.value,
                        standard_uncertainty=m.standard_uncertainty,
                        coverage_factor=m.coverage_factor,
                        expanded_uncertainty=m.standard_uncertainty * m.coverage_factor,
                        unit=m.unit,
                        tolerance_limit=m.tolerance_limit,
                        action_limit=m.action_limit,
                        tolerance_source=m.tolerance_source,
                        rule=m.rule,
                        outcome=m.outcome,
                    )
                )
            for s in conn.execute(
                select(signatures)
                .where(signatures.c.run_id.in_(chunk))
                .order_by(signatures.c.signed_at, signatures.c.id)
            ):
                signed[s.run_id].append(
                    ExportSignature(
                        by=s.signed_by,
                        role=s.role,
                        at=as_utc(s.signed_at),
                        journal_sha256=s.journal_sha256,
                        journal_records=s.journal_records,
                        note=s.note,
                        void=s.voided_at is not None,
                        void_reason=s.void_reason,
                    )
                )
    exported = []
    for row in run_rows:
        for sig in signed[row.run_id]:  # a signature of another head than the one recorded is void
            if not sig.void and (sig.journal_sha256, sig.journal_records) != (
                row.journal_sha256,
                row.journal_records,
            ):
                sig.void, sig.void_reason = True, "the QA record holds another journal head for this run"
        exported.append(
            ExportRun(
                run_id=row.run_id,
                rig=row.rig,
                sequence=row.sequence,
                title=row.title,
                state=row.state,
                outcome=row.outcome,
                simulated=row.simulated,
                performed_at=as_utc(row.performed_at),
                ended_at=as_utc(row.ended_at),
                device_name=row.device_name,
                device_key=row.device_key,
                profile=row.profile,
                journal_sha256=row.journal_sha256,
                journal_records=row.journal_records,
                error=row.error,
                signatures=signed[row.run_id],
                metrics=by_run[row.run_id],
            )
        )
    return exported


# -- CSV -----------------------------------------------------------------------------------------
RUN_COLUMNS = (
    "run_id",
    "performed_at",
    "rig",
    "sequence",
    "device_name",
    "device_key",
    "simulated",
    "state",
    "run_outcome",
    "journal_sha256",
    "signed_by",
)
METRIC_COLUMNS = tuple(ExportMetric.model_fields)
CSV_COLUMNS = RUN_COLUMNS + METRIC_COLUMNS


def csv_rows(exported: Iterable[ExportRun]) -> Iterable[dict[str, Any]]:
    """One row per metric; a run without metrics (faulted early) is one row with empty metric columns."""
    for run in exported:
        base = {
            "run_id": run.run_id,
            "performed_at": run.performed_at.isoformat(),
            "rig": run.rig,
            "sequence": run.sequence,
            "device_name": run.device_name,
            "device_key": run.device_key or "",
            "simulated": "true" if run.simulated else "false",
            "state": run.state,
            "run_outcome": run.outcome or "",
            "journal_sha256": run.journal_sha256 or "",
            "signed_by": "; ".join(f"{s.by} ({s.role})" for s in run.signatures if not s.void),
        }
        if not run.metrics:
            yield {**base, **dict.fromkeys(METRIC_COLUMNS, "")}
        for metric in run.metrics:
            values = metric.model_dump()
            yield {**base, **{k: "" if values[k] is None else values[k] for k in METRIC_COLUMNS}}


def write_csv(exported: list[ExportRun], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in csv_rows(exported):
            writer.writerow(row)
            count += 1
    return count


# -- JSON ----------------------------------------------------------------------------------------
def json_document(exported: list[ExportRun], source: str, selection: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "source": source,
        "selection": selection,
        "runs": [run.model_dump(mode="json") for run in exported],
    }


# -- QATrack+ ------------------------------------------------------------------------------------
class QATrackMap(BaseModel):
    """A centre's mapping of hilcal results onto its QATrack+ configuration (YAML or TOML)."""

    model_config = ConfigDict(extra="forbid")

    collections: dict[str, str] = Field(
        default_factory=dict,
        description="'sequence@device' or 'sequence' → unit test collection URL "
        "(from GET /api/qa/unittestcollections/)",
    )
    slugs: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="sequence → {hilcal metric → QATrack+ test macro name}; when a sequence is listed, "
        "only its listed metrics are sent",
    )
    include_informative: bool = Field(default=False, description="also send informative values")
    include_simulated: bool = Field(default=False, description="also send runs made on a simulated rig")


def default_slug(sequence: str, metric: str) -> str:
    """A QATrack+ macro name (a Python identifier) for a metric: ``phantom_axis_iso230_A``, ``…_delta_t``."""
    text = f"{sequence}_{metric}"
    out = []
    for char in text:
        if char.isascii():
            out.append(char if char.isalnum() else "_")
        else:
            name = unicodedata.name(char, "")
            out.append(f"_{name.split()[-1].lower()}_" if name else "_")
    slug = re.sub(r"_+", "_", "".join(out)).strip("_")
    return slug if slug[:1].isalpha() else f"t_{slug}"


def _collection(mapping: QATrackMap, run: ExportRun) -> str | None:
    for key in (f"{run.sequence}@{run.device_name}", f"{run.sequence}@{run.device_key}", run.sequence):
        if key in mapping.collections:
            return mapping.collections[key]
    return None


def _number(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.4g} {unit}"


def qatrack_instance(run: ExportRun, mapping: QATrackMap) -> dict[str, Any]:
    """One run as a QATrack+ test-list instance (the body of ``POST /api/qa/testlistinstances/``)."""
    chosen = mapping.slugs.get(run.sequence)
    tests: dict[str, dict[str, Any]] = {}
    for metric in run.metrics:
        if metric.kind != "verdict" and not mapping.include_informative:
            continue
        if chosen is not None and metric.metric not in chosen:
            continue
        slug = chosen[metric.metric] if chosen is not None else default_slug(run.sequence, metric.metric)
        comment = f"U = {_number(metric.expanded_uncertainty, metric.unit)} (k = {metric.coverage_factor:g})"
        if metric.kind == "verdict":
            comment += (
                f"; tolerance {_number(metric.tolerance_limit, metric.unit)}"
                f", action {_number(metric.action_limit, metric.unit)}"
                f"; rule {metric.rule}; hilcal verdict {metric.outcome}"
            )
        tests[slug] = {"value": metric.value, "comment": comment}
    valid = [s for s in run.signatures if not s.void]
    comment = (
        f"hilcal run {run.run_id}: {run.sequence} on {run.device_name or '?'} "
        f"({run.device_key or 'no key'}), "
        f"state {run.state}, outcome {run.outcome or '—'}; journal sha256 {run.journal_sha256} "
        f"({run.journal_records} records)"
    )
    if run.simulated:
        comment += "; SIMULATED rig"
    if valid:
        comment += "; signed off by " + ", ".join(f"{s.by} ({s.role}, {s.at.date()})" for s in valid)
    key = f"hilcal:{run.run_id}:{run.journal_sha256 or 'none'}"[:USER_KEY_MAX]
    return {
        "unit_test_collection": _collection(mapping, run),
        "work_started": run.performed_at.isoformat(),
        "work_completed": _completed(run).isoformat(),
        "in_progress": False,
        "include_for_scheduling": run.state == "completed",
        "user_key": key,
        "comment": comment,
        "tests": tests,
    }


def qatrack_document(exported: list[ExportRun], mapping: QATrackMap, source: str) -> dict[str, Any]:
    """Every selected run as a test-list instance; runs without a mapped collection are listed apart."""
    chosen = [run for run in exported if mapping.include_simulated or not run.simulated]
    instances = [qatrack_instance(run, mapping) for run in chosen]
    return {
        "format": QATRACK_FORMAT,
        "version": FORMAT_VERSION,
        "endpoint": "/api/qa/testlistinstances/",
        "source": source,
        "exported_at": datetime.now(UTC).isoformat(),
        "skipped_simulated": [run.run_id for run in exported if run not in chosen],
        "unmapped": [
            run.run_id
            for run, body in zip(chosen, instances, strict=True)
            if body["unit_test_collection"] is None
        ],
        "test_list_instances": instances,
    }


def write_json(document: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _completed(run: ExportRun) -> datetime:
    """When the work ended: the run's end, unless the run is dated on a programme calendar (simulated
    history), where the end lies outside the day it was performed; then the performed time."""
    if timedelta(0) <= run.ended_at - run.performed_at <= timedelta(days=1):
        return run.ended_at
    return run.performed_at


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
