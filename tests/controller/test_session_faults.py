"""Bad input and faults on the simulated rig: clear errors, nothing sent when invalid, safe recorded end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError, HilcalError
from controller.journal import read_journal
from controller.review import summarize_journal
from controller.session import resume_run, run_sequence


def journal_of(run_dir: Path) -> list[dict]:
    return read_journal(run_dir / "journal.jsonl").records


def sent_commands(records: list[dict]) -> list[str]:
    return [r["data"] for r in records if r["kind"] == "tx"]


def test_target_outside_travel_is_refused_before_any_device_is_opened(tmp_path):
    with pytest.raises(ConfigError) as refused:
        run_sequence(
            load_rig_config(),
            "phantom-axis-iso230",
            {"targets_mm": [10.0, 350.0]},
            runs_dir=tmp_path,
            write_report=False,
        )
    assert "targets_mm[1] = 350 mm" in str(refused.value) and "phantom_x" in str(refused.value)
    assert not any(tmp_path.iterdir())  # no run directory: nothing was opened, nothing to review


def test_target_beyond_device_reported_travel_is_refused_after_connect_before_motion(tmp_path):
    """Without soft limits in the rig file only the connected stage knows its travel: still no motion."""
    raw = load_rig_config().model_dump(mode="json")
    raw["devices"]["phantom_x"]["soft_limits_mm"] = None
    outcome = run_sequence(
        RigConfig.model_validate(raw),
        "phantom-axis-iso230",
        {"targets_mm": [10.0, 350.0]},
        runs_dir=tmp_path,
        write_report=False,
    )
    assert outcome.summary.state == "faulted"
    error = outcome.summary.error or ""
    assert "350" in error and "device-reported travel" in error
    sent = sent_commands(journal_of(outcome.run_dir))
    assert sent, "connect queries are sent"
    assert not any(" home" in cmd or " move " in cmd for cmd in sent)  # nothing moved
    assert journal_of(outcome.run_dir)[-1]["kind"] == "run_end"


def _inject(kind: str, after: int):
    def hook(rig) -> None:
        rig.simulation.chains["phantom"].inject_wire_fault(kind, after_commands=after)

    return hook


def test_garbled_reply_faults_the_run_naming_device_command_and_bytes(tmp_path):
    outcome = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        {"runs": 2},
        runs_dir=tmp_path,
        write_report=True,
        on_rig_ready=_inject("garble", 120),
    )
    error = outcome.summary.error or ""
    assert outcome.summary.state == "faulted"
    assert "ProtocolError" in error and "0K" in error and "phantom" in error
    records = journal_of(outcome.run_dir)
    stops = [r for r in records if r["kind"] == "safe_stop"]
    # The run opened only the axis under test, so that is the one device it can have set moving.
    assert {r["device"] for r in records if r["kind"] == "connected"} == {"phantom_x"}
    assert {s["device"] for s in stops} == {"phantom_x"}
    assert all(s["ok"] for s in stops)
    assert any(r["kind"] == "tx" and "stop" in r["data"] for r in records)  # the stop went on the wire
    assert records[-1] == {**records[-1], "kind": "run_end", "state": "faulted"}
    assert "ended faulted" in (outcome.run_dir / "report.html").read_text(encoding="utf-8")


def test_truncated_reply_times_out_naming_the_partial_bytes(tmp_path):
    outcome = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        {"runs": 2},
        runs_dir=tmp_path,
        write_report=False,
        on_rig_ready=_inject("truncate", 40),
    )
    error = outcome.summary.error or ""
    assert outcome.summary.state == "faulted"
    assert "TransportTimeout" in error and "received so far b'@01" in error


def test_stall_on_the_stage_faults_and_stops(tmp_path):
    def stall(rig) -> None:
        rig.simulation.world.stage("phantom_x").inject_stall(at_time=30.0)

    outcome = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        {"runs": 2},
        runs_dir=tmp_path,
        write_report=False,
        on_rig_ready=stall,
    )
    assert outcome.summary.state == "faulted"
    assert "FS" in (outcome.summary.error or "")
    assert any(r["kind"] == "safe_stop" for r in journal_of(outcome.run_dir))


def test_killed_run_loses_nothing_and_resumes_to_the_same_verdict(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from controller.config import RigConfig, load_rig_config
        from controller.session import ProgressSink, run_sequence

        class KillAt(ProgressSink):
            def advance(self, index, label):
                if index == 100:
                    os.kill(os.getpid(), signal.SIGKILL)

        # step_mm 60: six targets, 49 plan messages per run (the counts below)
        run_sequence(load_rig_config(), "phantom-axis-iso230", {{"runs": 3, "step_mm": 60}},
                     runs_dir=Path({str(tmp_path)!r}), progress=KillAt(), run_id="killed")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, env={**os.environ})
    assert proc.returncode == -signal.SIGKILL
    run_dir = tmp_path / "killed"
    before = journal_of(run_dir)
    readings_before = [r for r in before if r["kind"] == "reading"]
    assert len(readings_before) >= 20 and not any(r["kind"] == "run_end" for r in before)
    assert "NO run_end record" in summarize_journal(run_dir)

    outcome = resume_run(run_dir, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error
    after = journal_of(run_dir)
    assert after[: len(before)] == before  # append-only: the killed run's records are untouched
    replayed = [r for r in after if r["kind"] == "replayed"]
    # answered from the journal: everything up to the last checkpoint before the kill (end of run 2,
    # index 98); the half-done third run is measured again live
    assert len(replayed) == 99
    data = next(r for r in after if r["kind"] == "data")["data"]["points"]
    first = [
        (d["run"], d["direction"], d["target_mm"], d["encoder_mm"]) for d in data[: len(readings_before)]
    ]
    recorded = [r["reading"]["encoder_mm"] for r in readings_before]
    assert [f[3] for f in first] == recorded  # the measured values survive the kill exactly
    assert outcome.result is not None and outcome.result.outcome == "PASS"
    assert json.loads((run_dir / "results.json").read_text())["state"] == "completed"


def test_killed_dosimetry_run_resumes_from_its_last_whole_reading(tmp_path):
    """Killed with the beam on mid-integration: resume restores bias, zero and beam-off, then redoes it."""
    params = {"dosimeter": "electrometer_6517b", "readings": 5, "leakage_time_s": 60, "beam_time_s": 5}
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from controller.config import RigConfig, load_rig_config
        from controller.session import ProgressSink, run_sequence

        class KillAt(ProgressSink):
            def advance(self, index, label):
                if index == 66:  # reading 4: reset, beam on, settle, start, *dwell*: inside the timed one
                    os.kill(os.getpid(), signal.SIGKILL)

        run_sequence(load_rig_config(), "electrometer-leakage-reproducibility", {params!r},
                     runs_dir=Path({str(tmp_path)!r}), progress=KillAt(), run_id="killed")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, env={**os.environ})
    assert proc.returncode == -signal.SIGKILL
    run_dir = tmp_path / "killed"
    outcome = resume_run(run_dir, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error
    records = journal_of(run_dir)
    restored = [r["message"]["type"] for r in records if r["kind"] == "restore"]
    # the settings the replayed part had made, newest of each kind, in the order they were last made (the
    # timed configuration of the readings comes after the zero)
    assert restored == ["ZeroDosimeter", "ConfigureDosimeter", "Beam"]
    timed = [r["message"] for r in records if r["kind"] == "restore"][1]
    assert timed["settings"]["integration_time_s"] == 5
    beam = next(r for r in records if r["kind"] == "restore" and r["message"]["type"] == "Beam")
    assert beam["message"]["on"] is False
    # up to the checkpoint after reading 3 (4 set-up messages, the leakage window before is 13 readings: 29
    # messages, then reset and the timed configuration: 35; 9 per reading)
    assert len([r for r in records if r["kind"] == "replayed"]) == 62
    result = outcome.result
    assert result is not None and result.outcome == "PASS"
    charges = [row["charge_nC"] for row in result.tables["signal"]]
    assert max(charges) - min(charges) < 0.01 * max(
        charges
    )  # the redone reading is whole, not a stitched half


def test_a_timeout_on_a_shared_chain_names_the_rig_device_not_the_port_owner(tmp_path):
    """phantom_x opened the shared port first, so its transport is labelled phantom_x; the Y arm timed out."""
    outcome = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        {"axis": "phantom_y", "runs": 2},
        runs_dir=tmp_path,
        write_report=False,
        on_rig_ready=_inject("truncate", 40),
    )
    error = outcome.summary.error or ""
    assert outcome.summary.state == "faulted"
    assert "TransportTimeout" in error and "rig device 'phantom_y'" in error
    fault = next(r for r in journal_of(outcome.run_dir) if r["kind"] == "fault")
    assert "rig device 'phantom_y'" in fault["error"]


def test_a_run_aborted_by_the_operator_can_be_resumed_and_its_summary_is_kept(tmp_path):
    from controller.session import ProgressSink
    from controller.verify import verify_run

    class InterruptAt(ProgressSink):
        def advance(self, index, label):
            if index == 60:
                raise KeyboardInterrupt  # Ctrl-C, or SIGTERM as the CLI maps it

    aborted = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        {"runs": 3},
        runs_dir=tmp_path,
        write_report=False,
        progress=InterruptAt(),
    )
    assert aborted.summary.state == "aborted"
    outcome = resume_run(aborted.run_dir, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error
    kept = json.loads((aborted.run_dir / "results.aborted-1.json").read_text(encoding="utf-8"))
    assert kept["state"] == "aborted"
    assert any(r["kind"] == "replayed" for r in journal_of(aborted.run_dir))
    assert verify_run(aborted.run_dir).ok
    with pytest.raises(HilcalError, match="already ended completed"):
        resume_run(aborted.run_dir, write_report=False)
