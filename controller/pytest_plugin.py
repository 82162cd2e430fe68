"""pytest plugin for acceptance tests: run hilcal sequences on a rig and keep what they showed.

Installed with hilcal (entry point ``pytest11``, name ``hilcal``). Fixtures:

* ``hilcal_rig`` — the rig configuration (``--hilcal-rig FILE`` or the built-in simulated rig), loaded and
  checked once per session: a rig file that does not validate, a port that is not there or a device that
  does not answer at connect makes every test that uses it an ERROR with the reason, never a FAILED test;
* ``hilcal_run`` — ``hilcal_run(sequence, params=None, *, stage_errors=None, hook=None, report=True)``
  runs one sequence and returns a ``HilcalOutcome``;
* ``hilcal_runs_dir`` — where runs are kept: ``--hilcal-runs-dir``, else beside the ``--junitxml`` file,
  else ``runs/`` in the invocation directory; never pytest's temporary folder, which pytest deletes.

An acceptance test then reads like the procedure it checks::

    def test_phantom_axis_meets_clinical_limits(hilcal_run):
        hilcal_run("phantom-axis-iso230").assert_pass()

On a FAIL the assertion shows the verdict table; on a fault, the error, the device and the run folder.
Each run adds JUnit properties (``record_property``): run id, run folder, report, and every verdict.
See docs/acceptance.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from controller.config import RigConfig, load_rig_config
from controller.devices import BeamRequest, attach_console
from controller.errors import ConfigError, describe_error
from controller.messages import Beam
from controller.results import RunSummary, SequenceResult, Verdict
from controller.rig import Rig, build_rig
from controller.session import REPORT, ProgressSink, RunOutcome, run_sequence

MARKER = "hilcal_params"
RUN_PROPERTY_PREFIX = "hilcal."


# ------------------------------------------------------------------------------------------------ options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hilcal")
    group.addoption("--hilcal-rig", default=None, help="rig file for acceptance tests (default: simulated)")
    group.addoption(
        "--hilcal-runs-dir",
        default=None,
        help="keep run folders and reports here (default: beside --junitxml, else ./runs)",
    )
    group.addoption(
        "--hilcal-settle-s",
        type=float,
        default=None,
        help="settle_s for every run whose sequence has one (electrometer bias, couch load)",
    )
    group.addoption(
        "--hilcal-rig-check",
        choices=("connect", "off"),
        default="connect",
        help="connect: open and connect every rig device once per session before the first test (default)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**params): sequence parameters merged into every hilcal_run of the test "
        "(the call's own params win), e.g. settle_s=900",
    )


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    """``assert outcome.verdict == "PASS"`` explains itself with the verdict table or the fault."""
    ours = left if isinstance(left, RunVerdict) else right if isinstance(right, RunVerdict) else None
    if ours is None or op != "==":
        return None
    return [f"{left!r} == {right!r}", *ours.explanation.splitlines()]


# ----------------------------------------------------------------------------------------------- outcome
class RunVerdict(str):
    """A run's overall verdict (PASS, FAIL, INCONCLUSIVE, FAULTED, ABORTED) that carries its explanation."""

    explanation: str

    def __new__(cls, value: str, explanation: str) -> RunVerdict:
        made = super().__new__(cls, value)
        made.explanation = explanation
        return made


