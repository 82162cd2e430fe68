"""One campaign task: one seeded rig, one sequence run, one row per scored metric.

A task is a pure function of ``(scenario, seed)``: the injected errors are drawn from
``numpy.random.default_rng(seed)`` and the simulated world is seeded with the same number, so any row of
a campaign can be reproduced alone with ``run_task(scenario, seed)``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from controller.results import Measurement, SequenceResult
from controller.session import run_sequence
from validation.scenario import Scenario


def _scenario(key: str) -> Scenario:
    from validation.scenarios import SCENARIOS

    try:
        return SCENARIOS[key]
    except KeyError:
        raise KeyError(f"unknown scenario {key!r}; known: {sorted(SCENARIOS)}") from None


def _measured(result: SequenceResult, metric: str) -> tuple[Measurement, dict[str, Any]] | None:
    for verdict in result.verdicts:
        if verdict.metric == metric:
            return verdict.measured, {
                "limit": verdict.tolerance.limit,
                "rule": verdict.rule.value,
                "outcome": verdict.outcome.value,
            }
    if metric in result.informative:
        return result.informative[metric], {"limit": None, "rule": None, "outcome": None}
    return None


#: Columns of a campaign row, in order (the Parquet schema of ``campaign.parquet``).
COLUMNS: tuple[str, ...] = (
    "scenario", "sequence", "seed", "injection", "wall_s", "state", "metric", "truth", "scored_verdict",
    "value", "u", "U", "k", "unit", "limit", "rule", "outcome", "error",
)  # fmt: skip


def error_rows(scenario_key: str, seed: int, error: str, wall_s: float = 0.0) -> list[dict[str, Any]]:
    """The rows of a task that could not run (it raised, or its worker died): one per metric it would
    have scored, each with ``error`` set, so a campaign counts it as a miss instead of losing it."""
    metrics: dict[str, Any] = {"*": None}
    injection: dict[str, float] = {}
    sequence = None
    try:
        scenario = _scenario(scenario_key)
        sequence = scenario.sequence
        injection = scenario.draw(np.random.default_rng(seed))
        metrics = dict(scenario.truth(injection))
    except Exception as err:  # the scenario itself is broken: one row says so
        error = f"{error}; and the scenario's own truth failed: {type(err).__name__}: {err}"
    rows = []
    for metric, true in metrics.items():
        row = dict.fromkeys(COLUMNS)
        row.update(
            scenario=scenario_key,
            sequence=sequence,
            seed=int(seed),
            injection=json.dumps(injection, sort_keys=True),
            wall_s=wall_s,
            state="error",
            metric=metric,
            truth=None if true is None else true.value,
            scored_verdict=None if true is None else true.verdict,
            error=error,
        )
        rows.append(row)
    return rows


def run_task_safe(scenario_key: str, seed: int) -> list[dict[str, Any]]:
    """``run_task``, but a task that raises becomes error rows (what a campaign worker runs)."""
    started = time.perf_counter()
    try:
        return run_task(scenario_key, seed)
    except Exception as err:
        message = f"task raised {type(err).__name__}: {err}"
        return error_rows(scenario_key, seed, message, time.perf_counter() - started)


def run_task(scenario_key: str, seed: int, runs_dir: Path | None = None) -> list[dict[str, Any]]:
    """Run one seeded rig of ``scenario_key``; return one JSON-able row per scored metric.

    A run that faults, or a scored metric the result lacks, is a row with ``error`` set: the campaign
    counts it against the sequence, never skips it.
    """
    scenario = _scenario(scenario_key)
    injection = scenario.draw(np.random.default_rng(seed))
    truth = scenario.truth(injection)
    rig = scenario.rig(injection, seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hilcal-validate-") as tmp:
        outcome = run_sequence(
            rig,
            scenario.sequence,
            dict(scenario.params),
            runs_dir=runs_dir or Path(tmp),
            rig_source=f"validation scenario {scenario.key} seed {seed}",
            write_report=False,
        )
    wall_s = time.perf_counter() - started
    common = {
        "scenario": scenario.key,
        "sequence": scenario.sequence,
        "seed": int(seed),
        "injection": json.dumps(injection, sort_keys=True),
        "wall_s": wall_s,
        "state": outcome.summary.state,
    }
    result = outcome.result
    rows: list[dict[str, Any]] = []
    for metric, true in truth.items():
        row: dict[str, Any] = {
            **common,
            "metric": metric,
            "truth": true.value,
            "scored_verdict": true.verdict,
            "value": None,
            "u": None,
            "U": None,
            "k": None,
            "unit": None,
            "limit": None,
            "rule": None,
            "outcome": None,
            "error": None,
        }
        found = _measured(result, metric) if result is not None else None
        if found is None:
            row["error"] = outcome.summary.error or f"metric {metric!r} not in the result"
        else:
            measured, verdict = found
            row.update(
                value=measured.value,
                u=measured.standard_uncertainty,
                U=measured.expanded_uncertainty,
                k=measured.coverage_factor,
                unit=measured.unit,
                **verdict,
            )
        rows.append(row)
    return rows
