"""Tamper evidence: a changed, deleted or torn record is found, named, and never resumed from."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli import app
from controller.config import load_rig_config
from controller.errors import HilcalError
from controller.journal import TORN_TAIL, Journal, JournalIntegrityError, read_journal
from controller.session import resume_run, run_sequence
from controller.verify import verify_run
from drivers.clock import WallClock

runner = CliRunner()


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A W1 run SIGKILLed mid-sequence (made once; each test works on its own copy)."""
    runs = tmp_path_factory.mktemp("killed")
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from controller.config import load_rig_config
        from controller.session import ProgressSink, run_sequence

        class KillAt(ProgressSink):
            def advance(self, index, label):
                if index == 60:
                    os.kill(os.getpid(), signal.SIGKILL)

        run_sequence(load_rig_config(), "phantom-axis-iso230", {{"runs": 3}},
                     runs_dir=Path({str(runs)!r}), progress=KillAt(), run_id="killed")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, env={**os.environ})
    assert proc.returncode == -signal.SIGKILL
    return runs / "killed"


@pytest.fixture
def run_copy(killed_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(killed_run, tmp_path / "killed"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("finished")
    outcome = run_sequence(
        load_rig_config(), "phantom-axis-iso230", {"runs": 2}, runs_dir=runs, write_report=False
    )
    assert outcome.summary.state == "completed"
    return outcome.run_dir


def _lines(run_dir: Path) -> list[bytes]:
    return (run_dir / "journal.jsonl").read_bytes().split(b"\n")[:-1]


def _write_lines(run_dir: Path, lines: list[bytes]) -> None:
    (run_dir / "journal.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def _forge_first_reading(run_dir: Path) -> int:
    """Add 1 mm to the first recorded encoder reading, the forgery the issue describes; its record number."""
    lines = _lines(run_dir)
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["kind"] == "reading" and "encoder_mm" in record["reading"]:
            record["reading"]["encoder_mm"] += 1.0
            lines[i] = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
            _write_lines(run_dir, lines)
            return int(record["n"])
    raise AssertionError("no axis reading in the killed run")


def test_every_record_chains_to_the_one_before(killed_run: Path):
    contents = read_journal(killed_run / "journal.jsonl")
    assert contents.chained and len(contents.records) > 100
    assert verify_run(killed_run).ok


def test_a_forged_reading_is_found_at_the_next_record_and_resume_refuses(run_copy: Path):
    forged = _forge_first_reading(run_copy)
    with pytest.raises(JournalIntegrityError) as caught:
        read_journal(run_copy / "journal.jsonl")
    assert caught.value.record == forged + 1  # the record after the forged one no longer follows from it
    report = verify_run(run_copy)
    assert not report.ok and f"record {forged + 1}" in report.problems[0]
    with pytest.raises(HilcalError, match="refusing to resume"):
        resume_run(run_copy, write_report=False)
    assert not (run_copy / "results.json").exists()


def test_a_deleted_record_is_found(run_copy: Path):
    lines = _lines(run_copy)
    del lines[40]
    _write_lines(run_copy, lines)
    report = verify_run(run_copy)
    assert not report.ok and "record 40" in report.problems[0]


def test_an_edited_manifest_is_found(run_copy: Path):
    manifest = json.loads((run_copy / "run.json").read_text(encoding="utf-8"))
    manifest["params"]["runs"] = 2
    (run_copy / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    report = verify_run(run_copy)
    assert not report.ok and "run.json differs" in report.problems[0]


def test_a_torn_final_record_is_closed_off_and_the_run_resumes(run_copy: Path):
    journal = run_copy / "journal.jsonl"
    raw = journal.read_bytes()
    journal.write_bytes(raw[:-40])  # a power cut in the middle of the last write
    torn = read_journal(journal).torn_tail
    assert torn is not None
    outcome = resume_run(run_copy, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error
    contents = read_journal(journal)
    closing = [r for r in contents.records if r["kind"] == TORN_TAIL]
    assert [r["data"] for r in closing] == [torn]  # kept for review, not glued to the next record
    assert contents.torn_tail is None
    assert verify_run(run_copy).ok
    result = runner.invoke(app, ["review", str(run_copy)])
    assert result.exit_code == 0, result.output


def test_a_finished_run_verifies_and_an_edited_result_or_cut_tail_does_not(
    finished_run: Path, tmp_path: Path
):
    assert verify_run(finished_run).ok
    edited = Path(shutil.copytree(finished_run, tmp_path / "edited"))
    summary = json.loads((edited / "results.json").read_text(encoding="utf-8"))
    summary["results"][0]["verdicts"][0]["outcome"] = "PASS"
    summary["results"][0]["verdicts"][0]["measured"]["value"] = 0.001
    (edited / "results.json").write_text(json.dumps(summary), encoding="utf-8")
    assert any("differ from the journal" in p for p in verify_run(edited).problems)

    cut = Path(shutil.copytree(finished_run, tmp_path / "cut"))
    _write_lines(cut, _lines(cut)[:-2])  # the result and run_end records removed cleanly
    assert any("written after a journal" in p for p in verify_run(cut).problems)


def test_cli_verify_and_review_exit_codes(finished_run: Path, run_copy: Path, tmp_path: Path):
    ok = runner.invoke(app, ["verify", str(finished_run)])
    assert ok.exit_code == 0 and "integrity: OK" in ok.output
    forged = _forge_first_reading(run_copy)
    broken = runner.invoke(app, ["verify", str(run_copy)])
    assert broken.exit_code == 1 and "BROKEN" in broken.output
    header = f"journal: {len(_lines(run_copy))} lines; its hash chain breaks at record {forged + 1}"
    assert header in broken.output  # not "0 records, head sha256 —"
    reviewed = runner.invoke(app, ["review", str(run_copy)])
    assert reviewed.exit_code == 1 and "BROKEN" in reviewed.output
    missing = runner.invoke(app, ["verify", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2


def test_a_reopened_journal_continues_the_chain(tmp_path: Path):
    first = Journal(tmp_path, WallClock())
    first.append("a")
    first.close()
    second = Journal(tmp_path, WallClock())
    second.append("b")
    second.close()
    contents = read_journal(second.path)
    assert [r["n"] for r in contents.records] == [0, 1] and contents.head == second.head


def test_interrupts_landing_mid_append_never_break_the_chain(tmp_path):
    """SIGINT storms at a writer that, like the run engine, keeps journaling after each interrupt.

    The child's handler raises only while a journal append is on the stack (elsewhere it would just kill
    the test's own loop), so every interrupt that counts lands inside ``append``.
    """
    script = f"""
import signal
from pathlib import Path
from controller.journal import Journal
class Clock:
    def now(self): return 0.0
def handler(signum, frame):
    while frame is not None:
        if frame.f_code.co_name in ("append", "_take_pending_signals"):
            raise KeyboardInterrupt
        frame = frame.f_back
signal.signal(signal.SIGINT, handler)
journal = Journal(Path({str(tmp_path)!r}), Clock())
print("ready", flush=True)
interrupts = 0
while interrupts < 100:
    try:
        journal.append("rx", device="stage", data="@01 1 OK IDLE -- 0" * 4)
    except KeyboardInterrupt:
        interrupts += 1
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the storm goes on until this process ends
journal.append("done", interrupts=interrupts)
journal.close()
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    while child.poll() is None:
        child.send_signal(signal.SIGINT)
        time.sleep(0.001)
    child.stdout.close()
    assert child.returncode == 0
    contents = read_journal(tmp_path / "journal.jsonl")  # verifies the whole chain
    assert contents.records[-1]["kind"] == "done" and contents.records[-1]["interrupts"] == 100
