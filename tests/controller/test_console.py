"""At the console of a real room: prompts that stop the display and say what to do, readings timed by the
instrument, typed-in air that is used or explained, progress readable at 80 columns, and logging that
keeps driver warnings in the run folder instead of over the live display."""

from __future__ import annotations

import io
import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from controller.cli import app
from controller.commissioning import SessionStep, session_table, short_run_id
from controller.config import load_rig_config
from controller.devices import DeviceSet, attach_console
from controller.live_display import LiveProgress
from controller.logging_setup import LOG_NAME, configure_logging, report_run_log, reset_logging
from controller.messages import (
    Beam,
    Checkpoint,
    ConfigureDosimeter,
    Dwell,
    HoldIntegration,
    MoveTo,
    ReadDosimeter,
    StartIntegration,
)
from controller.progress import EtaEstimator, describe, plan_labels
from controller.results import RunSummary
from controller.session import RunOutcome, run_sequence
from drivers.roles.dosimeter import DosimeterSettings

runner = CliRunner()
SEQUENCE = "electrometer-leakage-reproducibility"
FAST = {"settle_s": 600.0, "leakage_time_s": 60.0, "leakage_readings": 5, "readings": 4, "beam_time_s": 10.0}


@pytest.fixture(autouse=True)
def _logging_left_as_found():
    yield
    reset_logging()


def _plan() -> list[Any]:
    settings = DosimeterSettings(bias_voltage_v=300.0)
    return [
        Beam(on=False),
        ConfigureDosimeter("electrometer_unidos", settings),
        Dwell(600.0),
        MoveTo("phantom_x", 150.0),
        Beam(on=True, dose_rate_gy_per_min=2.0, duration_s=35.0, beam="6 MV photons, 10 × 10 cm²"),
        Dwell(5.0),
        StartIntegration("electrometer_unidos"),
        Dwell(30.0),
        HoldIntegration("electrometer_unidos"),
        ReadDosimeter("electrometer_unidos"),
        Beam(on=False),
        Checkpoint("reading 1/20"),
    ]


# -- live progress ------------------------------------------------------------------------------------
def test_labels_say_what_a_message_does_and_why_a_dwell_waits():
    assert describe(MoveTo("phantom_x", 150.0)) == "MoveTo phantom_x 150 mm"
    labels = plan_labels(_plan())
    assert labels[2] == "Dwell 600 s (bias settle)"
    assert labels[5] == "Dwell 5 s (beam settle)"
    assert labels[7] == "Dwell 30 s (integrating, beam on)"
    assert labels[4] == "Beam ON 2 Gy/min for 35 s"


def test_progress_at_80_columns_keeps_its_bar_step_eta_and_current_action():
    clock = [0.0]
    sink = LiveProgress(Console(file=io.StringIO(), width=80), now=lambda: clock[0])
    sink.start(12, "Electrometer leakage and reading reproducibility (D1 + D3) — a long title")
    sink.planned(_plan())
    sink.advance(0, "Beam OFF")
    clock[0] = 1.0
    sink.advance(1, "Configure")  # next: the 600 s bias settle
    screen = Console(width=80, record=True, file=io.StringIO())
    screen.print(sink.renderable())
    text = screen.export_text()
    sink.finish()
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert "step 2/12" in text and "Dwell 600 s (bias settle)" in text, text
    bar = lines[0][len("step 2/12 ") : lines[0].index("17%")]
    assert bar.startswith("━━━━") and len(bar) >= 28, text  # the bar keeps its width, never "━━ 2…"
    # ETA: 635 s of dwells still planned (real time until a dwell shows otherwise), and 7 other messages
    # at the 0.5 s each the first two took
    assert "ETA 0:10:39" in text, text


def test_eta_follows_the_rig_clock_and_leaves_out_prompt_waits():
    clock = [0.0]
    eta = EtaEstimator(_plan(), now=lambda: clock[0])
    clock[0] = 0.5
    eta.advance(0)
    clock[0] = 1.0
    eta.advance(1)
    clock[0] = 1.0 + 600.0 / 1000  # a virtual clock: the 600 s dwell cost 0.6 s of wall time
    eta.advance(2)
    assert eta.remaining_s() == pytest.approx(35 * 0.001 + 7 * 0.5)
    eta.exclude(120.0)  # two minutes waiting for the operator are not the rig's time
    clock[0] += 120.0
    assert eta.remaining_s() == pytest.approx(35 * 0.001 + 7 * 0.5)


