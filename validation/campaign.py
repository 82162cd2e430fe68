"""Run a blind validation campaign on Dask: scenarios × seeded rigs → one table of scored rows.

Each task is ``validation.task.run_task_safe(scenario, seed)``: one simulated rig with its own injected
errors and simulation seed, reproducible alone from ``(scenario, seed)``. Tasks are independent and each
starts its own simulated world with threads and ptys, so they run in *processes*: by default a
``dask.distributed.LocalCluster`` with one single-threaded worker process per core; with
``scheduler="tcp://host:port"`` on any cluster started with ``dask scheduler`` / ``dask worker``.

The rows go into one Parquet file (``campaign.parquet``): columnar and typed (floats stay floats, a
missing value stays missing), one self-describing file that pandas, Dask and DuckDB read directly.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from validation.scoring import Gate, Scores, gate, score
from validation.task import COLUMNS, error_rows, run_task_safe

#: How long a client waits to reach a scheduler it was pointed at.
CONNECT_TIMEOUT_S = 30.0

_FLOAT_COLUMNS = ("wall_s", "truth", "value", "u", "U", "k", "limit")
_TEXT_COLUMNS = ("scenario", "sequence", "injection", "state", "metric", "unit", "rule", "outcome", "error")


class CampaignInputError(ValueError):
    """A campaign asked for a sequence or scenario that does not exist (names the bad name and the known)."""


def resolve_scenarios(names: Iterable[str] | None) -> list[str]:
    """Scenario keys for ``names`` (scenario keys or sequence names); all registered scenarios if empty.

    A name that is neither a scenario nor a sequence, or a sequence without a scenario, is an input error.
    """
    from sequences import SEQUENCES
    from validation.scenarios import SCENARIOS

    wanted = list(names or [])
    if not wanted:
        return sorted(SCENARIOS)
    keys: list[str] = []
    problems: list[str] = []
    for name in wanted:
        if name in SCENARIOS:
            matched = [name]
        else:
            matched = sorted(k for k, s in SCENARIOS.items() if s.sequence == name)
        if matched:
            keys += [k for k in matched if k not in keys]
        elif name in SEQUENCES:
            problems.append(f"sequence {name!r} has no validation scenario yet")
        else:
            problems.append(f"unknown sequence or scenario {name!r}")
    if problems:
        raise CampaignInputError(
            "; ".join(problems) + f" (scenarios: {', '.join(sorted(SCENARIOS)) or 'none registered'})"
        )
    return keys


def campaign_seeds(rigs: int, base_seed: int) -> list[int]:
    """The seeds of a campaign: ``base_seed``, ``base_seed + 1``, … (the same for every scenario)."""
    if rigs < 1:
        raise CampaignInputError(f"rigs must be at least 1, got {rigs}")
    return [base_seed + i for i in range(rigs)]


def to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows → a typed table in the campaign schema, sorted by scenario, seed (metric order kept)."""
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    for column in _FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in _TEXT_COLUMNS:
        frame[column] = frame[column].astype("string")
    frame["seed"] = frame["seed"].astype("int64")
    frame["scored_verdict"] = frame["scored_verdict"].astype("boolean")
    return frame.sort_values(["scenario", "seed"], kind="stable").reset_index(drop=True)


class _Progress:
    """A live bar on a terminal; on a CI log one line per tenth of the campaign instead of a flood."""

    def __init__(self, total: int, title: str, enabled: bool) -> None:
        self.total, self.done, self.errors = total, 0, 0
        self._console = Console(stderr=True)
        self._live = enabled and self._console.is_terminal
        self._quiet = not enabled
        self._started = time.perf_counter()
        self._next_line = 0.1
        self._bar: Progress | None = None
        if self._live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[errors]} errors"),
                TimeElapsedColumn(),
                console=self._console,
            )
            self._bar.start()
            self._task = self._bar.add_task(title, total=total, errors=0)
        elif enabled:
            self._console.print(f"{title}: {total} tasks")

    def advance(self, errored: bool) -> None:
        self.done += 1
        self.errors += errored
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, errors=self.errors)
        elif not self._quiet and self.done >= self._next_line * self.total:
            while self._next_line * self.total <= self.done:
                self._next_line += 0.1
            elapsed = time.perf_counter() - self._started
            self._console.print(
                f"  {self.done}/{self.total} tasks ({100 * self.done / self.total:.0f} %), "
                f"{self.errors} errors, {elapsed:.1f} s"
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@dataclass
class ClusterInfo:
    """Where a campaign ran: for the record, and for the benchmark's runs-per-second figures."""

    scheduler: str
    workers: int
    wall_s: float
    tasks: int


def _distributed() -> Any:
    """``dask.distributed``, imported when a campaign starts (its API is untyped: used as ``Any``)."""
    return importlib.import_module("dask.distributed")


def _client(scheduler: str | None, workers: int | None) -> tuple[Any, Callable[[], None]]:
    distributed = _distributed()
    if scheduler is not None:
        client = distributed.Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        return client, client.close
    n = workers or os.cpu_count() or 1
    cluster = distributed.LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # the scheduler's HTTP server (health, metrics) on a free port, not a possibly taken 8787
        scheduler_kwargs={"dashboard_address": ":0"},
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)

    def close() -> None:
        client.close()
        cluster.close()

    return client, close


