"""Trend analysis and drift escalation of the QA record: pure functions, no I/O, no database.

Every hilcal metric is a magnitude with an UPPER limit (PASS means value ≤ limit), so drift matters in one
direction only: towards the limit. Per device and metric, `analyse` builds an individuals (X) chart from a
baseline period (centre = mean, sigma = MR̄/d2), runs four Western Electric / Nelson rules and a one-sided
EWMA on the points after the baseline, and classifies each point:

* ``baseline`` — part of the period that set the limits;
* ``in_control`` — monitored, no rule fired, within tolerance;
* ``drift_warning`` — a rule or the EWMA fired while the value is still within tolerance (the escalation:
  the process moved before it failed);
* ``out_of_tolerance`` — value > tolerance (``action_exceeded`` also says whether the action level is passed);
* ``not_monitored`` — within tolerance but no chart applies (before a marked baseline, or the baseline is
  too short or degenerate): classified by tolerance only, and the analysis's notes say why.

A linear fit over the most recent points projects when the trend meets the action level (the tolerance
when the site has none), with a Fieller interval for that date. docs/trends.md gives the rules, their
sources and the false-alarm / detection / coverage figures measured by tests/records/test_trends.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from scipy import stats

D2 = 1.128
"""d2 for moving ranges of two: E|x1 - x2| = d2·σ for normal data (Montgomery, Table VI)."""


class Rule(StrEnum):
    """Control rules, all one-sided towards the upper limit (see docs/trends.md for sources)."""

    BEYOND_3SIGMA = "beyond_3sigma"  # Western Electric 1 / Nelson 1
    TWO_OF_THREE_BEYOND_2SIGMA = "2_of_3_beyond_2sigma"  # Western Electric 2 / Nelson 5
    EIGHT_ABOVE_CENTRE = "8_above_centre"  # Western Electric 4 (Nelson 2 uses 9)
    SIX_INCREASING = "6_increasing"  # Nelson 3
    EWMA = "ewma"  # Roberts 1959; Lucas & Saccucci 1990, exact time-varying limits


class PointClass(StrEnum):
    BASELINE = "baseline"
    IN_CONTROL = "in_control"
    DRIFT_WARNING = "drift_warning"
    OUT_OF_TOLERANCE = "out_of_tolerance"
    NOT_MONITORED = "not_monitored"


_MODEL = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TrendPoint(BaseModel):
    """One result of one metric: when, what, its expanded uncertainty and the run it came from."""

    model_config = _MODEL
    at: datetime
    value: float
    expanded_uncertainty: float = Field(ge=0)
    run_id: str = Field(min_length=1)

    @field_validator("at")
    @classmethod
    def _utc(cls, at: datetime) -> datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"timestamp {at.isoformat()} has no time zone: give it in UTC")
        return at.astimezone(UTC)


class TrendLimits(BaseModel):
    """Upper limits of a metric: tolerance, and the site's action level if it has one (≥ tolerance)."""

    model_config = _MODEL
    tolerance: float
    unit: str
    action: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TrendLimits:
        if self.action is not None and self.action < self.tolerance:
            raise ValueError(f"action level {self.action} is below the tolerance {self.tolerance}")
        return self

    @property
    def action_level(self) -> float:
        """The level that calls for action: the site's action level, else the tolerance."""
        return self.tolerance if self.action is None else self.action


class TrendConfig(BaseModel):
    """Chart, EWMA and projection parameters; defaults are the ones docs/trends.md measures."""

    model_config = _MODEL
    baseline_points: int = Field(20, ge=2, description="default baseline: the first N points")
    min_baseline_points: int = Field(8, ge=2, description="fewer than this: no chart, tolerance only")
    rules: frozenset[Rule] = frozenset(Rule)
    ewma_lambda: float = Field(0.2, gt=0, le=1)
    ewma_l: float = Field(3.0, gt=0, description="EWMA limit in sigmas of the EWMA statistic")
    coverage_factor: float = Field(2.0, gt=0, description="k of the stated U (zero moving-range fallback)")
    projection_window: int = Field(20, ge=3, description="the most recent points the trend line is fitted to")
    projection_min_points: int = Field(8, ge=3)
    projection_confidence: float = Field(0.95, gt=0, lt=1)
    projection_horizon_days: float = Field(3650.0, gt=0, description="no projection beyond this")


