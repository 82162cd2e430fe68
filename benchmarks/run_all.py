"""`make bench`: engine overhead per step, driver cost per query and validation-campaign throughput."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_driver
import bench_engine
import bench_records
import bench_together
import bench_validation

# Anchors for the ratio column, measured by us on this class of machine (2 vCPU AMD EPYC VM, CPython 3.11.7,
# 2026-11-26; median of 7 repeats of a 1000-point scan with zero-delay simulated devices): bluesky 1.15.1
# RE(scan) on ophyd 1.11.2 ophyd.sim, and QCoDeS 0.58.0 do1d to SQLite. They are not published figures.
BLUESKY_SCAN_US = 2695.0
QCODES_DO1D_US = 254.0


def main() -> None:
    engine = bench_engine.run()
    driver = bench_driver.run()
    validation = bench_validation.run()
    records = bench_records.run()
    together = bench_together.run()
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"hilcal benchmarks — {python}, {platform.machine()}")
    print("\nRun engine, per step (MoveTo + ReadAxis on a zero-delay in-memory axis, journal on):")
    print(f"  engine step            {engine['engine_step_us']:9.1f} µs")
    print(f"  same calls by hand     {engine['raw_step_us']:9.1f} µs")
    print(f"  engine overhead        {engine['engine_overhead_us']:9.1f} µs   (budget 100 µs)")
    print(
        f"  bluesky RE scan / ours {BLUESKY_SCAN_US / engine['engine_step_us']:9.1f} ×   (bluesky 2.7 ms/pt)"
    )
    print(
        f"  QCoDeS do1d / ours     {QCODES_DO1D_US / engine['engine_step_us']:9.1f} ×   (QCoDeS 0.25 ms/pt)"
    )
    print("\nZaber `get pos` round trip on one pty (simulator in the same process):")
    print(f"  raw pyserial write+readline  {driver['raw_pyserial_us']:8.1f} µs")
    print(
        f"  driver position_mm()         {driver['driver_us']:8.1f} µs   "
        f"ratio {driver['ratio_driver_vs_raw']:.2f}"
    )
    print(
        f"  driver, checksum + msg id    {driver['driver_checksum_msgid_us']:8.1f} µs   "
        f"ratio {driver['ratio_framed_vs_raw']:.2f}"
    )
    print(
        f"  driver, journal listening    {driver['driver_journaled_us']:8.1f} µs   "
        f"ratio {driver['ratio_journaled_vs_raw']:.2f}   (budget 1.25)"
    )
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
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    figures = {"engine": engine, "driver": driver, "validation": validation, "records": records}
    figures["together"] = together
    (out / f"bench-{stamp}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
