"""The QA programme at the console: ``hilcal due``, ``sign``, ``signatures``, ``audit``, ``export``.

These commands read (and, for ``sign``, write) the QA record; the record's rules live in ``records/``
(schedule, sign-off, export). What only the controller can do — verify a run folder's hash chain — is
done here and handed to them. Exit codes: 0 fine, 1 the thing asked about is not (overdue, altered,
unsigned), 2 bad input, 3 the sign-off could not be written to the run folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from controller.errors import ConfigError, HilcalError, describe_validation_errors
from controller.records_cli import DbOption, open_store
from records.schedule import Schedule
from records.signoff import FolderState, Judgement, Validity, judge
from records.store import ResultsStore, SignatureRow, StoreError, as_utc

DEFAULT_SCHEDULE = Path(__file__).with_name("default_schedule.yaml")
console = Console()
err_console = Console(stderr=True)


def _fail(message: object, code: int = 2) -> typer.Exit:
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(str(message), markup=False, highlight=False)
    return typer.Exit(code)


def parse_moment(text: str, option: str, *, end_of_day: bool = False, zone: tzinfo = UTC) -> datetime:
    """An ISO 8601 date or date-time; a date alone is its first instant (or, ``end_of_day``, its last)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=zone)
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise _fail(f"{option} {text!r}: expected an ISO 8601 date (2026-03-01) or date-time") from err
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def load_schedule(source: Path) -> Schedule:
    """A schedule file (YAML or TOML), validated; every sequence it names must exist."""
    from controller.config import read_structured_file
    from sequences import SEQUENCES

    try:
        schedule = Schedule.model_validate(read_structured_file(source))
    except ValidationError as err:
        raise ConfigError(f"schedule file {str(source)!r}", describe_validation_errors(err.errors())) from err
    unknown = [
        f"items.{i}.sequence = {item.sequence!r}: expected one of {', '.join(SEQUENCES)}"
        for i, item in enumerate(schedule.items)
        if item.sequence not in SEQUENCES
    ]
    if unknown:
        raise ConfigError(f"schedule file {str(source)!r}", unknown)
    return schedule


def due(
    schedule_file: Annotated[
        Path | None, typer.Option("--schedule", help="schedule file (YAML/TOML); default: the example one")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="as of this date or date-time (ISO 8601; default now)")
    ] = None,
    db: DbOption = None,
) -> None:
    """What the QA schedule says is due: last passing or signed-off run, due date, status per item.

    Exit 0 when nothing is overdue, 1 when an item is overdue, 2 on bad input (for cron and CI).
    """
    from records.schedule import due_report

    try:
        schedule = load_schedule(schedule_file or DEFAULT_SCHEDULE)
    except ConfigError as err:
        raise _fail(err) from err
    moment = parse_moment(at, "--at", end_of_day=True, zone=schedule.zone()) if at else datetime.now(UTC)
    with open_store(db) as store:
        report = due_report(store, schedule, moment)
        url = store.url
    title = f"QA schedule {schedule.name or (schedule_file or DEFAULT_SCHEDULE).name} — {url}"
    table = Table(title=f"{title}\nas of {moment.astimezone(schedule.zone()).date()} ({schedule.timezone})")
    notes = any(entry.note for entry in report)  # an empty Note column would take a narrow screen's room
    columns = ("Item", "Frequency", "Last satisfying run", "Due", "Overdue from", "Status", "Note")
    for column in columns if notes else columns[:-1]:
        # dates and words kept on one line; long run ids and notes wrap whole, never cut with "…"
        short = column in ("Frequency", "Due", "Overdue from", "Status")
        table.add_column(column, overflow="fold", no_wrap=short)
    colours = {"ok": "green", "due": "yellow", "overdue": "red"}
    for entry in report:
        last = f"{entry.last.run_id} ({entry.last.performed_on}, {entry.last.outcome}" if entry.last else "—"
        if entry.last:
            last += ", signed off)" if entry.last.signed else ")"
        colour = colours[entry.status]
        table.add_row(
            entry.item.label(),
            entry.item.frequency.value,
            last,
            str(entry.due or "now"),
            str(entry.overdue_from or "now"),
            f"[{colour}]{entry.status.upper()}[/{colour}]",
            *([entry.note] if notes else []),
        )
    console.print(table)
    overdue = [entry for entry in report if entry.status == "overdue"]
    if overdue:
        console.print(f"{len(overdue)} of {len(report)} item(s) overdue.")
    raise typer.Exit(1 if overdue else 0)


