"""Sign-off: the line a signature leaves in the run folder, and whether a signature still holds.

A signature binds a name, a role and a time to one state of a run: the journal head (the last link of
its hash chain), the record count and the SHA-256 of ``results.json`` the signer saw. It holds (VALID)
while the QA record and the run folder still show that state; it is VOID once either shows another — a
resumed run re-recorded with a new head, a journal that no longer verifies, a results file that changed.
When the run folder cannot be reached from this machine (another room's disk) it is UNVERIFIED: the QA
record agrees, the files were not checked. Verifying the folder is the controller's job (``hilcal
verify``); callers hand its findings in as a ``FolderState``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from records.store import SignatureRow

SIGNOFF_FILE = "signoff.jsonl"


class SignoffLine(BaseModel):
    """One sign-off as written to ``signoff.jsonl`` in the run folder (one JSON object per line)."""

    model_config = ConfigDict(extra="ignore")

    by: str
    role: str
    at: datetime
    journal_sha256: str
    journal_records: int
    note: str = ""


def append_signoff(run_dir: Path, line: SignoffLine) -> Path:
    """Append one line and make it durable; earlier lines are never rewritten."""
    path = run_dir / SIGNOFF_FILE
    text = json.dumps(line.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")) + "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def read_signoffs(run_dir: Path) -> list[SignoffLine]:
    """The run folder's sign-offs, oldest first (a torn last line is skipped)."""
    path = run_dir / SIGNOFF_FILE
    if not path.is_file():
        return []
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(SignoffLine.model_validate_json(raw))
        except ValueError:
            continue
    return lines


def results_sha256(run_dir: Path) -> str | None:
    path = run_dir / "results.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@dataclass(frozen=True)
class FolderState:
    """What the run folder shows now, as ``hilcal verify`` found it."""

    path: Path
    found: bool
    intact: bool = False
    journal_sha256: str | None = None
    journal_records: int | None = None
    results_sha256: str | None = None
    problems: list[str] = field(default_factory=list)


class Validity(StrEnum):
    VALID = "VALID"
    VOID = "VOID"
    UNVERIFIED = "UNVERIFIED"


@dataclass(frozen=True)
class Judgement:
    validity: Validity
    reasons: list[str]


def judge(signature: SignatureRow, folder: FolderState | None) -> Judgement:
    """VALID, VOID (with every reason) or UNVERIFIED (record agrees; folder not reachable)."""
    reasons = []
    if signature.voided_at is not None:
        reasons.append(f"voided {signature.voided_at.isoformat(timespec='seconds')}: {signature.void_reason}")
    signed = (signature.journal_sha256, signature.journal_records)
    recorded = (signature.run_journal_sha256, signature.run_journal_records)
    if recorded != signed and signature.voided_at is None:
        reasons.append(
            f"the QA record now holds journal head {recorded[0]} ({recorded[1]} records); "
            f"the signer saw {signed[0]} ({signed[1]} records)"
        )
    if folder is not None and folder.found:
        if not folder.intact:
            reasons.extend(f"run folder fails verification: {problem}" for problem in folder.problems)
        if folder.journal_sha256 is None and not folder.intact:
            pass  # the chain broke before its end: there is no head to name, the problems above say where
        elif (folder.journal_sha256, folder.journal_records) != signed:
            reasons.append(
                f"the journal in {folder.path} now ends at head {folder.journal_sha256} "
                f"({folder.journal_records} records); the signer saw {signed[0]} ({signed[1]} records)"
            )
        if signature.results_sha256 and folder.results_sha256 != signature.results_sha256:
            reasons.append(f"results.json in {folder.path} changed after it was signed")
    if reasons:
        return Judgement(Validity.VOID, reasons)
    if folder is None or not folder.found:
        where = folder.path if folder is not None else signature.run_dir
        return Judgement(
            Validity.UNVERIFIED,
            [f"run folder {where} not reachable here: checked against the QA record only"],
        )
    return Judgement(Validity.VALID, [])
