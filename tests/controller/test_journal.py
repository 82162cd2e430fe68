"""Journal durability: records reach the OS as they are written, a kill loses nothing, a torn tail is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from controller.journal import Journal, read_journal
from drivers.transport.base import Exchange


def test_records_survive_sigkill_without_close(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from controller.journal import Journal
        from drivers.clock import WallClock
        journal = Journal(Path({str(tmp_path)!r}), WallClock())
        for i in range(500):
            journal.append("reading", index=i, value=i * 0.5)
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush, no atexit
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -signal.SIGKILL
    contents = read_journal(tmp_path / "journal.jsonl")
    assert [r["index"] for r in contents.records] == list(range(500))
    assert contents.torn_tail is None


def test_exchanges_are_byte_exact(tmp_path, step_clock):
    journal = Journal(tmp_path, step_clock)
    raw = bytes(range(256))
    journal.record_exchange(Exchange("dev", "rx", raw, 1.0))
    journal.close()
    record = read_journal(journal.path).records[0]
    assert record["data"].encode("latin-1") == raw and record["device"] == "dev"


def test_torn_final_line_is_reported_not_dropped(tmp_path, step_clock):
    journal = Journal(tmp_path, step_clock)
    journal.append("reading", value=1)
    journal.close()
    with open(journal.path, "ab") as handle:
        handle.write(b'{"n":1,"kind":"readi')
    contents = read_journal(journal.path)
    assert len(contents.records) == 1 and contents.torn_tail == '{"n":1,"kind":"readi'


def test_reopening_appends_and_keeps_numbering(tmp_path, step_clock):
    first = Journal(tmp_path, step_clock)
    first.append("a")
    first.close()
    second = Journal(tmp_path, step_clock)
    second.append("b")
    second.close()
    records = read_journal(second.path).records
    assert [(r["n"], r["kind"]) for r in records] == [(0, "a"), (1, "b")]
    assert os.path.getsize(second.path) > 0
