"""``hilcal``: the console a commissioning engineer uses.

Typer gives typed options with help text for free; Rich gives the progress bar and the results table.
``hilcal run`` with no options runs the default commissioning session on the embedded simulated rig.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from controller.config import RigConfig, load_rig_config, load_yaml, rig_field_parent
from controller.errors import ConfigError, HilcalError, describe_validation_errors
from controller.live_display import LiveProgress
from controller.logging_setup import VerboseOption, configure_logging, report_run_log
from controller.plan_cli import confirm_real_run
from controller.plan_cli import plan as plan_command
from controller.programme_cli import register as register_programme
from controller.records_cli import (
    DbOption,
    LazyStore,
    baseline,
    check_db_url,
    db_app,
    print_baseline_deviation,
    simulate_history,
    trends,
)
from controller.rig import Rig
from controller.rig_cli import VersionOption, print_sequences, rig_app
from controller.session import AirEntry, RunOutcome, resume_run, run_sequence
from controller.typed_air import announce_typed_air
from drivers.clock import WallClock
from records.store import DEFAULT_DB_FILE

if TYPE_CHECKING:
    from controller.commissioning import SessionReports

#: Python's thread switch interval during a real-time rehearsal: the simulated world answers from threads
#: of this process, and the default 5 ms would let a busy thread delay a reply by that much.
REHEARSAL_SWITCH_INTERVAL_S = 0.0005

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Hardware-in-the-loop calibration controller.\n\n"
    f"Every run is kept in its run folder and in the QA record, by default the SQLite file "
    f"runs/{DEFAULT_DB_FILE}; --db or $HILCAL_DB point it elsewhere (a centre's PostgreSQL).",
)
sim_app = typer.Typer(no_args_is_help=True, help="Simulated hardware for outside programs.")
app.add_typer(sim_app, name="sim")
app.add_typer(db_app, name="db")
app.command()(baseline)
app.command()(trends)
app.command("simulate-history")(simulate_history)
register_programme(app)
app.add_typer(rig_app, name="rig")
app.command("plan")(plan_command)


@app.callback()
def _main(version: VersionOption = False, verbose: VerboseOption = 0) -> None:
    """Hardware-in-the-loop calibration controller."""
    configure_logging(verbose, err_console)  # once: console on stderr, each run's hilcal.log


console = Console()
err_console = Console(stderr=True)


def _print_error(err: object) -> None:
    """Bad input, said plainly: the message is printed as text (a "[low, high]" in it is not markup)."""
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(str(err), markup=False, highlight=False)


class RichProgress(LiveProgress):
    """The run's live display on the console; a real rig's prompts stop it while they ask."""

    current: ClassVar[RichProgress | None] = None  # the run in progress: its display asks

    def __init__(self) -> None:
        super().__init__(console)
        RichProgress.current = self


def _apply_overrides(config: RigConfig, overrides: list[str]) -> RigConfig:
    """``--set simulation.stages.phantom_x.backlash_mm=0.3``: change one field of the rig file."""
    raw = config.model_dump(mode="json")
    for item in overrides:
        if "=" not in item:
            raise ConfigError("--set", [f"{item!r}: expected dotted.path=value"])
        path, _, text = item.partition("=")
        target, field = rig_field_parent(raw, path, "--set")
        try:
            target[field] = load_yaml(text)
        except yaml.YAMLError as err:
            raise ConfigError("--set", [f"{path} = {text!r}: not a YAML value ({err})"]) from err
    try:
        return RigConfig.model_validate(raw)
    except ValidationError as err:
        problems = describe_validation_errors(err.errors())
        raise ConfigError("--set (rig after the overrides)", problems) from err


def _with_clock(config: RigConfig, clock: str | None) -> RigConfig:
    """``--clock realtime|virtual``: the simulated rig's clock (``simulation.clock``) for this run."""
    if clock is None:
        return config
    if clock not in ("realtime", "virtual"):
        raise ConfigError("--clock", [f"{clock!r}: expected realtime or virtual"])
    if config.simulation is None:
        raise ConfigError("--clock", ["a real rig runs on wall time; --clock is for a simulated rig"])
    return _apply_overrides(config, [f"simulation.clock={clock}"])


