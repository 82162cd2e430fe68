"""Pause and resume: operator requests, Ctrl-C on a real `hilcal run`, interlocks that pause by themselves.

In-process runs use the simulated rig, so "stopped" is checked in the simulated world itself, and "the
integration was held and repeated" is checked against the journal's clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from controller.config import RigConfig, load_rig_config
from controller.devices import DeviceSet
from controller.engine import RunEngine
from controller.interlocks import SafetyEnvelope
from controller.interlocks_live import FileInterlock, ScpiInterlock, build_interlocks
from controller.journal import Journal, read_journal
from controller.messages import Checkpoint, Dwell, Home, MoveTo
from controller.run_control import PauseNotice, RunControl
from controller.session import ProgressSink, resume_run, run_sequence
from controller.verify import verify_run
from drivers.testing import InstantAxis
from drivers.transport import open_transport

ISO230 = {"runs": 2, "step_mm": 60}
DOSIMETRY = {"dosimeter": "electrometer_6517b", "readings": 5, "leakage_time_s": 60, "beam_time_s": 5}


def records(run_dir: Path) -> list[dict[str, Any]]:
    return read_journal(run_dir / "journal.jsonl").records


def of_kind(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in records(run_dir) if r["kind"] == kind]


class PauseAt(ProgressSink):
    """Asks for a pause right after message ``index`` (as a Ctrl-C between two messages would)."""

    def __init__(self, control: RunControl, index: int) -> None:
        self.control, self.index, self.asked = control, index, False

    def advance(self, index: int, label: str) -> None:
        if index == self.index and not self.asked:
            self.asked = self.control.request_pause("test pause")


def last_message_type(runs_dir: Path) -> str:
    """The type of the message just executed, from the journal (progress labels are for people)."""
    (journal,) = runs_dir.glob("*/journal.jsonl")
    return next(r for r in reversed(read_journal(journal).records) if r["kind"] == "msg")["message"]["type"]


def _moving_models(rig: Any) -> list[str]:
    world = rig.simulation.world
    return [
        model.name for model in world if callable(getattr(model, "is_moving", None)) and model.is_moving()
    ]


def _verdict_shape(outcome: Any) -> list[tuple[str, str]]:
    return [(v.metric, v.outcome) for v in outcome.result.verdicts]


def test_pause_stops_motion_at_the_next_safe_point_and_resume_completes(tmp_path):
    rigs: list[Any] = []
    seen: list[tuple[PauseNotice, list[str], str]] = []

    def on_paused(engine, notice):
        seen.append((notice, _moving_models(rigs[0]), engine.state))
        engine.request_resume()

    control = RunControl(on_paused=on_paused)

    def ready(rig):
        rigs.append(rig)
        rig.control = control

    paused = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        ISO230,
        runs_dir=tmp_path,
        write_report=False,
        progress=PauseAt(control, 20),
        on_rig_ready=ready,
    )
    plain = run_sequence(
        load_rig_config(), "phantom-axis-iso230", ISO230, runs_dir=tmp_path, write_report=False
    )
    assert paused.summary.state == "completed", paused.summary.error
    assert len(seen) == 1
    notice, moving, state = seen[0]
    assert state == "paused" and moving == []  # nothing in the simulated world moves while paused
    assert notice.index == 21 and notice.motion == {"phantom_x": "idle"} and notice.repeat_from is None
    pause = of_kind(paused.run_dir, "pause")
    assert len(pause) == 1 and pause[0]["source"] == "operator" and pause[0]["reason"] == "test pause"
    assert len(of_kind(paused.run_dir, "unpause")) == 1
    states = [r["state"] for r in of_kind(paused.run_dir, "state")]
    assert states == ["running", "paused", "running", "completed"]
    assert _verdict_shape(paused) == _verdict_shape(plain)  # same metrics, same verdicts
    assert verify_run(paused.run_dir).ok


def test_a_second_interrupt_while_paused_is_a_safe_stop_and_the_run_resumes(tmp_path):
    def second_ctrl_c(engine, notice):
        raise KeyboardInterrupt  # what the SIGINT handler raises on a second Ctrl-C at the prompt

    control = RunControl(on_paused=second_ctrl_c)
    aborted = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        ISO230,
        runs_dir=tmp_path,
        write_report=False,
        progress=PauseAt(control, 30),
        on_rig_ready=lambda rig: setattr(rig, "control", control),
    )
    assert aborted.summary.state == "aborted"
    stops = of_kind(aborted.run_dir, "safe_stop")
    assert [s["device"] for s in stops] == ["phantom_x"] and all(s["ok"] for s in stops)
    assert [r["state"] for r in of_kind(aborted.run_dir, "state")][-2:] == ["paused", "aborted"]
    outcome = resume_run(aborted.run_dir, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error
    assert outcome.result is not None and outcome.result.outcome == "PASS"


def test_door_opening_during_an_integration_holds_it_and_repeats_it_after_the_door_closes(tmp_path):
    rigs: list[Any] = []

    class OpenDoorInThirdIntegration(ProgressSink):
        starts = 0

        def advance(self, index: int, label: str) -> None:
            if last_message_type(tmp_path) == "StartIntegration":
                self.starts += 1
                if self.starts == 3:  # leakage window, reading 1, then this one: reading 2
                    door = rigs[0].simulation.world.room_door()
                    now = rigs[0].clock.now()
                    door.open(at=now + 2.0)  # beam on, inside the 5 s beam-time dwell
                    door.close(at=now + 100.0)

    outcome = run_sequence(
        load_rig_config(),
        "electrometer-leakage-reproducibility",
        DOSIMETRY,
        runs_dir=tmp_path,
        write_report=False,
        progress=OpenDoorInThirdIntegration(),
        on_rig_ready=rigs.append,
    )
    assert outcome.summary.state == "completed", outcome.summary.error
    run_dir = outcome.run_dir
    interlock = of_kind(run_dir, "interlock")
    assert [(r["source"], r["clear"]) for r in interlock] == [("room_door", False), ("room_door", True)]
    (pause,) = of_kind(run_dir, "pause")
    (unpause,) = of_kind(run_dir, "unpause")
    assert pause["source"] == "interlock" and pause["held"] == ["electrometer_6517b"]
    assert pause["beam_switched_off"] is True and pause["message"] == "Dwell"  # the beam-time dwell was cut
    assert unpause["paused_s"] == pytest.approx(98.0, abs=PAUSE_SLACK_S)
    (rewind,) = of_kind(run_dir, "rewind")
    assert rewind["to_index"] + 1 == pause["repeat_from"]
    # every integration the analysis used began after the pause ended or ended before it began
    msgs = [r for r in records(run_dir) if r["kind"] == "msg"]
    spans: dict[int, list[float]] = {}
    final: list[tuple[float, float]] = []
    for r in msgs:
        kind = r["message"]["type"]
        if kind == "StartIntegration":
            spans[r["index"]] = [r["clock"]]
        elif kind == "HoldIntegration":
            start = spans.pop(max(spans))
            final.append((start[0], r["clock"]))
    assert len(final) == 2 + DOSIMETRY["readings"]  # leakage before/after and five readings, none stitched
    for start, end in final:
        assert end <= pause["clock"] or start >= unpause["clock"]
    charges = [row["charge_nC"] for row in outcome.result.tables["signal"]]
    assert len(charges) == 5 and max(charges) - min(charges) < 0.01 * max(charges)
    assert outcome.result.outcome == "PASS"
    assert verify_run(run_dir).ok


PAUSE_SLACK_S = 0.5  # the door is read every 0.5 s of a paused run (engine.PAUSE_POLL_S)


def test_a_run_killed_after_a_repeat_resumes_from_the_repeated_work(tmp_path):
    """A rewind voids the interrupted try: a later resume replays the repeat, never the void readings."""
    rigs: list[Any] = []

    class DoorThenKill(ProgressSink):
        starts = 0

        def advance(self, index: int, label: str) -> None:
            if last_message_type(tmp_path) == "StartIntegration":
                self.starts += 1
                if self.starts == 3:
                    door = rigs[0].simulation.world.room_door()
                    door.open(at=rigs[0].clock.now() + 1.0)
                    door.close(at=rigs[0].clock.now() + 30.0)
                if self.starts == 6:
                    raise KeyboardInterrupt  # SIGTERM as the CLI maps it: safe stop, resumable

    aborted = run_sequence(
        load_rig_config(),
        "electrometer-leakage-reproducibility",
        DOSIMETRY,
        runs_dir=tmp_path,
        write_report=False,
        progress=DoorThenKill(),
        on_rig_ready=rigs.append,
    )
    assert aborted.summary.state == "aborted"
    outcome = resume_run(aborted.run_dir, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error
    charges = [row["charge_nC"] for row in outcome.result.tables["signal"]]
    assert len(charges) == 5 and max(charges) - min(charges) < 0.01 * max(charges)


# -- the engine alone, with a real file as the interlock --------------------------------------------
def test_file_interlock_pauses_before_the_next_message_and_resumes_when_clear(tmp_path, step_clock):
    signal_file = tmp_path / "gpio17_value"
    signal_file.write_text("1\n")
    axis = InstantAxis("x")
    axis.connect()
    envelope = SafetyEnvelope()
    envelope.set_axis_limits("x", 0.0, 300.0, "test travel")
    journal = Journal(tmp_path, step_clock)
    notices: list[PauseNotice] = []

    def on_paused(engine, notice):
        notices.append(notice)
        signal_file.write_text("1\n")  # the door closes again

    engine = RunEngine(
        DeviceSet(positioners={"x": axis}),
        step_clock,
        journal,
        envelope,
        interlocks=[FileInterlock("door", signal_file, clear_when="1")],
        control=RunControl(on_paused=on_paused),
    )

    def plan():
        yield Home("x")
        yield MoveTo("x", 10.0)
        signal_file.write_text("0\n")  # opens between two moves
        yield MoveTo("x", 20.0)
        yield Checkpoint("done")

    engine.run(plan())
    journal.close()
    assert engine.state == "completed"
    (notice,) = notices
    assert notice.message == "MoveTo" and notice.index == 2 and notice.repeat_from is None
    assert "door" in notice.interlocks and "reads '0'" in notice.interlocks["door"]
    assert [c for c in axis.commands if c[0] == "move"] == [("move", 10.0), ("move", 20.0)]
    kinds = [r["kind"] for r in read_journal(journal.path).records]
    assert kinds.index("pause") < kinds.index("unpause")


class OpenBetween:
    """An interlock open on the rig clock between two times (a door a test opens and closes)."""

    def __init__(self, clock: Any, opens: float, closes: float) -> None:
        self.name, self._clock, self._opens, self._closes = "door", clock, opens, closes

    def is_clear(self) -> bool:
        return not self._opens <= self._clock.now() < self._closes

    @property
    def reason(self) -> str:
        return "open" if not self.is_clear() else "closed"

    def close(self) -> None:
        return None


def test_a_dwell_cut_by_an_interlock_is_done_again_in_full(tmp_path, step_clock):
    axis = InstantAxis("x")
    axis.connect()
    envelope = SafetyEnvelope()
    envelope.set_axis_limits("x", 0.0, 300.0, "test travel")
    journal = Journal(tmp_path, step_clock)
    interlock = OpenBetween(step_clock, 3.0, 5.0)
    engine = RunEngine(
        DeviceSet(positioners={"x": axis}), step_clock, journal, envelope, interlocks=[interlock]
    )

    def plan():
        yield Home("x")
        yield Dwell(10.0)  # a settle must be continuous: the interrupted one does not count
        yield Checkpoint()

    engine.run(plan())
    journal.close()
    kept = read_journal(journal.path).records
    dwells = [r for r in kept if r["kind"] == "msg" and r["message"]["type"] == "Dwell"]
    assert [d["clock"] for d in dwells] == [0.0, 5.0]
    assert step_clock.now() == pytest.approx(15.0)  # 3 s cut, 2 s paused, then the full 10 s
    (unpause,) = [r for r in kept if r["kind"] == "unpause"]
    assert unpause["paused_s"] == pytest.approx(2.0)


def test_scpi_interlock_reads_a_digital_input_over_a_real_transport():
    """pyserial's loop:// answers each query with itself: '1' is clear, '0' is open."""
    closed = ScpiInterlock("door", open_transport("loop://", device="door", timeout_s=0.5), "1", "1")
    opened = ScpiInterlock("door", open_transport("loop://", device="door", timeout_s=0.5), "0", "1")
    try:
        assert closed.is_clear() and not opened.is_clear()
        assert "answered '0'" in opened.reason
    finally:
        closed.close()
        opened.close()