@dataclass(frozen=True, slots=True)
class ControlChart:
    """Limits from the baseline; sigma_source says whether sigma came from MR̄/d2 or the stated U."""

    centre: float
    sigma: float
    mr_bar: float
    baseline_start: int
    baseline_stop: int  # exclusive, like a slice
    sigma_source: Literal["moving_range", "uncertainty"]

    @property
    def ucl(self) -> float:
        return self.centre + 3 * self.sigma

    @property
    def lcl(self) -> float:
        return self.centre - 3 * self.sigma


@dataclass(frozen=True, slots=True)
class PointResult:
    """One classified point; ewma and ewma_limit are set on monitored points only."""

    index: int
    at: datetime
    value: float
    expanded_uncertainty: float
    run_id: str
    point_class: PointClass
    rules: tuple[Rule, ...]
    action_exceeded: bool
    ewma: float | None = None
    ewma_limit: float | None = None


@dataclass(frozen=True, slots=True)
class Projection:
    """When the fitted trend meets `level`, with a Fieller interval (an end is None beyond the horizon)."""

    level: float
    level_name: Literal["action", "tolerance"]
    at: datetime
    lower: datetime | None
    upper: datetime | None
    confidence: float
    slope_per_day: float
    slope_p_value: float
    intercept_at_last: float  # fitted value at the window's last point
    window_start: int
    window_stop: int

    @property
    def already_met(self) -> bool:
        """The fitted line is at or past the level at the latest result: ``at`` is then a past date, the
        day the trend met the level, not a forecast (the line rises towards the level; see ``_project``)."""
        return self.intercept_at_last >= self.level


@dataclass(frozen=True, slots=True)
class TrendAnalysis:
    points: tuple[PointResult, ...]
    limits: TrendLimits
    config: TrendConfig
    chart: ControlChart | None
    projection: Projection | None
    notes: tuple[str, ...]

    @property
    def latest(self) -> PointResult:
        return self.points[-1]

    def first(self, point_class: PointClass) -> PointResult | None:
        """The earliest point of a class (e.g. the first drift warning), or None."""
        return next((p for p in self.points if p.point_class is point_class), None)


@dataclass(frozen=True, slots=True)
class TrendSeries:
    """What the trend page draws for one (device, metric): identity, description and the analysis."""

    device: str
    metric: str
    description: str
    unit: str
    sequence: str
    analysis: TrendAnalysis


def analyse(
    points: Sequence[TrendPoint],
    limits: TrendLimits,
    baseline: int | slice | None = None,
    config: TrendConfig | None = None,
) -> TrendAnalysis:
    """Classify every point of one metric's series and project when it meets the action level.

    `baseline`: the first N points (int; None = config.baseline_points) or the positions of a marked
    baseline (slice, step 1). Points must be in time order with distinct run ids.
    """
    cfg = config or TrendConfig()
    _check_points(points)
    n = len(points)
    values = np.array([p.value for p in points], dtype=float)
    start, stop, complete = _baseline_span(baseline, n, cfg)
    notes: list[str] = []
    chart = None
    if not complete:
        notes.append(f"baseline incomplete: {n} of {stop} points; classified by tolerance only")
    elif stop - start < cfg.min_baseline_points:
        notes.append(
            f"baseline of {stop - start} point(s) is too short for control limits "
            f"(need {cfg.min_baseline_points}); classified by tolerance only"
        )
    else:
        chart = _chart(points, values, start, stop, cfg, notes)
    if start > 0:
        notes.append(f"{start} point(s) before the baseline are classified by tolerance only")
    if any(values[start:stop] > limits.tolerance):
        notes.append("the baseline contains out-of-tolerance points: its limits describe a failing process")
    rules, ewma, ewma_limit = _monitor(values, chart, cfg)
    results = tuple(
        _classify(i, p, start, stop, chart, limits, rules[i], ewma[i], ewma_limit[i])
        for i, p in enumerate(points)
    )
    projection = _project(points, values, limits, cfg, notes)
    return TrendAnalysis(results, limits, cfg, chart, projection, tuple(notes))


