"""The run report a physicist signs and files: verdict, instruments, evidence, plots, sign-off.

Rendered with Jinja2 (autoescaped) into one self-contained HTML file with inline SVG plots, so it can be
attached to a QA record or opened years later without the software; its print styles make the same file an
A4 document (``controller.pdf`` prints it with headless Chromium). See docs/reports.md.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel

from controller.report_format import cell, number, table_view, with_uncertainty
from controller.report_signoff import SignatureView, read_signatures
from controller.results import (
    Outcome,
    RunSummary,
    SequenceResult,
    ToleranceOverride,
    Verdict,
    overall_outcome,
)

REPORT = "report.html"

_ENV = Environment(
    loader=PackageLoader("controller", "templates"), autoescape=select_autoescape(["html", "j2"])
)
_ENV.filters["num"] = number
_ENV.filters["cell"] = cell


def _svg(figure: Any) -> Markup:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(figure)
    text = buffer.getvalue()
    return Markup(text[text.find("<svg") :])


class Banner(BaseModel):
    """The overall verdict in words (never colour alone) and the one-line reason under it."""

    word: str
    detail: str
    css: str


def overall_banner(summary: RunSummary) -> Banner:
    """PASS / FAIL / INCONCLUSIVE over every verdict; a run that did not complete has no verdict."""
    verdicts = [v for r in summary.results for v in r.verdicts]
    if summary.state != "completed":
        return Banner(
            word=f"NO VERDICT — RUN {summary.state.upper()}",
            detail=summary.error or "the run did not complete; the journal says where it stopped",
            css="incomplete",
        )
    if not verdicts:
        return Banner(word="NO VERDICT", detail="the run produced no verdicts", css="incomplete")
    outcome = overall_outcome(verdicts)
    counts = {o: sum(v.outcome is o for v in verdicts) for o in Outcome}
    detail = f"{counts[Outcome.PASS]} of {len(verdicts)} checks passed"
    if counts[Outcome.FAIL]:
        detail += f", {counts[Outcome.FAIL]} failed"
    if counts[Outcome.INCONCLUSIVE]:
        detail += f", {counts[Outcome.INCONCLUSIVE]} inconclusive"
    return Banner(word=outcome.value, detail=detail, css=outcome.value)


def is_simulated(summary: RunSummary, manifest: dict[str, Any]) -> bool:
    rig = manifest.get("rig") or {}
    return bool(summary.simulated or rig.get("simulation"))


class DeviceView(BaseModel):
    name: str
    role: str
    vendor: str
    model: str
    serial: str
    firmware: str
    certificate: str
    certificate_status: str
    certificate_id: str = ""
    certificate_expires: str = ""


def _certificate(raw: dict[str, Any] | None, on: date) -> tuple[str, str]:
    if not raw:
        return "none on file", ""
    coefficient = raw.get("coefficient")
    text = f"{raw.get('id')} ({raw.get('issuer') or 'issuer not stated'})"
    if coefficient is not None:
        text += f", coefficient {number(float(coefficient))} {raw.get('unit', '')}".rstrip()
    text += f", issued {raw.get('issued')}, expires {raw.get('expires')}"
    expires = date.fromisoformat(str(raw.get("expires")))
    return text, "EXPIRED at the time of the run" if expires < on else "valid at the time of the run"


def device_views(summary: RunSummary, manifest: dict[str, Any]) -> list[DeviceView]:
    """Every device the run opened, with what it said about itself and its certificate from the rig file."""
    rig_devices = (manifest.get("rig") or {}).get("devices") or {}
    on = datetime.fromtimestamp(summary.started_wall, UTC).date()
    views = []
    for name in sorted(set(summary.devices) | _devices_in_results(summary, rig_devices)):
        identity = summary.devices.get(name, {})
        configured = rig_devices.get(name) or {}
        certificate, status = _certificate(configured.get("certificate"), on)
        views.append(
            DeviceView(
                name=name,
                role=str(configured.get("role", "")),
                vendor=str(identity.get("vendor") or "not reported"),
                model=str(identity.get("model") or "not reported"),
                serial=str(identity.get("serial") or "not reported"),
                firmware=str(identity.get("firmware") or "not reported"),
                certificate=certificate,
                certificate_status=status,
                **_certificate_keys(configured.get("certificate")),
            )
        )
        chamber = configured.get("chamber")
        if isinstance(chamber, dict):  # passive: identified by the rig file, with its own certificate
            certificate, status = _certificate(chamber.get("certificate"), on)
            views.append(
                DeviceView(
                    name=f"{name}.chamber",  # as the QA record names it (records.run_folder.chamber_name)
                    role=f"chamber read by {name}",
                    vendor=str(chamber.get("vendor") or "not stated"),
                    model=str(chamber.get("model") or "not stated"),
                    serial=str(chamber.get("serial") or "not stated"),
                    firmware="none (passive)",
                    certificate=certificate,
                    certificate_status=status,
                    **_certificate_keys(chamber.get("certificate")),
                )
            )
    return views


def _certificate_keys(raw: dict[str, Any] | None) -> dict[str, str]:
    if not raw:
        return {}
    return {"certificate_id": str(raw.get("id") or ""), "certificate_expires": str(raw.get("expires") or "")}


def _devices_in_results(summary: RunSummary, rig_devices: dict[str, Any]) -> set[str]:
    named = {part for r in summary.results for part in r.device.split("+")}
    return {name for name in named if name in rig_devices}


def _describe(devices: list[DeviceView], device: str) -> str:
    parts = []
    for name in device.split("+"):
        view = next((d for d in devices if d.name == name), None)
        if view is None or view.model == "not reported":
            parts.append(name)
        else:
            parts.append(f"{name} ({view.vendor} {view.model}, serial {view.serial})")
    return " and ".join(parts)


def _failure_sentence(v: Verdict) -> str:
    unit = v.measured.unit
    over = v.measured.value - v.tolerance.limit
    value, expanded = with_uncertainty(v.measured.value, v.measured.expanded_uncertainty)
    if v.outcome is Outcome.FAIL:
        return (
            f"{v.description} ({v.metric}) measured {value} {unit}, {number(over, 2)} {unit} over its "
            f"limit of {v.tolerance.limit:g} {unit} "
            f"({100 * v.measured.value / v.tolerance.limit:.0f} % of the limit)"
        )
    return (
        f"{v.description} ({v.metric}) measured {value} {unit} against a limit of "
        f"{v.tolerance.limit:g} {unit}; with the measurement uncertainty of ± {expanded} {unit} "
        "it cannot be said whether it is within"
    )


def plain_summary(summary: RunSummary, devices: list[DeviceView], simulated: bool) -> list[str]:
    """Sentences a non-physicist can read, generated from the verdicts alone."""
    sentences = []
    if simulated:
        sentences.append(
            "This run used the simulated room, not real equipment: it shows that the software works, "
            "and says nothing about the condition of any machine."
        )
    if summary.state != "completed":
        sentences.append(
            f"The run did not finish ({summary.state}): {summary.error or 'see the journal'}. Every device "
            "was told to stop, and no result of this run should be used."
        )
    for device in devices:
        if device.certificate_status.startswith("EXPIRED"):
            sentences.append(
                f"The calibration certificate {device.certificate_id} of {device.name} "
                f"({device.vendor} {device.model}, serial {device.serial}) expired on "
                f"{device.certificate_expires}, before this run: its readings are not traceable to a "
                "calibration laboratory until it is calibrated again."
            )
    for result in summary.results:
        what = f"The test “{result.title}” checked {_describe(devices, result.device)}"
        checks = len(result.verdicts)
        if result.outcome is Outcome.PASS:
            sentences.append(f"{what}. It passed: all {checks} checks were within their limits.")
            continue
        bad = [v for v in result.verdicts if v.outcome is not Outcome.PASS]
        word = "failed" if result.outcome is Outcome.FAIL else "was inconclusive"
        sentences.append(
            f"{what}. It {word}: {len(bad)} of {checks} checks did not pass — "
            + "; ".join(_failure_sentence(v) for v in bad)
            + "."
        )
    return sentences


def _unit_header(verdicts: list[Verdict]) -> str:
    units = {v.measured.unit for v in verdicts}
    factors = {v.measured.coverage_factor for v in verdicts}
    k = f"k = {next(iter(factors)):g}" if len(factors) == 1 else "k per row"
    return f"U ({k}), {next(iter(units))}" if len(units) == 1 else f"U ({k}), unit per row"


def _override_text(o: ToleranceOverride) -> str:
    """One site override in words: what changed from what to what, on whose authority and why."""

    def change(name: str, before: float | None, after: float | None) -> str:
        if before == after:
            return f"{name} {'none' if after is None else f'{after:g} {o.unit}'} unchanged"
        was = "none" if before is None else f"{before:g} {o.unit}"
        return f"{name} {was} → {'none' if after is None else f'{after:g} {o.unit}'}"

    what = f"{o.tolerance} ({o.applies_to})" if o.applies_to else o.tolerance
    where = f"from {o.file}" + (f" ({o.site})" if o.site else "")
    return (
        f"{what}: {change('tolerance', o.limit_before, o.limit_after)}, "
        f"{change('action level', o.action_limit_before, o.action_limit_after)}; "
        f"source: {o.source}; reason: {o.reason}; {where}"
    )


def _overrides(result: SequenceResult) -> list[str]:
    """The site overrides that changed this result's tolerances, one sentence each."""
    raw = getattr(result, "tolerance_overrides", None)
    if not raw:
        return []
    if isinstance(raw, list) and all(isinstance(item, ToleranceOverride) for item in raw):
        return [_override_text(item) for item in raw]
    if isinstance(raw, dict):
        return [f"{key}: {cell(value)}" for key, value in raw.items()]
    if isinstance(raw, list):
        return [cell(item) if not isinstance(item, str) else item for item in raw]
    return [cell(raw)]


