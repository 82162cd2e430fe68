"""The report says which site overrides applied, in words (issue 12): no model repr such as
``tolerance='accuracy' limit_before=0.5``."""

from __future__ import annotations

import html
import re
from pathlib import Path

from controller.config import load_rig_config
from controller.report import render_run_folder
from controller.session import run_sequence

SITE = """\
site: Example Cancer Centre physics
overrides:
  phantom-axis-iso230:
    clinical-suggested:
      accuracy:
        limit: 0.3
        action_limit: 0.6
        unit: mm
        source: Departmental QA policy QP-07 rev. 3, section 4.2
        reason: our scanner is specified to ±0.1 mm
      backlash:
        action_limit: 0.3
        source: QP-07 rev. 3, section 4.3
        reason: a reversal of 0.3 mm stops beam-data scanning
"""


def test_site_overrides_are_listed_in_words(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    outcome = run_sequence(
        load_rig_config(None), "phantom-axis-iso230", {}, runs_dir=tmp_path / "runs", write_report=False,
        tolerances=site,
    )  # fmt: skip
    assert outcome.result is not None, outcome.summary.error
    page = render_run_folder(outcome.run_dir).read_text(encoding="utf-8")
    block = re.search(r'<p id="overrides-1">.*?</ul>', page, re.S)
    assert block is not None
    text = html.unescape(" ".join(re.sub(r"<[^>]+>", " ", block.group(0)).split()))
    assert "limit_before" not in text and "='" not in text, text
    assert (
        "accuracy (A (bidirectional accuracy)): tolerance 0.5 mm → 0.3 mm, action level 1 mm → 0.6 mm; "
        "source: Departmental QA policy QP-07 rev. 3, section 4.2; "
        "reason: our scanner is specified to ±0.1 mm; "
        f"from {site} (Example Cancer Centre physics)"
    ) in text
    assert "backlash (B (reversal value)): tolerance 0.2 mm unchanged, action level 0.4 mm → 0.3 mm;" in text
