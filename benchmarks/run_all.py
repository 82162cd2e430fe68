"""`make bench`: engine overhead per step, one scan point against bluesky and QCoDeS, driver cost per query
and validation-campaign throughput. ``--quick`` keeps the peer comparison to 100-point scans."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_driver
import bench_engine
import bench_journal
import bench_peers
import bench_realtime
import bench_records
import bench_together
import bench_validation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="peer comparison on 100-point scans only")
    args = parser.parse_args()
    bench_peers.require_peers()  # before minutes of other benchmarks: say how to install them
    engine = bench_engine.run()
    journal = bench_journal.run()
    peers = bench_peers.run(bench_peers.QUICK_POINTS if args.quick else bench_peers.POINTS)
    driver = bench_driver.run()
    validation = bench_validation.run()
    records = bench_records.run()
    together = bench_together.run()
    realtime = bench_realtime.run()
    session_speed = bench_realtime.session()
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
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    figures = {"engine": engine, "driver": driver, "validation": validation, "records": records}
    figures["together"] = together
    figures["peers"] = peers
    figures["journal"] = journal
    figures["realtime"] = realtime
    figures["session_speed"] = session_speed
    (out / f"bench-{stamp}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
