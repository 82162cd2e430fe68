"""What ``hilcal verify`` proves about a run directory: its records are the ones that were written.

Checks, in order: the journal's hash chain from the first record to the last (``controller.journal``);
that every ``run_start``/``resume`` record states the SHA-256 of the ``run.json`` now on disk (so the
parameters and rig a resume would use are the ones the run started with); and, when the run ended,
that ``results.json`` names the journal head and record count it was written after and repeats the
journal's results verbatim. What it cannot prove: that nobody rewrote *every* file consistently — for
that, compare the head hash with one recorded elsewhere (a sign-off, a results store).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import HilcalError
from controller.journal import JOURNAL_NAME, JournalIntegrityError, read_journal

MANIFEST = "run.json"
STAGED_MANIFEST = "run.json.staged"
RESULTS = "results.json"


class StartupInterrupted(HilcalError):
    """A run directory whose run never began: killed while the rig was being built, before any record."""


def fsync_directory(path: Path) -> None:
    """Make a rename inside ``path`` durable (POSIX: the directory entry is data too)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def complete_startup(run_dir: Path) -> None:
    """Finish or explain a start-up a kill interrupted; raise ``StartupInterrupted`` when no run began.

    A run writes ``run.json.staged``, journals ``run_start`` naming its SHA-256, then renames it to
    ``run.json``. Killed between the last two steps, the staged manifest is the run's: it is renamed here
    (only if the journal names exactly its hash). With no journal at all, nothing was sent to any device.
    """
    manifest, staged, journal = run_dir / MANIFEST, run_dir / STAGED_MANIFEST, run_dir / JOURNAL_NAME
    if not run_dir.is_dir():
        raise StartupInterrupted(f"{run_dir} is not a run directory")
    if journal.is_file() and journal.stat().st_size > 0:
        if not manifest.exists() and staged.is_file():
            first = read_journal(journal, verify=False).records[:1]
            if first and first[0].get("manifest_sha256") == file_sha256(staged):
                os.replace(staged, manifest)
                fsync_directory(run_dir)
        return
    start_up_files = {MANIFEST, STAGED_MANIFEST, STAGED_MANIFEST + ".tmp", JOURNAL_NAME}
    present = {entry.name for entry in run_dir.iterdir()}
    if not present:
        raise StartupInterrupted(
            f"{run_dir}: empty (no run.json, no journal): not a run folder, or the run never began — killed "
            "before it wrote anything; nothing was sent to any device"
        )
    if present <= start_up_files:
        raise StartupInterrupted(
            f"{run_dir}: the run never began (killed while the rig was being set up, before the journal's "
            "first record): nothing was sent to any device and nothing was measured; start a new run"
        )


@dataclass
class VerifyReport:
    run_dir: Path
    records: int = 0
    head: str | None = None
    problems: list[str] = field(default_factory=list)
    torn_tail: bool = False
    #: The first record the chain does not hold for (None when the chain holds to the end).
    broken_at: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        if self.broken_at is not None:
            out = [f"journal: {self.records} lines; its hash chain breaks at record {self.broken_at}"]
        else:
            out = [f"journal: {self.records} records, head sha256 {self.head or '—'}"]
        if self.torn_tail:
            out.append("torn final record (an incomplete write; not part of the chain)")
        if self.ok:
            out.append("integrity: OK — hash chain intact, run.json and results.json match the journal")
        else:
            out.extend(f"integrity: BROKEN — {problem}" for problem in self.problems)
        return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_run(run_dir: Path) -> VerifyReport:
    """Check a run directory's journal chain, manifest and results; never raises for a broken run."""
    report = VerifyReport(run_dir)
    journal_path = run_dir / JOURNAL_NAME
    if not journal_path.is_file():
        report.problems.append(f"{journal_path} is missing")
        return report
    try:
        contents = read_journal(journal_path)
    except JournalIntegrityError as err:
        report.problems.append(f"record {err.record}: {err.reason}")
        report.broken_at = err.record
        report.records = sum(1 for line in journal_path.read_bytes().split(b"\n") if line.strip())
        return report
    report.records, report.head = len(contents.records), contents.head
    report.torn_tail = bool(contents.torn_tail)
    manifest = run_dir / MANIFEST
    starts = [r for r in contents.records if r["kind"] in ("run_start", "resume")]
    if manifest.is_file():
        digest = file_sha256(manifest)
        for record in starts:
            if record.get("manifest_sha256") != digest:
                report.problems.append(f"{MANIFEST} differs from the one record {record['n']} started with")
                break
    elif starts:
        report.problems.append(f"{manifest} is missing")
    results = run_dir / RESULTS
    if results.is_file():
        _check_results(report, results, [r["result"] for r in contents.records if r["kind"] == "result"])
    return report


def _check_results(report: VerifyReport, path: Path, journaled: list[object]) -> None:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        report.problems.append(f"{RESULTS} is unreadable ({err})")
        return
    if summary.get("journal_sha256") != report.head or summary.get("journal_records") != report.records:
        report.problems.append(
            f"{RESULTS} was written after a journal with head {summary.get('journal_sha256')!r} and "
            f"{summary.get('journal_records')!r} records; the journal now has {report.records} records, "
            "head as above (records were added, removed or changed after the run ended)"
        )
    if summary.get("results") != journaled:
        report.problems.append(f"{RESULTS} states results that differ from the journal's result records")
