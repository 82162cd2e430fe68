"""Journal cost: the encoders on a scan point's records, and each fsync mode per scan point.

A scan point journals six records: ``msg`` MoveTo, ``msg`` ReadAxis, the ``reading`` (an axis reading),
``msg`` Checkpoint, ``msg`` ReadDosimeter and its ``reading`` (a charge in coulombs). Every figure is a
median over interleaved repeats with its interquartile range, so the encoders (and the modes) see the
same machine load.

* Encoders, per scan point's six records: the stdlib ``json`` (what the journal used up to d03f699),
  ``orjson`` raw, msgspec raw, and ``encode_record`` (orjson, with the stdlib for records holding a NaN
  or an infinity; what the journal uses now). Also how many lines are byte-identical to the stdlib's, and
  how many read back as the same record (what matters to a reader).
* Whole ``append`` per scan point: the journal before (``LegacyJournal``: dict built and updated, stdlib
  encode, an ``fstat`` before every record) against now, both fsyncing at state changes only.
* fsync modes per scan point (``state``, ``checkpoint``, ``record``) on the checkout's own filesystem and
  on tmpfs (``/dev/shm``), where fsync has nothing to flush.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from controller.journal import _HEADER_PREFIX, FSYNC_MODES, Journal, _encode_default, encode_record
from controller.messages import (
    AxisReading,
    Checkpoint,
    MoveTo,
    ReadAxis,
    ReadDosimeter,
    message_to_record,
    to_record,
)
from drivers.clock import WallClock
from drivers.roles.dosimeter import DosimeterReading

REPEATS = 7
POINTS = 2000
FSYNC_POINTS = {"state": 2000, "checkpoint": 300, "record": 60}
CHECKOUT = Path(__file__).resolve().parent
TMPFS = Path("/dev/shm")

_stdlib = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_encode_default).encode


def scan_point_fields(i: int) -> list[tuple[str, dict[str, Any]]]:
    """The six records' (kind, fields) of scan point ``i``, as the engine journals them."""
    target = float(i % 300)
    axis = AxisReading("x", target, target - 0.0125, 12.5 + i)
    charge = DosimeterReading(1.241811e-07 + i * 1e-13, "C", 12.5 + i, 60.0, 300.0, "auto", ())
    return [
        ("msg", {"index": 4 * i, "message": message_to_record(MoveTo("x", target))}),
        ("msg", {"index": 4 * i + 1, "message": message_to_record(ReadAxis("x"))}),
        ("reading", {"index": 4 * i + 1, "reading": to_record(axis)}),
        ("msg", {"index": 4 * i + 2, "message": message_to_record(Checkpoint(f"point {i}"))}),
        ("msg", {"index": 4 * i + 3, "message": message_to_record(ReadDosimeter("charge"))}),
        ("reading", {"index": 4 * i + 3, "reading": to_record(charge)}),
    ]


class LegacyJournal(Journal):
    """The journal's ``append`` as it was up to d03f699, for a side-by-side figure."""

    def append(self, kind: str, durable: bool = False, **fields: Any) -> int:
        with self._lock:
            size = os.fstat(self._fd).st_size  # the reconcile before every record
            if size != self._size:
                raise RuntimeError("the benchmark's journal changed under it")
            number = self._count
            record = {"n": number, "prev": self._head, "wall": time.time(), "clock": self._clock.now()}
            record["kind"] = kind
            record.update(fields)
            line = _stdlib(record).encode("utf-8")
            os.write(self._fd, line + b"\n")
            self._head = hashlib.sha256(line).hexdigest()
            self._count = number + 1
            self._size += len(line) + 1
            if durable:
                os.fsync(self._fd)
        return number


