"""A commissioning session: several sequences on one rig, one after another, each its own traceable run.

A session file lists the steps (sequence and parameters). Every step gets its own run directory, journal
and report, so one failed step never hides or corrupts another's record; the session index ties them
together. ``hilcal run`` without ``--sequence`` runs the built-in session on the built-in rig.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controller.config import RigConfig, read_structured_file
from controller.errors import ConfigError, describe_validation_errors
from controller.session import RunOutcome, new_run_id

if TYPE_CHECKING:
    from controller.pdf import BackgroundPrinter

DEFAULT_SESSION = Path(__file__).with_name("default_session.yaml")


class SessionStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sequence: str
    params: dict[str, Any] = Field(default_factory=dict)
    title: str = ""


class SessionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    steps: list[SessionStep] = Field(min_length=1)
    tolerances: str | None = Field(
        default=None, description="site tolerance file for every step (relative to the session file)"
    )


def load_session(path: Path | None = None) -> SessionFile:
    """Load a session file; every step's sequence and parameters are validated before anything runs."""
    from sequences import get_sequence

    source = path or DEFAULT_SESSION
    raw = read_structured_file(source)
    try:
        session = SessionFile.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"session file {str(source)!r}", describe_validation_errors(err.errors())) from err
    problems: list[str] = []
    for index, step in enumerate(session.steps):
        try:
            sequence = get_sequence(step.sequence)
        except KeyError as err:
            problems.append(
                f"steps.{index}.sequence = {step.sequence!r}: expected {err.args[0].split('; ')[1]}"
            )
            continue
        try:
            sequence.parse_params(step.params, f"steps.{index}.params")
        except ConfigError as err:
            problems.extend(f"steps.{index}.params.{p}" for p in err.problems)
    if problems:
        raise ConfigError(f"session file {str(source)!r}", problems)
    if session.tolerances is not None:
        from sequences.site_tolerances import load_site_tolerances

        resolved = (source.parent / session.tolerances).resolve()
        load_site_tolerances(resolved)  # bad input now, before the first step
        session = session.model_copy(update={"tolerances": str(resolved)})
    return session


def run_session(
    session: SessionFile,
    rig_config: RigConfig,
    run_step: Callable[[SessionStep], RunOutcome],
    runs_dir: Path,
    on_reports: Callable[[SessionReports], None] | None = None,
    pdf: bool = True,
    render: bool = False,
) -> tuple[Path, list[tuple[SessionStep, RunOutcome]]]:
    """Run every step (a faulted step does not stop the next: each starts from a fresh connection).

    Then the session index, the session report (HTML) and, with ``pdf``, every run report and the session
    report as PDF; ``on_reports`` is told where they are and why a PDF was skipped. Each run report prints
    in a browser on a worker thread as soon as its run has ended, while the next step runs.

    ``render``: ``run_step`` writes no run report; each is rendered from its run folder in a worker process
    (``controller.report.BackgroundReports``) as its run ends, while the next step runs. Every finished
    run's report is written before this returns, or raises, or is interrupted.
    """
    from controller.pdf import BackgroundPrinter
    from controller.report import BackgroundReports

    renderer = BackgroundReports() if render else None
    printer = BackgroundPrinter() if pdf else None  # each run's report prints while the next step runs
    try:
        outcomes: list[tuple[SessionStep, RunOutcome]] = []
        for step in session.steps:
            outcome = run_step(step)
            outcomes.append((step, outcome))
            page = outcome.run_dir / "report.html"
            rendered = renderer.submit(outcome.run_dir) if renderer is not None else None
            if printer is not None and (rendered is not None or page.is_file()):
                printer.submit(page, after=rendered)
        if renderer is not None:
            renderer.wait()
        index = _write_index(session, rig_config, runs_dir, outcomes)
        reports = publish_session_reports(index, [outcome.run_dir for _, outcome in outcomes], pdf, printer)
    finally:
        try:
            if renderer is not None:
                renderer.close()
        finally:
            if printer is not None:
                printer.close()
    if on_reports is not None:
        on_reports(reports)
    return index, outcomes


