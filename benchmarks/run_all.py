"""`make bench`: engine overhead per step, one scan point against bluesky and QCoDeS, driver cost per query
and validation-campaign throughput. ``--quick`` keeps the peer comparison to 100-point scans."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).parent))

import bench_driver
import bench_engine
import bench_journal
import bench_peers
import bench_realtime
import bench_records
import bench_together
import bench_validation

T = TypeVar("T")


def issue15_targets(
    engine: dict[str, Any],
    peers: dict[str, Any],
    realtime: dict[str, Any],
    session_speed: dict[str, Any],
) -> list[tuple[str, float, str, bool]]:
    """(what, measured, target, met) for each speed target of issue 15, from this run's figures only."""
    rows: list[tuple[str, float, str, bool]] = []
    scan = engine["scan_point"]["scan_point_now_us"]["median"]
    rows.append(("scan point, hilcal, fsync at state changes (µs)", scan, "≤ 20", scan <= 20.0))
    largest = str(max(peers["points"]))
    for peer, name, floor in (("bluesky", "bluesky RE scan", 150.0), ("qcodes", "QCoDeS do1d", 10.0)):
        ratio = peers[largest][f"{peer}_over_hilcal"]["median"]
        rows.append((f"{name} / hilcal, {largest} points (paired, ×)", ratio, f"≥ {floor:g}", ratio >= floor))
    for case, figures in realtime.items():
        ratio = figures["ratio"]
        rows.append((f"real time, {case.replace('_', ' ')}: wall / bound", ratio, "≤ 1.01", ratio <= 1.01))
    for key, label in (
        ("virtual_over_runs_wall", "default session, virtual / runs' wall (×)"),
        ("virtual_over_command_wall", "default session, virtual / whole command's wall (×)"),
    ):
        ratio = session_speed[key]
        rows.append((label, ratio, "≥ 1000", ratio >= 1000.0))
    return rows


def report_targets(rows: list[tuple[str, float, str, bool]]) -> None:
    print("\nIssue 15's targets, from this run's figures:")
    for what, measured, target, met in rows:
        print(f"  {what:60s} {measured:10.4g}  target {target:8s} {'met' if met else 'NOT MET'}")


def _dirty_mb() -> float:
    """Dirty page cache (MB) waiting to be written, from /proc/meminfo (0 where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("Dirty:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _flushed(benchmark: Callable[[], T]) -> T:
    """Run ``benchmark`` after the earlier ones' writes are on disk, so their write-back cannot slow its
    fsyncs, and say how much was still dirty. (Suspected when the default session took 20.7 s in make bench
    against 13.4-15.1 s alone; the next make bench found 0-1 MB dirty before every benchmark and the
    session still at 21.2 s, so that was not the cause: see docs/benchmarks.md.)"""
    dirty = _dirty_mb()
    os.sync()
    print(f"[{getattr(benchmark, '__module__', '')}: {dirty:.0f} MB of dirty pages written out first]")
    return benchmark()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="peer comparison on 100-point scans only")
    args = parser.parse_args()
    bench_peers.require_peers()  # before minutes of other benchmarks: say how to install them
    engine = _flushed(bench_engine.run)
    journal = _flushed(bench_journal.run)
    peers = _flushed(lambda: bench_peers.run(bench_peers.QUICK_POINTS if args.quick else bench_peers.POINTS))
    driver = _flushed(bench_driver.run)
    validation = _flushed(bench_validation.run)
    records = _flushed(bench_records.run)
    together = _flushed(bench_together.run)
    realtime = _flushed(bench_realtime.run)
    session_speed = _flushed(bench_realtime.session)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"hilcal benchmarks — {python}, {platform.machine()}")
    print("\nRun engine, per step (MoveTo + ReadAxis on a zero-delay in-memory axis, journal on):")
    print(f"  engine step            {engine['engine_step_us']:9.1f} µs")
    print(f"  same calls by hand     {engine['raw_step_us']:9.1f} µs")
    print(f"  engine overhead        {engine['engine_overhead_us']:9.1f} µs   (budget 100 µs)")
    bench_engine.report_scan_point(engine["scan_point"])
    bench_journal.report(journal)
    bench_peers.report(peers)
    bench_driver.report(driver)
    print(
        f"\nValidation campaign, {validation['scenario']} rigs "
        "(LocalCluster, single-threaded worker processes, same seeds):"
    )
    print(f"  1 worker               {validation['runs_per_s_1_worker']:9.2f} runs/s")
    print(
        f"  2 workers              {validation['runs_per_s_2_workers']:9.2f} runs/s   "
        f"ratio {validation['ratio_2_vs_1']:.2f}"
    )
    print(f"  in process, no Dask    {validation['in_process_runs_per_s']:9.2f} runs/s")
    print(
        f"  Dask per-task overhead {validation['cluster_task_overhead_us']:9.0f} µs   "
        f"({100 * validation['overhead_share_of_a_rig']:.2f} % of one rig)"
    )
    bench_records.report(records)
    bench_together.report(together)
    bench_realtime.report(realtime)
    bench_realtime.report_session(session_speed)
    targets = issue15_targets(engine, peers, realtime, session_speed)
    report_targets(targets)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    figures = {"engine": engine, "driver": driver, "validation": validation, "records": records}
    figures["together"] = together
    figures["peers"] = peers
    figures["journal"] = journal
    figures["realtime"] = realtime
    figures["session_speed"] = session_speed
    figures["issue15_targets"] = [
        {"what": what, "measured": measured, "target": target, "met": met}
        for what, measured, target, met in targets
    ]
    (out / f"bench-{stamp}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