def _quartiles(values: list[float]) -> dict[str, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": median, "iqr_low": q1, "iqr_high": q3}


def _records(points: int) -> list[dict[str, Any]]:
    """Whole records (header and fields) of ``points`` scan points, as ``append`` builds them."""
    out = []
    for i in range(points):
        for k, (kind, fields) in enumerate(scan_point_fields(i)):
            n = 6 * i + k
            out.append(
                {
                    "n": n,
                    "prev": "0" * 64,
                    "wall": 1796304602.9088202 + n * 1.37e-5,
                    "clock": 12.5 + i,
                    "kind": kind,
                }
            )
            out[-1].update(fields)
    return out


def _encoders() -> dict[str, Callable[[dict[str, Any]], object]]:
    encoders: dict[str, Callable[[dict[str, Any]], object]] = {
        "stdlib_json": lambda r: _stdlib(r).encode("utf-8"),
        "orjson_raw": lambda r: orjson.dumps(r, default=_encode_default),
        "encode_record": lambda r: encode_record(r, _HEADER_PREFIX),
    }
    if importlib.util.find_spec("msgspec") is not None:  # measured when installed; not a dependency
        import msgspec

        encoders["msgspec_raw"] = msgspec.json.Encoder(enc_hook=_encode_default).encode
    return encoders


def bench_encoders(points: int = POINTS, repeats: int = REPEATS) -> dict[str, Any]:
    """µs per scan point (six records) per encoder, interleaved; plus how many records fall back."""
    records = _records(points)
    encoders = _encoders()
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(repeats):
        for name, encode in encoders.items():
            start = time.perf_counter()
            for record in records:
                encode(record)
            times[name].append((time.perf_counter() - start) / points * 1e6)
    same = sum(encode_record(r) == _stdlib(r).encode("utf-8") + b"\n" for r in records)
    read_back = sum(json.loads(encode_record(r)) == json.loads(_stdlib(r)) for r in records)
    raw_same = sum(orjson.dumps(r) == _stdlib(r).encode("utf-8") for r in records)
    msgspec_same = None
    if "msgspec_raw" in encoders:
        msgspec_same = sum(encoders["msgspec_raw"](r) == _stdlib(r).encode("utf-8") for r in records)
    out: dict[str, Any] = {name: _quartiles(values) for name, values in times.items()}
    ratios = [old / new for old, new in zip(times["stdlib_json"], times["encode_record"], strict=True)]
    out["ratio_stdlib_vs_encode_record"] = _quartiles(ratios)
    out["records"] = len(records)
    out["encode_record_identical_to_stdlib"] = same
    out["encode_record_reads_back_as_stdlib"] = read_back
    out["orjson_raw_identical_to_stdlib"] = raw_same
    out["msgspec_raw_identical_to_stdlib"] = msgspec_same
    return out


@contextmanager
def _folder(root: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=root, prefix="bench-journal-") as tmp:
        yield Path(tmp)


def _append_points(journal: Journal, points: int) -> float:
    """Seconds per scan point of ``append`` for ``points`` scan points' six records."""
    prepared = [scan_point_fields(i) for i in range(points)]
    start = time.perf_counter()
    for fields_of_point in prepared:
        for kind, fields in fields_of_point:
            journal.append(kind, **fields)
    return (time.perf_counter() - start) / points


def bench_append(points: int = POINTS, repeats: int = REPEATS) -> dict[str, Any]:
    """The whole ``append`` per scan point, journal before vs now (fsync at state changes only)."""
    times: dict[str, list[float]] = {"before": [], "now": []}
    for _ in range(repeats):
        for name, kind in (("before", LegacyJournal), ("now", Journal)):
            with _folder(CHECKOUT) as folder:
                journal = kind(folder, WallClock(), fsync="state")
                times[name].append(_append_points(journal, points) * 1e6)
                journal.close()
    out: dict[str, Any] = {name: _quartiles(values) for name, values in times.items()}
    ratios = [old / new for old, new in zip(times["before"], times["now"], strict=True)]
    out["ratio_before_vs_now"] = _quartiles(ratios)
    return out


def filesystem(path: Path) -> str:
    """The filesystem type ``path`` lives on (from /proc/mounts: the longest mount point above it)."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3 or len(parts[1]) <= len(best):
            continue
        if resolved == parts[1] or resolved.startswith(parts[1].rstrip("/") + "/"):
            best, kind = parts[1], parts[2]
    return kind


def bench_fsync(repeats: int = 5) -> dict[str, Any]:
    """µs per scan point for each fsync mode, on the checkout's filesystem and on tmpfs, interleaved."""
    roots = {"checkout": CHECKOUT}
    if TMPFS.is_dir() and os.access(TMPFS, os.W_OK):
        roots["tmpfs"] = TMPFS
    out: dict[str, Any] = {}
    for place, root in roots.items():
        times: dict[str, list[float]] = {mode: [] for mode in FSYNC_MODES}
        for _ in range(repeats):
            for mode in FSYNC_MODES:
                with _folder(root) as folder:
                    journal = Journal(folder, WallClock(), fsync=mode)
                    times[mode].append(_append_points(journal, FSYNC_POINTS[mode]) * 1e6)
                    journal.close()
        out[place] = {"filesystem": filesystem(root), **{m: _quartiles(v) for m, v in times.items()}}
    return out


def run() -> dict[str, Any]:
    bench_encoders(points=200, repeats=2)  # warm up
    return {"encoders": bench_encoders(), "append": bench_append(), "fsync": bench_fsync()}


def _fmt(q: dict[str, float], unit: str = "µs") -> str:
    return f"{q['median']:9.2f} {unit}  (IQR {q['iqr_low']:.2f}–{q['iqr_high']:.2f})"


def report(figures: dict[str, Any]) -> None:
    enc = figures["encoders"]
    print(
        "\nJournal, per scan point "
        "(six records: MoveTo, ReadAxis + reading, Checkpoint, ReadDosimeter + reading):"
    )
    for name in ("stdlib_json", "orjson_raw", "msgspec_raw", "encode_record"):
        if name in enc:
            print(f"  encode {name:20s} {_fmt(enc[name])}")
    print(f"  stdlib / encode_record       {_fmt(enc['ratio_stdlib_vs_encode_record'], '× ')}")
    print(
        f"  lines identical to the stdlib's: encode_record {enc['encode_record_identical_to_stdlib']}"
        f"/{enc['records']}, orjson raw {enc['orjson_raw_identical_to_stdlib']}/{enc['records']}"
        + (
            f", msgspec raw {enc['msgspec_raw_identical_to_stdlib']}/{enc['records']}"
            if enc["msgspec_raw_identical_to_stdlib"] is not None
            else ""
        )
    )
    same = enc["encode_record_reads_back_as_stdlib"]
    print(f"  lines reading back as the stdlib's do: encode_record {same}/{enc['records']}")
    app = figures["append"]
    print(f"  append, journal before       {_fmt(app['before'])}")
    print(f"  append, journal now          {_fmt(app['now'])}")
    print(f"  before / now                 {_fmt(app['ratio_before_vs_now'], '× ')}")
    for place, modes in figures["fsync"].items():
        print(f"  fsync modes on {place} ({modes['filesystem']}):")
        for mode in FSYNC_MODES:
            print(f"    {mode:10s} {_fmt(modes[mode])}")


if __name__ == "__main__":
    report(run())