def _resolve_run(store: ResultsStore, target: str, runs_dir: Path) -> Path:
    """A run folder given as a path, or a run id looked up in the QA record, then under ``runs_dir``."""
    given = Path(target)
    if given.is_dir():
        return given
    recorded = store.run_dir(target)
    for candidate in (Path(recorded) if recorded else None, runs_dir / target):
        if candidate is not None and candidate.is_dir():
            return candidate
    raise _fail(f"{target!r}: no such run folder, and no run folder of a run with that id is reachable here")


def folder_state(run_dir: Path) -> FolderState:
    """What ``hilcal verify`` finds in a run folder now (not found: another machine's disk)."""
    from controller.verify import verify_run
    from records.signoff import results_sha256

    if not run_dir.is_dir():
        return FolderState(run_dir, found=False)
    report = verify_run(run_dir)
    return FolderState(
        run_dir,
        found=True,
        intact=report.ok,
        journal_sha256=report.head,
        journal_records=report.records,
        results_sha256=results_sha256(run_dir),
        problems=list(report.problems),
    )


def sign(
    run: Annotated[str, typer.Argument(help="a run folder, or a run id in the QA record")],
    by: Annotated[str, typer.Option(help="who signs (printed name)")],
    role: Annotated[str, typer.Option(help="in what capacity, e.g. 'qualified medical physicist'")],
    note: Annotated[str, typer.Option(help="what the signature means here, findings, actions")] = "",
    runs_dir: Annotated[Path, typer.Option(help="where run folders are")] = Path("runs"),
    db: DbOption = None,
) -> None:
    """Sign off a run as reviewed: verify it, then record who, when, in what role, and the journal head
    and record count seen — in the QA record (with an audit entry) and in the run folder's signoff.jsonl.

    Exit 0 signed, 1 the run fails verification (altered; nothing signed), 2 bad input, 3 the run folder
    could not be written (the QA record holds the signature).
    """
    from controller.verify import complete_startup
    from records.signoff import SignoffLine, append_signoff

    if not by.strip() or not role.strip():
        raise _fail("--by and --role must name the signer and the capacity in which they sign")
    with open_store(db, runs_dir) as store:
        run_dir = _resolve_run(store, run, runs_dir)
        try:
            complete_startup(run_dir)
        except HilcalError as err:
            raise _fail(err) from err
        if not (run_dir / "results.json").is_file():
            raise _fail(f"{run_dir}: the run has not ended (no results.json); resume it first")
        state = folder_state(run_dir)
        if not state.intact or state.journal_sha256 is None or state.journal_records is None:
            for problem in state.problems:
                err_console.print(f"integrity: BROKEN — {problem}", markup=False, highlight=False)
            raise _fail(f"{run_dir}: the run fails verification; an altered run cannot be signed", 1)
        try:
            store.record_folder(run_dir)  # the record must hold what is signed (a re-run is re-recorded)
            signature = store.sign(
                _run_id(run_dir),
                by.strip(),
                role.strip(),
                state.journal_sha256,
                state.journal_records,
                state.results_sha256,
                note,
            )
        except StoreError as err:
            raise _fail(err) from err
    line = SignoffLine(
        by=signature.signed_by,
        role=signature.role,
        at=signature.signed_at,
        journal_sha256=signature.journal_sha256,
        journal_records=signature.journal_records,
        note=signature.note,
    )
    try:
        path = append_signoff(run_dir, line)
    except OSError as err:
        message = f"signed in the QA record, but {run_dir}/signoff.jsonl could not be written: {err}"
        raise _fail(message, 3) from err
    console.print(
        f"Signed: run {signature.run_id} by {signature.signed_by} ({signature.role}) at "
        f"{signature.signed_at.isoformat(timespec='seconds')}\n"
        f"  journal head {signature.journal_sha256} ({signature.journal_records} records)\n"
        f"  QA record {store.url}, signature {signature.id}; {path}",
        highlight=False,
    )
    _refile_report(run_dir)


def _refile_report(run_dir: Path) -> None:
    """The filed report carries the sign-off block: re-render it (HTML, and PDF when Chromium is here)."""
    from controller.pdf import print_pdf
    from controller.report import render_run_folder

    if not (run_dir / "report.html").exists():
        return  # the run was made with --no-report: nothing filed to update
    html = render_run_folder(run_dir)
    printed = print_pdf(html) if (run_dir / "report.pdf").exists() else None
    where = f"{html}" + (f" and {printed.pdf}" if printed is not None and printed.pdf else "")
    console.print(f"  report updated with the sign-off: {where}", highlight=False)


def _run_id(run_dir: Path) -> str:
    import json

    return str(json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["run_id"])


