"""The report a person reads: verdicts with their evidence, plots, and where everything came from.

Rendered with Jinja2 (autoescaped) into one self-contained HTML file with inline SVG plots, so it can be
attached to a commissioning record or opened years later without the software.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from controller.results import RunSummary

_ENV = Environment(
    loader=PackageLoader("controller", "templates"), autoescape=select_autoescape(["html", "j2"])
)


def _svg(figure: Any) -> Markup:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    import matplotlib.pyplot as plt

    plt.close(figure)
    text = buffer.getvalue()
    return Markup(text[text.find("<svg") :])


def write_report(run_dir: Path, summary: RunSummary, manifest: dict[str, Any]) -> Path:
    from sequences import get_sequence

    sections = []
    for result in summary.results:
        figures = [_svg(fig) for fig in get_sequence(result.sequence).figures(result)]
        sections.append({"result": result, "figures": figures})
    html = _ENV.get_template("report.html.j2").render(
        summary=summary,
        manifest=manifest,
        sections=sections,
        started=datetime.fromtimestamp(summary.started_wall, UTC).isoformat(timespec="seconds"),
        ended=datetime.fromtimestamp(summary.ended_wall, UTC).isoformat(timespec="seconds"),
    )
    path = run_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
