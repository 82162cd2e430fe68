"""A calibration session: one sequence on one rig, from connect to a durable verdict.

This is the Python API the CLI and acceptance tests share: ``run_sequence`` returns a ``RunOutcome``
whose run directory holds ``journal.jsonl`` (everything, as it happened), ``results.json`` (verdicts)
and ``report.html`` (what a person reads). ``resume_run`` continues a killed run from its journal.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from controller.collision import CollisionGuard
from controller.config import CalibrationCertificate, RigConfig, TrackerRegistrationConfig
from controller.engine import RunEngine, dry_run, reading_from_record
from controller.errors import ConfigError, HilcalError, RunAborted, describe_error
from controller.interlocks import AxisLimits, SafetyEnvelope, straight_path_check
from controller.journal import Journal, read_journal
from controller.logging_setup import open_run_log
from controller.plan_check import check_plan
from controller.results import RunSummary, SequenceResult
from controller.rig import Rig, build_rig
from controller.verify import STAGED_MANIFEST, complete_startup, file_sha256, fsync_directory, verify_run
from drivers.clock import Clock
from drivers.environment import OperatorEntry
from drivers.errors import HilcalDriverError
from geometry import AxisMounting

if TYPE_CHECKING:
    from sequences.site_tolerances import SiteTolerances

MANIFEST = "run.json"  # the same name controller.verify checks
RESULTS = "results.json"
REPORT = "report.html"


OPERATOR_DEVICE = "operator_entry"


class AirEntry(BaseModel):
    """Temperature and pressure typed in by a named operator; becomes the ``operator_entry`` device."""

    model_config = ConfigDict(extra="forbid")

    temperature_c: float
    pressure_kpa: float
    operator: str = Field(min_length=1)
    entered_at: datetime | None = Field(
        default=None, description="when it was typed in (UTC); set at run start"
    )

    def as_device(self, clock: Clock) -> OperatorEntry:
        device = OperatorEntry(OPERATOR_DEVICE, clock=clock)
        device.connect()
        device.enter(
            temperature_c=self.temperature_c,
            pressure_kpa=self.pressure_kpa,
            operator=self.operator,
            at=self.entered_at,
        )
        return device


class ProgressSink:
    """Receives progress; the CLI shows a bar, tests and the API pass nothing."""

    def start(self, total: int, title: str) -> None: ...

    def planned(self, messages: list[Any]) -> None:
        """The dry run's messages, before the first is sent (labels of what comes next, an ETA)."""

    def advance(self, index: int, label: str) -> None: ...

    def finish(self) -> None: ...


class RecordSink(Protocol):
    """The QA record as a run sees it (``records.store.ResultsStore``)."""

    def record_folder(self, run_dir: Path) -> bool: ...


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    summary: RunSummary
    recorded: bool = False  # written to the QA record
    record_error: str | None = None  # why it was not (the run folder still holds everything)

    @property
    def result(self) -> SequenceResult | None:
        return self.summary.results[0] if self.summary.results else None