def _judge_all(rows: list[SignatureRow]) -> list[tuple[SignatureRow, Judgement]]:
    states: dict[str, FolderState] = {}
    judged = []
    for row in rows:
        if row.run_dir not in states:
            states[row.run_dir] = folder_state(Path(row.run_dir))
        judged.append((row, judge(row, states[row.run_dir])))
    return judged


def _signature_table(title: str, judged: list[tuple[SignatureRow, Judgement]]) -> Table:
    table = Table(title=title)
    for column in ("#", "Run", "Signed by", "Role", "At (UTC)", "Journal head (records)", "Status", "Why"):
        table.add_column(column, overflow="fold")  # run ids and dates whole at 80 columns
    colours = {Validity.VALID: "green", Validity.VOID: "red", Validity.UNVERIFIED: "yellow"}
    for row, judgement in judged:
        colour = colours[judgement.validity]
        table.add_row(
            str(row.id),
            row.run_id,
            row.signed_by,
            row.role,
            row.signed_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{row.journal_sha256[:16]}… ({row.journal_records})",
            f"[{colour}]{judgement.validity.value}[/{colour}]",
            "; ".join(judgement.reasons + ([f"note: {row.note}"] if row.note else [])),
        )
    return table


def signatures(
    run: Annotated[str, typer.Argument(help="a run id (or run folder)")],
    runs_dir: Annotated[Path, typer.Option(help="where run folders are")] = Path("runs"),
    db: DbOption = None,
) -> None:
    """A run's signatures and whether each still holds (VALID, VOID, UNVERIFIED).

    Exit 0 when the run has a VALID signature, 1 when it is unsigned or every signature is void.
    """
    run_id = _run_id(Path(run)) if (Path(run) / "results.json").is_file() else run
    with open_store(db, runs_dir) as store:
        if store.run_dir(run_id) is None:
            raise _fail(f"run {run_id!r} is not in the QA record {store.url}")
        judged = _judge_all(store.signatures(run_id=run_id))
    if not judged:
        console.print(f"Run {run_id}: UNSIGNED (no sign-off recorded)")
        raise typer.Exit(1)
    console.print(_signature_table(f"Signatures of run {run_id}", judged))
    valid = any(j.validity == Validity.VALID for _, j in judged)
    if not valid:
        console.print(f"Run {run_id}: no valid signature.")
    raise typer.Exit(0 if valid else 1)


def _detail(action: str, detail: dict[str, Any]) -> str:
    if action == "re-recorded":
        voided = detail.get("voided_signatures") or []
        return (
            f"re-run: journal head {str(detail.get('previous_journal_sha256'))[:16]}… "
            f"({detail.get('previous_journal_records')}) → {str(detail.get('journal_sha256'))[:16]}… "
            f"({detail.get('journal_records')}), ended {detail.get('state')} {detail.get('outcome') or ''}"
            + (f"; voided signature(s) {', '.join(map(str, voided))}" if voided else "")
        )
    if action == "signed":
        return (
            f"signature {detail.get('signature')} as {detail.get('role')}, journal head "
            f"{str(detail.get('journal_sha256'))[:16]}… ({detail.get('journal_records')})"
        )
    if action == "baseline":
        return f"baseline of {detail.get('sequence')} on {detail.get('device')}" + (
            f" (replaces {detail['replaces']})" if detail.get("replaces") else ""
        )
    return (
        f"{detail.get('sequence', '')} ended {detail.get('state', '')} {detail.get('outcome') or ''}".strip()
    )


