"""The trends page: one self-contained HTML file, one inline-SVG chart per (device, metric), and a table.

No network and no scripts, so it can be filed with the QA record and opened years later. Classes are told
apart by marker shape as well as colour (the page must survive a black-and-white printout); SVG text is
kept as text so the legend can be read, searched and tested.
"""

from __future__ import annotations

import html
import io
import re
from datetime import datetime
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from records.trends import PointClass, Projection, TrendAnalysis, TrendSeries

__all__ = ["STYLE", "TrendSeries", "render_trend_page"]

# class -> (legend label, colour, marker, filled)
STYLE: dict[PointClass, tuple[str, str, str, bool]] = {
    PointClass.BASELINE: ("baseline", "#555555", "o", False),
    PointClass.IN_CONTROL: ("in control", "#1f5fa8", "o", True),
    PointClass.DRIFT_WARNING: ("drift warning", "#d97706", "^", True),
    PointClass.OUT_OF_TOLERANCE: ("out of tolerance", "#b91c1c", "X", True),
    PointClass.NOT_MONITORED: ("not monitored (tolerance only)", "#555555", "D", False),
}
_SYMBOL = {PointClass.BASELINE: "○", PointClass.IN_CONTROL: "●", PointClass.DRIFT_WARNING: "▲",
           PointClass.OUT_OF_TOLERANCE: "✖", PointClass.NOT_MONITORED: "◇"}


def render_trend_page(series: list[TrendSeries], path: Path, title: str) -> Path:
    """Write the page to `path` (parents created) and return it."""
    charts = "\n".join(
        f'<section class="chart"><h2>{_e(s.device)} — {_e(s.metric)}</h2>'
        f"<p>{_e(s.description)} (sequence {_e(s.sequence)})</p>{_svg(s, i)}{_notes(s.analysis)}</section>"
        for i, s in enumerate(series)
    )
    body = f"<h1>{_e(title)}</h1>{_table(series)}{_method()}{charts}"
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _e(text: object) -> str:
    return html.escape(str(text))


def _date(at: datetime | None) -> str:
    return "beyond horizon" if at is None else at.strftime("%Y-%m-%d")


def _projection_text(p: Projection | None) -> str:
    if p is None:
        return "—"
    met = "met on " if p.already_met else ""
    return (f"{met}{_date(p.at)} ({p.confidence:.0%}: {_date(p.lower)} … {_date(p.upper)}; "
            f"{p.level_name} {p.level:g})")


def _table(series: list[TrendSeries]) -> str:
    rows = []
    for s in series:
        last = s.analysis.latest
        action = " <strong>action level exceeded</strong>" if last.action_exceeded else ""
        rows.append(
            f"<tr><td>{_e(s.device)}</td><td>{_e(s.metric)}</td>"
            f"<td>{last.value:.4g} ± {last.expanded_uncertainty:.2g} {_e(s.unit)}</td>"
            f'<td class="{last.point_class.value}">{_SYMBOL[last.point_class]} '
            f"{_e(STYLE[last.point_class][0])}{action}</td>"
            f"<td>{_e(', '.join(last.rules) or '—')}</td>"
            f"<td>{_e(_projection_text(s.analysis.projection))}</td></tr>"
        )
    head = ("<tr><th>device</th><th>metric</th><th>last value ± U</th><th>class</th><th>rule fired</th>"
            "<th>projected date (interval)</th></tr>")
    return f'<table class="summary"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _method() -> str:
    return ("<p class=\"method\">Centre line and control limits (±3σ, σ = MR̄/1.128) come from the shaded "
            "baseline. Drift warning: a point above 3σ, 2 of 3 above 2σ, 8 in a row above the centre, "
            "6 in a row increasing, or the one-sided EWMA above its limit, while the value is still within "
            "tolerance. The projection is a straight line fitted to the most recent points, with a Fieller "
            "interval for the date it meets the action level (see docs/trends.md).</p>")


def _notes(analysis: TrendAnalysis) -> str:
    if not analysis.notes:
        return ""
    return "<ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in analysis.notes) + "</ul>"


def _svg(s: TrendSeries, index: int) -> str:
    """Render the figure to SVG with ids made unique to this chart (several SVGs share one page)."""
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    main, lower = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    _draw_main(main, s)
    _draw_ewma(lower, s.analysis)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    lower.xaxis.set_major_locator(locator)
    lower.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    buffer = io.StringIO()
    salt = f"trend-{index}"
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.find("<svg"):]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{salt}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{salt}-\1)", text)
    return re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{salt}-\1"', text)


