"""The QA record at a centre's scale: 10 rooms × 10 years of daily QA (≈ 10^6 metric rows).

Side by side on the embedded SQLite file and a real PostgreSQL server (started here as in the tests):
bulk fill time, the cost of recording one run through ``ResultsStore.record`` (what each run pays), and
the trend query a physicist waits for — one device, one metric, ten years — plus its analysis.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from records.pgserver import PostgresServer
from records.run_folder import DeviceSeen, MetricRow, RunRecord
from records.schema import devices, metrics, runs
from records.store import ResultsStore
from records.trends import TrendLimits, TrendPoint, analyse

ROOMS = 10
YEARS = 10
SEQUENCES = {  # per room, daily: sequence → (role, metrics per run); 10 × 3650 × 27 ≈ 10^6 rows
    "phantom-axis-iso230": ("positioner", ["A", "R", "B", "E", "M", "reversal", "scale", "max_dev", "u"]),
    "couch-pose-readback": ("couch", ["Δt", "Δr", "σt", "σr", "max_dev", "lat", "lng", "vrt", "rot"]),
    "electrometer-leakage-reproducibility": (
        "dosimeter",
        ["leak", "CoV", "l0", "l1", "q", "k", "t", "p", "v"],
    ),
}
START = datetime(2016, 1, 1, 7, 0, tzinfo=UTC)


def _fill(store: ResultsStore) -> dict[str, Any]:
    """Bulk-insert the synthetic centre; returns counts and the (device id, sequence) pairs."""
    rng = random.Random(61217)
    now = datetime.now(UTC)
    days = 365 * YEARS
    with store.engine.begin() as conn:
        device_rows = []
        for room in range(ROOMS):
            for sequence, (role, _) in SEQUENCES.items():
                device_rows.append({"key": f"vendor/{role}/{room:02d}-{sequence[:6]}", "vendor": "vendor",
                                    "model": role, "serial": f"{room:02d}-{sequence[:6]}", "firmware": "1",
                                    "role": role, "first_seen": now, "last_seen": now})  # fmt: skip
        conn.execute(devices.insert(), device_rows)
        ids = {row.key: row.id for row in conn.execute(devices.select())}
    pairs = []
    total_metrics = 0
    for room in range(ROOMS):
        for sequence, (role, names) in SEQUENCES.items():
            device_id = ids[f"vendor/{role}/{room:02d}-{sequence[:6]}"]
            pairs.append((device_id, sequence, names[0]))
            run_rows, metric_rows = [], []
            for day in range(days):
                run_id = f"R{room:02d}-{sequence[:6]}-{day:05d}"
                at = START + timedelta(days=day, minutes=rng.randint(0, 60))
                run_rows.append({
                    "run_id": run_id, "rig": f"room-{room}", "sequence": sequence, "title": "",
                    "state": "completed", "outcome": "PASS", "simulated": True, "performed_at": at,
                    "ended_at": at, "device_id": device_id, "device_name": role, "profile": "",
                    "run_dir": f"/runs/{run_id}", "journal_sha256": None, "journal_records": None,
                    "error": None, "params": {}, "recorded_at": now,
                })  # fmt: skip
                for name in names:
                    metric_rows.append({
                        "run_id": run_id, "device_id": device_id, "sequence": sequence, "metric": name,
                        "description": "", "kind": "verdict",
                        "value": abs(rng.gauss(0.05, 0.01)) + day * 1e-6,
                        "standard_uncertainty": 0.005, "coverage_factor": 2.0, "unit": "mm",
                        "tolerance_limit": 0.2, "tolerance_source": "bench", "rule": "guarded",
                        "outcome": "PASS", "performed_at": at,
                    })  # fmt: skip
            with store.engine.begin() as conn:
                conn.execute(runs.insert(), run_rows)
                conn.execute(metrics.insert(), metric_rows)
            total_metrics += len(metric_rows)
    return {"pairs": pairs, "metric_rows": total_metrics, "runs": ROOMS * len(SEQUENCES) * days}


def _record_cost(store: ResultsStore, n: int = 200) -> float:
    """Seconds per run written through ``record`` (one transaction with its devices and metrics)."""
    device = DeviceSeen(name="phantom_x", role="positioner", vendor="Zaber", model="X", serial="bench")
    rows = [MetricRow(metric=f"m{i}", description="", kind="verdict", value=0.1, standard_uncertainty=0.01,
                      coverage_factor=2.0, unit="mm", tolerance_limit=0.2) for i in range(9)]  # fmt: skip
    start = time.perf_counter()
    for index in range(n):
        at = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(hours=index)
        store.record(RunRecord(run_id=f"bench-{index}", rig="bench", sequence="bench", state="completed",
                               simulated=True, performed_at=at, ended_at=at, device_name="phantom_x",
                               run_dir="/dev/null", devices=[device], metrics=rows))  # fmt: skip
    return (time.perf_counter() - start) / n


def _query(store: ResultsStore, pairs: list[tuple[int, str, str]]) -> dict[str, float]:
    rng = random.Random(5)
    query_s, analyse_s, points = [], [], 0
    for _ in range(30):
        device_id, sequence, metric = rng.choice(pairs)
        start = time.perf_counter()
        history = store.series(device_id, sequence, metric)
        query_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        analyse(
            [TrendPoint(at=p.performed_at, value=p.value, expanded_uncertainty=p.expanded_uncertainty,
                        run_id=p.run_id) for p in history],
            TrendLimits(tolerance=0.2, unit="mm"),
        )  # fmt: skip
        analyse_s.append(time.perf_counter() - start)
        points = len(history)
    return {
        "trend_query_median_ms": 1000 * statistics.median(query_s),
        "trend_query_max_ms": 1000 * max(query_s),
        "analysis_median_ms": 1000 * statistics.median(analyse_s),
        "points_per_series": points,
    }


def _bench(url: str) -> dict[str, float]:
    with ResultsStore.open(url) as store:
        start = time.perf_counter()
        filled = _fill(store)
        fill_s = time.perf_counter() - start
        result = {"fill_s": fill_s, "metric_rows": filled["metric_rows"], "runs": filled["runs"]}
        result.update(_query(store, filled["pairs"]))
        result["record_one_run_ms"] = 1000 * _record_cost(store)
    return result


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = _bench(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
    with PostgresServer() as server:
        postgres = _bench(server.create_database("bench"))
    return {
        "sqlite": sqlite,
        "postgresql": postgres,
        "ratio_query_pg_vs_sqlite": postgres["trend_query_median_ms"] / sqlite["trend_query_median_ms"],
        "ratio_record_pg_vs_sqlite": postgres["record_one_run_ms"] / sqlite["record_one_run_ms"],
    }


def report(figures: dict[str, Any]) -> None:
    sqlite, postgres = figures["sqlite"], figures["postgresql"]
    print(f"\nQA record, {ROOMS} rooms × {YEARS} years daily ({sqlite['metric_rows']:,} metric rows, "
          f"{sqlite['runs']:,} runs):")  # fmt: skip
    print(f"  {'':34s}{'SQLite':>12s}{'PostgreSQL':>14s}{'ratio':>8s}")
    for label, key in (
        ("bulk fill (s)", "fill_s"),
        ("trend query, one series (ms, median)", "trend_query_median_ms"),
        ("trend query, worst of 30 (ms)", "trend_query_max_ms"),
        ("trend analysis (ms, median)", "analysis_median_ms"),
        ("record one run (ms)", "record_one_run_ms"),
    ):
        ratio = postgres[key] / sqlite[key] if sqlite[key] else float("nan")
        print(f"  {label:34s}{sqlite[key]:12.2f}{postgres[key]:14.2f}{ratio:8.2f}")
    print(f"  points per series: {sqlite['points_per_series']}")


if __name__ == "__main__":
    report(run())
