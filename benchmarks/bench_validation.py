"""Validation campaign throughput: seeded rigs per second on 1 and 2 worker processes, and Dask's cost.

Both clusters are LocalClusters of single-threaded worker processes (what ``hilcal validate`` starts),
alive side by side and warmed up (every worker has imported the stack and run one rig), then timed
alternately on the SAME seeds of the tracker-registration scenario, so the ratio compares like with like.
The per-task overhead is a trivial task (``abs``) through the cluster against calling it directly.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any

from dask.distributed import Client, LocalCluster

from validation.task import run_task_safe

SCENARIO = "tracker-registration"
RIGS = 16
REPEATS = 3
TRIVIAL_TASKS = 2000


def _cluster(workers: int) -> tuple[LocalCluster, Client]:
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},
        silence_logs=logging.ERROR,
    )
    return cluster, Client(cluster)


def _campaign_s(client: Client, seeds: list[int]) -> float:
    start = time.perf_counter()
    futures = client.map(run_task_safe, [SCENARIO] * len(seeds), seeds, pure=False)
    rows = client.gather(futures)
    elapsed = time.perf_counter() - start
    errors = [r["error"] for task in rows for r in task if r["error"]]
    if errors:
        raise RuntimeError(f"benchmark rigs errored: {errors[:3]}")
    return elapsed


def _trivial_us(client: Client) -> float:
    start = time.perf_counter()
    client.gather(client.map(abs, range(-TRIVIAL_TASKS, 0), pure=False))
    return (time.perf_counter() - start) / TRIVIAL_TASKS * 1e6


def _direct_us() -> float:
    start = time.perf_counter()
    for i in range(-TRIVIAL_TASKS, 0):
        abs(i)
    return (time.perf_counter() - start) / TRIVIAL_TASKS * 1e6


def run() -> dict[str, Any]:
    seeds = list(range(1000, 1000 + RIGS))
    clusters = {n: _cluster(n) for n in (1, 2)}
    try:
        for _, client in clusters.values():  # warm-up: imports and one rig on every worker
            _campaign_s(client, list(range(500, 500 + len(client.scheduler_info()["workers"]))))
        times: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(REPEATS):
            for n, (_, client) in clusters.items():
                times[n].append(_campaign_s(client, seeds))
        run_task_safe(SCENARIO, 499)  # warm-up of this process: its first rig imports the stack
        in_process = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            for seed in seeds[:4]:
                run_task_safe(SCENARIO, seed)
            in_process.append((time.perf_counter() - start) / 4)
        trivial = statistics.median(_trivial_us(clusters[1][1]) for _ in range(REPEATS))
    finally:
        for cluster, client in reversed(clusters.values()):  # LIFO: each restores the log level it found
            client.close()
            cluster.close()
    one, two = (statistics.median(times[n]) for n in (1, 2))
    direct_s = statistics.median(in_process)
    return {
        "scenario": SCENARIO,
        "rigs": RIGS,
        "runs_per_s_1_worker": RIGS / one,
        "runs_per_s_2_workers": RIGS / two,
        "ratio_2_vs_1": one / two,
        "in_process_runs_per_s": 1.0 / direct_s,
        "cluster_task_overhead_us": trivial - _direct_us(),
        "overhead_share_of_a_rig": (trivial * 1e-6) / direct_s,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:28s} {value}")