def _check_points(points: Sequence[TrendPoint]) -> None:
    if not points:
        raise ValueError("no points: a trend needs at least one result")
    for i, p in enumerate(points):
        if not (math.isfinite(p.value) and math.isfinite(p.expanded_uncertainty)):
            raise ValueError(f"point {i} (run {p.run_id}): value and U must be finite numbers")
        if i and p.at < points[i - 1].at:
            raise ValueError(f"point {i} (run {p.run_id}) is earlier than point {i - 1}: sort by time")
    ids = [p.run_id for p in points]
    if len(set(ids)) != len(ids):
        dup = sorted({r for r in ids if ids.count(r) > 1})
        raise ValueError(f"run id(s) {dup} appear more than once in one series")


def _baseline_span(baseline: int | slice | None, n: int, cfg: TrendConfig) -> tuple[int, int, bool]:
    """(start, stop, complete): the baseline's positions and whether the series reaches its end."""
    if baseline is None or isinstance(baseline, int):
        want = cfg.baseline_points if baseline is None else baseline
        if isinstance(want, bool) or want < 1:
            raise ValueError(f"baseline of {want} points: give a positive count or a slice")
        return 0, want, n >= want
    if baseline.step not in (None, 1):
        raise ValueError(f"a marked baseline must be contiguous (step 1), got step {baseline.step}")
    start, stop, _ = baseline.indices(n)
    if stop <= start:
        raise ValueError(f"marked baseline {baseline} selects no points of a series of {n}")
    return start, stop, True


def _chart(
    points: Sequence[TrendPoint], values: np.ndarray, start: int, stop: int, cfg: TrendConfig,
    notes: list[str],
) -> ControlChart | None:
    base = values[start:stop]
    mr_bar = float(np.mean(np.abs(np.diff(base))))
    sigma = mr_bar / D2
    source: Literal["moving_range", "uncertainty"] = "moving_range"
    if sigma <= 1e-12 * max(1.0, abs(float(np.mean(base)))):
        u = float(np.median([p.expanded_uncertainty for p in points[start:stop]])) / cfg.coverage_factor
        if u <= 0:
            notes.append("zero moving range and zero stated U in the baseline: no control limits; "
                         "classified by tolerance only")
            return None
        notes.append(f"zero moving range in the baseline: sigma is the stated U/{cfg.coverage_factor:g}")
        sigma, source = u, "uncertainty"
    return ControlChart(float(np.mean(base)), sigma, mr_bar, start, stop, source)


def _monitor(
    values: np.ndarray, chart: ControlChart | None, cfg: TrendConfig
) -> tuple[list[tuple[Rule, ...]], list[float | None], list[float | None]]:
    """Rules fired, EWMA and its limit per point; windows and the EWMA start after the baseline."""
    n = len(values)
    rules: list[tuple[Rule, ...]] = [()] * n
    ewma: list[float | None] = [None] * n
    limit: list[float | None] = [None] * n
    if chart is None:
        return rules, ewma, limit
    lam, s = cfg.ewma_lambda, chart.sigma
    z_prev = chart.centre
    m = values[chart.baseline_stop :]
    z = (m - chart.centre) / s
    for j, x in enumerate(m):
        i = chart.baseline_stop + j
        fired: list[Rule] = []
        if z[j] > 3:
            fired.append(Rule.BEYOND_3SIGMA)
        if z[j] > 2 and np.count_nonzero(z[max(0, j - 2) : j + 1] > 2) >= 2:
            fired.append(Rule.TWO_OF_THREE_BEYOND_2SIGMA)
        if j >= 7 and bool(np.all(z[j - 7 : j + 1] > 0)):
            fired.append(Rule.EIGHT_ABOVE_CENTRE)
        if j >= 5 and bool(np.all(np.diff(m[j - 5 : j + 1]) > 0)):
            fired.append(Rule.SIX_INCREASING)
        z_prev = lam * float(x) + (1 - lam) * z_prev
        width = cfg.ewma_l * s * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * (j + 1))))
        ewma[i], limit[i] = z_prev, chart.centre + width
        if z_prev > chart.centre + width:
            fired.append(Rule.EWMA)
        rules[i] = tuple(r for r in fired if r in cfg.rules)
    return rules, ewma, limit