@dataclass
class HilcalOutcome:
    """One run as an acceptance test sees it: verdicts, where the evidence is, and an assertion helper."""

    run: RunOutcome
    sequence: str
    rig_devices: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def summary(self) -> RunSummary:
        return self.run.summary

    @property
    def result(self) -> SequenceResult | None:
        return self.run.result

    @property
    def report(self) -> Path | None:
        path = self.run_dir / REPORT
        return path if path.exists() else None

    @property
    def journal(self) -> Path:
        return self.run_dir / "journal.jsonl"

    @property
    def verdicts(self) -> dict[str, str]:
        """Metric → ``"PASS"``, ``"FAIL"`` or ``"INCONCLUSIVE"``; empty when the run did not complete."""
        return {v.metric: str(v.outcome) for v in self.result.verdicts} if self.result else {}

    @property
    def verdict(self) -> RunVerdict:
        """PASS, FAIL, INCONCLUSIVE, FAULTED or ABORTED; ``assert outcome.verdict == "PASS"`` explains."""
        return RunVerdict(self._overall(), self.explain())

    @property
    def passed(self) -> bool:
        return self._overall() == "PASS"

    def _overall(self) -> str:
        if self.summary.state != "completed" or self.result is None:
            return self.summary.state.upper()
        return str(self.result.outcome)

    def assert_pass(self) -> None:
        """Fail the test unless the run completed and every verdict is PASS; the message says why."""
        __tracebackhide__ = True
        if not self.passed:
            raise AssertionError(self.explain())

    def explain(self) -> str:
        """What happened, first line first (pytest's summary shows it): verdicts or fault, then the evidence.

        A completed run: the failing metrics, the report, the verdict table. A faulted or aborted run: the
        error, the device and plan step it happened at, the report.
        """
        head = f"{self.sequence} {self._overall()}"
        lines: list[str] = []
        if self.result is not None:
            failing = [v.metric for v in self.result.verdicts if v.outcome != "PASS"]
            head += f": {', '.join(failing)}" if failing else ""
            lines.append(f"{self.result.title} — {self.result.device}, profile {self.result.profile}")
            lines += verdict_table(self.result.verdicts)
        if self.summary.error:
            device, step = self._fault_site()
            head += f" on {device}" if device else ""
            lines[:0] = [f"error: {self.summary.error}"]
            lines += [f"device: {device}"] if device else []
            lines += [f"at step {step}"] if step else []
        return "\n".join(
            [
                f"{head} (hilcal run {self.run_id})",
                f"report: {self.report or '(not written)'}",
                *lines,
                f"run folder: {self.run_dir}",
                f"journal: {self.journal}",
            ]
        )

    def _fault_site(self) -> tuple[str | None, str | None]:
        """The device and plan step the run faulted on, from its journal (the error text as a fallback)."""
        device: str | None = None
        step: str | None = None
        messages: dict[int, dict[str, Any]] = {}
        try:
            lines = self.journal.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line after a kill: the error text still names the device
            if record.get("kind") == "msg":
                messages[record["index"]] = record["message"]
            elif record.get("kind") == "fault" and record.get("index") in messages:
                message = messages[record["index"]]
                device = message.get("device") or device
                fields = ", ".join(f"{k}={v}" for k, v in message.items() if k != "type")
                step = f"{record['index']}: {message.get('type')}({fields})"
        if device is None and self.summary.error:
            device = next((name for name in self.rig_devices if name in self.summary.error), None)
        return device, step

    def properties(self) -> list[tuple[str, str]]:
        """The run as JUnit properties: run id, folder, report, journal, state, verdicts, error."""
        p = RUN_PROPERTY_PREFIX
        props = [
            (f"{p}run_id", self.run_id),
            (f"{p}run_dir", str(self.run_dir)),
            (f"{p}report", str(self.report or "")),
            (f"{p}journal", str(self.journal)),
            (f"{p}state", self.summary.state),
            (f"{p}verdict", self._overall()),
        ]
        if self.result is not None:
            props += [(f"{p}verdict.{v.metric}", _verdict_property(v)) for v in self.result.verdicts]
        if self.summary.error:
            props.append((f"{p}error", self.summary.error))
        return props

    def __repr__(self) -> str:
        return f"<hilcal run {self.run_id} {self._overall()} in {self.run_dir}>"


def verdict_table(verdicts: list[Verdict]) -> list[str]:
    """Metric, measured ± U with unit, limit, rule and outcome, as aligned plain text."""
    rows = [("metric", "measured ± U (k)", "limit", "rule", "outcome", "what")]
    for v in verdicts:
        m = v.measured
        rows.append(
            (
                v.metric,
                f"{m.value:.4g} ± {m.expanded_uncertainty:.2g} {m.unit} (k={m.coverage_factor:g})",
                f"{v.tolerance.limit:g} {v.tolerance.unit}",
                v.rule.value,
                str(v.outcome),
                v.description,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[5]]) for row in rows]


