"""Durability modes (when the journal fsyncs), the interrupt mark, and the encoder's exactness."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import controller.journal as journal_module
from controller.config import RigConfig, load_rig_config
from controller.journal import FSYNC_MODES, Journal, _encode_default, encode_record, read_journal
from controller.messages import Checkpoint, MoveTo, ReadAxis, message_to_record

_stdlib = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_encode_default).encode


def _scan_point(journal: Journal, i: int) -> None:
    """The six records the engine journals for one scan point (move, read, checkpoint, detector read)."""
    journal.append("msg", index=4 * i, message=message_to_record(MoveTo("x", float(i))))
    journal.append("msg", index=4 * i + 1, message=message_to_record(ReadAxis("x")))
    journal.append("reading", index=4 * i + 1, reading={"type": "AxisReading", "position_mm": float(i)})
    journal.append("msg", index=4 * i + 2, message=message_to_record(Checkpoint(f"point {i}")))
    journal.append("msg", index=4 * i + 3, message={"type": "ReadDosimeter", "device": "charge"})
    journal.append("reading", index=4 * i + 3, reading={"type": "DosimeterReading", "value": 1.2e-07})


@pytest.mark.parametrize(("mode", "expected"), [("state", 1), ("checkpoint", 5 + 1), ("record", 30 + 1)])
def test_each_fsync_mode_syncs_where_it_says(tmp_path: Path, step_clock, mocker, mode: str, expected: int):
    """Five scan points and a state change: 'state' syncs at the state change only, 'checkpoint' also once
    per Checkpoint (covering the point's records), 'record' after each record; close syncs once more."""
    fsync = mocker.spy(os, "fsync")
    journal = Journal(tmp_path, step_clock, fsync=mode)  # type: ignore[arg-type]
    for i in range(5):
        _scan_point(journal, i)
        assert journal.wait_committed(timeout=10.0)  # the checkpoint's group commit runs beside the run
    journal.append("state", durable=True, state="completed")
    assert fsync.call_count == expected
    journal.close()
    assert fsync.call_count == expected + 1
    assert len(read_journal(journal.path).records) == 31


def test_a_checkpoint_with_nothing_new_to_commit_does_not_fsync_again(tmp_path: Path, step_clock, mocker):
    journal = Journal(tmp_path, step_clock)
    journal.append("state", durable=True, state="running")
    fsync = mocker.spy(os, "fsync")
    journal.append("msg", index=0, message=message_to_record(Checkpoint()))  # new bytes: one fsync
    assert journal.wait_committed(timeout=10.0)
    journal.sync()  # an explicit sync always syncs
    journal.append("replayed", index=0, message=message_to_record(Checkpoint()))  # not a live checkpoint
    assert fsync.call_count == 2
    journal.close()


def test_a_checkpoint_does_not_wait_for_the_disk_and_a_state_change_does(tmp_path: Path, step_clock, mocker):
    """Group commit: the checkpoint's fsync runs on the journal's sync thread, so the run goes on while the
    disk works; a durable record (state change, result) is on disk when append returns."""
    import threading

    disk = threading.Event()
    real_fsync = os.fsync
    calls: list[str] = []

    def slow_fsync(fd: int) -> None:
        calls.append(threading.current_thread().name)
        if threading.current_thread().name == "journal-sync":
            assert disk.wait(10.0)
        real_fsync(fd)

    mocker.patch.object(journal_module.os, "fsync", side_effect=slow_fsync)
    journal = Journal(tmp_path, step_clock)
    journal.append("msg", index=0, message=message_to_record(Checkpoint("point 0")))
    journal.append("msg", index=1, message=message_to_record(MoveTo("x", 1.0)))  # not blocked by the disk
    assert not journal.wait_committed(timeout=0.05)  # the sync thread is still waiting for the disk
    disk.set()
    assert journal.wait_committed(timeout=10.0)
    journal.append("state", durable=True, state="completed")
    assert calls == ["journal-sync", threading.current_thread().name]
    journal.close()
    assert len(read_journal(journal.path).records) == 3


def test_an_unknown_fsync_mode_is_refused(tmp_path: Path, step_clock):
    with pytest.raises(ValueError, match="fsync mode 'sometimes'"):
        Journal(tmp_path, step_clock, fsync="sometimes")  # type: ignore[arg-type]


def test_the_rig_file_sets_the_mode_and_defaults_to_group_commit():
    assert load_rig_config().journal.fsync == "checkpoint"
    rig = load_rig_config().model_dump()
    rig["journal"] = {"fsync": "record"}
    assert RigConfig.model_validate(rig).journal.fsync == "record"
    rig["journal"] = {"fsync": "never"}
    with pytest.raises(ValueError, match="fsync"):
        RigConfig.model_validate(rig)
    assert set(FSYNC_MODES) == {"checkpoint", "record", "state"}


def test_an_interrupt_between_the_write_and_the_head_move_is_mended(tmp_path: Path, step_clock, monkeypatch):
    """Ctrl-C landing after a record reached the file but before the head moved: the next record still
    follows it (the journal reads its own tail), and one landing before the write leaves no trace."""
    journal = Journal(tmp_path, step_clock)
    journal.append("a")
    real_sha256 = journal_module._sha256  # what ``append`` hashes with, after the write

    def interrupted(data: Any) -> Any:
        monkeypatch.setattr(journal_module, "_sha256", real_sha256)
        raise KeyboardInterrupt

    monkeypatch.setattr(journal_module, "_sha256", interrupted)
    with pytest.raises(KeyboardInterrupt):
        journal.append("b")  # written, bookkeeping not moved
    real_write = os.write

    def refused(fd: int, data: bytes) -> int:
        monkeypatch.setattr(journal_module.os, "write", real_write)
        raise KeyboardInterrupt

    monkeypatch.setattr(journal_module.os, "write", refused)
    with pytest.raises(KeyboardInterrupt):
        journal.append("lost")  # interrupted before its write: nothing of it in the file
    assert journal.append("c") == 2
    journal.close()
    contents = read_journal(journal.path)  # verifies every prev
    assert [(r["n"], r["kind"]) for r in contents.records] == [(0, "a"), (1, "b"), (2, "c")]
    assert contents.head == journal.head


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists, pairs and objects of ``children`` (a named function: hypothesis inspects a lambda's source)."""
    return (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
    )


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-1e-3, max_value=1e-3)
    | st.text(max_size=12),
    _containers,
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(fields=st.dictionaries(st.text(min_size=1, max_size=8), _json_values, max_size=5))
def test_encode_record_reads_back_as_the_stdlib_line_does(fields: dict[str, Any]):
    """Random records: the line reads back to the same values, keys and order as the stdlib's line."""
    record = {"n": 1, "prev": "0" * 64, "wall": 1796304602.9088202, "clock": 1e-06, "kind": "x", **fields}
    line = encode_record(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert _comparable(json.loads(line)) == _comparable(json.loads(_stdlib(record)))


def _comparable(value: Any) -> Any:
    """``value`` with NaN as a string and key order kept, so == compares what a reader gets back."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return [(key, _comparable(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def test_non_finite_values_keep_their_stdlib_spelling_beside_nulls():
    record = {"a": None, "b": [math.nan, None], "c": {"d": -math.inf}, "e": 1.5e-07, "f": 0.00001}
    line = encode_record(record)
    assert line == b'{"a":null,"b":[NaN,null],"c":{"d":-Infinity},"e":1.5e-07,"f":1e-05}\n'


def test_a_null_without_a_non_finite_float_stays_orjsons_line():
    """``None`` fields are common; they must not send a record to the slow encoder, nor change a value."""
    record = {"a": None, "b": [1.5e-07, None], "c": {"d": 2.0}}
    assert encode_record(record) == b'{"a":null,"b":[1.5e-7,null],"c":{"d":2.0}}\n'


def test_a_run_journals_with_the_rig_files_fsync_mode(tmp_path: Path, mocker):
    from controller import session
    from controller.config import JournalSettings

    opened = mocker.patch.object(session, "Journal", wraps=Journal)
    rig = load_rig_config().model_copy(update={"journal": JournalSettings(fsync="record")})
    outcome = session.run_sequence(rig, "electrometer-end-effect", {}, runs_dir=tmp_path, write_report=False)
    assert outcome.summary.state == "completed"
    assert opened.call_args.kwargs["fsync"] == "record"
    assert read_journal(outcome.run_dir / "journal.jsonl").records[-1]["kind"] == "run_end"