def _section(result: SequenceResult) -> dict[str, Any]:
    from sequences import get_sequence

    rows = []
    for v in result.verdicts:
        value, expanded = with_uncertainty(v.measured.value, v.measured.expanded_uncertainty)
        action = getattr(v.tolerance, "action_limit", None)
        rows.append(
            {
                "v": v,
                "value": f"{value} {v.measured.unit}",
                "u": f"{expanded} {v.measured.unit}",
                "limit": f"{v.tolerance.limit:g} {v.tolerance.unit}",
                "action": f"{action:g} {v.tolerance.unit}" if action is not None else "—",
            }
        )
    informative = []
    for name, m in result.informative.items():
        value, expanded = with_uncertainty(m.value, m.expanded_uncertainty)
        informative.append(
            {"name": name.replace("_", " "), "value": f"{value} {m.unit}", "u": f"{expanded} {m.unit}"}
        )
    tables = [table_view(name, rows_) for name, rows_ in result.tables.items()]
    raw_tables = [
        f"{name} ({len(r)} rows)" for name, r in result.tables.items() if table_view(name, r) is None
    ]
    return {
        "result": result,
        "rows": rows,
        "u_header": _unit_header(result.verdicts),
        "has_action": any(r["action"] != "—" for r in rows),
        "informative": informative,
        "tables": [t for t in tables if t is not None],
        "raw_tables": raw_tables,
        "overrides": _overrides(result),
        "figures": [_svg(fig) for fig in get_sequence(result.sequence).figures(result)],
    }