def _verdict_property(v: Verdict) -> str:
    m = v.measured
    return (
        f"value={m.value:.6g} U={m.expanded_uncertainty:.6g} unit={m.unit} k={m.coverage_factor:g} "
        f"limit={v.tolerance.limit:g} rule={v.rule.value} outcome={v.outcome}"
    )


# -------------------------------------------------------------------------------------------- the rig check
def rig_problems(config: RigConfig, source: str) -> list[str]:
    """Open and connect every device of the rig, then close it; what could not, each naming its device.

    Connect reads status, limits and identity; no driver moves anything at connect.
    """
    try:
        rig = build_rig(config, source)
    except ConfigError as err:
        return [str(err)]
    problems = []
    with rig:
        for name, device in rig.devices.all():
            try:
                device.connect()
            except Exception as err:  # any failure to answer is the reason the rig is unavailable
                problems.append(f"{name}: did not answer at connect: {describe_error(err)}")
    return problems


# ---------------------------------------------------------------------------------------- the dosimetry wait
def seconds_before_first_beam(config: RigConfig, sequence_name: str, params: BaseModel) -> float | None:
    """Estimated rig-clock seconds from run start to the first beam-on; None when the plan needs no beam.

    The plan preview's duration model (connect, motion, zeroing, dwells; docs/plan.md). None as well when
    the plan's targets depend on travel only the connected device reports.
    """
    from controller.plan_preview import build_preview  # drivers' kinematics: loaded only when a run starts

    try:
        preview = build_preview(config, sequence_name, params)
    except Exception:  # no estimate is no harm: the run itself checks the plan and says what is wrong
        return None
    if not preview.beam_requests or preview.estimate is None:
        return None
    first = preview.beam_requests[0].step
    return preview.estimate.by_category.get("connect", 0.0) + sum(s.seconds for s in preview.steps[:first])


# ------------------------------------------------------------------------------------------------ console
@contextmanager
def _console(config: pytest.Config) -> Iterator[None]:
    """Output capture off for a moment, so the operator sees a notice or a prompt and can answer it."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        yield
        return
    capture.suspend(in_=True)  # stdin too, as pytest's own debugger does
    try:
        yield
    finally:
        capture.resume()


def _say(config: pytest.Config, text: str) -> None:
    with _console(config):
        print(f"\nhilcal: {text}", flush=True)


def _console_ask(config: pytest.Config) -> Callable[[str], bool]:
    """The operator's prompt on a real rig: True for yes; anything else, or no terminal (EOF), is no."""

    def ask(instruction: str) -> bool:
        with _console(config):
            try:
                answer = input(f"\nhilcal: {instruction} [Y/n] ")
            except EOFError:
                answer = "n"
        return answer.strip().lower() in ("", "y", "yes")

    return ask


class _PlanPosition(ProgressSink):
    """Follows a real-rig run through its plan, so a beam prompt says how long and which beam."""

    def __init__(self) -> None:
        self._messages: list[Any] = []
        self._done = -1

    def planned(self, messages: list[Any]) -> None:
        self._messages = list(messages)

    def advance(self, index: int, label: str) -> None:
        self._done = index

    def beam_request(self, dose_rate_gy_per_min: float) -> BeamRequest | None:
        for index in range(min(self._done + 1, len(self._messages) - 1), -1, -1):
            message = self._messages[index]
            if isinstance(message, Beam) and message.on:
                return BeamRequest(
                    dose_rate_gy_per_min, message.duration_s, message.beam, gy_per_mu=message.gy_per_mu
                )
        return None


# ----------------------------------------------------------------------------------------------- fixtures
def default_runs_dir(config: pytest.Config) -> Path:
    """``--hilcal-runs-dir``, else a ``runs`` folder beside the ``--junitxml`` file, else ``./runs``."""
    base = Path(config.invocation_params.dir)
    chosen: str | None = config.getoption("--hilcal-runs-dir")
    if chosen:
        return (base / chosen).resolve()
    junit: str | None = config.getoption("xmlpath", None)
    if junit:
        return (base / junit).resolve().parent / "runs"
    return base / "runs"


@pytest.fixture(scope="session")
def hilcal_runs_dir(request: pytest.FixtureRequest) -> Path:
    return default_runs_dir(request.config)


