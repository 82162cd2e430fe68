"""From the store to trend analyses: one ``TrendSeries`` per device, sequence and metric.

The baseline period of a chart starts at the run marked as the device's baseline for that sequence (the
commissioning run) and spans the configured number of points; unmarked, it is the first points recorded.
"""

from __future__ import annotations

from datetime import datetime

from records.store import ResultsStore
from records.trends import TrendConfig, TrendLimits, TrendPoint, TrendSeries, analyse


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
        history = store.series(key.device_id, key.sequence, key.metric, since)
        if not history:
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
        series.append(
            TrendSeries(key.device_key, key.metric, key.description, key.unit, key.sequence, analysis)
        )
    return series