def _outcome(run_id: str, state: str) -> RunOutcome:
    summary = RunSummary(
        run_id=run_id,
        rig="built-in",
        simulated=True,
        state=state,  # type: ignore[arg-type]
        error=None,
        started_wall=0.0,
        ended_wall=1.0,
        clock_elapsed_s=1.0,
        results=[],
        journal_sha256="0" * 64,
        journal_records=1,
    )
    return RunOutcome(run_id, Path("runs/very/long/path/to/the/runs/folder") / run_id, summary)


def test_session_table_is_readable_at_80_columns_with_short_run_ids():
    ids = ["20261202T170412Z-3fa9c1", "20261202T171501Z-0b77de"]
    outcomes = [
        (
            SessionStep(sequence=SEQUENCE, title="Farmer chamber on the PTW UNIDOS"),
            _outcome(ids[0], "faulted"),
        ),
        (SessionStep(sequence="couch-rotation-walkout"), _outcome(ids[1], "aborted")),
    ]
    screen = Console(width=80, record=True, file=io.StringIO())
    screen.print(session_table("default-commissioning", outcomes))
    text = screen.export_text()
    assert all(len(line) <= 80 for line in text.splitlines()), text
    for run_id in ids:
        assert short_run_id(run_id) in text  # whole, never "…"
    assert "runs/" not in text and "…" not in text
    assert "FAULTED" in text and "ABORTED" in text and "couch-rotation-walkout" in text


# -- prompts ------------------------------------------------------------------------------------------
def _prompting_devices(monkeypatch: pytest.MonkeyPatch, answers: list[str]):
    sink = LiveProgress(Console(file=io.StringIO(), width=80, force_terminal=True))
    sink.start(12, "D1 + D3")
    sink.planned(_plan())
    for index in range(4):
        sink.advance(index, "")  # the plan is at its Beam ON
    devices = DeviceSet()
    records: list[dict[str, Any]] = []
    devices.record_event = lambda kind, durable=False, **fields: records.append({"kind": kind, **fields})
    attach_console(devices, sink.ask, sink.beam_request)
    seen: list[tuple[str, bool]] = []

    def operator_types(prompt: str = "") -> str:
        seen.append((prompt, sink._progress.live.is_started))
        return answers.pop(0)

    monkeypatch.setattr("builtins.input", operator_types)
    return sink, devices, records, seen


def test_a_beam_prompt_stops_the_display_states_the_beam_and_is_journaled(monkeypatch):
    sink, devices, records, seen = _prompting_devices(monkeypatch, ["y", "y"])
    devices.beam.beam_on(2.0)
    assert sink._progress.live.is_started  # the display runs again after the answer
    devices.beam.beam_off()
    sink.finish()
    asked = sink.console.file.getvalue()
    assert [started for _, started in seen] == [False, False]  # never asked over the live display
    for what in ("6 MV photons, 10 × 10 cm²", "2 Gy/min", "at least 35 s", "1.17 Gy", "reading 1/20"):
        assert what in asked, what
    assert "Beam OFF" in asked
    on, off = records
    assert on["kind"] == "operator_prompt" and on["action"] == "beam_on" and on["answer"] == "confirmed"
    assert on["details"] == {
        "dose_rate_gy_per_min": 2.0,
        "duration_s": 35.0,
        "beam": "6 MV photons, 10 × 10 cm²",
        "purpose": "reading 1/20",
        "gy_per_mu": None,  # this plan's Beam does not say: no MU figure (see the MU test below)
        "monitor_units": None,
    }
    assert on["asked_utc"] <= on["answered_utc"] and on["waited_s"] >= 0
    assert off["action"] == "beam_off" and "reading 1/20" in off["instruction"]


def test_a_declined_load_prompt_aborts_and_says_so_in_the_journal(monkeypatch):
    _sink, devices, records, _seen = _prompting_devices(monkeypatch, ["n"])
    with pytest.raises(KeyboardInterrupt, match="declined"):
        devices.operator.load_couch("couch", 80.0, "water-equivalent slabs, centred at the isocentre")
    (record,) = records
    assert record["answer"] == "declined" and "80 kg (water-equivalent slabs" in record["instruction"]


