"""Trend analysis: the false-alarm, detection and coverage claims of docs/trends.md, over seeded series.

Run with ``-s`` to see the measured figures (docs/trends.md quotes them).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.stats import norm

from records.trend_page import _projection_text, render_trend_page
from records.trends import (
    PointClass,
    Rule,
    TrendAnalysis,
    TrendConfig,
    TrendLimits,
    TrendPoint,
    TrendSeries,
    analyse,
)

T0 = datetime(2025, 1, 6, 7, 30, tzinfo=UTC)
FAR = TrendLimits(tolerance=1e6, unit="mm")


def _points(
    values: np.ndarray | list[float], days: np.ndarray | None = None, u: float = 0.1
) -> list[TrendPoint]:
    days = np.arange(len(values), dtype=float) if days is None else days
    return [
        TrendPoint(
            at=T0 + timedelta(days=float(d)), value=float(v), expanded_uncertainty=u, run_id=f"run-{i}"
        )
        for i, (d, v) in enumerate(zip(days, values, strict=True))
    ]


def _classes(a: TrendAnalysis) -> list[PointClass]:
    return [p.point_class for p in a.points]


# ---------------------------------------------------------------- (a) in-control false alarms


def _expected_rates(m: int, n_mon: int, cfg: TrendConfig, draws: int = 20000) -> dict[Rule, float]:
    """Per-point false-alarm probability of each rule for N(0, 1) data, averaged over the monitored
    positions and over the baseline's estimation error (centre and MR̄/d2 from m points).

    Known-parameter marginals: beyond 3σ Φ̄(3); 2 of 3 beyond 2σ p·(1-(1-p)²), p = Φ̄(2); 8 above the
    centre ½⁸; 6 increasing 1/6!; EWMA Φ̄(L) at every step (its limits are the exact time-varying ones).
    With estimated (μ̂, σ̂) each becomes the same expression in (μ̂ + kσ̂); the mean over baselines is exact.
    """
    rng = np.random.default_rng(20240611)
    base = rng.normal(size=(draws, m))
    mu = base.mean(axis=1)
    sig = np.abs(np.diff(base, axis=1)).mean(axis=1) / 1.128
    j = np.arange(n_mon)[:, None]  # monitored position, 0-based
    p2 = norm.sf(mu + 2 * sig)
    two_of_three = np.where(j >= 2, p2 * (1 - (1 - p2) ** 2), np.where(j == 1, p2 * p2, 0.0))
    lam, big_l = cfg.ewma_lambda, cfg.ewma_l
    v = np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * (j + 1))))
    per_position = {
        Rule.BEYOND_3SIGMA: np.broadcast_to(norm.sf(mu + 3 * sig), (n_mon, draws)),
        Rule.TWO_OF_THREE_BEYOND_2SIGMA: two_of_three,
        Rule.EIGHT_ABOVE_CENTRE: np.where(j >= 7, norm.sf(mu) ** 8, 0.0),
        Rule.SIX_INCREASING: np.where(j >= 5, 1 / math.factorial(6), 0.0) * np.ones(draws),
        Rule.EWMA: norm.sf(mu / v + big_l * sig),
    }
    return {rule: float(np.mean(rate)) for rule, rate in per_position.items()}


@pytest.mark.parametrize("m", [20, 200])
def test_in_control_false_alarm_rate_is_within_the_bound_from_the_rules_probabilities(m: int) -> None:
    """300 in-control series, 60 monitored points after an m-point baseline: the share of points flagged
    drift_warning stays below the union of the rules' per-point probabilities (a bound: rules overlap),
    and each rule fires at its own predicted rate (catches a wrong window, sigma or side)."""
    n_series, n_mon, cfg = 300, 60, TrendConfig()
    rng = np.random.default_rng(1000 + m)
    rules = list(Rule)
    flagged = np.zeros(n_series)  # per-series shares: the series are the independent replicates
    fired = np.zeros((n_series, len(rules)))
    for k in range(n_series):
        a = analyse(_points(rng.normal(0.0, 1.0, m + n_mon)), TrendLimits(tolerance=8.0, unit="mm"), m, cfg)
        mon = a.points[m:]
        assert all(p.point_class in (PointClass.IN_CONTROL, PointClass.DRIFT_WARNING) for p in mon)
        flagged[k] = np.mean([p.point_class is PointClass.DRIFT_WARNING for p in mon])
        for p in mon:
            for rule in p.rules:
                fired[k, rules.index(rule)] += 1 / n_mon
    expected = _expected_rates(m, n_mon, cfg)
    bound = sum(expected.values())
    observed, se = flagged.mean(), flagged.std(ddof=1) / math.sqrt(n_series)
    per_rule, per_rule_se = fired.mean(axis=0), fired.std(axis=0, ddof=1) / math.sqrt(n_series)
    print(f"\n[a] baseline {m}: drift_warning on {observed:.4f} ± {se:.4f} of points (bound {bound:.4f}); "
          f"{np.mean(flagged > 0):.2f} of series have one; per rule observed/expected: "
          + ", ".join(f"{r.value} {per_rule[i]:.4f}/{expected[r]:.4f}" for i, r in enumerate(rules)))
    assert observed <= bound + 3 * se  # one-sided: the bound is an upper bound, the mean has sampling error
    for i, rule in enumerate(rules):
        assert abs(per_rule[i] - expected[rule]) <= 4 * per_rule_se[i] + 0.1 * expected[rule], rule


# ---------------------------------------------------------------- (b) detection before failure


@pytest.mark.parametrize(("gap_sigma", "crossing_after"), [(5.0, 40), (5.0, 100), (4.0, 60)])
def test_slow_drift_warns_before_the_first_out_of_tolerance_result(
    gap_sigma: float, crossing_after: int
) -> None:
    """A linear drift that reaches the tolerance (gap_sigma above the baseline mean) after `crossing_after`
    points: the first drift_warning comes before the first out_of_tolerance in ≥ 95 % of 200 series."""
    rng = np.random.default_rng(int(gap_sigma * 1000) + crossing_after)
    n_series, n_after = 200, crossing_after + 30
    early, leads = 0, []
    for _ in range(n_series):
        values = rng.normal(0.0, 1.0, 20 + n_after)
        values[20:] += gap_sigma / crossing_after * np.arange(1, n_after + 1)
        a = analyse(_points(values), TrendLimits(tolerance=gap_sigma, unit="mm"))
        warn, fail = a.first(PointClass.DRIFT_WARNING), a.first(PointClass.OUT_OF_TOLERANCE)
        if warn is not None and (fail is None or warn.index < fail.index):
            early += 1
            if fail is not None:
                leads.append(fail.index - warn.index)
    share = early / n_series
    print(f"\n[b] tolerance {gap_sigma}σ above, reached after {crossing_after} points: warning first in "
          f"{share:.3f} of series; median lead {np.median(leads):.0f} points")
    assert share >= 0.95


# ---------------------------------------------------------------- (c) projection interval coverage


@pytest.mark.parametrize(
    ("slope", "ahead", "min_projected", "band"),
    [(0.2, 5.0, 0.99, (0.92, 0.98)), (0.1, 15.0, 0.9, (0.92, 0.99)), (0.03, 30.0, 0.1, (0.75, 1.0))],
)
def test_projected_crossing_interval_covers_the_true_date_at_about_its_nominal_rate(
    slope: float, ahead: float, min_projected: float, band: tuple[float, float]
) -> None:
    """400 series on irregular days (1–2 apart), flat for 20 points then a drift of `slope` σ/day; the
    tolerance is met by the TRUE mean line `ahead` days after the last result. Coverage is counted over the
    series that get a projection (the interval is conditional on a significant slope)."""
    rng = np.random.default_rng(int(slope * 1000) + int(ahead))
    n_series, covered, projected = 400, 0, 0
    for _ in range(n_series):
        days = np.cumsum(rng.integers(1, 3, size=60)).astype(float)
        start = days[19]
        values = np.where(days > start, slope * (days - start), 0.0) + rng.normal(0.0, 1.0, 60)
        tolerance = slope * (days[-1] - start + ahead)
        a = analyse(_points(values, days), TrendLimits(tolerance=tolerance, unit="mm"))
        p = a.projection
        if p is None:
            continue
        projected += 1
        true_at = T0 + timedelta(days=start + tolerance / slope)
        covered += (p.lower is None or p.lower <= true_at) and (p.upper is None or true_at <= p.upper)
    coverage = covered / projected
    print(f"\n[c] slope {slope}σ/day, crossing {ahead:g} d ahead: projected in {projected}/{n_series}, "
          f"95 % interval covered the true date in {coverage:.3f}")
    assert projected >= min_projected * n_series
    assert band[0] <= coverage <= band[1]


def test_flat_series_gets_a_projection_at_the_significance_level() -> None:
    """No trend: a projection needs t > t_0.975 on a positive slope, so about 2.5 % of flat series get one."""
    rng = np.random.default_rng(7)
    limits = TrendLimits(tolerance=3.0, unit="mm")
    given = sum(analyse(_points(rng.normal(0, 1, 60)), limits).projection is not None for _ in range(800))
    print(f"\n[c] flat series with a projection: {given / 800:.4f} (nominal 0.025)")
    assert 0.01 <= given / 800 <= 0.045


# ---------------------------------------------------------------- (d) rules, classes, edge cases


def _crafted(monitored: list[float], **kw: object) -> TrendAnalysis:
    """Baseline 0, 1.128, 0, … (20 points): centre 0.564, MR̄ 1.128, so σ = 1 exactly."""
    base = [0.0, 1.128] * 10
    values = base + [0.564 + z for z in monitored]
    return analyse(_points(values), TrendLimits(tolerance=100.0, unit="mm"), **kw)  # type: ignore[arg-type]


def test_chart_comes_from_the_baseline_with_moving_range_sigma() -> None:
    a = _crafted([0.0])
    assert a.chart is not None
    assert a.chart.centre == pytest.approx(0.564)
    assert a.chart.sigma == pytest.approx(1.0)
    assert a.chart.sigma_source == "moving_range"
    assert _classes(a) == [PointClass.BASELINE] * 20 + [PointClass.IN_CONTROL]


def test_each_rule_fires_on_its_pattern_and_only_upwards() -> None:
    assert Rule.BEYOND_3SIGMA in _crafted([3.2]).points[-1].rules
    r2 = _crafted([2.5, 0.0, 2.5]).points
    assert Rule.TWO_OF_THREE_BEYOND_2SIGMA not in r2[-2].rules
    assert Rule.TWO_OF_THREE_BEYOND_2SIGMA in r2[-1].rules
    assert Rule.BEYOND_3SIGMA not in r2[-1].rules
    r4 = _crafted([0.3] * 8).points
    assert Rule.EIGHT_ABOVE_CENTRE not in r4[-2].rules
    assert r4[-1].rules == (Rule.EIGHT_ABOVE_CENTRE,)
    r5 = _crafted([-1.5 + 0.2 * k for k in range(6)]).points
    assert Rule.SIX_INCREASING not in r5[-2].rules
    assert r5[-1].rules == (Rule.SIX_INCREASING,)
    low = _crafted([-3.5, -2.5, -2.5] + [-0.5] * 8)
    assert all(p.rules == () for p in low.points)
    assert low.points[-1].point_class is PointClass.IN_CONTROL


def test_ewma_uses_the_exact_time_varying_limit_and_can_fire_alone() -> None:
    a = _crafted([1.9] * 3)  # below 2σ: only the EWMA (0.38, 0.684, 0.927 vs 0.600, 0.768, 0.859) fires
    lam, width = 0.2, [3 * math.sqrt(0.2 / 1.8 * (1 - 0.8 ** (2 * k))) for k in (1, 2, 3)]
    assert [p.ewma_limit for p in a.points[20:]] == pytest.approx([0.564 + w for w in width])
    assert a.points[20].ewma == pytest.approx(0.564 + lam * 1.9)
    assert a.points[21].rules == ()
    assert a.points[22].rules == (Rule.EWMA,)
    assert a.points[22].point_class is PointClass.DRIFT_WARNING
    only = _crafted([3.2], config=TrendConfig(rules=frozenset({Rule.EIGHT_ABOVE_CENTRE})))
    assert only.points[-1].rules == () and only.points[-1].point_class is PointClass.IN_CONTROL


def test_out_of_tolerance_wins_and_action_exceedance_is_flagged() -> None:
    values = [0.1, 0.2] * 10 + [0.15, 1.5, 2.5]
    a = analyse(_points(values), TrendLimits(tolerance=1.0, unit="mm", action=2.0))
    last = a.points[-3:]
    assert [p.point_class for p in last] == [PointClass.IN_CONTROL] + [PointClass.OUT_OF_TOLERANCE] * 2
    assert [p.action_exceeded for p in last] == [False, False, True]
    no_action = analyse(_points(values), TrendLimits(tolerance=1.0, unit="mm"))
    assert no_action.points[-2].action_exceeded
    over = analyse(_points([0.1, 1.2] + [0.1] * 30), TrendLimits(tolerance=1.0, unit="mm"))
    assert over.points[1].point_class is PointClass.OUT_OF_TOLERANCE
    assert any("baseline contains out-of-tolerance" in n for n in over.notes)


def test_short_series_is_classified_by_tolerance_only_and_says_so() -> None:
    a = analyse(_points([0.1, 0.2, 1.5, 0.1, 0.2]), TrendLimits(tolerance=1.0, unit="mm"))
    assert a.chart is None
    base, oot = PointClass.BASELINE, PointClass.OUT_OF_TOLERANCE
    assert _classes(a) == [base, base, oot, base, base]
    assert any("baseline incomplete: 5 of 20" in n for n in a.notes)
    assert all(p.ewma is None for p in a.points)
    exact = analyse(_points([0.1, 0.2] * 10), FAR)
    assert exact.chart is not None and set(_classes(exact)) == {PointClass.BASELINE}


def test_marked_baseline_slice_and_a_single_commissioning_run() -> None:
    values = [5.0] * 10 + [0.1, 0.2] * 10 + [0.15] * 5
    a = analyse(_points(values), FAR, baseline=slice(10, 30))
    assert a.chart is not None and a.chart.centre == pytest.approx(0.15)
    expected = [PointClass.NOT_MONITORED] * 10 + [PointClass.BASELINE] * 20 + [PointClass.IN_CONTROL] * 5
    assert _classes(a) == expected
    one = analyse(_points(values), FAR, baseline=slice(10, 11))
    assert one.chart is None
    assert _classes(one)[11:] == [PointClass.NOT_MONITORED] * 24
    assert any("too short" in n for n in one.notes)
    with pytest.raises(ValueError, match="contiguous"):
        analyse(_points(values), FAR, baseline=slice(0, 20, 2))
    with pytest.raises(ValueError, match="selects no points"):
        analyse(_points(values), FAR, baseline=slice(40, 50))


def test_zero_moving_range_falls_back_to_the_stated_uncertainty_or_to_tolerance_only() -> None:
    a = analyse(_points([0.5] * 20 + [0.5, 0.9], u=0.2), FAR)
    assert a.chart is not None and a.chart.sigma_source == "uncertainty"
    assert a.chart.sigma == pytest.approx(0.1)
    assert Rule.BEYOND_3SIGMA in a.points[-1].rules
    assert any("zero moving range" in n for n in a.notes)
    b = analyse(_points([0.5] * 20 + [0.9], u=0.0), FAR)
    assert b.chart is None and b.points[-1].point_class is PointClass.NOT_MONITORED


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [("value", math.nan, "finite"), ("value", math.inf, "finite"), ("expanded_uncertainty", -0.1, "greater"),
     ("at", datetime(2025, 1, 1), "time zone"), ("run_id", "", "at least 1")],
)
def test_bad_points_are_refused_with_a_clear_error(field: str, bad: object, message: str) -> None:
    good = {"at": T0, "value": 0.1, "expanded_uncertainty": 0.01, "run_id": "r"}
    with pytest.raises(ValidationError, match=message):
        TrendPoint(**{**good, field: bad})  # type: ignore[arg-type]


def test_bad_series_and_limits_are_refused() -> None:
    pts = _points([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="no points"):
        analyse([], FAR)
    with pytest.raises(ValueError, match="sort by time"):
        analyse([pts[1], pts[0]], FAR)
    with pytest.raises(ValueError, match="more than once"):
        analyse([pts[0], pts[1].model_copy(update={"run_id": "run-0"})], FAR)
    with pytest.raises(ValidationError, match="below the tolerance"):
        TrendLimits(tolerance=1.0, unit="mm", action=0.5)
    with pytest.raises(ValidationError):
        TrendLimits(tolerance=math.nan, unit="mm")
    assert TrendPoint(at=datetime(2025, 1, 1, 9, tzinfo=UTC) + timedelta(0), value=1, expanded_uncertainty=0,
                      run_id="x").at.tzinfo is UTC


def test_projection_of_a_noiseless_line_is_exact_and_uses_the_action_level() -> None:
    days = np.arange(30, dtype=float)
    a = analyse(_points(0.1 + 0.01 * days, days), TrendLimits(tolerance=0.5, unit="mm", action=0.6))
    p = a.projection
    assert p is not None and p.level_name == "action" and p.level == 0.6
    assert p.at == pytest.approx(T0 + timedelta(days=50), abs=timedelta(seconds=1))
    assert p.lower is not None and p.upper is not None
    assert abs(p.upper - p.lower) < timedelta(seconds=1)
    assert p.slope_per_day == pytest.approx(0.01)
    falling = analyse(_points(0.5 - 0.01 * days, days), TrendLimits(tolerance=0.6, unit="mm"))
    assert falling.projection is None
    slow = analyse(_points(0.1 + 1e-6 * days, days), TrendLimits(tolerance=0.6, unit="mm"))
    assert slow.projection is None and any("days ahead" in n for n in slow.notes)


# ---------------------------------------------------------------- (e) the page


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.rows = 0
        self.text: list[str] = []
        self.svg_texts: list[list[str]] = []
        self._in_svg = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [v for k, v in attrs if k == "id" and v]
        if tag == "svg":
            self._in_svg = True
            self.svg_texts.append([])
        if tag == "tr":
            self.rows += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._in_svg = False

    def handle_data(self, data: str) -> None:
        (self.svg_texts[-1] if self._in_svg else self.text).append(data)


def test_trend_page_has_one_svg_per_series_with_legends_and_a_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    drift = 0.3 + 0.03 * rng.normal(size=70)
    drift[20:] += 0.006 * np.arange(50)
    drift[-1] = 0.65
    series = [
        TrendSeries("ZAB-1234 <stage>", "max_abs_deviation", "max |deviation| of axis X", "mm",
                    "phantom-axis-iso230", analyse(_points(drift, u=0.04),
                                                   TrendLimits(tolerance=0.5, unit="mm", action=0.6))),
        TrendSeries("UNI-77", "leakage", "leakage current", "fA", "electrometer-leakage-reproducibility",
                    analyse(_points([1.0, 1.2, 0.9]), TrendLimits(tolerance=5.0, unit="fA"))),
        TrendSeries("UNI-77", "cov", "reproducibility CoV", "%", "electrometer-leakage-reproducibility",
                    analyse(_points(0.05 + 0.01 * rng.normal(size=40)),
                            TrendLimits(tolerance=0.5, unit="%"))),
    ]
    out = render_trend_page(series, tmp_path / "sub" / "trends.html", "Trends <room 1>")
    text = out.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    assert page.tags.count("svg") == 3
    assert page.rows == 4  # header + one per series
    assert len(page.ids) == len(set(page.ids)), "ids must be unique across the inline SVGs"
    assert "script" not in page.tags and "img" not in page.tags
    assert not re.search(r'(src|href)="https?:', text)
    body = " ".join(page.text)
    assert "Trends <room 1>" in body and "ZAB-1234 <stage>" in body and "<stage>" not in text
    assert "out of tolerance action level exceeded" in re.sub(r"\s+", " ", body)
    first = " ".join(page.svg_texts[0])
    for label in ("baseline", "in control", "drift warning", "out of tolerance", "baseline period",
                  "control limits ±3σ", "tolerance 0.5", "action 0.6", "trend fit", "projected crossing",
                  "EWMA", "EWMA limit"):
        assert label in first, label
    short = " ".join(page.svg_texts[1])
    assert "no EWMA" in short and "control limits" not in short


def test_a_trend_already_past_its_level_is_said_to_have_met_it() -> None:
    """Once the fitted line is past the level, its crossing date lies before the latest result: it is the day
    the trend met the level ("met on …"), not a forecast of a date that has gone by."""
    days = np.arange(40, dtype=float)
    rising = np.where(days > 19, 0.5 * (days - 19), 0.0) + np.random.default_rng(3).normal(0.0, 0.2, 40)
    limits = TrendLimits(tolerance=5.0, unit="mm")  # the drift reaches 5 mm near day 29, the data run to 39
    past = analyse(_points(rising, days), limits).projection
    assert past is not None and past.already_met
    assert past.at < T0 + timedelta(days=39)
    ahead = analyse(_points(rising, days), TrendLimits(tolerance=15.0, unit="mm")).projection
    assert ahead is not None and not ahead.already_met and ahead.at > T0 + timedelta(days=39)
    assert _projection_text(past).startswith("met on ") and not _projection_text(ahead).startswith("met")