def write_report(run_dir: Path, summary: RunSummary, manifest: dict[str, Any]) -> Path:
    """Render ``report.html`` in the run folder (again after a sign-off, to show it)."""
    devices = device_views(summary, manifest)
    simulated = is_simulated(summary, manifest)
    signatures: list[SignatureView] = read_signatures(run_dir, summary.journal_sha256)
    html = _ENV.get_template("report.html.j2").render(
        summary=summary,
        manifest=manifest,
        banner=overall_banner(summary),
        simulated=simulated,
        devices=devices,
        plain=plain_summary(summary, devices, simulated),
        sections=[_section(result) for result in summary.results],
        signatures=signatures,
        params=json.dumps(manifest.get("params", {}), indent=2, ensure_ascii=False),
        started=datetime.fromtimestamp(summary.started_wall, UTC).isoformat(timespec="seconds"),
        ended=datetime.fromtimestamp(summary.ended_wall, UTC).isoformat(timespec="seconds"),
    )
    path = run_dir / REPORT
    path.write_text(html, encoding="utf-8")
    return path


def render_run_folder(run_dir: Path) -> Path:
    """Re-render a finished run's report from its results.json and run.json (e.g. after ``hilcal sign``)."""
    summary = RunSummary.model_validate_json((run_dir / "results.json").read_text(encoding="utf-8"))
    manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return write_report(run_dir, summary, manifest)