# -- integrations timed by the instrument -----------------------------------------------------------
class _OperatorAtTheLinac:
    """The simulated beam, switched as a person would: late, after confirming, or confirmed late."""

    def __init__(self, rig: Any, late_on_s: float, confirm_after_s: float, late_off_s: float) -> None:
        self._source = rig.simulation.radiation
        self._clock = rig.clock
        self._late_on_s, self._confirm_after_s, self._late_off_s = late_on_s, confirm_after_s, late_off_s
        self.switched_on: list[float] = []

    def beam_on(self, dose_rate_gy_per_min: float) -> None:
        now = self._clock.now()
        if self._late_on_s:  # confirmed first; the beam comes on some seconds after the answer
            mu_per_min = dose_rate_gy_per_min / self._source.config.gy_per_mu
            self._source.deliver(mu_per_min * 60, mu_per_min=mu_per_min, start_at=now + self._late_on_s)
            self.switched_on.append(now + self._late_on_s)
        else:
            self._source.beam_on(dose_rate_gy_per_min)
            self.switched_on.append(now)
        self._clock.sleep(self._confirm_after_s)  # reaction time before the key is pressed

    def beam_off(self) -> None:
        self._clock.sleep(self._late_off_s)
        self._source.beam_off()


@pytest.mark.parametrize(
    ("device", "range_name"), [("electrometer_unidos", "MEDIUM"), ("electrometer_6517b", "auto")]
)
def test_operator_timing_does_not_enter_the_charge(tmp_path: Path, device: str, range_name: str):
    params = {**FAST, "dosimeter": device, "range": range_name}
    charges: dict[str, list[float]] = {}
    operators: dict[str, _OperatorAtTheLinac] = {}
    for name, timing in {
        "prompt": (0.0, 0.0, 0.0),
        "late on": (3.0, 0.0, 0.0),
        "slow": (0.0, 2.5, 4.0),
    }.items():

        def slow_hands(rig: Any, timing: tuple[float, float, float] = timing, name: str = name) -> None:
            operators[name] = rig.devices.beam = _OperatorAtTheLinac(rig, *timing)

        outcome = run_sequence(
            load_rig_config(),
            SEQUENCE,
            params,
            runs_dir=tmp_path,
            write_report=False,
            on_rig_ready=slow_hands,
        )
        assert outcome.result is not None, outcome.summary.error
        charges[name] = [row["charge_nC"] for row in outcome.result.tables["signal"]]
    assert len(operators["late on"].switched_on) == FAST["readings"]
    for name in ("late on", "slow"):
        # a keystroke-timed beam would change each charge by 25-65 % here; the instrument's timer, by nothing
        assert charges[name] == pytest.approx(charges["prompt"], rel=1e-4), name


def test_readings_are_timed_integrations_with_the_beam_on_before_and_after():
    from sequences import get_sequence
    from sequences.electrometer_leakage_reproducibility import LeakageReproducibilityParams

    params = LeakageReproducibilityParams.model_validate({**FAST, "beam": "6 MV"})
    plan = get_sequence(SEQUENCE).plan(params, None)  # type: ignore[arg-type]
    messages: list[Any] = []
    response: Any = None
    try:
        while True:
            message = plan.send(response)
            messages.append(message)
            response = None
            if isinstance(message, ReadDosimeter):
                from drivers.roles.dosimeter import DosimeterReading

                response = DosimeterReading(value=1e-9, unit="C", clock_s=0.0)
    except StopIteration:
        pass
    timed = [m for m in messages if isinstance(m, ConfigureDosimeter) and m.settings.integration_time_s]
    assert [m.settings.integration_time_s for m in timed] == [10.0]
    beam_on = [m for m in messages if isinstance(m, Beam) and m.on]
    assert all(m.duration_s == 15.0 and m.beam == "6 MV" for m in beam_on) and len(beam_on) == 4
    first = messages.index(beam_on[0])
    kinds = [type(m).__name__ for m in messages[first : first + 7]]
    assert kinds == ["Beam", "Dwell", "StartIntegration", "Dwell", "HoldIntegration", "ReadDosimeter", "Beam"]


# -- typed-in air -------------------------------------------------------------------------------------
AIR = ["--air-temperature-c", "21.4", "--air-pressure-kpa", "100.8", "--operator", "A. Physicist"]


