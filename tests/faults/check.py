"""Run one matrix cell (child processes) and check the six assertions of issue 10 on what it left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.journal import read_journal
from controller.review import summarize_journal
from controller.session import replay_prefix
from controller.verify import verify_run
from tests.faults.matrix import FAULTS, Cell

ROOT = Path(__file__).resolve().parents[2]
#: Wall-time bound for one child; a hang is a failed cell, never a stuck matrix.
CHILD_TIMEOUT_S = 180.0


@dataclass
class Outcome:
    """What one cell showed: each assertion held or not, with the evidence."""

    cell: Cell
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)
    run_dir: Path | None = None

    @property
    def holds(self) -> bool:
        return bool(self.checks) and all(ok for ok, _ in self.checks.values())

    def failed(self) -> list[str]:
        return [f"{name}: {why}" for name, (ok, why) in self.checks.items() if not ok]


def _console_signals() -> None:
    """Ctrl-C as at a console: a shell without job control starts background jobs with SIGINT ignored, and
    Python then never turns SIGINT into KeyboardInterrupt; the child gets the default disposition back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child(spec: dict[str, Any], work: Path, tag: str) -> tuple[int, dict[str, Any]]:
    """Run ``tests.faults.cell`` on ``spec``; (return code, its report or {})."""
    work.mkdir(parents=True, exist_ok=True)
    spec_path, out_path = work / f"{tag}.spec.json", work / f"{tag}.out.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    with (work / f"{tag}.log").open("wb") as log:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "tests.faults.cell", str(spec_path), str(out_path)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=CHILD_TIMEOUT_S, check=False,
                preexec_fn=_console_signals,
            )  # fmt: skip
            code = proc.returncode
        except subprocess.TimeoutExpired:
            return -999, {}
    report = json.loads(out_path.read_text(encoding="utf-8")) if out_path.exists() else {}
    return code, report


