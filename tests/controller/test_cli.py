"""The console: `hilcal run` verdicts and exit codes, bad input, and `hilcal sim serve --json`."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import serial
from typer.testing import CliRunner

from controller.cli import app

runner = CliRunner()


def test_run_prints_verdict_and_writes_run_directory(tmp_path: Path):
    params = tmp_path / "w1.yaml"
    params.write_text("runs: 2\nstep_mm: 100\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "run",
            "--sequence",
            "phantom-axis-iso230",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--params",
            str(params),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Verdict: PASS" in result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert {p.name for p in run_dir.iterdir()} >= {"journal.jsonl", "results.json", "report.html", "run.json"}


def test_injected_backlash_fails_with_exit_code_1(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "run",
            "--runs-dir",
            str(tmp_path),
            "--no-report",
            "--set",
            "simulation.stages.phantom_x.backlash_mm=0.35",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Verdict: FAIL" in result.output


def test_bad_parameter_file_names_file_field_value(tmp_path: Path):
    params = tmp_path / "w1.yaml"
    params.write_text("runs: 1\ndwel_s: 2\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["run", "--sequence", "phantom-axis-iso230", "--runs-dir", str(tmp_path), "--params", str(params)],
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "w1.yaml" in text and "runs = 1: expected greater than or equal to 2" in text
    assert "dwel_s = 2: unknown field" in text
    assert not any(tmp_path.glob("2*")), "no run directory for rejected input"


def test_bad_override_path_is_named(tmp_path: Path):
    result = runner.invoke(
        app, ["run", "--runs-dir", str(tmp_path), "--set", "simulation.stages.phantom_q.noise_um=1"]
    )
    assert result.exit_code == 2 and "phantom_q" in result.output


def test_sequences_lists_parameters():
    result = runner.invoke(app, ["sequences"])
    assert (
        result.exit_code == 0 and "phantom-axis-iso230" in result.output and "overshoot_mm" in result.output
    )


def test_sim_serve_json_endpoints_answer_zaber_ascii():
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "sim", "serve", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "sim serve printed nothing"
        entry = json.loads(proc.stdout.readline())
        assert entry["name"] == "phantom" and entry["protocol"] == "zaber-ascii"
        for url in (f"socket://127.0.0.1:{entry['tcp_port']}", entry["pty_path"]):
            port = serial.serial_for_url(url, timeout=2)
            try:
                port.write(b"/1 1 get limit.max\n")
                assert port.readline() == b"@01 1 OK IDLE WR 1920000\r\n"
            finally:
                port.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def test_air_entry_in_fahrenheit_is_refused_before_the_run(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "run",
            "--runs-dir",
            str(tmp_path),
            "--air-temperature-c",
            "71.6",
            "--air-pressure-kpa",
            "101.3",
            "--operator",
            "bob",
        ],
    )
    assert result.exit_code == 2
    assert "°F" in result.output or "Fahrenheit" in result.output
    assert not any(tmp_path.iterdir())


def test_default_session_runs_every_step_with_its_own_run_directory(tmp_path: Path):
    session = tmp_path / "session.yaml"
    session.write_text(
        "name: quick\nsteps:\n"
        "  - {sequence: phantom-axis-iso230, params: {runs: 2, step_mm: 100}}\n"
        "  - {sequence: couch-pose-readback, params: {repeats: 1, poses: [{}, {lateral_mm: 5}]}}\n"
        "  - {sequence: electrometer-leakage-reproducibility,"
        " params: {dosimeter: electrometer_6517b, readings: 3, leakage_time_s: 60, beam_time_s: 5}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["run", "--session", str(session), "--runs-dir", str(tmp_path / "runs"), "--no-report"]
    )
    assert result.exit_code == 0, result.output
    assert "Session quick" in result.output and result.output.count("PASS") >= 3
    (index,) = (tmp_path / "runs").glob("session-*.json")
    steps = json.loads(index.read_text())["steps"]
    assert [s["outcome"] for s in steps] == ["PASS", "PASS", "PASS"]
    assert len({s["run_dir"] for s in steps}) == 3


def test_session_file_errors_name_the_step(tmp_path: Path):
    session = tmp_path / "session.yaml"
    session.write_text(
        "name: bad\nsteps:\n  - {sequence: phantom-axis-iso230, params: {runs: 0}}\n  - {sequence: nope}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", "--session", str(session), "--runs-dir", str(tmp_path)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "steps.0.params.runs = 0" in text and "steps.1.sequence = 'nope'" in text