def _run(tmp_path: Path, params: dict[str, Any], sequence: str = SEQUENCE) -> Any:
    path = tmp_path / "params.json"
    path.write_text(json.dumps(params), encoding="utf-8")
    runs = tmp_path / "runs"
    args = [
        "run",
        "--sequence",
        sequence,
        "--params",
        str(path),
        "--runs-dir",
        str(runs),
        "--no-report",
        *AIR,
    ]
    return runner.invoke(app, args), runs


def test_typed_in_air_is_used_when_no_environment_device_is_named(tmp_path: Path):
    result, runs = _run(tmp_path, {**FAST, "dosimeter": "electrometer_6517b"})
    assert result.exit_code == 0, result.output
    assert "environment: operator_entry" in result.output
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    saved = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["results"][0]
    assert "k_TP" in saved["informative"]
    assert any("operator entry by A. Physicist" in note for note in saved["notes"])


def test_typed_in_air_beside_another_environment_device_is_warned_about(tmp_path: Path):
    result, _ = _run(tmp_path, {**FAST, "dosimeter": "electrometer_6517b", "environment": "room_sensor"})
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "'room_sensor'" in result.output
    assert "not used for its k_TP" in " ".join(result.output.split())


def test_typed_in_air_with_a_sequence_that_cannot_use_it_is_warned_about(tmp_path: Path):
    result, _ = _run(tmp_path, {"runs": 2, "step_mm": 150}, sequence="phantom-axis-iso230")
    assert result.exit_code == 0, result.output
    assert "no step corrects a charge for air density" in " ".join(result.output.split())


# -- logging ------------------------------------------------------------------------------------------
def _driver_warns(rig: Any) -> None:
    logging.getLogger("drivers.keithley6517b.electrometer").warning("electrometer_6517b: test warning 4711")
    logging.getLogger("drivers.keithley6517b.electrometer").info("electrometer_6517b: test info 4712")


def test_a_driver_warning_during_a_run_goes_to_the_run_log_not_to_stdout(tmp_path: Path, capsys):
    screen = io.StringIO()
    configure_logging(0, Console(file=screen, width=80))
    outcome = run_sequence(
        load_rig_config(),
        SEQUENCE,
        {**FAST, "dosimeter": "electrometer_6517b"},
        runs_dir=tmp_path,
        write_report=False,
        on_rig_ready=_driver_warns,
    )
    assert outcome.summary.state == "completed", outcome.summary.error
    log = (outcome.run_dir / LOG_NAME).read_text(encoding="utf-8")
    assert "WARNING" in log and "test warning 4711" in log and "test info 4712" in log
    captured = capsys.readouterr()
    assert "4711" not in captured.out and "4711" not in captured.err and "4711" not in screen.getvalue()
    report_run_log(outcome.run_dir, Console(file=screen, width=200))
    assert f"1 warning logged during the run: {outcome.run_dir / LOG_NAME}" in screen.getvalue()
    logging.getLogger("drivers.zaber.axis").warning("after the run 4713")  # no run log open: the console
    assert "4713" in screen.getvalue() and "4713" not in (outcome.run_dir / LOG_NAME).read_text()


def _library_warns(rig: Any) -> None:
    import warnings

    with warnings.catch_warnings():  # the suite makes warnings errors; a run outside it just shows them
        warnings.simplefilter("always")
        warnings.warn("a library's own warning 4714", UserWarning, stacklevel=1)  # pyvisa, numpy, scipy


def test_a_python_warning_during_a_run_goes_to_the_run_log_not_over_the_display(tmp_path: Path, capsys):
    screen = io.StringIO()
    configure_logging(0, Console(file=screen, width=80))
    outcome = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        {"runs": 2, "step_mm": 100},
        runs_dir=tmp_path,
        write_report=False,
        on_rig_ready=_library_warns,
    )
    assert outcome.summary.state == "completed", outcome.summary.error
    assert "4714" in (outcome.run_dir / LOG_NAME).read_text(encoding="utf-8")
    captured = capsys.readouterr()
    assert "4714" not in captured.out + captured.err + screen.getvalue()


def test_verbose_prints_info_on_the_console_handler_and_never_on_stdout(tmp_path: Path):
    result = runner.invoke(
        app,
        ["-v", "run", "--sequence", "phantom-axis-iso230", "--runs-dir", str(tmp_path), "--no-report"],
    )
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (run_dir / LOG_NAME).is_file()
    assert logging.getLogger("drivers").level == logging.INFO
    assert "WARNING" not in result.stdout and " INFO " not in result.stdout


