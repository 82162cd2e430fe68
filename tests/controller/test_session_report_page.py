"""The session report is one printed page for the default session's 18 steps (issue 12: one page per
session), in real headless Chromium. The index is written by hand around two real run folders (one passing,
one failing, whose row carries the failed check), so no session has to run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from controller.config import RigConfig, load_rig_config
from controller.pdf import find_chromium, print_pdf
from controller.session import run_sequence
from controller.session_report import write_session_report

STEPS = 18  # controller/default_session.yaml


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert find_chromium() is not None, "Chromium is needed to print the report: apt-get install chromium"
    runs = tmp_path_factory.mktemp("session-page")
    config = load_rig_config(None)
    raw = config.model_dump(mode="json")
    raw["simulation"]["stages"]["phantom_x"]["backlash_mm"] = 0.5
    passing = run_sequence(config, "phantom-axis-iso230", {"runs": 2}, runs_dir=runs, write_report=False)
    failing = run_sequence(
        RigConfig.model_validate(raw), "phantom-axis-iso230", {"runs": 2}, runs_dir=runs, write_report=False
    )
    for outcome in (passing, failing):  # the links to each run's report and PDF take their room in the row
        (outcome.run_dir / "report.html").write_text("<html></html>", encoding="utf-8")
        (outcome.run_dir / "report.pdf").write_bytes(b"%PDF-1.4\n")
    sessions = yaml_steps()
    steps = []
    for number, (sequence, title) in enumerate(sessions):
        outcome = failing if number == 4 else passing
        steps.append(
            {
                "sequence": sequence,
                "title": title,
                "run_id": outcome.summary.run_id,
                "run_dir": str(outcome.run_dir),
                "state": "completed",
                "outcome": "FAIL" if number == 4 else "PASS",
                "error": None,
            }
        )
    path = runs / "session-20260101T000000Z-000000.json"
    path.write_text(
        json.dumps(
            {
                "session": "default-commissioning",
                "rig": "default-simulated",
                "simulated": True,
                "steps": steps,
            }
        ),
        encoding="utf-8",
    )
    return path


def yaml_steps() -> list[tuple[str, str]]:
    import yaml

    session = Path(__file__).resolve().parents[2] / "controller" / "default_session.yaml"
    steps = yaml.safe_load(session.read_text(encoding="utf-8"))["steps"]
    assert len(steps) == STEPS
    return [(s["sequence"], s.get("title") or s["sequence"]) for s in steps]


def test_the_default_sessions_report_prints_on_one_page(index: Path) -> None:
    html = write_session_report(index)
    assert len(re.findall(r'<tr class="step">', html.read_text(encoding="utf-8"))) == STEPS
    outcome = print_pdf(html)
    assert outcome.pdf is not None, outcome.skipped
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", outcome.pdf.read_bytes()))
    assert pages == 1, f"the session report of {STEPS} steps printed on {pages} pages"
