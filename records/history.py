"""From the store to trend analyses: one ``TrendSeries`` per device, sequence and metric.

The baseline period of a chart starts at the run marked as the device's baseline for that sequence (the
commissioning run) and spans the configured number of points; unmarked, it is the first points recorded.
A ``since`` date narrows what is shown, never what is analysed: the whole history is classified against
its baseline, then the points before ``since`` are left out.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from records.store import ResultsStore
from records.trends import TrendAnalysis, TrendConfig, TrendLimits, TrendPoint, TrendSeries, analyse


def trend_series(
    store: ResultsStore,
    device: str | None = None,
    metric: str | None = None,
    since: datetime | None = None,
    config: TrendConfig | None = None,
) -> list[TrendSeries]:
    cfg = config or TrendConfig()
    series = []
    for key in store.series_keys(device, metric):
        history = store.series(key.device_id, key.sequence, key.metric)
        if not history or (since is not None and history[-1].performed_at < since):
            continue
        tolerance = next((p.tolerance_limit for p in reversed(history) if p.tolerance_limit), None)
        if tolerance is None:
            continue
        points = [TrendPoint(at=p.performed_at, value=p.value, expanded_uncertainty=p.expanded_uncertainty,
                             run_id=p.run_id) for p in history]  # fmt: skip
        baseline: slice | None = None
        marked = store.baseline(key.device_id, key.sequence)
        if marked is not None:
            start = next((i for i, p in enumerate(history) if p.run_id == marked[0]), None)
            if start is not None:
                baseline = slice(start, start + cfg.baseline_points)
        analysis = analyse(points, TrendLimits(tolerance=tolerance, unit=key.unit), baseline, cfg)
        if since is not None:
            analysis = shown_from(analysis, since)
        series.append(
            TrendSeries(key.device_key, key.metric, key.description, key.unit, key.sequence, analysis)
        )
    return series


def shown_from(analysis: TrendAnalysis, since: datetime) -> TrendAnalysis:
    """The analysis with only the points from ``since`` on, classes unchanged, positions re-counted.

    The chart's baseline span and the projection's window are shifted with the points (a baseline before
    ``since`` ends up at or below 0: the page then draws no baseline span); there must be a point left.
    """
    first = next(i for i, p in enumerate(analysis.points) if p.at >= since)
    if first == 0:
        return analysis
    points = tuple(dataclasses.replace(p, index=p.index - first) for p in analysis.points[first:])
    chart = analysis.chart
    if chart is not None:
        chart = dataclasses.replace(
            chart,
            baseline_start=max(chart.baseline_start - first, 0),
            baseline_stop=max(chart.baseline_stop - first, 0),
        )
    projection = analysis.projection
    if projection is not None:
        projection = dataclasses.replace(
            projection,
            window_start=max(projection.window_start - first, 0),
            window_stop=max(projection.window_stop - first, 0),
        )
    notes = (*analysis.notes, f"{first} earlier point(s) analysed but not shown (since {since.date()})")
    return dataclasses.replace(analysis, points=points, chart=chart, projection=projection, notes=notes)
