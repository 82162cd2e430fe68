"""A simulated month of daily QA with a wearing stage: the drift warning comes before the first failure.

Every day is a real ISO 230-2 run on the simulated rig (its own run folder and journal), dated on the
programme's calendar and written to the QA record; the history is analysed on SQLite as written, and on a
real PostgreSQL server after ``import`` of the same run folders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli import app
from controller.config import load_rig_config
from controller.history import Drift, HistoryPlan, ProgrammeItem, rig_on_day, simulate_history
from records.history import trend_series
from records.store import ResultsStore
from records.trends import PointClass, TrendConfig

DAYS = 34
PLAN = HistoryPlan(
    days=DAYS,
    items=[ProgrammeItem(sequence="phantom-axis-iso230", params={"runs": 2, "step_mm": 100.0})],
    # Backlash 0.02 mm for an 8-day commissioning period, then +0.0075 mm/day: B passes its 0.2 mm limit
    # around day 32.
    drifts=[Drift(path="simulation.stages.phantom_x.backlash_mm", start=0.02, per_day=0.0075, from_day=8)],
)
CHART = TrendConfig(baseline_points=8)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("history")
    url = f"sqlite:///{root / 'qa-record.sqlite'}"
    with ResultsStore.open(url) as store:
        outcomes = simulate_history(load_rig_config(), PLAN, root / "runs", store)
        assert len(outcomes) == DAYS and all(o.recorded for o in outcomes)
        store.mark_baseline(outcomes[0].run_id, "test", "commissioning")
    return root, url


def _backlash_series(store: ResultsStore):
    (series,) = trend_series(store, metric="B", config=CHART)
    return series.analysis


def _check(analysis) -> None:
    classes = [point.point_class for point in analysis.points]
    assert len(classes) == DAYS
    assert classes[:8] == [PointClass.BASELINE] * 8
    assert PointClass.OUT_OF_TOLERANCE in classes, "the drift reaches the limit within the month"
    first_failure = classes.index(PointClass.OUT_OF_TOLERANCE)
    first_warning = classes.index(PointClass.DRIFT_WARNING)
    assert first_warning < first_failure
    assert first_failure - first_warning >= 10  # days of notice, not a same-day alarm
    assert analysis.projection is not None  # and the page says when the limit will be met


def test_the_drift_warning_precedes_the_first_failure_on_sqlite(history):
    _, url = history
    with ResultsStore.open(url) as store:
        _check(_backlash_series(store))


def test_the_same_history_imported_into_postgresql_gives_the_same_classes(history, postgres_server):
    root, url = history
    with ResultsStore.open(postgres_server.create_database("history")) as imported:
        report = imported.import_runs(root / "runs")
        assert len(report.recorded) == DAYS
        with ResultsStore.open(url) as original:
            first = next(iter(original.run_rows()))["run_id"]
        imported.mark_baseline(first, "test", "commissioning")
        analysis = _backlash_series(imported)
        _check(analysis)
        with ResultsStore.open(url) as original:
            assert [p.point_class for p in analysis.points] == [
                p.point_class for p in _backlash_series(original).points
            ]


def test_hilcal_trends_flags_it_and_draws_the_page(history):
    root, url = history
    result = CliRunner().invoke(app, ["trends", "--metric", "B", "--db", url, "--out", str(root / "t.html")])
    assert result.exit_code == 1, result.output  # the latest result is out of tolerance
    page = (root / "t.html").read_text(encoding="utf-8")
    assert page.count("<svg") >= 1 and "out of tolerance" in page.replace("_", " ").lower()
    assert "drift warning" in page[page.index("<svg") :]  # the chart's legend: the warnings are drawn


def test_a_drift_path_that_is_not_in_the_rig_is_named():
    plan = PLAN.model_copy(
        update={"drifts": [Drift(path="simulation.stages.phantom_q.backlash_mm", start=0, per_day=1)]}
    )
    with pytest.raises(Exception, match="phantom_q"):
        rig_on_day(load_rig_config(), plan, 0)


def test_hilcal_simulate_history_writes_straight_to_postgresql(tmp_path, postgres_server):
    """The command itself, each run recorded at its end on a real PostgreSQL server (no import)."""
    import yaml

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(PLAN.model_dump(mode="json")))
    url = postgres_server.create_database("simulated_history_cli")
    page = tmp_path / "trends.html"
    args = ["simulate-history", "--plan", str(plan), "--db", url, "--runs-dir", str(tmp_path / "runs"),
            "--out", str(page)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # B ends out of tolerance
    with ResultsStore.open(url) as store:
        assert store.count("runs") == DAYS and store.count("baselines") == 1
        (series,) = trend_series(store, metric="B", config=CHART)
    _check(series.analysis)
    # the page draws the warnings (triangles, legend text kept as SVG text) as well as the failures
    text = page.read_text(encoding="utf-8")
    svg = text[text.index("<svg") :]
    assert "drift warning" in svg and "out of tolerance" in svg


def test_since_narrows_the_view_not_the_analysis(history, tmp_path):
    """`--since` shows the later results classified against the baseline, not a baseline of their own.

    Before, the points from `since` on were analysed alone: their first points became the baseline, and a
    result that was a drift warning against the real baseline was shown as "baseline", exit 0.
    """
    root, url = history
    with ResultsStore.open(url) as store:
        full = _backlash_series(store)
        since = full.points[20].at
        (shown,) = trend_series(store, metric="B", since=since, config=CHART)
    tail = full.points[20:]
    assert [(p.run_id, p.point_class) for p in shown.analysis.points] == [
        (p.run_id, p.point_class) for p in tail
    ]
    assert PointClass.BASELINE not in {p.point_class for p in shown.analysis.points}
    assert shown.analysis.chart is not None and shown.analysis.chart.centre == full.chart.centre
    args = ["trends", "--metric", "B", "--db", url, "--since", since.isoformat()]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "s.html")])
    assert result.exit_code == 1, result.output
    assert "<svg" in (tmp_path / "s.html").read_text(encoding="utf-8")  # drawn without its baseline span