def _write_index(
    session: SessionFile,
    rig_config: RigConfig,
    runs_dir: Path,
    outcomes: list[tuple[SessionStep, RunOutcome]],
) -> Path:
    """The session index ``session-<id>.json``: every step, its run folder and its outcome."""
    index = runs_dir / f"session-{new_run_id()}.json"
    runs_dir.mkdir(parents=True, exist_ok=True)
    index.write_text(
        json.dumps(
            {
                "session": session.name,
                "rig": rig_config.name,
                "simulated": rig_config.simulated,
                "steps": [
                    {
                        "sequence": step.sequence,
                        "title": step.title,
                        "run_id": outcome.run_id,
                        "run_dir": str(outcome.run_dir.resolve()),  # whole: the table shows a short id
                        "state": outcome.summary.state,
                        "outcome": outcome.result.outcome.value if outcome.result else None,
                        "error": outcome.summary.error,
                    }
                    for step, outcome in outcomes
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return index


class SessionReports(BaseModel):
    """Where a session's reports were written; ``skipped`` says why a PDF is missing (never an error)."""

    index: Path
    html: Path
    pdf: Path | None = None
    run_pdfs: list[Path] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)


def publish_session_reports(
    index: Path, run_dirs: list[Path], pdf: bool = True, printer: BackgroundPrinter | None = None
) -> SessionReports:
    """The session report beside its index; each run report and the session report printed to PDF.

    ``printer`` may already hold some run reports (``run_session`` submits each as its run ends); the
    others are submitted here. Without one, a printer is opened and closed here.
    """
    from controller.pdf import BackgroundPrinter
    from controller.session_report import write_session_report

    pages = [d / "report.html" for d in run_dirs if (d / "report.html").is_file()]
    if not pdf:
        return SessionReports(index=index, html=write_session_report(index))
    own = printer is None
    chosen = BackgroundPrinter() if printer is None else printer
    try:  # one browser prints every page (controller/pdf.py)
        printed = [future.result() for future in [chosen.submit(page) for page in pages]]
        html = write_session_report(index)  # after the run PDFs, so it links them
        session_pdf = chosen.submit(html).result()
    finally:
        if own:
            chosen.close()
    skipped = sorted({p.skipped for p in [*printed, session_pdf] if p.skipped})
    return SessionReports(
        index=index,
        html=html,
        pdf=session_pdf.pdf,
        run_pdfs=[p.pdf for p in printed if p.pdf is not None],
        skipped=skipped,
    )


def short_run_id(run_id: str) -> str:
    """``20261202T170412Z-3fa9c1`` → ``170412Z-3fa9c1``: unique within a session, narrow enough for 80
    columns (``ls runs/*3fa9c1`` finds the folder; the session report names every full path)."""
    stamp, _, token = run_id.partition("-")
    if len(stamp) == 16 and stamp[8] == "T" and token:
        return f"{stamp[9:]}-{token}"
    return run_id


def session_table(name: str, outcomes: list[tuple[SessionStep, RunOutcome]]) -> Any:
    """The session summary at the console: one row per step, short run ids, readable at 80 columns."""
    from rich.table import Table

    table = Table(title=f"Session {name}", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Step", ratio=3, overflow="fold")
    table.add_column("Device", ratio=2, overflow="fold")
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Run", no_wrap=True)
    for number, (step, outcome) in enumerate(outcomes, start=1):
        verdict = outcome.result.outcome.value if outcome.result else outcome.summary.state.upper()
        colour = {"PASS": "green", "FAIL": "red"}.get(verdict, "yellow")
        table.add_row(
            str(number),
            step.title or step.sequence,
            outcome.result.device if outcome.result else "—",
            f"[{colour}]{verdict}[/{colour}]",
            short_run_id(outcome.run_id),
        )
    return table
