"""A run folder read as the QA record needs it: the run, the devices it used, every metric it reported.

Read from the files the controller writes (``run.json``, ``results.json``, ``journal.jsonl``) and nothing
else, so the store can be rebuilt from run folders at any time. Integrity is the controller's job
(``hilcal verify``); this module trusts what it is given and says so in its callers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DeviceSeen(BaseModel):
    """A device a run used: its rig name, role, what it said about itself, and its certificate if any."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: str
    vendor: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    certificate: dict[str, Any] | None = None

    def key(self, rig: str) -> str:
        """vendor/model/serial when the device told its serial; else the rig's name for it.

        An assembly (several devices tested as one) is keyed by its parts' keys joined with "+".
        """
        if self.role == "assembly":
            return self.serial
        if self.serial:
            return f"{self.vendor or '?'}/{self.model or '?'}/{self.serial}"
        return f"{rig}/{self.name}"


class MetricRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: str
    description: str
    kind: str  # "verdict" or "informative"
    value: float
    standard_uncertainty: float
    coverage_factor: float
    unit: str
    tolerance_limit: float | None = None
    action_limit: float | None = None
    tolerance_source: str | None = None
    rule: str | None = None
    outcome: str | None = None


class RunRecord(BaseModel):
    """One run as the store keeps it."""

    run_id: str
    rig: str
    sequence: str
    title: str = ""
    state: str
    outcome: str | None = None
    simulated: bool
    performed_at: datetime
    ended_at: datetime
    device_name: str = ""
    profile: str = ""
    run_dir: str
    journal_sha256: str | None = None
    journal_records: int | None = None
    error: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    devices: list[DeviceSeen] = Field(default_factory=list)
    metrics: list[MetricRow] = Field(default_factory=list)

    def device_under_test(self) -> list[DeviceSeen]:
        """The devices the result is about (a composite like ``phantom_x+phantom_y`` names several).

        An electrometer is tested with the chamber it reads, when the rig file names one: its history is
        the pair's, so a swapped chamber starts a new history as a swapped electrometer does.
        """
        names = [name for name in self.device_name.split("+") if name]
        by_name = {device.name: device for device in self.devices}
        tested = []
        for name in names:
            tested.append(by_name.get(name) or DeviceSeen(name=name, role=""))
            chamber = by_name.get(chamber_name(name))
            if chamber is not None:
                tested.append(chamber)
        return tested


class NotARun(Exception):
    """A folder the store cannot record (no results yet, or not a run folder)."""


def read_run_folder(run_dir: Path) -> RunRecord:
    """The run as recorded; ``NotARun`` when it has not ended (no results.json) or is not a run."""
    try:
        manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        summary = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise NotARun(
            f"{run_dir}: {Path(err.filename or '').name} is missing (the run has not ended)"
        ) from err
    except (OSError, ValueError) as err:
        raise NotARun(f"{run_dir}: unreadable ({err})") from err
    results = summary.get("results") or []
    result = results[0] if results else {}
    rig_devices = (manifest.get("rig") or {}).get("devices") or {}
    performed = manifest.get("performed_at") or manifest.get("started_utc")
    return RunRecord(
        run_id=summary["run_id"],
        rig=summary["rig"],
        sequence=manifest["sequence"],
        title=result.get("title", ""),
        state=summary["state"],
        outcome=_overall(result) if result else None,
        simulated=bool(summary.get("simulated")),
        performed_at=_utc(performed) if performed else _from_epoch(summary["started_wall"]),
        ended_at=_from_epoch(summary["ended_wall"]),
        device_name=result.get("device") or manifest.get("device_under_test") or "",
        profile=result.get("profile", ""),
        run_dir=str(run_dir.resolve()),
        journal_sha256=summary.get("journal_sha256"),
        journal_records=summary.get("journal_records"),
        error=summary.get("error"),
        params=manifest.get("params") or {},
        devices=_devices(run_dir, rig_devices),
        metrics=_metrics(result),
    )


def _devices(run_dir: Path, rig_devices: dict[str, Any]) -> list[DeviceSeen]:
    """Every device the journal says was connected, with its identity, and those the run opened."""
    seen: dict[str, dict[str, Any]] = {}
    try:
        lines = (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn tail
        if record.get("kind") in ("run_start", "resume"):
            for name in record.get("devices") or []:
                seen.setdefault(name, {})
        elif record.get("kind") == "connected" and isinstance(record.get("device"), str):
            entry = seen.setdefault(record["device"], {})
            identity = record.get("device_identity")
            if isinstance(identity, dict):
                entry.update(
                    {k: str(identity.get(k) or "") for k in ("vendor", "model", "serial", "firmware")}
                )
    devices = []
    for name, identity in sorted(seen.items()):
        config = rig_devices.get(name) or {}
        devices.append(
            DeviceSeen(
                name=name,
                role=str(config.get("role") or ("environment" if name == "operator_entry" else "")),
                certificate=config.get("certificate"),
                **identity,
            )
        )
        chamber = config.get("chamber")
        if isinstance(chamber, dict):  # passive: identified by the rig file, used with its electrometer
            devices.append(
                DeviceSeen(
                    name=chamber_name(name),
                    role="chamber",
                    vendor=str(chamber.get("vendor") or ""),
                    model=str(chamber.get("model") or ""),
                    serial=str(chamber.get("serial") or ""),
                    certificate=chamber.get("certificate"),
                )
            )
    return devices


def chamber_name(device: str) -> str:
    """How a run's devices name the chamber the electrometer ``device`` reads."""
    return f"{device}.chamber"


def _metrics(result: dict[str, Any]) -> list[MetricRow]:
    rows = []
    for verdict in result.get("verdicts") or []:
        measured, tolerance = verdict["measured"], verdict["tolerance"]
        rows.append(
            MetricRow(
                metric=verdict["metric"],
                description=verdict.get("description", ""),
                kind="verdict",
                value=measured["value"],
                standard_uncertainty=measured["standard_uncertainty"],
                coverage_factor=measured.get("coverage_factor", 2.0),
                unit=measured["unit"],
                tolerance_limit=tolerance["limit"],
                action_limit=tolerance.get("action_limit"),
                tolerance_source=tolerance.get("source"),
                rule=verdict.get("rule"),
                outcome=verdict.get("outcome"),
            )
        )
    for name, measured in (result.get("informative") or {}).items():
        rows.append(
            MetricRow(
                metric=name,
                description="",
                kind="informative",
                value=measured["value"],
                standard_uncertainty=measured["standard_uncertainty"],
                coverage_factor=measured.get("coverage_factor", 2.0),
                unit=measured["unit"],
            )
        )
    return rows


def _overall(result: dict[str, Any]) -> str:
    outcomes = {verdict.get("outcome") for verdict in result.get("verdicts") or []}
    for outcome in ("FAIL", "INCONCLUSIVE"):
        if outcome in outcomes:
            return outcome
    return "PASS"


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)