def test_rig_file_interlocks_section_is_validated_and_built(tmp_path):
    raw = load_rig_config().model_dump(mode="json")
    raw["interlocks"] = {"beam_interlock": {"kind": "file", "path": str(tmp_path / "v"), "clear_when": "1"}}
    config = RigConfig.model_validate(raw)
    built = build_interlocks(config.interlocks, door=None)
    assert [s.name for s, _ in built] == ["beam_interlock"]
    assert not built[0][0].is_clear() and "cannot read" in built[0][0].reason  # unreadable counts as open
    raw["interlocks"] = {"x": {"kind": "relay"}}
    with pytest.raises(ValueError, match="kind"):
        RigConfig.model_validate(raw)
    with pytest.raises(ValueError, match="needs a simulated rig"):
        build_interlocks(
            {
                "d": RigConfig.model_validate(
                    {**raw, "interlocks": {"d": {"kind": "simulated-door"}}}
                ).interlocks["d"]
            },
            door=None,
        )


# -- Ctrl-C on a real `hilcal run` -------------------------------------------------------------------
def _interrupted_cli_run(
    tmp_path: Path, answer: str, sig: int = signal.SIGINT
) -> tuple[subprocess.CompletedProcess[str], Path]:
    params = tmp_path / "w1.yaml"
    params.write_text("runs: 10\nstep_mm: 25\n")  # long enough (about 1000 messages) to be caught running
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("hilcal")),
            "run",
            "--sequence",
            "phantom-axis-iso230",
            "--params",
            str(params),
            "--runs-dir",
            str(runs),
            "--no-report",
            "--db",
            f"sqlite:///{tmp_path / 'qa.sqlite'}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(answer)
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            journals = list(runs.glob("*/journal.jsonl"))
            if journals and journals[0].read_text(encoding="utf-8").count('"kind":"msg"') >= 40:
                break
            time.sleep(0.005)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (run_dir,) = [p.parent for p in runs.glob("*/journal.jsonl")]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, ""), run_dir