def test_a_group_of_devices_working_together_is_described_member_by_member():
    from controller.messages import MoveTo, ReadDosimeter, Together
    from controller.progress import describe

    group = Together(messages=(MoveTo("phantom_z", 40.0), ReadDosimeter("electrometer_unidos")))
    assert describe(group) == "Together: MoveTo phantom_z 40 mm | Read electrometer_unidos"


# -- monitor units in the beam prompt -------------------------------------------------------------------
def test_a_beam_prompt_states_the_monitor_units_and_mu_rate_to_set(monkeypatch):
    from controller.devices import BeamRequest, beam_on_instruction

    text = beam_on_instruction(BeamRequest(2.0, 35.0, "6 MV photons", "reading 1/20", gy_per_mu=0.008))
    # 2 Gy/min for 35 s is 1.17 Gy at the chamber: 146 MU (rounded up) at 0.8 cGy/MU, 250 MU/min
    assert "146 MU" in text and "250 MU/min" in text and "0.8 cGy/MU" in text, text
    assert "35 s" in text and "2 Gy/min" in text and "6 MV photons" in text
    # without the beam's output at the chamber no MU figure is invented
    unknown = beam_on_instruction(BeamRequest(2.0, 35.0, "6 MV photons"))
    assert not re.search(r"\d MU", unknown) and "set MU for it" in unknown

    sink, devices, records, _seen = _prompting_devices(monkeypatch, ["y"])
    sink.planned([*_plan()[:4], Beam(True, 2.0, 35.0, "6 MV photons", gy_per_mu=0.01), *_plan()[5:]])
    devices.beam.beam_on(2.0)
    sink.finish()
    assert "117 MU" in sink.console.file.getvalue() and "200 MU/min" in sink.console.file.getvalue()
    assert records[0]["details"]["monitor_units"] == 117 and records[0]["details"]["gy_per_mu"] == 0.01


@pytest.mark.parametrize(
    "sequence",
    [
        "electrometer-leakage-reproducibility",
        "electrometer-linearity",
        "electrometer-end-effect",
        "chamber-polarity-recombination",
        "chamber-cross-calibration",
    ],
)
def test_photon_beam_requests_carry_the_output_per_mu_from_the_params(sequence: str):
    from controller.plan_preview import build_preview
    from sequences import get_sequence

    model = get_sequence(sequence).params_model
    assert model.model_validate({}).gy_per_mu == 0.01  # type: ignore[attr-defined]  # 1 cGy/MU
    preview = build_preview(load_rig_config(), sequence, {"gy_per_mu": 0.0085})
    assert preview.beam_requests
    for request in preview.beam_requests:
        assert request.gy_per_mu == 0.0085
        if request.requested_s is not None:
            dose = request.dose_rate_gy_per_min * request.requested_s / 60.0
            assert request.monitor_units == math.ceil(round(dose / 0.0085, 6))


def test_the_session_index_keeps_full_run_paths_and_its_report_follows_a_moved_folder(tmp_path, monkeypatch):
    import shutil

    from controller.session_report import write_session_report

    monkeypatch.chdir(tmp_path)
    session = tmp_path / "s.yaml"
    session.write_text(
        "name: quick\nsteps:\n  - {sequence: couch-pose-readback, params: {repeats: 1, poses: [{}]}}\n",
        encoding="utf-8",
    )
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    result = runner.invoke(app, ["run", "--session", str(session), "--runs-dir", "runs", "--db", db])
    assert result.exit_code == 0, result.output
    (index,) = (tmp_path / "runs").glob("session-*.json")
    (step,) = json.loads(index.read_text(encoding="utf-8"))["steps"]
    run_dir = Path(step["run_dir"])  # the table shows a short id; the index, the whole path
    assert run_dir.is_absolute() and (run_dir / "results.json").is_file(), step["run_dir"]
    moved = Path(shutil.move(tmp_path / "runs", tmp_path / "archive"))  # a runs folder archived elsewhere
    page = write_session_report(moved / index.name).read_text(encoding="utf-8")
    assert f'href="{run_dir.name}/report.html"' in page and re.search(r"(\d+) of \1 checks passed", page)