def _realtime_rehearsal(config: RigConfig) -> bool:
    """A simulated rig on the real-time clock: the world moves at true speed (docs/rehearsal.md)."""
    if config.simulation is None or config.simulation.get("clock") != "realtime":
        return False
    sys.setswitchinterval(REHEARSAL_SWITCH_INTERVAL_S)  # the world's threads answer within 0.5 ms
    return True


def _print_rehearsal_ratio(config: RigConfig, step: Any, outcome: RunOutcome) -> None:
    """Wall time of a real-time rehearsal against the physical bound of its plan (docs/rehearsal.md).

    The bound is the plan estimate (``hilcal plan``) with no polling granularity: every motion profile,
    settle, referencing, dwell, integration and tracker frame as the rig file gives them.
    """
    from controller.plan_preview import build_preview
    from drivers.registry import DRIVERS

    raw = config.model_dump(mode="json")
    for device in raw["devices"].values():
        spec = DRIVERS.get(device.get("driver", ""))
        if spec is not None and "poll_interval_s" in spec.params_model.model_fields:
            device["params"] = {**(device.get("params") or {}), "poll_interval_s": 1e-6}
    try:
        preview = build_preview(RigConfig.model_validate(raw), step.sequence, step.params)
    except Exception as err:  # the ratio is information; the run's own result stands
        err_console.print(f"[yellow]real-time rehearsal:[/yellow] no physical bound ({err})", highlight=False)
        return
    if preview.estimate is None or preview.estimate.total_s <= 0:
        return
    summary = outcome.summary
    wall = summary.ended_wall - summary.started_wall
    bound = preview.estimate.total_s
    console.print(
        f"Real-time rehearsal: {wall:.2f} s wall for a physical bound of {bound:.2f} s "
        f"(motion profiles, settle, dwells as the rig file gives them): [bold]{wall / bound:.3f}×[/bold]",
        highlight=False,
    )


def _air_entry(
    temperature_c: float | None, pressure_kpa: float | None, operator: str | None
) -> AirEntry | None:
    """Typed-in air conditions, checked now (a °F or mmHg slip is refused before the run starts)."""
    given = [temperature_c is not None, pressure_kpa is not None, operator is not None]
    if not any(given):
        return None
    if not all(given):
        raise ValueError("--air-temperature-c, --air-pressure-kpa and --operator go together")
    assert temperature_c is not None and pressure_kpa is not None and operator is not None
    entry = AirEntry(temperature_c=temperature_c, pressure_kpa=pressure_kpa, operator=operator)
    entry.as_device(WallClock())  # runs the unit guards
    return entry


def _check_plans(
    config: RigConfig, steps: list[Any], params: Path | None, session: Path | None, air: bool
) -> None:
    """Every step's whole plan against the rig file, before the first device of the first step is opened."""
    from controller.plan_check import check_plan
    from controller.session import OPERATOR_DEVICE
    from sequences import get_sequence

    single = session is None and len(steps) == 1
    problems: list[str] = []
    for index, step in enumerate(steps):
        sequence = get_sequence(step.sequence)
        if single:
            where = f"params file {str(params)!r}" if params is not None else f"{step.sequence} parameters"
        else:
            where = f"steps.{index}.params ({step.sequence})"
        try:
            checked = check_plan(
                config,
                sequence,
                sequence.parse_params(step.params, where),
                source=f"{where} on rig {config.name!r}",
                extra_devices={OPERATOR_DEVICE: "environment"} if air else None,
            )
            for warning in dict.fromkeys(checked.warnings):
                err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        except ConfigError as err:
            if single:
                raise
            problems += [f"{where}: {problem}" for problem in err.problems]
    if problems:
        name = str(session) if session is not None else "the built-in session"
        raise ConfigError(f"session file {name!r} on rig {config.name!r}", problems)