def _num(at: datetime) -> float:
    """Matplotlib's date number (days since its epoch): keeps the plotting calls typed."""
    return float(date2num(at))  # type: ignore[no-untyped-call]


def _draw_main(ax: Axes, s: TrendSeries) -> None:
    a, pts = s.analysis, s.analysis.points
    times = [_num(p.at) for p in pts]
    ax.errorbar(times, [p.value for p in pts], yerr=[p.expanded_uncertainty for p in pts], fmt="none",
                ecolor="#bbbbbb", elinewidth=0.8, zorder=1)
    ax.plot(times, [p.value for p in pts], color="#999999", lw=0.6, zorder=1)
    for cls, (label, colour, marker, filled) in STYLE.items():
        sel = [p for p in pts if p.point_class is cls]
        if sel:
            ax.scatter([_num(p.at) for p in sel], [p.value for p in sel], marker=marker, s=36, label=label,
                       edgecolors=colour, facecolors=colour if filled else "white", zorder=3)
    if a.chart is not None:
        c = a.chart
        if c.baseline_stop > c.baseline_start:  # not when the points shown begin after the baseline
            ax.axvspan(times[c.baseline_start], times[c.baseline_stop - 1], color="#e5e7eb",
                       label="baseline period", zorder=0)
        ax.axhline(c.centre, color="#333333", lw=1, label=f"centre {c.centre:.4g}")
        ax.axhline(c.ucl, color="#333333", lw=1, ls="--", label="control limits ±3σ")
        ax.axhline(c.lcl, color="#333333", lw=1, ls="--")
    ax.axhline(a.limits.tolerance, color="#b91c1c", lw=1.5, label=f"tolerance {a.limits.tolerance:g}")
    if a.limits.action is not None:
        ax.axhline(a.limits.action, color="#7f1d1d", lw=1.5, ls="-.", label=f"action {a.limits.action:g}")
    if a.projection is not None:
        _draw_projection(ax, a.projection, pts[a.projection.window_start].at, pts[-1].at)
    ax.set_ylabel(f"{s.metric} / {s.unit}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(alpha=0.3)


def _draw_projection(ax: Axes, p: Projection, start: datetime, last: datetime) -> None:
    def fitted(t: datetime) -> float:
        return p.intercept_at_last + p.slope_per_day * (t - last).total_seconds() / 86400.0

    at = _num(p.at)
    ax.plot([_num(start), at], [fitted(start), p.level], color="#6b21a8", lw=1, ls=":", label="trend fit")
    lo = at - _num(p.lower) if p.lower is not None else 0.0
    hi = _num(p.upper) - at if p.upper is not None else 0.0
    ax.errorbar([at], [p.level], xerr=[[lo], [hi]], fmt="s", color="#6b21a8",
                capsize=4, ms=6, label=f"projected crossing ({p.confidence:.0%} interval)")


def _draw_ewma(ax: Axes, a: TrendAnalysis) -> None:
    mon = [p for p in a.points if p.ewma is not None]
    if a.chart is None or not mon:
        ax.text(0.5, 0.5, "no EWMA: no monitored points", transform=ax.transAxes, ha="center", fontsize=8)
        ax.set_yticks([])
        return
    times = [_num(p.at) for p in mon]
    ax.plot(times, [p.ewma or 0.0 for p in mon], color="#1f5fa8", lw=1.2, marker=".", label="EWMA")
    ax.step(times, [p.ewma_limit or 0.0 for p in mon], where="mid", color="#d97706", ls="--", lw=1,
            label="EWMA limit")
    ax.axhline(a.chart.centre, color="#333333", lw=0.8)
    ax.set_ylabel("EWMA", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(alpha=0.3)


_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #111; }
table.summary { border-collapse: collapse; margin-bottom: 1em; }
table.summary th, table.summary td { border: 1px solid #999; padding: 0.25em 0.5em; font-size: 0.9em; }
td.drift_warning { font-weight: bold; } td.out_of_tolerance { font-weight: bold; text-decoration: underline; }
section.chart { page-break-inside: avoid; margin-top: 1.5em; }
section.chart svg { max-width: 100%; height: auto; }
p.method, ul.notes { font-size: 0.85em; color: #333; }
@media print { body { margin: 0; } }
"""