class _Context:
    def __init__(self, envelope: SafetyEnvelope, config: RigConfig) -> None:
        self._envelope = envelope
        self._config = config

    def tracker_registration(self) -> TrackerRegistrationConfig | None:
        return self._config.tracker_registration

    def certificate(self, device: str) -> CalibrationCertificate | None:
        """The rig file's calibration certificate of ``device`` (None: it states none)."""
        entry = self._config.devices.get(device)
        return None if entry is None else entry.certificate

    def axis_mounting(self, device: str) -> AxisMounting | None:
        entry = self._config.devices.get(device)
        if entry is None or entry.mounting is None:
            return None
        return entry.mounting.to_mounting(device)

    def axis_limits(self, device: str) -> AxisLimits:
        limits = self._envelope.limits(device)
        if limits is None:
            raise HilcalError(f"no travel limits known for device {device!r}; is it in the rig?")
        return limits


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@functools.cache
def _software_versions() -> dict[str, str]:
    """The installed versions of what runs (read once per process: the code imported does not change)."""
    versions = {"python": platform.python_version()}
    for dist in ("hilcal", "pyserial", "pyvisa", "pyvisa-py", "numpy", "pydantic", "transitions"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _write_json(path: Path, payload: Any) -> None:
    """Write-then-rename with fsync: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _identity_of(device: Any) -> dict[str, Any]:
    """What the device said about itself at connect (vendor, model, serial, firmware), for the record."""
    identity = getattr(device, "device_identity", None)
    if identity is None:
        return {}
    try:
        return {"device_identity": identity().as_record()}
    except Exception as err:  # identity is for the record: its absence must not stop a calibration
        return {"device_identity": {"error": describe_error(err)}}


def _connect(rig: Rig, journal: Journal) -> SafetyEnvelope:
    envelope = SafetyEnvelope()
    for name, couch in rig.devices.couches.items():
        couch.connect()
        envelope.set_couch_limits(name, couch.limits(), "device-reported limits")
        site = rig.config.devices[name].couch_limits
        if site:
            envelope.set_couch_limits(name, site, "rig couch limits")
        safety = rig.config.motion_safety
        if safety is not None:
            couch_limits = {a: (lim.low_mm, lim.high_mm) for a, lim in envelope.couch_limits(name).items()}
            guard = CollisionGuard.from_config(
                safety, couch_limits, gantry_deg=rig.config.gantry_deg, device=name
            )
            if hasattr(couch, "path_guard"):
                couch.path_guard = guard  # the driver checks its own interpolated path too
            envelope.add_couch_path_check(straight_path_check(guard, name))
        journal.append(
            "connected",
            durable=True,
            device=name,
            **_identity_of(couch),
            state=couch.state,
            limits={
                a: [lim.low_mm, lim.high_mm, lim.source] for a, lim in envelope.couch_limits(name).items()
            },
        )
    for name, dosimeter in rig.devices.dosimeters.items():
        dosimeter.connect()
        journal.append(
            "connected",
            durable=True,
            device=name,
            state=dosimeter.state,
            identity=dosimeter.identify(),
            **_identity_of(dosimeter),
        )
    for name, tracker in rig.devices.trackers.items():
        tracker.connect()
        tracker.start_tracking()
        journal.append(
            "connected",
            durable=True,
            device=name,
            state=tracker.state,
            identity=tracker.identify(),
            **_identity_of(tracker),
            tools=tracker.tool_names(),
        )
    for name, sensor in rig.devices.environment.items():
        sensor.connect()
        journal.append("connected", durable=True, device=name, **_identity_of(sensor))
    for name, axis in rig.positioners.items():
        axis.connect()
        low, high = axis.travel_mm()
        envelope.set_axis_limits(name, low, high, "device-reported travel")
        soft = rig.config.devices[name].soft_limits_mm
        if soft is not None:
            envelope.set_axis_limits(name, soft[0], soft[1], "rig soft limits")
        limits = envelope.limits(name)
        assert limits is not None
        journal.append(
            "connected",
            durable=True,
            device=name,
            **_identity_of(axis),
            state=axis.state,
            travel_mm=[low, high],
            envelope_mm=[limits.low_mm, limits.high_mm],
            envelope_source=limits.source,
        )
    return envelope


def run_sequence(
    rig_config: RigConfig,
    sequence_name: str,
    params: BaseModel | dict[str, Any] | None = None,
    *,
    runs_dir: Path = Path("runs"),
    rig_source: str = "rig",
    progress: ProgressSink | None = None,
    write_report: bool = True,
    run_id: str | None = None,
    on_rig_ready: Callable[[Rig], None] | None = None,
    air: AirEntry | None = None,
    store: RecordSink | None = None,
    performed_at: datetime | None = None,
    tolerances: SiteTolerances | Path | None = None,
) -> RunOutcome:
    """Run one sequence end to end; never raises for a device fault (the outcome records it).

    ``tolerances`` (a site tolerance file or its loaded form) overrides the limits of the profile the
    parameters use; the result records each change (``SequenceResult.tolerance_overrides``).

    ``store`` (the QA record) receives the run folder once it has ended; ``performed_at`` dates the QA
    when it is not now (a simulated history on the virtual clock).

    A rig that cannot be built raises ``ConfigError`` before any run directory exists.

    ``on_rig_ready`` is called with the live rig after it is built and before anything is sent: an
    acceptance test uses it to reach the simulated world and inject errors or faults.
    """
    from sequences import get_sequence

    sequence = get_sequence(sequence_name)
    parsed: BaseModel = params if isinstance(params, BaseModel) else sequence.parse_params(params or {})
    if tolerances is not None:
        from sequences.site_tolerances import apply_site_tolerances, load_site_tolerances

        site = load_site_tolerances(tolerances) if isinstance(tolerances, Path) else tolerances
        parsed = apply_site_tolerances(sequence.name, parsed, site)
    run_id = run_id or new_run_id()
    run_dir = runs_dir / run_id
    # Rig and plan problems (unknown driver, a port that is not there, a device the rig lacks, a target
    # beyond the soft limits) are bad input: found before a run directory exists or a device is opened.
    planned = check_plan(
        rig_config,
        sequence,
        parsed,
        source=f"{sequence.name} parameters on rig {rig_source!r}",
        extra_devices={OPERATOR_DEVICE: "environment"} if air is not None else None,
        today=(performed_at or datetime.now(UTC)).date(),
    )
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except OSError as err:
        problem = f"{runs_dir}: cannot create the run directory ({err.strerror})"
        raise ConfigError("--runs-dir", [problem]) from err
    try:
        rig = build_rig(rig_config, rig_source, devices=planned.devices)
    except BaseException:
        run_dir.rmdir()  # still empty: no run began, so none is left for review or resume to reject
        raise
    manifest = {
        "run_id": run_id,
        "sequence": sequence.name,
        "device_under_test": sequence.device_of(parsed),
        "params": parsed.model_dump(mode="json"),
        "rig": rig_config.model_dump(mode="json"),
        "rig_source": rig_source,
        "software": dict(_software_versions()),
        "host": platform.node(),
        "started_utc": datetime.now(UTC).isoformat(),
    }
    if performed_at is not None:
        manifest["performed_at"] = performed_at.astimezone(UTC).isoformat()
    if planned.warnings:
        manifest["warnings"] = list(planned.warnings)  # e.g. an expired certificate, site rule "warn"
    if air is not None:
        stamped = (
            air if air.entered_at is not None else air.model_copy(update={"entered_at": datetime.now(UTC)})
        )
        manifest["air_entry"] = stamped.model_dump(mode="json")  # a resume keeps the original entry time
    # Staged, and renamed to run.json only once the journal's first record names its hash: a kill during
    # start-up leaves either no run.json (nothing was sent; nothing to resume) or a run that resumes.
    _write_json(run_dir / STAGED_MANIFEST, manifest)
    return _execute(run_dir, manifest, rig, parsed, progress, write_report, None, on_rig_ready, store)


def replay_prefix(messages: dict[int, dict[str, Any]]) -> list[int]:
    """The message indices a resume answers from the journal: everything up to the last checkpoint.

    A sequence places ``Checkpoint`` messages where its work is whole (a finished bidirectional run, a held
    and read integration). Work after the last one that completed — a half-done integration, a move whose
    arrival is not proven — is done again live, so no reading is stitched from two sessions.
    """
    ordered = sorted(messages)
    if not ordered:
        return []
    proven = ordered[:-1]  # the last message recorded may not have completed
    checkpoints = [i for i in proven if messages[i].get("type") == "Checkpoint"]
    return [i for i in proven if i <= checkpoints[-1]] if checkpoints else []


def resume_run(
    run_dir: Path,
    *,
    progress: ProgressSink | None = None,
    write_report: bool = True,
    on_rig_ready: Callable[[Rig], None] | None = None,
    store: RecordSink | None = None,
) -> RunOutcome:
    """Continue a run that was killed: replay what the journal holds up to its last checkpoint, then go on.

    Before the first live message every axis and couch is re-referenced, and the device settings the
    replayed part had made (electrometer configuration and zero, couch load, beam state) are made again.
    """
    from sequences import get_sequence

    complete_startup(run_dir)
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise HilcalError(f"{run_dir / MANIFEST}: cannot read the run's manifest ({err})") from err
    integrity = verify_run(run_dir)
    if not integrity.ok:
        raise HilcalError(
            f"{run_dir}: refusing to resume, the run's records are not as written: "
            + "; ".join(integrity.problems)
        )
    _set_aside_aborted_summary(run_dir)
    sequence = get_sequence(manifest["sequence"])
    params = sequence.parse_params(manifest["params"], f"{run_dir / MANIFEST} params")
    rig_config = RigConfig.model_validate(manifest["rig"])
    contents = read_journal(run_dir / "journal.jsonl")
    messages: dict[int, dict[str, Any]] = {}
    readings: dict[int, Any] = {}
    for record in contents.records:
        if record["kind"] == "msg":
            messages[record["index"]] = record["message"]
        elif record["kind"] == "reading":
            readings[record["index"]] = reading_from_record(record["reading"])
        elif record["kind"] == "replayed":
            messages[record["index"]] = record["message"]
        elif record["kind"] == "rewind":  # work a pause interrupted was redone: the first try is void
            for dropped in [i for i in messages if i > record["to_index"]]:
                messages.pop(dropped)
                readings.pop(dropped, None)
    replay = [(messages[i], readings.get(i)) for i in replay_prefix(messages)]
    planned = check_plan(
        rig_config,
        sequence,
        params,
        source=f"{run_dir / MANIFEST}",
        extra_devices={OPERATOR_DEVICE: "environment"} if "air_entry" in manifest else None,
        today=datetime.fromisoformat(manifest.get("performed_at") or manifest["started_utc"]).date(),
    )
    rig = build_rig(rig_config, manifest.get("rig_source", "rig"), devices=planned.devices)
    return _execute(run_dir, manifest, rig, params, progress, write_report, replay, on_rig_ready, store)


def _set_aside_aborted_summary(run_dir: Path) -> None:
    """A run the operator aborted (Ctrl-C, SIGTERM) may be resumed; one that completed or faulted may not.

    The aborted run's summary is kept beside the journal as ``results.aborted-<n>.json``; the journal,
    which holds everything, is only ever appended to.
    """
    results = run_dir / RESULTS
    if not results.exists():
        return
    try:
        ended = json.loads(results.read_text(encoding="utf-8")).get("state")
    except (OSError, ValueError) as err:
        raise HilcalError(f"{results}: cannot read it ({err}); nothing to resume") from err
    if ended != "aborted":
        raise HilcalError(f"{run_dir}: the run already ended {ended} ({RESULTS} exists); nothing to resume")
    number = 1 + sum(1 for _ in run_dir.glob("results.aborted-*.json"))
    results.replace(run_dir / f"results.aborted-{number}.json")


def _execute(
    run_dir: Path,
    manifest: dict[str, Any],
    rig: Rig,
    params: BaseModel,
    progress: ProgressSink | None,
    write_report: bool,
    replay: list[tuple[dict[str, Any], Any]] | None,
    on_rig_ready: Callable[[Rig], None] | None = None,
    store: RecordSink | None = None,
) -> RunOutcome:
    from sequences import get_sequence

    sequence = get_sequence(manifest["sequence"])
    started = time.time()
    state: Literal["completed", "aborted", "faulted"] = "faulted"
    error: str | None = None
    results: list[SequenceResult] = []
    rig_config = rig.config
    journal = Journal(run_dir, rig.clock, fsync=rig_config.journal.fsync)
    run_log = open_run_log(run_dir)  # driver warnings and info of this run go to its hilcal.log
    clock_start = rig.clock.now()
    staged = run_dir / STAGED_MANIFEST
    try:
        journal.append(
            "resume" if replay is not None else "run_start",
            durable=True,
            run_id=manifest["run_id"],
            sequence=sequence.name,
            rig=rig_config.name,
            simulated=rig_config.simulated,
            replayed_messages=len(replay or []),
            manifest_sha256=file_sha256(staged if staged.exists() else run_dir / MANIFEST),
            devices=sorted(name for name, _ in rig.devices.all()),  # the plan's devices, all it opens
        )
        if staged.exists():
            os.replace(staged, run_dir / MANIFEST)
            fsync_directory(run_dir)
        rig.add_exchange_listener(journal.record_exchange)
        rig.devices.record_event = journal.append  # operator prompts and answers
        if "air_entry" in manifest:
            entry = AirEntry.model_validate(manifest["air_entry"])
            rig.devices.environment[OPERATOR_DEVICE] = entry.as_device(rig.clock)
            journal.append("air_entry", durable=True, device=OPERATOR_DEVICE, **manifest["air_entry"])
        if on_rig_ready is not None:
            on_rig_ready(rig)
        envelope = _connect(rig, journal)
        context = _Context(envelope, rig_config)
        planned = dry_run(sequence.plan(params, context), envelope)
        journal.append("preflight", durable=True, messages=len(planned), ok=True)
        engine = RunEngine(
            rig.devices, rig.clock, journal, envelope, interlocks=rig.interlocks, control=rig.control
        )
        if progress is not None:
            progress.start(len(planned), sequence.title)
            progress.planned(planned)
        before_live: Callable[[], None] | None = None
        if replay:

            def before_live() -> None:
                for axis in rig.devices.positioners.values():
                    axis.home()
                for couch in rig.devices.couches.values():
                    couch.home()

        data = engine.run(
            sequence.plan(params, context),
            replay=replay or (),
            on_progress=progress.advance if progress is not None else None,
            before_live=before_live,
            restart=lambda: sequence.plan(params, context),  # a pause inside timed work repeats it
        )
        journal.append("data", durable=True, sequence=sequence.name, data=data)
        result = sequence.analyze(params, data)
        journal.append("result", durable=True, result=result.model_dump(mode="json"))
        results.append(result)
        state = "completed"
    except RunAborted as err:
        state, error = "aborted", str(err)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM before the engine ran (while connecting): nothing moved
        state, error = "aborted", "operator interrupt while connecting"
    except Exception as err:
        state, error = "faulted", describe_error(err)
        journal.append(
            "error", durable=True, error=error, expected=isinstance(err, HilcalDriverError | HilcalError)
        )
    finally:
        if progress is not None:
            progress.finish()
        clock_elapsed = rig.clock.now() - clock_start
        identities = {name: _identity_of(device) for name, device in rig.devices.all()}
        try:
            rig.close()
        finally:
            journal.append("run_end", durable=True, state=state, error=error)
            journal.close()
            run_log.close()
            head, records = journal.head, journal.records_written
    summary = RunSummary(
        run_id=manifest["run_id"],
        rig=rig_config.name,
        simulated=rig_config.simulated,
        state=state,
        error=error,
        started_wall=started,
        ended_wall=time.time(),
        clock_elapsed_s=clock_elapsed,
        results=results,
        journal_sha256=head,
        journal_records=records,
        devices={
            name: found["device_identity"]
            for name, found in identities.items()
            if found and "error" not in found["device_identity"]  # never connected: nothing it said
        },
    )
    _write_json(run_dir / RESULTS, summary.model_dump(mode="json"))
    if write_report:
        from controller.report import write_report as render

        render(run_dir, summary, manifest)
    outcome = RunOutcome(manifest["run_id"], run_dir, summary)
    if store is not None:
        try:
            store.record_folder(run_dir)
            outcome.recorded = True
        except Exception as err:  # the run folder holds everything; `hilcal db import` adds it later
            outcome.record_error = describe_error(err)
    return outcome