def _attach_console(rig: Rig) -> None:
    """On real hardware the beam and the loads are the operator's: the run's display asks and waits."""
    (RichProgress.current or RichProgress()).attach_console(rig)


def _print_outcome(outcome: RunOutcome, lazy: LazyStore | None = None, report: bool = True) -> None:
    store = lazy.store if lazy is not None else None
    summary = outcome.summary
    for result in summary.results:
        table = Table(title=f"{result.title}\n{result.device} — profile {result.profile}")
        for column in ("Metric", "Measured", "U (k=2)", "Limit", "Rule", "Verdict"):
            table.add_column(column)
        for v in result.verdicts:
            colour = {"PASS": "green", "FAIL": "red"}.get(v.outcome, "yellow")
            table.add_row(
                f"{v.metric}  {v.description}",
                f"{v.measured.value:.4f} {v.measured.unit}",
                f"{v.measured.expanded_uncertainty:.4f}",
                f"{v.tolerance.limit:g} {v.tolerance.unit}",
                v.rule.value,
                f"[{colour}]{v.outcome}[/{colour}]",
            )
        for name, m in result.informative.items():
            table.add_row(
                f"[dim]{name}[/dim]",
                f"{m.value:.4f} {m.unit}",
                f"{m.expanded_uncertainty:.4f}",
                "—",
                "info",
                "",
            )
        console.print(table)
        for o in result.tolerance_overrides:
            console.print(
                f"site tolerance ({o.file}): {o.tolerance} limit {o.limit_before:g} → {o.limit_after:g} "
                f"{o.unit}, action {o.action_limit_before} → {o.action_limit_after} — {o.source}; "
                f"reason: {o.reason}",
                markup=False,
                highlight=False,
            )
        colour = {"PASS": "green", "FAIL": "red"}.get(result.outcome, "yellow")
        console.print(f"Verdict: [bold {colour}]{result.outcome}[/bold {colour}]")
    if summary.error:
        err_console.print(f"[red]Run {summary.state}:[/red] ", end="")
        err_console.print(str(summary.error), markup=False, highlight=False)
    if store is not None and outcome.recorded:
        print_baseline_deviation(store, outcome.run_id)
    files = "journal.jsonl, results.json" + (", report.html" if report else "")
    console.print(f"Run directory: {outcome.run_dir}  ({files})")
    if outcome.record_error is not None:
        err_console.print(
            f"[yellow]warning:[/yellow] not written to the QA record ({outcome.record_error}); the run "
            "folder holds everything: `hilcal db import` adds it later",
            highlight=False,
        )


