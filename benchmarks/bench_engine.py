"""Run-engine overhead per step: move + read through the engine (journal on) vs the same calls by hand.

Both sides drive the same zero-delay in-memory axis, so the difference is the engine's own cost:
message dispatch, the envelope check, the state machine and three journal records per step.

Also a whole scan point (``MoveTo``, ``ReadAxis``, ``Checkpoint``, ``ReadDosimeter``: six journal records)
through the engine with the journal as it is now, as it was up to d03f699 (``bench_journal.LegacyJournal``),
and with no journal at all, interleaved; the first two fsync at state changes only (the old durability),
and the default fsync mode (group commit at every checkpoint) is timed beside them, as is the journal now
on tmpfs (a write there never waits behind another process's fsync on a shared disk).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_journal import LegacyJournal

from controller.devices import DeviceSet
from controller.engine import RunEngine
from controller.interlocks import SafetyEnvelope
from controller.journal import Journal
from controller.messages import (
    AxisReading,
    Checkpoint,
    Message,
    MoveTo,
    ReadAxis,
    ReadDosimeter,
    message_to_record,
    to_record,
)
from drivers.clock import WallClock
from drivers.roles.dosimeter import DosimeterReading
from drivers.testing import InstantAxis

STEPS = 5000
REPEATS = 7
POINTS = 2000
#: The journals a scan point is timed with (``default``: the journal's default fsync mode; ``now_tmpfs``:
#: the journal now, fsync at states, in /dev/shm instead of the temporary directory's filesystem).
SCAN_JOURNALS = ("now", "before", "none", "default", "now_tmpfs")
TMPFS = Path("/dev/shm")


def _plan(n: int):
    for i in range(n):
        yield MoveTo("x", float(i % 300))
        yield ReadAxis("x")


def _engine_once(n: int) -> float:
    axis = InstantAxis("x")
    axis.connect()
    axis.home()
    envelope = SafetyEnvelope()
    envelope.set_axis_limits("x", 0.0, 300.0, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp), WallClock())
        engine = RunEngine(DeviceSet(positioners={"x": axis}), WallClock(), journal, envelope)
        start = time.perf_counter()
        engine.run(_plan(n))
        elapsed = time.perf_counter() - start
        journal.close()
    return elapsed


def _raw_once(n: int) -> float:
    axis = InstantAxis("x")
    axis.connect()
    axis.home()
    start = time.perf_counter()
    for i in range(n):
        axis.move_to(float(i % 300))
        axis.position_mm()
        axis.encoder_position_mm()
    return time.perf_counter() - start


class InstantDosimeter:
    """A zero-delay electrometer: a charge in coulombs, with the fields a real reading carries."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = "idle"
        self._reads = 0
        self._clock = WallClock()

    def read(self) -> DosimeterReading:
        self._reads += 1
        charge = 1.241811e-07 + self._reads * 1e-13
        return DosimeterReading(charge, "C", self._clock.now(), 60.0, 300.0, "auto", ())

    def stop(self) -> None:
        self.state = "idle"


class NoJournal(Journal):
    """A journal that writes nothing: the engine's cost without any journal."""

    def append(self, kind: str, durable: bool = False, **fields: Any) -> int:
        return 0


def _scan_plan(n: int) -> Iterator[Message]:
    for i in range(n):
        yield MoveTo("x", float(i % 300))
        yield ReadAxis("x")
        yield Checkpoint()
        yield ReadDosimeter("charge")


def _scan_once(n: int, journal_kind: str) -> float:
    """Seconds per scan point through the engine, with the journal ``journal_kind`` (SCAN_JOURNALS)."""
    axis = InstantAxis("x")
    axis.connect()
    axis.home()
    envelope = SafetyEnvelope()
    envelope.set_axis_limits("x", 0.0, 300.0, "bench")
    devices = DeviceSet(positioners={"x": axis}, dosimeters={"charge": InstantDosimeter("charge")})
    root = TMPFS if journal_kind == "now_tmpfs" and TMPFS.is_dir() else None
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        if journal_kind == "default":
            journal = Journal(Path(tmp), WallClock())
        else:
            kinds = {"now": Journal, "now_tmpfs": Journal, "before": LegacyJournal, "none": NoJournal}
            kind = kinds[journal_kind]
            journal = kind(Path(tmp), WallClock(), fsync="state")
        engine = RunEngine(devices, WallClock(), journal, envelope)
        start = time.perf_counter()
        engine.run(_scan_plan(n))
        elapsed = time.perf_counter() - start
        journal.close()
    return elapsed / n