@pytest.fixture(scope="session")
def hilcal_rig(request: pytest.FixtureRequest) -> RigConfig:
    """The rig, loaded and (by default) connected once: if it is not usable, every test using it errors."""
    path = request.config.getoption("--hilcal-rig")
    source = f"rig file {path!r}" if path else "the built-in simulated rig"
    try:
        config = load_rig_config(Path(path) if path else None)
    except ConfigError as err:
        pytest.fail(f"hilcal: the rig is not usable: {err}", pytrace=False)
    if request.config.getoption("--hilcal-rig-check") == "connect":
        problems = rig_problems(config, source)
        if problems:
            listed = "\n".join(f"  - {p}" for p in problems)
            pytest.fail(f"hilcal: the rig {config.name!r} ({source}) is not usable:\n{listed}", pytrace=False)
    return config


@pytest.fixture
def hilcal_run(
    hilcal_rig: RigConfig, hilcal_runs_dir: Path, request: pytest.FixtureRequest
) -> Callable[..., HilcalOutcome]:
    marked: dict[str, Any] = {}
    for mark in reversed(list(request.node.iter_markers(MARKER))):  # the closest marker wins
        marked.update(mark.kwargs)
    settle_s: float | None = request.config.getoption("--hilcal-settle-s")
    rig_path = request.config.getoption("--hilcal-rig")

    def run(
        sequence: str,
        params: dict[str, Any] | None = None,
        *,
        stage_errors: dict[str, dict[str, float]] | None = None,
        hook: Callable[[Rig], None] | None = None,
        report: bool = True,
    ) -> HilcalOutcome:
        from sequences import get_sequence

        config = hilcal_rig
        if stage_errors:
            if not config.simulated:
                raise pytest.UsageError("stage_errors can only be injected into a simulated rig")
            raw = config.model_dump(mode="json")
            for stage, errors in stage_errors.items():
                raw["simulation"]["stages"][stage].update(errors)
            config = RigConfig.model_validate(raw)
        try:
            chosen = get_sequence(sequence)
            merged = {**marked, **(params or {})}
            if settle_s is not None and "settle_s" in chosen.params_model.model_fields:
                merged["settle_s"] = settle_s
            parsed = chosen.parse_params(merged, f"{sequence} parameters of {request.node.nodeid}")
        except (KeyError, ConfigError) as err:
            pytest.fail(f"hilcal: cannot run {sequence!r}: {err}", pytrace=False)
        first_beam = seconds_before_first_beam(config, sequence, parsed)
        if first_beam is not None:
            request.node.user_properties.append((f"{RUN_PROPERTY_PREFIX}first_beam_s", f"{first_beam:g}"))
        on_ready = hook
        position = _PlanPosition() if not config.simulated else None
        if position is not None:
            if first_beam is not None:
                at = (datetime.now() + timedelta(seconds=first_beam)).strftime("%H:%M")
                _say(
                    request.config,
                    f"{sequence} will first need the beam {first_beam / 60:.1f} min after it starts "
                    f"(about {at}); you will be asked then.",
                )
            on_ready = _attach_console(request.config, position, hook)
        try:
            outcome = run_sequence(
                config,
                sequence,
                parsed,
                runs_dir=hilcal_runs_dir,
                rig_source=rig_path or "built-in simulated rig",
                write_report=report,
                on_rig_ready=on_ready,
                progress=position,
            )
        except ConfigError as err:
            pytest.fail(f"hilcal: cannot run {sequence!r} on rig {config.name!r}: {err}", pytrace=False)
        wrapped = HilcalOutcome(outcome, sequence, tuple(config.devices))
        request.node.user_properties.extend(wrapped.properties())
        return wrapped

    return run


def _attach_console(
    config: pytest.Config, position: _PlanPosition, hook: Callable[[Rig], None] | None
) -> Callable[[Rig], None]:
    """On real hardware the beam and the loads are the operator's: asked at the console, journaled."""
    ask = _console_ask(config)

    def ready(rig: Rig) -> None:
        attach_console(rig.devices, ask, position.beam_request)
        if hook is not None:
            hook(rig)

    return ready