def _install_sigterm_as_interrupt() -> None:
    """SIGTERM (e.g. from a supervisor) takes the same safe path as Ctrl-C: stop devices, record, exit."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))


def _exit_code(outcome: RunOutcome) -> int:
    if outcome.summary.state != "completed":
        return 3
    return 0 if all(r.outcome == "PASS" for r in outcome.summary.results) else 1


@app.command()
def run(
    rig: Annotated[
        Path | None, typer.Option(help="rig file (YAML/TOML); default: the built-in simulated rig")
    ] = None,
    sequence: Annotated[
        str | None, typer.Option(help="one sequence (see `hilcal sequences`); default: run the session")
    ] = None,
    params: Annotated[Path | None, typer.Option(help="sequence parameter file (YAML/TOML)")] = None,
    session: Annotated[
        Path | None, typer.Option(help="session file (steps of sequences); default: the built-in session")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a rig field: dotted.path=value")
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="where run directories are written")] = Path("runs"),
    report: Annotated[bool, typer.Option(help="write report.html")] = True,
    air_temperature_c: Annotated[float | None, typer.Option(help="air temperature typed in (°C)")] = None,
    air_pressure_kpa: Annotated[float | None, typer.Option(help="air pressure typed in (kPa)")] = None,
    operator: Annotated[str | None, typer.Option(help="who read the thermometer and barometer")] = None,
    db: DbOption = None,
    tolerances: Annotated[
        Path | None,
        typer.Option(help="site tolerance file (YAML/TOML, docs/tolerances.md); replaces a session's own"),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="real rig: run after the plan preview without asking")
    ] = False,
    clock: Annotated[
        str | None,
        typer.Option(
            "--clock",
            help="simulated rig: realtime rehearses at true speed, virtual runs as fast as it can",
        ),
    ] = None,
) -> None:
    """Run a sequence, or a whole commissioning session, and print the verdicts.

    Exit 0 when every verdict is PASS, 1 on a FAIL or INCONCLUSIVE, 2 on bad input, 3 when a run faulted or
    was aborted.
    """
    from controller.commissioning import SessionStep, load_session, run_session, session_table
    from sequences import get_sequence
    from sequences.site_tolerances import load_site_tolerances

    try:
        config = load_rig_config(rig)
        if set_:
            config = _apply_overrides(config, set_)
        config = _with_clock(config, clock)
        air = _air_entry(air_temperature_c, air_pressure_kpa, operator)
        if sequence is not None:
            if session is not None:
                raise ValueError("--sequence and --session exclude each other")
            chosen = get_sequence(sequence).load_params(params)
            steps = SessionStep(sequence=sequence, params=chosen.model_dump())
            plan = None
        else:
            if params is not None:
                raise ValueError(
                    "--params belongs to --sequence; a session file carries each step's parameters"
                )
            plan = load_session(session)
        if air is not None:  # used where a step can use it, or the console says why not
            announce_typed_air([steps] if plan is None else plan.steps, console, err_console)
        _check_plans(config, [steps] if plan is None else plan.steps, params, session, air is not None)
        site_file = tolerances or (Path(plan.tolerances) if plan is not None and plan.tolerances else None)
        site = load_site_tolerances(site_file) if site_file is not None else None
    except (ConfigError, KeyError, ValueError) as err:
        _print_error(err)
        raise typer.Exit(2) from err
    session_name = None if plan is None else plan.name  # real rig: preview, then ask (docs/plan.md)
    chosen_steps = [steps] if plan is None else plan.steps
    confirm_real_run(config, chosen_steps, session=session_name, yes=yes, air=air is not None)
    check_db_url(db)
    store = LazyStore(db, runs_dir)
    _install_sigterm_as_interrupt()
    from controller.pause_console import install_pause, with_control

    pause_control = install_pause(console, err_console)  # Ctrl-C pauses; again: safe stop (docs/pause.md)
    where = f"Rig [bold]{config.name}[/bold]{' (simulated)' if config.simulated else ''}"
    rehearsal = _realtime_rehearsal(config)
    if rehearsal:
        where += ", real-time clock (rehearsal at true speed)"

    def run_step(step: SessionStep) -> RunOutcome:
        seq = get_sequence(step.sequence)
        console.rule(f"{seq.title}" + (f" — {step.title}" if step.title else ""))
        outcome = run_sequence(
            config,
            step.sequence,
            seq.parse_params(step.params),
            runs_dir=runs_dir,
            rig_source=str(rig or "built-in rig"),
            progress=RichProgress(),
            write_report=report and plan is None,  # a session renders each report while the next runs
            air=air,
            on_rig_ready=with_control(pause_control, None if config.simulated else _attach_console),
            store=store,
            tolerances=site,
        )
        _print_outcome(outcome, store, report)
        if rehearsal and outcome.summary.state == "completed":  # a cut-short run has no bound to meet
            _print_rehearsal_ratio(config, step, outcome)
        report_run_log(outcome.run_dir, err_console)
        return outcome

    try:
        if plan is None:
            console.print(f"{where}; one sequence")
            single = run_step(steps)
            if report:
                _print_run_pdf(single.run_dir)
            raise typer.Exit(_exit_code(single))
        console.print(f"{where}; session [bold]{plan.name}[/bold] with {len(plan.steps)} steps")
        published: list[SessionReports] = []
        index, outcomes = run_session(
            plan, config, run_step, runs_dir, published.append, pdf=report, render=report
        )
    except ConfigError as err:  # the rig could not be built: bad input, nothing was run or left behind
        _print_error(err)
        raise typer.Exit(2) from err
    console.print(session_table(plan.name, outcomes))  # short run ids; full paths in the session report
    console.print(f"Session index: {index}")
    for reports in published:
        _print_session_reports(reports)
    raise typer.Exit(max(_exit_code(outcome) for _, outcome in outcomes))


def _print_run_pdf(run_dir: Path) -> None:
    """Print one run's report to PDF beside it, or say why not (a missing browser is never an error)."""
    from controller.pdf import print_pdf

    page = run_dir / "report.html"
    if not page.is_file():
        return
    printed = print_pdf(page)
    if printed.pdf is not None:
        console.print(f"Run report PDF: {printed.pdf}")
    else:
        console.print(f"[yellow]No PDF of the run report:[/yellow] {printed.skipped}", highlight=False)