def baseline(variant_spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """A clean run: replies per endpoint, device ports and protocols, and the devices the plan uses."""
    runs = work / "runs"
    code, report = child(
        {**variant_spec, "mode": "run", "fault": None, "runs_dir": str(runs)}, work, "baseline"
    )
    run_dir = next(p for p in runs.iterdir() if (p / "run.json").is_file())
    records = read_journal(run_dir / "journal.jsonl").records
    used: list[str] = []
    for record in records:
        message = record.get("message", {}) if record["kind"] == "msg" else {}
        # a Together group's members each name their own device
        for member in message.get("messages") or [message]:
            device = member.get("device") if isinstance(member, dict) else None
            if isinstance(device, str) and device not in used:
                used.append(device)
    return {**report, "exit_code": code, "used": used}


def _stopped(report: dict[str, Any]) -> tuple[bool, str]:
    world = report.get("world")
    if not world:
        return False, "no world report (the child did not finish)"
    bad = [
        name
        for name, w in world.items()
        if not w["stopped"] and not (w["severed"] and w["target_within_limits"])
    ]
    severed = [n for n, w in world.items() if w["severed"] and not w["stopped"]]
    note = f"; unreachable, finishing its last move inside its limits: {severed}" if severed else ""
    return not bad, (f"still moving: {bad}" if bad else f"all {len(world)} positioners stopped{note}")


def _error_names(
    run_dir: Path, cell: Cell, devices: list[str], peers: list[str] | None = None
) -> tuple[bool, str]:
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    error = results.get("error") or ""
    if cell.fault in ("estop", "sim_killed", "sim_frozen"):
        named = [d for d in devices if _names(error, d)]
        return bool(named), f"names {named}" if named else f"names no rig device: {error[:200]!r}"
    assert cell.target is not None
    # A fault on a shared wire (one Zaber chain for the tank's three arms) hits whichever device is talking
    # at the trigger reply: the error must name that one, a rig device on the hit wire.
    on_wire = peers or [cell.target]
    named = [d for d in on_wire if _names(error, d)]
    expected = repr(cell.target) if on_wire == [cell.target] else f"any of {on_wire}"
    return bool(named), (f"names {named}" if named else f"does not name {expected}: {error[:200]!r}")


def _names(error: str, device: str) -> bool:
    return f"'{device}'" in error or error.startswith(f"{device}:") or f" {device}:" in error


def _ended(run_dir: Path) -> tuple[bool, str]:
    """The journal and results.json agree on how the run ended, and every record is counted."""
    records = read_journal(run_dir / "journal.jsonl").records
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    last = records[-1] if records else {}
    problems = []
    if last.get("kind") != "run_end" or last.get("state") != results["state"]:
        problems.append(f"last record {last.get('kind')}/{last.get('state')} vs results {results['state']}")
    if results.get("journal_records") != len(records):
        problems.append(f"results count {results.get('journal_records')} records, journal has {len(records)}")
    readings = {r["index"] for r in records if r["kind"] == "reading"}
    msgs = {r["index"] for r in records if r["kind"] in ("msg", "replayed")}
    if not readings <= msgs:
        problems.append(f"readings without their message: {sorted(readings - msgs)[:5]}")
    return not problems, "; ".join(
        problems
    ) or f"{len(records)} records, {len(readings)} readings, ended {results['state']}"


def _resume(cell: Cell, run_dir: Path, work: Path, out: Outcome) -> None:
    """Resume through ``hilcal resume``: completes, keeps every earlier record, replays to the checkpoint."""
    before = read_journal(run_dir / "journal.jsonl").records
    messages = {r["index"]: r["message"] for r in before if r["kind"] in ("msg", "replayed")}
    expected_replay = len(replay_prefix(messages))
    spec = {"mode": "resume", "run_dir": str(run_dir), "fault": cell.fault, "target": cell.target}
    code, report = child(spec, work, "resume")
    after = read_journal(run_dir / "journal.jsonl").records
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    resumed = [r for r in after if r["kind"] == "resume"]
    replayed = sum(1 for r in after[len(before) :] if r["kind"] == "replayed")
    ok = code in (0, 1) and results["state"] == "completed"
    out.checks["resumes"] = (
        ok,
        f"hilcal resume exit {code}, ended {results['state']}: {results.get('error')}",
    )
    kept = after[: len(before)] == before and bool(resumed)
    out.checks["nothing_lost"] = (
        kept and replayed == expected_replay,
        f"{len(before)} earlier records kept: {kept}; replayed {replayed} of {expected_replay} (checkpoint)",
    )
    integrity = verify_run(run_dir)
    out.checks["journal_verifies_after_resume"] = (
        integrity.ok,
        "; ".join(integrity.problems) or "chain intact",
    )
    ok, why = _stopped(report)
    out.checks["stopped_after_resume"] = (ok, why)


def run_cell(cell: Cell, spec: dict[str, Any], devices: list[str], work: Path) -> Outcome:
    """Run the cell's fault, then check exit code, error, world, journal, records, resume or review."""
    out = Outcome(cell)
    try:
        _run_cell(out, spec, devices, work)
    except Exception as err:  # a check that cannot even read the run is a cell that does not hold
        out.checks["readable"] = (False, f"{type(err).__name__}: {err}")
    return out


def _run_cell(out: Outcome, spec: dict[str, Any], devices: list[str], work: Path) -> None:
    cell = out.cell
    runs = work / "runs"
    code, report = child({**spec, "mode": "run", "runs_dir": str(runs)}, work, "run")
    dirs = [p for p in runs.iterdir() if p.is_dir()] if runs.exists() else []  # not the QA record file
    if len(dirs) != 1:
        out.checks["run_directory"] = (False, f"expected one run directory, found {len(dirs)}")
        return
    run_dir = out.run_dir = dirs[0]
    if cell.fault == "sigkill":
        killed = code == -signal.SIGKILL
        out.checks["killed"] = (killed, f"return code {code}")
        integrity = verify_run(run_dir)
        out.checks["journal_verifies"] = (integrity.ok, "; ".join(integrity.problems) or "chain intact")
        _resume(cell, run_dir, work, out)
        return
    out.checks["exit_code_3"] = (report.get("exit_code") == 3, f"exit {report.get('exit_code', code)}")
    if FAULTS[cell.fault] != "signal":
        out.checks["error_names_device"] = _error_names(run_dir, cell, devices, spec.get("peers"))
    out.checks["positioners_stopped"] = _stopped(report)
    integrity = verify_run(run_dir)
    out.checks["journal_verifies"] = (integrity.ok, "; ".join(integrity.problems) or "chain intact")
    out.checks["records_complete"] = _ended(run_dir)
    state = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["state"]
    if state == "aborted":
        _resume(cell, run_dir, work, out)
    else:
        summary = summarize_journal(run_dir)
        reviewable = "faulted" in summary and "intact" in summary.lower()
        out.checks["reviewable"] = (reviewable, summary.splitlines()[1] if reviewable else summary[:300])
