"""A campaign end to end on a LocalCluster: rows, Parquet, report, and failures kept as misses."""

from __future__ import annotations

import operator
from pathlib import Path

import pandas as pd
import pytest

from validation.campaign import CampaignInputError, resolve_scenarios, run_tasks, validate
from validation.report import DOCS_BEGIN, DOCS_END, update_docs
from validation.task import run_task

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_tracker_registration_campaign_writes_table_and_report(tmp_path: Path):
    outcome = validate(["tracker-registration"], rigs=3, base_seed=40, workers=2, out_dir=tmp_path)
    table = outcome.table
    assert sorted(set(table["seed"])) == [40, 41, 42]
    assert set(table["metric"]) == {"residual", "max_residual"}
    assert table["error"].isna().all(), table["error"].dropna().tolist()
    assert outcome.table.attrs["cluster"]["workers"] == 2

    stored = pd.read_parquet(tmp_path / "campaign.parquet")
    pd.testing.assert_frame_equal(stored, table.reset_index(drop=True), check_like=False)
    assert stored["truth"].dtype == "float64"

    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Operating characteristics" in html and html.count("<svg") >= 3  # 1 OC + 2 z histograms
    assert "tracker-registration" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert outcome.gate.passed == (not outcome.gate.reasons)

    # the docs section is rewritten from the campaign(s), with the OC-curve grid beside the page
    doc = tmp_path / "docs" / "validation.md"
    doc.parent.mkdir()
    doc.write_text(f"# page\n\n{DOCS_BEGIN}\nOLD-SECTION\n{DOCS_END}\n\nafter\n", encoding="utf-8")
    update_docs([tmp_path], doc)
    text = doc.read_text(encoding="utf-8")
    assert "OLD-SECTION" not in text and text.endswith("after\n")
    assert "| tracker-registration | residual |" in text
    assert "(img/validation-oc.svg)" in text
    assert (doc.parent / "img" / "validation-oc.svg").read_text(encoding="utf-8").startswith("<svg")
    with pytest.raises(ValueError, match="overlap"):
        update_docs([tmp_path, tmp_path], doc)

    # any row is reproducible alone from its seed
    again = {r["metric"]: r for r in run_task("tracker-registration", 41)}
    row = table[(table["seed"] == 41) & (table["metric"] == "residual")].iloc[0]
    assert (again["residual"]["truth"], again["residual"]["value"]) == (row["truth"], row["value"])


def test_failing_tasks_become_error_rows_never_lost():
    rows, info = run_tasks(
        [("tracker-registration", 0), ("no-such-scenario", 1)], workers=1, progress=False
    )
    assert info.tasks == 2
    bad = [r for r in rows if r["scenario"] == "no-such-scenario"]
    assert len(bad) == 1 and "unknown scenario 'no-such-scenario'" in bad[0]["error"]
    # a task function that raises on the worker: the future fails, the client writes the rows
    rows, _ = run_tasks([("tracker-registration", 3)], workers=1, progress=False, task=operator.truediv)
    assert {r["metric"] for r in rows} == {"residual", "max_residual"}
    assert all("task failed on the cluster: TypeError" in r["error"] for r in rows)


def test_names_resolve_to_scenarios_or_fail_clearly():
    assert resolve_scenarios(["tracker-registration"]) == ["tracker-registration"]
    with pytest.raises(CampaignInputError, match="unknown sequence or scenario 'nope'"):
        resolve_scenarios(["nope"])
