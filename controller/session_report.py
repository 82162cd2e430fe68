"""The session report: one page listing every step of a commissioning session, its verdict and its run.

Built from the session index (``session-<id>.json``) and each step's results.json, so it can be rebuilt at any
time (after a sign-off, for instance) from the run folders alone. See docs/reports.md.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from controller.report import _ENV
from controller.report_signoff import read_signatures
from controller.results import Outcome, RunSummary


class StepView(BaseModel):
    number: int
    title: str
    sequence: str
    device: str
    verdict: str
    detail: str
    report: str | None
    pdf: str | None
    signoff: str
    run_id: str


def _step(number: int, raw: dict[str, Any], base: Path) -> StepView:
    run_dir = Path(raw["run_dir"])
    if not run_dir.exists():  # a relative path from another folder, or the runs folder moved since
        run_dir = base / run_dir.name
    results = run_dir / "results.json"
    summary = RunSummary.model_validate_json(results.read_text("utf-8")) if results.is_file() else None
    verdict = raw.get("outcome") or str(raw.get("state") or "no result").upper()
    detail = raw.get("error") or ""
    device = "—"
    signoff = "no results"
    if summary is not None:
        verdicts = [v for r in summary.results for v in r.verdicts]
        bad = [v for v in verdicts if v.outcome is not Outcome.PASS]
        device = ", ".join(r.device for r in summary.results) or "—"
        if not detail:
            detail = f"{len(verdicts) - len(bad)} of {len(verdicts)} checks passed" + "".join(
                f"; {v.metric} {v.outcome.value}: {v.measured.value:.4g} {v.measured.unit} "
                f"(limit {v.tolerance.limit:g} {v.tolerance.unit})"
                for v in bad
            )
        signatures = read_signatures(run_dir, summary.journal_sha256)
        valid = [s for s in signatures if s.valid]
        void = len(signatures) - len(valid)
        signoff = (
            ", ".join(f"{s.by} ({s.role})" for s in valid)
            if valid
            else ("VOID — run changed after signing" if void else "Not signed")
        )
    report = run_dir / "report.html"
    pdf = run_dir / "report.pdf"
    return StepView(
        number=number,
        title=raw.get("title") or raw["sequence"],
        sequence=raw["sequence"],
        device=device,
        verdict=verdict,
        detail=detail,
        report=os.path.relpath(report, base) if report.is_file() else None,
        pdf=os.path.relpath(pdf, base) if pdf.is_file() else None,
        signoff=signoff,
        run_id=str(raw.get("run_id", "")),
    )


def session_verdict(steps: list[StepView]) -> tuple[str, str]:
    """FAIL beats INCONCLUSIVE beats an incomplete step beats PASS; the detail counts the steps."""
    verdicts = [s.verdict for s in steps]
    passed = verdicts.count("PASS")
    detail = f"{passed} of {len(steps)} steps passed"
    for word in ("FAIL", "INCONCLUSIVE"):
        if word in verdicts:
            return word, detail + f", {verdicts.count(word)} {word.lower()}"
    if passed < len(steps):
        return "INCOMPLETE", detail + f", {len(steps) - passed} did not complete"
    return "PASS", detail


def write_session_report(index: Path) -> Path:
    """Render ``session-<id>.html`` beside the session index ``session-<id>.json``."""
    data = json.loads(index.read_text(encoding="utf-8"))
    base = index.parent
    steps = [_step(number, raw, base) for number, raw in enumerate(data["steps"], start=1)]
    word, detail = session_verdict(steps)
    created = datetime.fromtimestamp(index.stat().st_mtime, UTC).isoformat(timespec="seconds")
    html = _ENV.get_template("session.html.j2").render(
        session=data.get("session", ""),
        rig=data.get("rig", ""),
        simulated=bool(data.get("simulated", False)),
        session_id=index.stem.removeprefix("session-"),
        created=created,
        steps=steps,
        word=word,
        css=word if word in ("PASS", "FAIL", "INCONCLUSIVE") else "incomplete",
        detail=detail,
    )
    path = index.with_suffix(".html")
    path.write_text(html, encoding="utf-8")
    return path