def _print_session_reports(reports: SessionReports) -> None:
    for reason in reports.skipped:
        console.print(f"[yellow]PDF skipped:[/yellow] {reason}", highlight=False)
    console.print(f"Session report: {reports.html}")
    if reports.pdf is not None:
        console.print(f"Session report PDF: {reports.pdf}")


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="the run directory of an interrupted run")],
    db: DbOption = None,
) -> None:
    """Continue an interrupted run from its journal: replay what was measured, then go on live."""
    from controller.pause_console import install_pause, with_control

    check_db_url(db)
    store = LazyStore(db, run_dir.parent)
    _install_sigterm_as_interrupt()
    pause_control = install_pause(console, err_console)  # Ctrl-C pauses here too (docs/pause.md)
    try:
        manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        simulated = (manifest.get("rig") or {}).get("simulation") is not None
    except (OSError, ValueError):
        simulated = False  # resume_run names the unreadable manifest; a real rig's prompts are the safe side
    on_ready = with_control(pause_control, None if simulated else _attach_console)
    try:
        outcome = resume_run(run_dir, progress=RichProgress(), store=store, on_rig_ready=on_ready)
    except (HilcalError, FileNotFoundError) as err:
        _print_error(err)
        raise typer.Exit(2) from err
    _print_outcome(outcome, store)
    raise typer.Exit(_exit_code(outcome))