def _classify(
    i: int, p: TrendPoint, start: int, stop: int, chart: ControlChart | None, limits: TrendLimits,
    rules: tuple[Rule, ...], ewma: float | None, ewma_limit: float | None,
) -> PointResult:
    if p.value > limits.tolerance:
        cls = PointClass.OUT_OF_TOLERANCE
    elif start <= i < stop:
        cls = PointClass.BASELINE
    elif chart is None or i < start:
        cls = PointClass.NOT_MONITORED
    else:
        cls = PointClass.DRIFT_WARNING if rules else PointClass.IN_CONTROL
    return PointResult(
        i, p.at, p.value, p.expanded_uncertainty, p.run_id, cls, rules,
        p.value > limits.action_level, ewma, ewma_limit,
    )


def _project(
    points: Sequence[TrendPoint], values: np.ndarray, limits: TrendLimits, cfg: TrendConfig,
    notes: list[str],
) -> Projection | None:
    """Fieller interval for the date the fitted mean line meets the action level; None if not heading there.

    OLS of value on time (days) over the last `projection_window` points. The interval is the set of
    dates where the level lies inside the line's two-sided confidence band; it is bounded exactly when the
    slope is significant at the same level (t > t_(1+c)/2), which is also the condition for projecting.
    """
    stop = len(points)
    start = max(0, stop - cfg.projection_window)
    if stop - start < cfg.projection_min_points:
        return None
    last = points[-1].at
    x = np.array([(p.at - last).total_seconds() / 86400.0 for p in points[start:stop]])
    y = values[start:stop]
    xm, ym = float(np.mean(x)), float(np.mean(y))
    sxx = float(np.sum((x - xm) ** 2))
    if sxx <= 0:
        return None
    b = float(np.sum((x - xm) * (y - ym)) / sxx)
    dof = len(x) - 2
    s2 = float(np.sum((y - ym - b * (x - xm)) ** 2)) / dof
    t = stats.t.ppf((1 + cfg.projection_confidence) / 2, dof)
    se_b = math.sqrt(s2 / sxx)
    if b <= 0 or (se_b > 0 and b / se_b <= t):
        return None
    p_value = float(stats.t.sf(b / se_b, dof)) if se_b > 0 else 0.0
    level = limits.action_level
    d = level - ym
    a = b * b - t * t * s2 / sxx
    half = math.sqrt(max(0.0, t * t * s2 * (a / len(x) + d * d / sxx)))
    x0, lo, hi = xm + d / b, xm + (b * d - half) / a, xm + (b * d + half) / a
    horizon = cfg.projection_horizon_days
    if x0 > horizon:
        notes.append(f"the trend meets the {_level_name(limits)} level more than {horizon:g} days ahead")
        return None
    return Projection(
        level=level, level_name=_level_name(limits), at=last + timedelta(days=x0),
        lower=None if lo < -horizon else last + timedelta(days=lo),
        upper=None if hi > horizon else last + timedelta(days=hi),
        confidence=cfg.projection_confidence, slope_per_day=b, slope_p_value=p_value,
        intercept_at_last=ym - b * xm, window_start=start, window_stop=stop,
    )


def _level_name(limits: TrendLimits) -> Literal["action", "tolerance"]:
    return "tolerance" if limits.action is None else "action"
