"""Every plot that shows a measured quantity with a limit draws that limit (issue 12).

The report tests look at C1/C2, W1 and D1/D3 in Chromium; these are the other sequences whose plots had no
limit line: the cross-calibration ratio by block (D8), k_TP over the session and the proton spot profiles.
Each runs once on the built-in simulated rig; the lines are found by the SVG ids ``sequences.plots`` gives
them (``limit-line-…``, ``action-line-…``), and they must sit where the verdict's limits are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from controller.config import load_rig_config
from controller.results import SequenceResult
from controller.session import run_sequence
from sequences import get_sequence

FAST: dict[str, dict[str, Any]] = {
    "chamber-cross-calibration": {},
    "air-density-stability": {},
    "proton-lateral-profile": {},
    "phantom-axis-iso230": {"runs": 2},  # W1: its accuracy band had no action-level band
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SequenceResult]:
    runs = tmp_path_factory.mktemp("figure-limits")
    config = load_rig_config(None)
    out = {}
    for name, params in FAST.items():
        outcome = run_sequence(config, name, params, runs_dir=runs, write_report=False)
        assert outcome.result is not None, outcome.summary.error
        out[name] = outcome.result
    return out


def _lines(figure: Any, prefix: str) -> list[Any]:
    lines = [line for ax in figure.axes for line in ax.get_lines()]
    return [line for line in lines if (line.get_gid() or "").startswith(prefix)]


def _verdict(result: SequenceResult, metric: str) -> Any:
    return next(v for v in result.verdicts if v.metric == metric)


#: Figures that show no quantity a limit applies to, by sequence and position: the cross-calibration ratio
#: by block (its verdict is the CoV within blocks; the two arrangements differ by the field's non-uniformity).
NO_LIMIT = {("chamber-cross-calibration", 0)}


@pytest.mark.parametrize("name", sorted(FAST))
def test_every_figure_draws_a_tolerance_and_an_action_line(
    results: dict[str, SequenceResult], name: str
) -> None:
    figures = get_sequence(name).figures(results[name])
    checked = [figure for index, figure in enumerate(figures) if (name, index) not in NO_LIMIT]
    assert checked
    for figure in checked:
        assert _lines(figure, "limit-line-"), f"{name}: a figure without a limit line"
        assert _lines(figure, "action-line-"), f"{name}: a figure without an action-level line"


def test_every_cross_calibration_verdict_is_plotted_against_its_limit(
    results: dict[str, SequenceResult],
) -> None:
    result = results["chamber-cross-calibration"]
    figures = get_sequence("chamber-cross-calibration").figures(result)
    labels = {tick.get_text() for figure in figures for ax in figure.axes for tick in ax.get_yticklabels()}
    assert {v.metric for v in result.verdicts} <= labels


def test_the_profile_limits_sit_at_the_baseline_plus_and_minus_the_position_tolerance(
    results: dict[str, SequenceResult],
) -> None:
    result = results["proton-lateral-profile"]
    [figure] = get_sequence("proton-lateral-profile").figures(result)
    for ax, line in zip(figure.axes, result.tables["lines"], strict=True):
        verdict = _verdict(result, f"Δ{line['axis']}@{line['depth_mm']:g}mm")
        baseline = line["centre_mm"] - line["deviation_mm"]
        drawn = sorted(
            float(np.asarray(artist.get_xdata())[0])
            for artist in ax.get_lines()
            if (artist.get_gid() or "").startswith("limit-line-")
        )
        limit = verdict.tolerance.limit
        assert drawn == pytest.approx([baseline - limit, baseline + limit])


def test_the_drift_limits_are_the_steepest_lines_the_tolerance_allows(
    results: dict[str, SequenceResult],
) -> None:
    result = results["air-density-stability"]
    [figure] = get_sequence("air-density-stability").figures(result)
    rows = result.tables["readings"]
    minutes = [r["clock_s"] / 60.0 for r in rows]
    mean = float(np.mean([r["k_TP"] for r in rows]))
    limit = _verdict(result, "k_TP_drift").tolerance.limit
    lines = _lines(figure, "limit-line-")
    assert len(lines) == 2
    for artist in lines:
        x, y = (np.asarray(v, dtype=float) for v in artist.get_data())
        change = abs(y[-1] - y[0]) / mean * 100.0
        assert x[0] == pytest.approx(minutes[0]) and x[-1] == pytest.approx(minutes[-1])
        assert change == pytest.approx(limit)  # a drift of exactly the tolerance over the span