def test_ctrl_c_then_resume_at_the_prompt_completes(tmp_path):
    done, run_dir = _interrupted_cli_run(tmp_path, "r\n")
    assert done.returncode == 0, done.stdout
    assert "Paused before step" in done.stdout and "Resumed after" in done.stdout
    assert len(of_kind(run_dir, "pause")) == 1 and len(of_kind(run_dir, "unpause")) == 1
    assert json.loads((run_dir / "results.json").read_text())["state"] == "completed"


def test_ctrl_c_then_abort_at_the_prompt_exits_3_and_the_run_resumes(tmp_path):
    done, run_dir = _interrupted_cli_run(tmp_path, "a\n")
    assert done.returncode == 3, done.stdout
    assert of_kind(run_dir, "pause") and of_kind(run_dir, "safe_stop")
    assert json.loads((run_dir / "results.json").read_text())["state"] == "aborted"
    outcome = resume_run(run_dir, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error


def test_sigterm_is_an_immediate_safe_stop_and_hilcal_resume_completes_the_run(tmp_path):
    done, run_dir = _interrupted_cli_run(tmp_path, "", signal.SIGTERM)
    assert done.returncode == 3, done.stdout
    assert not of_kind(run_dir, "pause")  # no prompt: a supervisor cannot answer one
    assert of_kind(run_dir, "safe_stop")
    assert json.loads((run_dir / "results.json").read_text())["state"] == "aborted"
    resumed = subprocess.run(
        [str(Path(sys.executable).with_name("hilcal")), "resume", str(run_dir), "--db",
         f"sqlite:///{tmp_path / 'qa.sqlite'}"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads((run_dir / "results.json").read_text())["state"] == "completed"
    assert of_kind(run_dir, "resume")