def _same_day_repeats(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Run id → the run of the same sequence on the same device earlier the same UTC day, for each repeat."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    repeats = {}
    for row in rows:  # oldest first
        key = (str(row["sequence"]), str(row["device_key"] or row["device_name"]))
        before = last.get(key)
        if before is not None and as_utc(before["performed_at"]).date() == as_utc(row["performed_at"]).date():
            repeats[str(row["run_id"])] = before
        last[key] = row
    return repeats


def audit(
    since: Annotated[str | None, typer.Option(help="only entries from this date (ISO 8601, UTC)")] = None,
    run: Annotated[str | None, typer.Option("--run", help="only this run")] = None,
    all_entries: Annotated[
        bool, typer.Option("--all", help="also every run recorded (one entry per run)")
    ] = False,
    db: DbOption = None,
) -> None:
    """The audit log: every signature (VALID/VOID), every re-run, every baseline marked.

    A re-run is a run resumed and recorded again (``re-recorded``), or a test repeated: a run of a sequence
    on a device that already had a run of that sequence the same UTC day (after a failure, say).
    """
    moment = parse_moment(since, "--since") if since else None
    actions = () if all_entries else ("signed", "re-recorded", "baseline", "recorded")
    with open_store(db) as store:
        entries = store.audit(since=moment, run_id=run, actions=actions)
        repeats = _same_day_repeats(store.run_rows())
        judged = _judge_all(
            [s for s in store.signatures(run_id=run) if moment is None or s.signed_at >= moment]
        )
        url = store.url
    entries = [e for e in entries if all_entries or e.action != "recorded" or e.run_id in repeats]
    log = Table(title=f"Audit log — {url}")
    for column in ("#", "At (UTC)", "Actor", "Action", "Run", "Detail"):
        log.add_column(column, overflow="fold")
    for entry in entries:
        repeated = repeats.get(entry.run_id or "") if entry.action == "recorded" else None
        log.add_row(
            str(entry.id),
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.actor,
            "re-run" if repeated else entry.action,
            entry.run_id or "—",
            _detail(entry.action, entry.detail)
            + (
                f"; repeats {repeated['run_id']} ({repeated['outcome'] or repeated['state']}, "
                f"{as_utc(repeated['performed_at']).strftime('%H:%M:%S')} the same day)"
                if repeated
                else ""
            ),
        )
    console.print(log if entries else "Audit log: no entries match.")
    if judged:
        console.print(_signature_table("Signatures", judged))
    else:
        console.print("Signatures: none match.")


def export(
    since: Annotated[str | None, typer.Option(help="runs performed from this date (ISO 8601, UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="… up to and including this date (ISO 8601, UTC)")] = None,
    run: Annotated[str | None, typer.Option("--run", help="only this run id")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, json or qatrack")] = "csv",
    out: Annotated[Path, typer.Option(help="file written")] = Path("runs/export.csv"),
    qatrack_map: Annotated[
        Path | None,
        typer.Option(help="QATrack+ mapping (YAML/TOML): unit test collection URLs and test slugs"),
    ] = None,
    db: DbOption = None,
) -> None:
    """Results of a run or a date range as CSV, JSON or QATrack+ test-list instances (docs/programme.md).

    Exit 0 written, 2 bad input.
    """
    from controller.config import read_structured_file
    from records.export import QATrackMap, json_document, qatrack_document, select_runs, write_csv, write_json

    if fmt not in ("csv", "json", "qatrack"):
        raise _fail(f"--format {fmt!r}: expected csv, json or qatrack")
    if since is None and run is None:
        raise _fail("give --since DATE (a date range) or --run ID (one run)")
    start = parse_moment(since, "--since") if since else None
    end = None
    if until:
        end = parse_moment(until, "--until")
        if len(until) == 10:
            end += timedelta(days=1)  # a date alone includes that whole day
    if start and end and end <= start:
        raise _fail(f"--until {until!r} is not after --since {since!r}")
    mapping = QATrackMap()
    if qatrack_map is not None:
        try:
            mapping = QATrackMap.model_validate(read_structured_file(qatrack_map))
        except ConfigError as err:
            raise _fail(err) from err
        except ValidationError as err:
            problems = describe_validation_errors(err.errors())
            raise _fail(ConfigError(f"QATrack+ map {str(qatrack_map)!r}", problems)) from err
    with open_store(db) as store:
        chosen = select_runs(store, start, end, run)
        url = store.url
    if run is not None and not chosen:
        raise _fail(f"run {run!r} is not in the QA record {url}")
    selection = {
        "since": start.isoformat() if start else None,
        "until": end.isoformat() if end else None,
        "run_id": run,
    }
    if fmt == "csv":
        rows = write_csv(chosen, out)
        console.print(f"{out}: {len(chosen)} run(s), {rows} row(s) (CSV)")
    elif fmt == "json":
        write_json(json_document(chosen, url, selection), out)
        console.print(f"{out}: {len(chosen)} run(s) (JSON, format hilcal-results 1)")
    else:
        document = qatrack_document(chosen, mapping, url)
        write_json(document, out)
        console.print(
            f"{out}: {len(document['test_list_instances'])} QATrack+ test-list instance(s) "
            f"({len(document['skipped_simulated'])} simulated run(s) left out)"
        )
        if document["unmapped"]:
            err_console.print(
                f"note: {len(document['unmapped'])} instance(s) have no unit_test_collection: map them in "
                "--qatrack-map (collections) before posting (docs/programme.md)",
                highlight=False,
            )


def register(app: typer.Typer) -> None:
    """Add the programme commands to the ``hilcal`` app."""
    app.command()(due)
    app.command()(sign)
    app.command()(signatures)
    app.command()(audit)
    app.command()(export)
