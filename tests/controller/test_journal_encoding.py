"""Journals written by earlier hilcal still verify, and the encoder keeps every value a record can hold.

The fixtures in ``journal_fixtures/`` were written by hilcal at commit d03f699 (the stdlib ``json``
encoder), before the journal's encoder changed: ``run-d03f699`` is a whole run folder (an
electrometer-end-effect run on the default simulated rig, its journal gzipped), ``edge-d03f699`` the
records of ``edge_records`` written with a fixed wall time.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
import time
from enum import StrEnum
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from pydantic import BaseModel

from controller.journal import Journal, read_journal
from controller.verify import verify_run

FIXTURES = Path(__file__).parent / "journal_fixtures"


class _Outcome(StrEnum):
    PASS = "pass"


class _Model(BaseModel):
    value: float
    unit: str
    outcome: _Outcome
    note: str | None = None


def edge_records() -> list[tuple[str, bool, dict[str, Any]]]:
    """(kind, durable, fields) for every value kind a record can hold: floats at every exponent, ints past
    64 bits, non-ASCII and control characters, NaN and infinities, numpy values, models, paths, bytes."""
    floats = [0.0, -0.0, 0.1, 1.0, -2.5, 1e-4, 1e-5, 1e-7, 123456789.123, 1e15, 1e16, 1.5e300, 5e-324]
    floats += [1.7976931348623157e308, 16.400000000000084, 2.0**53, 1 / 3]
    axis = {
        "type": "AxisReading",
        "device": "x",
        "position_mm": 2.0,
        "encoder_mm": 1.975625,
        "clock_s": 16.400000000000084,
    }
    text = {"s": "µm ± 0.1 °C — Ω 日本 😀", "ctl": '\x00\x01\t\n\r\x1f\x7f"\\/', "ls": "\u2028\u2029"}
    raw = bytes(range(256)).decode("latin-1")
    model = _Model(value=1.5, unit="mm", outcome=_Outcome.PASS)
    return [
        ("floats", False, {"values": floats}),
        ("ints", False, {"values": [0, -1, 2**31, 2**63 - 1, -(2**63), 2**64, 10**30], "flag": True}),
        ("nonfinite", True, {"nan": math.nan, "inf": math.inf, "ninf": -math.inf}),
        ("text", False, text),
        ("tx", False, {"device": "dev", "data": raw, "mono": 21734.036428616}),
        ("bytes", False, {"raw": b"\x00\xff ok", "path": Path("/tmp/x y")}),
        ("numpy", False, {"f": np.float64(0.25), "i": np.int64(7), "a": np.arange(3.0), "m": np.eye(2)}),
        ("model", True, {"result": model, "enum": _Outcome.PASS}),
        ("nested", False, {"t": (1, (2.5, "x")), "d": {"é": [None, {}, []]}, "empty": "", "none": None}),
        ("msg", False, {"index": 3, "message": {"type": "MoveTo", "device": "x", "target_mm": 150.0}}),
        ("reading", False, {"index": 4, "reading": axis}),
    ]


class _TickClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        self.t += 0.25
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def write_edge_journal(run_dir: Path) -> Path:
    """Write ``edge_records`` with a fixed wall time, so the bytes depend on the encoder alone."""
    walls = iter(1796300000.0 + 0.001 * i for i in range(1000))
    with mock.patch.object(time, "time", lambda: next(walls)):
        journal = Journal(run_dir, _TickClock())
        for kind, durable, fields in edge_records():
            journal.append(kind, durable=durable, **fields)
        journal.close()
    return journal.path


def _old_run(tmp_path: Path) -> Path:
    run_dir = Path(shutil.copytree(FIXTURES / "run-d03f699", tmp_path / "run"))
    packed = run_dir / "journal.jsonl.gz"
    (run_dir / "journal.jsonl").write_bytes(gzip.decompress(packed.read_bytes()))
    packed.unlink()
    return run_dir


def test_a_run_folder_written_before_the_encoder_changed_verifies(tmp_path: Path):
    run_dir = _old_run(tmp_path)
    report = verify_run(run_dir)
    summary = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert report.ok, report.problems
    assert (report.head, report.records) == (summary["journal_sha256"], summary["journal_records"])


def test_an_old_journal_reopened_continues_its_chain(tmp_path: Path):
    run_dir = _old_run(tmp_path)
    before = read_journal(run_dir / "journal.jsonl")
    journal = Journal(run_dir, _TickClock())
    journal.append("resume", note="continued by the current encoder", value=1e-9)
    journal.close()
    after = read_journal(run_dir / "journal.jsonl")  # verifies the whole chain, old records and new
    assert len(after.records) == len(before.records) + 1
    assert after.records[-1]["prev"] == before.head and after.records[-1]["value"] == 1e-9


def test_old_edge_records_verify_and_read_back_every_value(tmp_path: Path):
    contents = read_journal(FIXTURES / "edge-d03f699" / "journal.jsonl")
    by_kind = {r["kind"]: r for r in contents.records}
    assert [r["kind"] for r in contents.records] == [kind for kind, _, _ in edge_records()]
    assert math.isnan(by_kind["nonfinite"]["nan"]) and by_kind["nonfinite"]["ninf"] == -math.inf
    assert by_kind["ints"]["values"][-2:] == [2**64, 10**30]
    assert by_kind["tx"]["data"].encode("latin-1") == bytes(range(256))


def _values(line: bytes) -> Any:
    """A record's values without its chain hash (which follows the bytes), NaN made comparable."""
    record = json.loads(line)
    record.pop("prev")
    return json.loads(json.dumps(record).replace("NaN", '"NaN"'))


def test_the_encoder_writes_what_hilcal_wrote_before(tmp_path: Path):
    """Same records, same values: the stored fixture is what the stdlib encoder wrote at d03f699; only the
    spelling of a few floats (``1e-7`` for ``1e-07``) may differ, never a value, a key or its order."""
    written = write_edge_journal(tmp_path).read_bytes().splitlines()
    before = (FIXTURES / "edge-d03f699" / "journal.jsonl").read_bytes().splitlines()
    assert [_values(line) for line in written] == [_values(line) for line in before]
    assert [list(json.loads(line)) for line in written] == [list(json.loads(line)) for line in before]
    # The one record holding a NaN and infinities keeps the stdlib's bytes for them.
    nonfinite = next(line for line in written if b'"kind":"nonfinite"' in line)
    assert b'"nan":NaN,"inf":Infinity,"ninf":-Infinity' in nonfinite


def test_small_floats_read_back_exactly(tmp_path: Path):
    """orjson spells floats below 1e-4 otherwise than the stdlib; every one must read back bit for bit."""
    values = [1e-5, 1e-7, 5e-324, -1.241811e-07, 9.99999e-05, 2.2250738585072014e-308, 1.5e-300]
    journal = Journal(tmp_path, _TickClock())
    journal.append("reading", reading={"type": "DosimeterReading", "value": values[3]}, values=values)
    journal.close()
    record = read_journal(journal.path).records[0]
    assert record["values"] == values and record["reading"]["value"] == values[3]
    signs = [math.copysign(1, value) for value in record["values"]]
    assert signs == [math.copysign(1, value) for value in values]
