"""What a campaign shows a reader: an HTML report (tables + inline SVG plots) and markdown tables for docs.

Like the run report (``controller.report``): one self-contained, autoescaped HTML file with the plots
inline as SVG, so it can be archived with the campaign table and opened without the software.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from matplotlib.figure import Figure

from validation.scoring import Gate, OcBin, Scores

_ENV = Environment(
    loader=PackageLoader("validation", "templates"), autoescape=select_autoescape(["html", "j2"])
)
MAX_ERRORS_LISTED = 50


def _svg(figure: Figure) -> Markup:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return Markup(text[text.find("<svg") :])


def _fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern % value


def oc_figure(bins: list[OcBin], title: str) -> Figure:
    """P(PASS) against truth/limit with its binomial intervals, the limit drawn at 1, counts per bin."""
    figure = Figure(figsize=(4.6, 3.2))
    ax = figure.add_subplot()
    centres = [(b.low + (b.high if math.isfinite(b.high) else b.low + 0.1)) / 2 for b in bins]
    p = np.array([b.p_pass for b in bins])
    low = p - np.array([b.p_pass_low for b in bins])
    high = np.array([b.p_pass_high for b in bins]) - p
    ax.errorbar(centres, p, yerr=[low, high], fmt="o-", ms=3, capsize=2, color="tab:blue", label="P(PASS)")
    ax.axvline(1.0, color="tab:red", ls="--", lw=1, label="limit")
    for x, b in zip(centres, bins, strict=True):
        ax.annotate(str(b.n), (x, -0.08), ha="center", fontsize=6, color="#666", annotation_clip=False)
    ax.set_ylim(-0.12, 1.05)
    ax.set_xlabel("truth / limit (last bin open above)")
    ax.set_ylabel("P(PASS)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    return figure


def z_figure(z: pd.Series, title: str) -> Figure:
    """Histogram of z = (value − truth)/u against the standard normal a calibrated u would give."""
    figure = Figure(figsize=(4.6, 3.0))
    ax = figure.add_subplot()
    finite = z[np.isfinite(z)].clip(-8, 8)
    ax.hist(finite, bins=30, range=(-8, 8), density=True, color="tab:gray", alpha=0.7, label="z")
    grid = np.linspace(-8, 8, 200)
    ax.plot(grid, np.exp(-(grid**2) / 2) / math.sqrt(2 * math.pi), color="tab:blue", lw=1, label="N(0,1)")
    ax.set_xlabel("z = (value − truth)/u (clipped to ±8)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return figure


def write_report(path: Path, table: pd.DataFrame, scores: Scores, gate: Gate) -> Path:
    oc_figures = []
    for risk in scores.risk:
        bins = [b for b in scores.oc if (b.scenario, b.metric) == (risk.scenario, risk.metric)]
        if bins:
            oc_figures.append(_svg(oc_figure(bins, f"{risk.scenario} / {risk.metric} ({risk.rule})")))
    z_figures = []
    ok = table[table["error"].isna() & (table["u"] > 0)]
    for (scenario, metric), group in ok.groupby(["scenario", "metric"], sort=True):
        z = (group["value"] - group["truth"]) / group["u"]
        z_figures.append(_svg(z_figure(z.astype(float), f"{scenario} / {metric} (n={len(z)})")))
    errors = table[table["error"].notna()].head(MAX_ERRORS_LISTED).to_dict("records")
    html = _ENV.get_template("validation.html.j2").render(
        scores=scores,
        gate=gate,
        campaign=table.attrs.get("campaign", {"scenarios": [], "rigs": 0, "base_seed": 0}),
        cluster=table.attrs.get("cluster", {"scheduler": "—", "workers": 0, "tasks": 0, "wall_s": 0.0}),
        written=datetime.now(UTC).isoformat(timespec="seconds"),
        oc_figures=oc_figures,
        z_figures=z_figures,
        errors=errors,
        fmt=_fmt,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def coverage_markdown(scores: Scores) -> str:
    rows = [
        [
            c.scenario,
            c.metric,
            str(c.n),
            str(c.errors),
            f"{c.coverage:.3f}",
            f"{c.coverage_low:.3f}–{c.coverage_high:.3f}",
            f"{c.claim:.4f}",
            _fmt(c.z_bias, "%+.2f"),
            _fmt(c.z_rms, "%.2f"),
            f"{_fmt(c.mean_U, '%.3g')} {c.unit or ''}".strip(),
            "ok" if c.ok else "**CI below claim**",
        ]
        for c in scores.coverage
    ]
    header = ["scenario", "metric", "n", "errors", "coverage", "95 % CI", "claim", "mean z", "rms z"]
    return _table([*header, "mean U", ""], rows)


def risk_markdown(scores: Scores) -> str:
    rows = [
        [
            r.scenario,
            r.metric,
            f"{r.limit:g}",
            str(r.rule),
            str(r.n),
            f"{r.passed}/{r.failed}/{r.inconclusive}",
            str(r.nonconforming),
            f"{r.false_accepts} (≤ {r.false_accept_high:.3f})",
            f"{r.false_rejects} ({r.false_reject_rate:.3f}, "
            f"{r.false_reject_low:.3f}–{r.false_reject_high:.3f})",
            f"{r.inconclusive_rate:.3f} ({r.inconclusive_low:.3f}–{r.inconclusive_high:.3f})",
        ]
        for r in scores.risk
    ]
    header = ["scenario", "metric", "limit", "rule", "n", "PASS/FAIL/INC", "truth > limit"]
    return _table([*header, "false accepts (95 % upper)", "false rejects (rate, CI)", "inconclusive"], rows)


def render_markdown(scores: Scores, gate: Gate, attrs: Mapping[str, Any] | None = None) -> str:
    """The campaign as markdown: how it was run, the gate, coverage and risk tables (for docs)."""
    attrs = attrs or {}
    campaign, cluster = attrs.get("campaign", {}), attrs.get("cluster", {})
    head = []
    if campaign:
        head.append(
            f"{campaign['rigs']} rigs per scenario (seeds {campaign['base_seed']}…"
            f"{campaign['base_seed'] + campaign['rigs'] - 1}), {len(campaign['scenarios'])} scenarios"
        )
    if cluster:
        head.append(
            f"{cluster['tasks']} tasks on {cluster['workers']} worker process(es) "
            f"in {cluster['wall_s']:.0f} s"
        )
    verdict = "holds" if gate.passed else "FAILS: " + "; ".join(gate.reasons)
    parts = [
        "; ".join(head) + "." if head else "",
        f"Gate {verdict}.",
        "### Coverage of the truth by ±U",
        coverage_markdown(scores),
        "### Decision risk",
        risk_markdown(scores),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


DOCS_BEGIN = "<!-- latest-campaign:begin (written by `make validate`; do not edit by hand) -->"
DOCS_END = "<!-- latest-campaign:end -->"


def oc_grid(scores: Scores) -> Figure:
    """Every verdict metric's operating characteristic as one grid of small panels (for the docs page)."""
    keys = sorted({(b.scenario, b.metric) for b in scores.oc})
    columns = 4
    rows = max(1, math.ceil(len(keys) / columns))
    figure = Figure(figsize=(3.0 * columns, 2.3 * rows))
    for index, (scenario, metric) in enumerate(keys):
        ax = figure.add_subplot(rows, columns, index + 1)
        bins = [b for b in scores.oc if (b.scenario, b.metric) == (scenario, metric) and b.n > 0]
        centres = [(b.low + (b.high if math.isfinite(b.high) else b.low + 0.1)) / 2 for b in bins]
        ax.plot(centres, [b.p_pass for b in bins], "o-", ms=2.5, lw=1, color="tab:blue")
        ax.fill_between(
            centres, [b.p_pass_low for b in bins], [b.p_pass_high for b in bins], color="tab:blue", alpha=0.15
        )
        ax.axvline(1.0, color="tab:red", ls="--", lw=0.8)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlim(0, 2.2)
        ax.set_title(f"{scenario}\n{metric}", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    figure.supxlabel("true value / limit (red: the limit)", fontsize=8)
    figure.supylabel("P(PASS) with 95 % interval", fontsize=8)
    figure.tight_layout()
    return figure


def load_campaigns(campaign_dirs: list[Path]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One table (and summed metadata) from the campaigns in ``campaign_dirs`` (disjoint scenarios)."""
    import json

    tables, attrs = [], []
    for campaign_dir in campaign_dirs:
        tables.append(pd.read_parquet(campaign_dir / "campaign.parquet"))
        meta = campaign_dir / "campaign.json"
        attrs.append(json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {})
    table = pd.concat(tables, ignore_index=True)
    if table.duplicated(["scenario", "seed", "metric"]).any():
        raise ValueError("the campaigns overlap: a (scenario, seed, metric) appears twice")
    merged: dict[str, Any] = {}
    if all("campaign" in a for a in attrs):
        merged["campaign"] = {
            "rigs": min(a["campaign"]["rigs"] for a in attrs),
            "base_seed": min(a["campaign"]["base_seed"] for a in attrs),
            "scenarios": sorted({s for a in attrs for s in a["campaign"]["scenarios"]}),
        }
    if all("cluster" in a for a in attrs):
        merged["cluster"] = {
            "tasks": sum(a["cluster"]["tasks"] for a in attrs),
            "workers": max(a["cluster"]["workers"] for a in attrs),
            "wall_s": sum(a["cluster"]["wall_s"] for a in attrs),
        }
    merged["written"] = ", ".join(str(a.get("written", "")) for a in attrs if a.get("written"))
    return table, merged


def update_docs(campaign_dirs: Path | list[Path], doc: Path) -> None:
    """Rewrite the marked section of ``doc`` with the tables of the campaign(s), and its OC-curve grid.

    The grid goes to ``img/validation-oc.svg`` beside ``doc``, linked from the section.
    """
    from validation.scoring import gate, score

    dirs = [campaign_dirs] if isinstance(campaign_dirs, Path) else list(campaign_dirs)
    table, attrs = load_campaigns(dirs)
    scores = score(table)
    body = render_markdown(scores, gate(scores), attrs)
    image = doc.parent / "img" / "validation-oc.svg"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_text(str(_svg(oc_grid(scores))), encoding="utf-8")
    body += (
        "\n### Operating characteristics\n\nP(PASS) against the true value over the limit, per verdict "
        "metric, with 95 % Clopper–Pearson intervals: a guarded rule's curve reaches 0 before the limit.\n\n"
        f"![operating characteristic of every verdict]({image.relative_to(doc.parent)})\n"
    )
    text = doc.read_text(encoding="utf-8")
    if DOCS_BEGIN not in text or DOCS_END not in text:
        raise ValueError(f"{doc} has no section marked {DOCS_BEGIN!r} … {DOCS_END!r}")
    head, rest = text.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    written = attrs.get("written", "")
    names = ", ".join(f"`{d}`" for d in dirs)
    stamp = f"Campaign {names}" + (f", written {written}" if written else "") + ".\n\n"
    doc.write_text(f"{head}{DOCS_BEGIN}\n{stamp}{body}{DOCS_END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 3:
        raise SystemExit("usage: python -m validation.report CAMPAIGN_DIR [CAMPAIGN_DIR ...] DOC.md")
    update_docs([Path(a) for a in sys.argv[1:-1]], Path(sys.argv[-1]))