def run_tasks(
    tasks: Sequence[tuple[str, int]],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    task: Callable[[str, int], list[dict[str, Any]]] = run_task_safe,
) -> tuple[list[dict[str, Any]], ClusterInfo]:
    """Run ``(scenario, seed)`` tasks on a cluster; a task whose future fails becomes error rows."""
    as_completed = _distributed().as_completed
    client, close = _client(scheduler, workers)
    rows: list[dict[str, Any]] = []
    bar = _Progress(len(tasks), "validate", progress)
    try:
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        started = time.perf_counter()
        token = uuid.uuid4().hex[:8]
        futures = client.map(
            task,
            [k for k, _ in tasks],
            [s for _, s in tasks],
            key=[f"validate-{k}-{s}-{token}" for k, s in tasks],
            pure=False,
        )
        which = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        for future in as_completed(futures):
            key, seed = which[future.key]
            try:
                got: list[dict[str, Any]] = future.result()
            except Exception as err:  # the worker died or the task could not be shipped
                got = error_rows(key, seed, f"task failed on the cluster: {type(err).__name__}: {err}")
            rows += got
            bar.advance(any(r["error"] is not None for r in got))
            future.release()
        wall_s = time.perf_counter() - started
        address = str(client.scheduler.address)
    finally:
        bar.close()
        close()
    return rows, ClusterInfo(scheduler=address, workers=n_workers, wall_s=wall_s, tasks=len(tasks))


def run_campaign(
    scenario_keys: Iterable[str] | None,
    rigs: int,
    base_seed: int = 0,
    scheduler: str | None = None,
    workers: int | None = None,
    out_dir: Path | None = None,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Run ``rigs`` seeded rigs of every scenario; return (and write ``out_dir/campaign.parquet``) the rows.

    ``scenario_keys`` may name scenarios or sequences (empty or None: every registered scenario).
    The table's ``attrs["cluster"]`` records where and how fast it ran.
    """
    keys = resolve_scenarios(scenario_keys)
    seeds = campaign_seeds(rigs, base_seed)
    tasks = [(key, seed) for seed in seeds for key in keys]  # interleaved: slow scenarios spread out
    rows, info = run_tasks(tasks, scheduler=scheduler, workers=workers, progress=progress)
    frame = to_frame(rows)
    frame.attrs["cluster"] = info.__dict__
    frame.attrs["campaign"] = {"scenarios": keys, "rigs": rigs, "base_seed": base_seed}
    if out_dir is not None:
        write_table(frame, Path(out_dir))
    return frame


def write_table(frame: pd.DataFrame, out_dir: Path) -> Path:
    """``campaign.parquet`` (pyarrow) plus ``campaign.json`` with how the campaign was run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "campaign.parquet"
    plain = frame.copy()
    plain.attrs = {}
    plain.to_parquet(path, engine="pyarrow", index=False)
    meta = {
        **frame.attrs,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
    }
    (out_dir / "campaign.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return path


@dataclass
class ValidationOutcome:
    table: pd.DataFrame
    scores: Scores
    gate: Gate
    out_dir: Path


def validate(
    names: Iterable[str] | None = None,
    rigs: int = 200,
    base_seed: int = 0,
    scheduler: str | None = None,
    workers: int | None = None,
    out_dir: Path | None = None,
    *,
    progress: bool = True,
) -> ValidationOutcome:
    """The whole campaign: run, score, gate, and write ``campaign.parquet``, ``report.html``,
    ``summary.md`` and ``scores.json`` into ``out_dir`` (default ``runs/validation/<UTC timestamp>``)."""
    from validation.report import render_markdown, write_report

    if out_dir is None:
        out_dir = Path("runs/validation") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    table = run_campaign(names, rigs, base_seed, scheduler, workers, out_dir, progress=progress)
    scores = score(table)
    verdict = gate(scores)
    write_report(out_dir / "report.html", table, scores, verdict)
    (out_dir / "summary.md").write_text(render_markdown(scores, verdict, table.attrs), encoding="utf-8")
    (out_dir / "scores.json").write_text(
        json.dumps({"scores": scores.model_dump(), "gate": verdict.model_dump()}, indent=2, default=str),
        encoding="utf-8",
    )
    return ValidationOutcome(table=table, scores=scores, gate=verdict, out_dir=out_dir)