@app.command()
def review(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """Summarise a run from its journal alone (works on a run that was killed); exit 1 if it was altered."""
    from controller.review import summarize_journal
    from controller.verify import complete_startup, verify_run

    try:
        complete_startup(run_dir)
        integrity = verify_run(run_dir)
        console.print(summarize_journal(run_dir, integrity), markup=False, highlight=False)
    except (HilcalError, FileNotFoundError, ValueError) as err:
        _print_error(err)
        raise typer.Exit(2) from err
    if not integrity.ok:
        raise typer.Exit(1)


@app.command()
def verify(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """Check a run's hash chain, manifest and results: exit 0 intact, 1 altered, 2 not a run directory."""
    from controller.verify import complete_startup, verify_run

    try:
        complete_startup(run_dir)
    except HilcalError as err:
        _print_error(err)
        raise typer.Exit(2) from err
    report = verify_run(run_dir)
    for line in report.lines():
        console.print(line, markup=False, highlight=False)
    raise typer.Exit(0 if report.ok else 1)


@app.command("sequences")
def list_sequences() -> None:
    """List the calibration sequences and their parameters."""
    print_sequences()


@app.command()
def validate(
    sequence: Annotated[
        list[str] | None,
        typer.Option(help="a sequence or scenario to validate (repeatable); default: every scenario"),
    ] = None,
    rigs: Annotated[int, typer.Option(min=1, help="random rigs per scenario")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the first rig (rig i uses seed + i)")] = 0,
    scheduler: Annotated[
        str | None, typer.Option(help="a running dask scheduler, e.g. tcp://host:8786; default: local")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="local worker processes (default: one per core)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output directory (default runs/validation/<timestamp>)")
    ] = None,
) -> None:
    """Blind validation campaign: random injected errors, truth from an independent model, scored.

    Writes campaign.parquet, report.html and summary.md. Exit 0 when every coverage claim holds with no
    false accept and no errored task, 1 when not, 2 on bad input.
    """
    from validation.campaign import CampaignInputError, resolve_scenarios
    from validation.campaign import validate as run_validation

    try:
        keys = resolve_scenarios(sequence)
    except CampaignInputError as err:
        _print_error(err)
        raise typer.Exit(2) from err
    if scheduler is not None and workers is not None:
        err_console.print("[red]error:[/red] --workers sizes a local cluster; it cannot go with --scheduler")
        raise typer.Exit(2)
    outcome = run_validation(keys, rigs, seed, scheduler, workers, out)
    table = Table(title=f"Coverage of the truth by ±U ({rigs} rigs per scenario)")
    for column in ("Scenario", "Metric", "n", "Err", "Coverage", "95 % CI", "Claim", "mean z", "rms z"):
        table.add_column(column)
    for c in outcome.scores.coverage:
        colour = "green" if c.ok else "red"
        table.add_row(
            c.scenario,
            c.metric,
            str(c.n),
            str(c.errors),
            f"[{colour}]{c.coverage:.3f}[/{colour}]",
            f"{c.coverage_low:.3f}–{c.coverage_high:.3f}",
            f"{c.claim:.4f}",
            "—" if c.z_bias is None else f"{c.z_bias:+.2f}",
            "—" if c.z_rms is None else f"{c.z_rms:.2f}",
        )
    console.print(table)
    risk = Table(title="Decision risk (false accept: PASS while truth > limit)")
    for column in ("Scenario", "Metric", "Rule", "n", "PASS/FAIL/INC", "False accepts", "False rejects"):
        risk.add_column(column)
    for r in outcome.scores.risk:
        colour = "red" if r.false_accepts else "green"
        risk.add_row(
            r.scenario,
            r.metric,
            str(r.rule),
            str(r.n),
            f"{r.passed}/{r.failed}/{r.inconclusive}",
            f"[{colour}]{r.false_accepts}[/{colour}]",
            str(r.false_rejects),
        )
    console.print(risk)
    if outcome.gate.passed:
        console.print("Gate: [bold green]holds[/bold green]")
    else:
        console.print("Gate: [bold red]fails[/bold red]")
        for reason in outcome.gate.reasons:
            console.print(f"  {reason}")
    console.print(f"Campaign directory: {outcome.out_dir}  (campaign.parquet, report.html, summary.md)")
    raise typer.Exit(0 if outcome.gate.passed else 1)


@sim_app.command("serve")
def sim_serve(
    rig: Annotated[Path | None, typer.Option(help="rig file with a simulation section")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object per device and keep serving")
    ] = False,
) -> None:
    """Serve the simulated rig in real time over pty and TCP for outside programs, until Ctrl-C."""
    from controller.rig.factory import serve_simulation

    try:
        config = load_rig_config(rig)
    except ConfigError as err:
        _print_error(err)
        raise typer.Exit(2) from err
    simulation = serve_simulation(config, str(rig or "built-in rig"))
    try:
        for entry in simulation.describe():
            if as_json:
                print(json.dumps(entry), flush=True)
            else:
                console.print(
                    f"{entry['name']}: {entry['protocol']}  "
                    f"tcp socket://127.0.0.1:{entry['tcp_port']}  pty {entry['pty_path']}"
                )
        if not as_json:
            console.print("Serving in real time; Ctrl-C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulation.close()
        sys.stdout.flush()


if __name__ == "__main__":
    app()
