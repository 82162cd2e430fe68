"""The sign-off block of a report: who approved the run, and whether the run is still the one they saw.

``hilcal sign`` appends one JSON object per line to ``signoff.jsonl`` in the run folder with the journal
head hash it approved. A signature stands only while that hash is both the head recorded in results.json
and the head of journal.jsonl as it is now, and while the run passes ``hilcal verify`` (hash chain, manifest,
results): any later change to the run voids it, visibly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from controller.verify import verify_run

SIGNOFF = "signoff.jsonl"


class SignatureView(BaseModel):
    by: str
    role: str
    at: str
    journal_sha256: str
    journal_records: int | None
    note: str
    valid: bool
    reason: str


def journal_head(run_dir: Path) -> str | None:
    """SHA-256 of the journal's last complete record (the chain's head), or None without a journal."""
    path = run_dir / "journal.jsonl"
    if not path.is_file():
        return None
    lines = path.read_bytes().split(b"\n")
    lines.pop()  # after the final newline: empty, or a torn last write that is not part of the chain
    complete = [line for line in lines if line.strip()]
    return hashlib.sha256(complete[-1]).hexdigest() if complete else None


def _check(
    record: dict[str, Any], results_head: str | None, head_now: str | None, problems: list[str]
) -> tuple[bool, str]:
    signed = record.get("journal_sha256")
    reasons = []
    if not signed:
        reasons.append("the signature names no journal hash")
    elif signed != results_head:
        reasons.append("results.json changed after signing (its journal hash differs)")
    elif head_now is not None and signed != head_now:
        reasons.append("journal.jsonl changed after signing (its head hash differs)")
    # The head hash is only the chain's last link: a record edited in the middle, or a verdict rewritten in
    # results.json, leaves it as it was. hilcal verify's findings void the signature as well.
    reasons.extend(f"the run fails verification: {problem}" for problem in problems)
    if reasons:
        return False, "; ".join(reasons)
    return True, "unchanged since signing when this report was written (hilcal signatures checks it again)"


def read_signatures(run_dir: Path, results_head: str | None) -> list[SignatureView]:
    """Every signature in the run folder, each checked against results.json's and the journal's head."""
    path = run_dir / SIGNOFF
    if not path.is_file():
        return []
    head_now = journal_head(run_dir)
    problems = verify_run(run_dir).problems  # only a signed run pays for reading its whole journal
    views = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = {"by": f"(line {number} of {SIGNOFF} is unreadable)"}
        if not isinstance(record, dict):
            record = {"by": f"(line {number} of {SIGNOFF} is not a signature)"}
        valid, reason = _check(record, results_head, head_now, problems)
        views.append(
            SignatureView(
                by=str(record.get("by", "")),
                role=str(record.get("role", "")),
                at=str(record.get("at", "")),
                journal_sha256=str(record.get("journal_sha256") or ""),
                journal_records=n if isinstance(n := record.get("journal_records"), int) else None,
                note=str(record.get("note") or ""),
                valid=valid,
                reason=reason,
            )
        )
    return views