def _warm_up() -> None:
    """What every rendering needs, imported while the first run is still going."""
    import matplotlib.pyplot  # noqa: F401

    import sequences  # noqa: F401


def serve_reports(results_fd: int) -> None:
    """The ``BackgroundReports`` worker: one run folder per line on stdin (JSON), one answer per line on
    ``results_fd`` (JSON: ``{"ok": path}`` or ``{"error": why}``), in order, until stdin closes."""
    _warm_up()
    with os.fdopen(results_fd, "w", encoding="utf-8") as answers:
        for line in sys.stdin:
            try:
                answer = {"ok": str(render_run_folder(Path(json.loads(line))))}
            except Exception as err:
                answer = {"error": f"{type(err).__name__}: {err}"}
            answers.write(json.dumps(answer) + "\n")
            answers.flush()


_WORKER = "import sys; from controller.report import serve_reports as serve; serve(int(sys.argv[1]))"


class ReportNotRendered(Exception):
    """Rendering a run report failed (the message says why)."""


class _WorkerGone(Exception):
    """The worker stopped before answering: the report is rendered here instead."""


class BackgroundReports:
    """Run reports rendered (``render_run_folder``) in a worker process while the caller goes on: a
    session renders each run's report while its next step runs, on the core the run leaves free.

    The worker is a fresh interpreter (``serve_reports``; not a fork: the rig's threads are running) in a
    session of its own, so the operator's Ctrl-C (a pause) does not reach it; it imports what rendering
    needs at once. ``submit`` a finished run folder; ``wait()`` returns every report (raising
    ``ReportNotRendered`` for one that failed); ``close()`` ends the worker. A report the worker could not
    answer for (it did not start, or stopped) is rendered here, so every finished run keeps its report.
    """

    def __init__(self) -> None:
        self._submitted: list[tuple[Path, Future[Path]]] = []
        self._pending: deque[Future[Path]] = deque()
        self._lock = threading.Lock()
        read_fd, write_fd = os.pipe()
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WORKER,
                    str(write_fd),
                ],
                stdin=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except OSError:
            self._process = None
            os.close(read_fd)
        finally:
            os.close(write_fd)
        self._reader: threading.Thread | None = None
        if self._process is not None:
            self._reader = threading.Thread(
                target=self._read, args=(read_fd,), name="hilcal-report-answers", daemon=True
            )
            self._reader.start()

    def submit(self, run_dir: Path) -> Future[Path]:
        future: Future[Path] = Future()
        self._submitted.append((run_dir, future))
        with self._lock:
            process = self._process
            if process is None or process.stdin is None or future.done():
                future.set_exception(_WorkerGone())
                return future
            self._pending.append(future)
            try:
                process.stdin.write((json.dumps(str(run_dir)) + "\n").encode("utf-8"))
                process.stdin.flush()
            except OSError:
                self._pending.remove(future)
                future.set_exception(_WorkerGone())
        return future

    def _read(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "r", encoding="utf-8") as answers:
            for line in answers:
                answer = json.loads(line)
                with self._lock:
                    future = self._pending.popleft()
                if "ok" in answer:
                    future.set_result(Path(answer["ok"]))
                else:
                    future.set_exception(ReportNotRendered(answer["error"]))
        with self._lock:  # the worker is gone: what it still owed is rendered by ``wait``
            self._process = None
            while self._pending:
                self._pending.popleft().set_exception(_WorkerGone())

    def wait(self) -> list[Path]:
        """Every submitted report, in order, once written."""
        done = []
        for run_dir, future in self._submitted:
            try:
                done.append(future.result())
            except _WorkerGone:
                done.append(render_run_folder(run_dir))
        return done

    def close(self) -> None:
        """End the worker after the reports it was given (those it cannot finish are rendered here)."""
        process = self._process
        if process is not None and process.stdin is not None:
            with suppress(OSError):
                process.stdin.close()
        if self._reader is not None:
            self._reader.join()
        if process is not None:
            process.wait()
        for run_dir, future in self._submitted:
            if isinstance(future.exception(), _WorkerGone) and not (run_dir / REPORT).is_file():
                render_run_folder(run_dir)
