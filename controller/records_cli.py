"""The console side of the QA record: ``hilcal db …``, ``hilcal baseline``, ``hilcal trends``.

The controller writes the record (``controller.session`` hands each finished run folder to the store);
these commands read it. Every command takes ``--db`` (or ``$HILCAL_DB``); without either the record is the
SQLite file beside the run folders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from records.store import DEFAULT_DB_FILE, ResultsStore, StoreError, default_url

# Parentheses, not brackets: rich reads "[env …]" as markup and drops it from the help.
DB_HELP = (
    f"QA record database URL: sqlite:///<file> or postgresql+psycopg://user@host/db "
    f"(env HILCAL_DB; default: {DEFAULT_DB_FILE} in the runs folder, sqlite:///runs/{DEFAULT_DB_FILE})"
)
DbOption = Annotated[str | None, typer.Option("--db", envvar="HILCAL_DB", help=DB_HELP, show_envvar=False)]

db_app = typer.Typer(no_args_is_help=True, help="The QA record (results database): import, inspect.")
console = Console()
err_console = Console(stderr=True)


class LazyStore:
    """The QA record opened at the first run that ends: bad input never creates or touches a database."""

    def __init__(self, db: str | None, runs_dir: Path) -> None:
        self._db, self._runs_dir = db, runs_dir
        self.store: ResultsStore | None = None

    def record_folder(self, run_dir: Path) -> bool:
        if self.store is None:
            self.store = ResultsStore.open(self._db or default_url(self._runs_dir))
        return self.store.record_folder(run_dir)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def say_error(text: str) -> None:
    """``error: …`` on stderr, the prefix in red; the text as it is (a URL or path may hold brackets)."""
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(text, markup=False, highlight=False)


def check_db_url(db: str | None) -> None:
    """A malformed --db/$HILCAL_DB is bad input (exit 2) before anything runs; reaching it is not checked."""
    from sqlalchemy.engine import make_url

    url = db or ""
    if not url:
        return
    try:
        backend = make_url(url).get_backend_name()
    except Exception as err:
        say_error(f"--db {url!r}: not a database URL ({err})")
        raise typer.Exit(2) from err
    if backend not in ("sqlite", "postgresql"):
        expected = "expected sqlite:///<file> or postgresql+psycopg://…"
        say_error(f"--db {url!r}: {expected}")
        raise typer.Exit(2)


def open_store(db: str | None, runs_dir: Path = Path("runs")) -> ResultsStore:
    """The QA record, or exit 2 naming the URL and why it cannot be opened."""
    try:
        return ResultsStore.open(db or default_url(runs_dir))
    except StoreError as err:
        say_error(str(err))
        raise typer.Exit(2) from err


@db_app.command("import")
def import_runs(
    runs_dir: Annotated[Path, typer.Argument(help="folder holding run folders")] = Path("runs"),
    db: DbOption = None,
) -> None:
    """Record every run folder (rebuilds the record from the journals); a run whose journal fails
    `hilcal verify` is refused. Exit 1 if any was refused."""
    from controller.verify import verify_run

    store = open_store(db, runs_dir)
    refused: list[str] = []
    recorded = unchanged = skipped = 0
    with store:
        for run_dir in sorted(p.parent for p in runs_dir.rglob("run.json")):
            if not (run_dir / "results.json").is_file():
                skipped += 1  # not ended: `hilcal resume` it first
                continue
            integrity = verify_run(run_dir)
            if not integrity.ok:
                refused.append(f"{run_dir}: {'; '.join(integrity.problems)}")
                continue
            if store.record_folder(run_dir):
                recorded += 1
            else:
                unchanged += 1
        console.print(
            f"QA record {store.url}: {recorded} run(s) recorded, {unchanged} already there, "
            f"{skipped} not ended, {len(refused)} refused"
        )
    for line in refused:
        err_console.print(f"refused (altered): {line}", markup=False, highlight=False)
    raise typer.Exit(1 if refused else 0)


@db_app.command("info")
def info(db: DbOption = None) -> None:
    """Where the record is and how much it holds."""
    with open_store(db) as store:
        console.print(f"QA record: {store.url}")
        for table in ("runs", "metrics", "devices", "baselines", "signatures", "audit_log"):
            console.print(f"  {table}: {store.count(table)}")


def baseline(
    run_id: Annotated[str, typer.Argument(help="the run that becomes the baseline (commissioning)")],
    by: Annotated[str, typer.Option(help="who marks it")],
    note: Annotated[str, typer.Option(help="why (e.g. 'commissioning after stage swap')")] = "",
    db: DbOption = None,
) -> None:
    """Mark a completed run as the baseline of its device and sequence; later runs show deviations."""
    with open_store(db) as store:
        try:
            device, sequence = store.mark_baseline(run_id, by, note)
        except StoreError as err:
            say_error(str(err))
            raise typer.Exit(2) from err
    console.print(f"Baseline of {sequence} on {device}: run {run_id} (marked by {by})")


def print_baseline_deviation(store: ResultsStore, run_id: str) -> None:
    """After a run: each verdict metric against the device's baseline, when one is marked."""
    rows = store.baseline_deviation(run_id)
    if not rows:
        return
    table = Table(title=f"Against the baseline (run {rows[0].baseline_run})")
    for column in ("Metric", "Now", "Baseline", "Deviation"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.metric, f"{row.value:.4g} {row.unit}", f"{row.baseline:.4g}", f"{row.deviation:+.4g}"
        )
    console.print(table)


def parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def trends(
    device: Annotated[
        str | None, typer.Option(help="only devices whose key contains this (e.g. a serial)")
    ] = None,
    metric: Annotated[str | None, typer.Option(help="only this metric (e.g. A, Δt, CoV)")] = None,
    since: Annotated[str | None, typer.Option(help="only results from this date (ISO 8601, UTC)")] = None,
    out: Annotated[Path, typer.Option(help="the trend page written")] = Path("runs/trends.html"),
    db: DbOption = None,
) -> None:
    """Each device's metrics over time: control chart and drift class per result, projected crossing.

    Exit 0 when every latest result is in control, 1 when one is a drift warning or out of tolerance.
    """
    from records.history import trend_series
    from records.trend_page import render_trend_page
    from records.trends import PointClass

    try:
        moment = parse_since(since)
    except ValueError as err:
        say_error(f"--since {since!r}: expected an ISO 8601 date")
        raise typer.Exit(2) from err
    with open_store(db) as store:
        series = trend_series(store, device, metric, moment)
        url = store.url
    if not series:
        console.print(f"No results in the QA record {url} match; run a sequence first.")
        raise typer.Exit(0)
    # One table per device and sequence, titled with both: their keys are long (vendor/model/serial), and
    # as columns they left the metric and its figures no room at 80 columns.
    console.print(f"Trends — {url}")
    alarm = False
    colours = {"drift_warning": "yellow", "out_of_tolerance": "red"}
    for (device_key, sequence), group in groupby(series, key=lambda item: (item.device, item.sequence)):
        table = Table(title=f"{device_key} · {sequence}", title_justify="left")
        for column in ("Metric", "n", "Latest", "Limit", "Class", "Rule", "Reaches limit"):
            table.add_column(column, overflow="fold")  # wrapped, never cut short with "…"
        for item in group:
            analysis = item.analysis
            latest = analysis.points[-1]
            alarm |= latest.point_class in (PointClass.DRIFT_WARNING, PointClass.OUT_OF_TOLERANCE)
            colour = colours.get(latest.point_class.value, "green")
            projection = analysis.projection
            reaches = "—"
            if projection is not None:
                low = projection.lower.date().isoformat() if projection.lower else "…"
                high = projection.upper.date().isoformat() if projection.upper else "…"
                met = "met " if projection.already_met else ""  # a past date: the trend is there already
                reaches = f"{met}{projection.at.date().isoformat()} [{low}, {high}]"
            table.add_row(
                item.metric,
                str(len(analysis.points)),
                f"{latest.value:.4g} ± {latest.expanded_uncertainty:.2g} {item.unit}",
                f"{analysis.limits.tolerance:g} {item.unit}",
                f"[{colour}]{latest.point_class.value}[/{colour}]",
                ", ".join(rule.value for rule in latest.rules) or "—",
                reaches,
            )
        console.print(table)
    page = render_trend_page(series, out, f"QA trends — {url}")
    console.print(f"Trend page: {page}")
    raise typer.Exit(1 if alarm else 0)


def simulate_history(
    days: Annotated[int, typer.Option(help="days of QA to simulate")] = 180,
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="programme and drifts (YAML); default: docs/records.md's demo"),
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="where the run folders go")] = Path("runs/history"),
    out: Annotated[Path, typer.Option(help="the trend page written at the end")] = Path(
        "runs/history/trends.html"
    ),
    db: DbOption = None,
) -> None:
    """Run a QA programme day after day on the simulated rig (virtual clock) with a slow drift, record every
    run, mark the first as the baseline, and show the trends."""
    from pydantic import ValidationError

    from controller.config import load_rig_config, read_structured_file
    from controller.errors import ConfigError, describe_validation_errors
    from controller.history import HistoryPlan, default_plan
    from controller.history import simulate_history as simulate

    try:
        if plan_file is None:
            plan = default_plan(days)
        else:
            try:
                plan = HistoryPlan.model_validate({"days": days, **read_structured_file(plan_file)})
            except ValidationError as err:
                raise ConfigError(
                    f"plan file {str(plan_file)!r}", describe_validation_errors(err.errors())
                ) from err
        config = load_rig_config()
    except ConfigError as err:
        say_error(str(err))
        raise typer.Exit(2) from err
    store = open_store(db, runs_dir)
    runs = sum(len(range(0, plan.days, item.every_days)) for item in plan.items)
    console.print(f"Simulating {plan.days} days of QA ({runs} runs) into {store.url}")
    first: list[str] = []

    def progress(day: int, outcome: object) -> None:
        run_id = getattr(outcome, "run_id", "")
        if not first:
            first.append(run_id)
        state = getattr(getattr(outcome, "summary", None), "state", "?")
        verdict = getattr(getattr(outcome, "result", None), "outcome", None)
        console.print(f"  day {day:4d}  {run_id}  {verdict.value if verdict else state}", highlight=False)

    with store:
        try:
            simulate(config, plan, runs_dir, store, progress)
        except ConfigError as err:
            say_error(str(err))
            raise typer.Exit(2) from err
        if first:
            store.mark_baseline(
                first[0], "simulate-history", "commissioning (day 0 of the simulated history)"
            )
    trends(None, None, None, out, db or default_url(runs_dir))