def _by_hand_once(n: int) -> float:
    """Seconds per scan point doing by hand what the engine must: the plan's messages, the envelope check,
    the device calls and each message's and reading's record, with no engine and no journal. What the
    engine adds over this is its own cost; what the journal adds over the engine is the journal's."""
    axis = InstantAxis("x")
    axis.connect()
    axis.home()
    dosimeter = InstantDosimeter("charge")
    envelope = SafetyEnvelope()
    envelope.set_axis_limits("x", 0.0, 300.0, "bench")
    clock = WallClock()

    def read_axis(message: Message) -> AxisReading:
        return AxisReading("x", axis.position_mm(), axis.encoder_position_mm(), clock.now())

    calls: dict[type, Any] = {
        MoveTo: lambda m: axis.move_to(m.target_mm),
        ReadAxis: read_axis,
        Checkpoint: lambda m: None,
        ReadDosimeter: lambda m: dosimeter.read(),
    }
    plan = _scan_plan(n)
    start = time.perf_counter()
    for message in plan:
        message_to_record(message)
        envelope.check(message)
        response = calls[type(message)](message)
        if response is not None:
            to_record(response)
    return (time.perf_counter() - start) / n


def _quartiles(values: list[float]) -> dict[str, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": median, "iqr_low": q1, "iqr_high": q3}


def run_scan_point(points: int = POINTS, repeats: int = REPEATS) -> dict[str, Any]:
    """µs per scan point for each journal, interleaved repeats; paired ratios before/now."""
    for kind in SCAN_JOURNALS:
        _scan_once(100, kind)
    _by_hand_once(100)
    times: dict[str, list[float]] = {kind: [] for kind in (*SCAN_JOURNALS, "by_hand")}
    for _ in range(repeats):
        for kind in SCAN_JOURNALS:
            n = points if kind != "default" else max(points // 10, 50)  # one fsync per point
            times[kind].append(_scan_once(n, kind) * 1e6)
        times["by_hand"].append(_by_hand_once(points) * 1e6)
    out: dict[str, Any] = {f"scan_point_{kind}_us": _quartiles(times[kind]) for kind in times}
    out["engine_own_us"] = _quartiles(
        [none - hand for none, hand in zip(times["none"], times["by_hand"], strict=True)]
    )
    out["journal_own_tmpfs_us"] = _quartiles(
        [tmpfs - none for tmpfs, none in zip(times["now_tmpfs"], times["none"], strict=True)]
    )
    pairs = zip(times["before"], times["now"], strict=True)
    out["ratio_before_vs_now"] = _quartiles([before / now for before, now in pairs])
    journal_now = [now - none for now, none in zip(times["now"], times["none"], strict=True)]
    journal_before = [before - none for before, none in zip(times["before"], times["none"], strict=True)]
    out["journal_share_now"] = _quartiles([j / now for j, now in zip(journal_now, times["now"], strict=True)])
    out["journal_share_before"] = _quartiles(
        [j / before for j, before in zip(journal_before, times["before"], strict=True)]
    )
    out["repeats"] = repeats
    return out


def run() -> dict[str, Any]:
    _engine_once(200)
    _raw_once(200)
    engine = statistics.median(_engine_once(STEPS) for _ in range(REPEATS)) / STEPS
    raw = statistics.median(_raw_once(STEPS) for _ in range(REPEATS)) / STEPS
    return {
        "engine_step_us": engine * 1e6,
        "raw_step_us": raw * 1e6,
        "engine_overhead_us": (engine - raw) * 1e6,
        "scan_point": run_scan_point(),
    }


def _fmt(q: dict[str, float], unit: str = "µs") -> str:
    return f"{q['median']:9.1f} {unit}  (IQR {q['iqr_low']:.1f}–{q['iqr_high']:.1f})"


def report_scan_point(scan: dict[str, Any]) -> None:
    print(
        f"\nScan point through the engine (MoveTo, ReadAxis, Checkpoint, ReadDosimeter: six journal records),"
        f" medians of {scan['repeats']} interleaved repeats:"
    )
    print(f"  journal now, fsync at states   {_fmt(scan['scan_point_now_us'])}")
    print(f"  journal before (d03f699)       {_fmt(scan['scan_point_before_us'])}")
    print(f"  no journal                     {_fmt(scan['scan_point_none_us'])}")
    print(f"  by hand (no engine, no journal) {_fmt(scan['scan_point_by_hand_us'])}")
    print(f"  engine's own (none − by hand)  {_fmt(scan['engine_own_us'])}")
    print(f"  journal's own on tmpfs (− none) {_fmt(scan['journal_own_tmpfs_us'])}")
    print(f"  before / now                   {_fmt(scan['ratio_before_vs_now'], '× ')}")
    now, before = scan["journal_share_now"], scan["journal_share_before"]
    print(f"  journal's share, now / before  {100 * now['median']:9.0f} % / {100 * before['median']:.0f} %")
    print(
        f"  journal now, default fsync     {_fmt(scan['scan_point_default_us'])}   (group commit per point)"
    )
    print(f"  journal now, on tmpfs          {_fmt(scan['scan_point_now_tmpfs_us'])}   (fsync at states)")


if __name__ == "__main__":
    figures = run()
    for key, value in figures.items():
        if isinstance(value, float):
            print(f"{key:24s} {value:10.2f}")
    report_scan_point(figures["scan_point"])
