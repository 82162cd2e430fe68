"""`hilcal export` on both backends: CSV, JSON and QATrack+ test-list instances from real simulated runs."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from controller.cli import app
from controller.config import load_rig_config
from controller.history import HistoryPlan, ProgrammeItem, simulate_history
from records.export import CSV_COLUMNS, default_slug
from records.run_folder import read_run_folder
from records.store import ResultsStore

runner = CliRunner()


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> list[Path]:
    """Three daily ISO 230-2 runs dated 2 to 4 March 2026."""
    root = tmp_path_factory.mktemp("history")
    plan = HistoryPlan(
        days=3,
        start=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        items=[ProgrammeItem(sequence="phantom-axis-iso230", params={"runs": 2, "step_mm": 100.0})],
    )
    return [outcome.run_dir for outcome in simulate_history(load_rig_config(), plan, root, None)]


@pytest.fixture
def record(store_url, history) -> str:
    with ResultsStore.open(store_url) as store:
        store.import_runs(history[0].parent)
    return store_url


def export(store_url: str, out: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["export", *args, "--out", str(out), "--db", store_url])
    return result.exit_code, result.output


def results_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())["results"][0]


def test_csv_one_row_per_metric_in_the_documented_columns(record, history, tmp_path):
    out = tmp_path / "e.csv"
    code, output = export(record, out, "--since", "2026-03-03", "--until", "2026-03-03", "--format", "csv")
    assert code == 0, output
    with out.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert {row["run_id"] for row in rows} == {history[1].name}  # 3 March only: --until includes the day
    result = results_of(history[1])
    verdicts = {v["metric"]: v for v in result["verdicts"]}
    assert len(rows) == len(verdicts) + len(result.get("informative") or {})
    row = next(r for r in rows if r["metric"] == "B")
    assert float(row["value"]) == pytest.approx(verdicts["B"]["measured"]["value"])
    assert float(row["tolerance_limit"]) == verdicts["B"]["tolerance"]["limit"]
    assert row["action_limit"] == str(verdicts["B"]["tolerance"].get("action_limit") or "")
    expanded = (
        verdicts["B"]["measured"]["standard_uncertainty"] * verdicts["B"]["measured"]["coverage_factor"]
    )
    assert float(row["expanded_uncertainty"]) == pytest.approx(expanded)
    assert row["simulated"] == "true" and row["performed_at"].startswith("2026-03-03")


def test_json_runs_with_metrics_and_signatures(record, history, tmp_path):
    first = read_run_folder(history[0])
    with ResultsStore.open(record) as store:
        store.sign(
            first.run_id, "A. Physicist", "QMP", first.journal_sha256 or "", first.journal_records or 0, None
        )
    out = tmp_path / "e.json"
    code, output = export(record, out, "--since", "2026-03-01", "--format", "json")
    assert code == 0, output
    document = json.loads(out.read_text())
    assert (document["format"], document["version"]) == ("hilcal-results", 1)
    assert [run["run_id"] for run in document["runs"]] == [p.name for p in history]
    run = document["runs"][0]
    assert run["device_name"] == "phantom_x" and run["device_key"].count("/") == 2
    assert run["journal_sha256"] == first.journal_sha256
    (signature,) = run["signatures"]
    assert (signature["by"], signature["void"]) == ("A. Physicist", False)
    assert {m["metric"] for m in run["metrics"]} >= {"A", "B"}
    assert document["runs"][1]["signatures"] == []
    # A re-recorded run's signature is exported as void.
    with ResultsStore.open(record) as store:
        store.record(first.model_copy(update={"journal_sha256": "e" * 64}))
    export(record, out, "--run", first.run_id, "--format", "json")
    (run,) = json.loads(out.read_text())["runs"]
    assert run["signatures"][0]["void"] is True


def test_qatrack_test_list_instances_with_a_centre_map(record, history, tmp_path):
    mapping = tmp_path / "qatrack.yaml"
    mapping.write_text(
        yaml.safe_dump(
            {
                "collections": {
                    "phantom-axis-iso230@phantom_x": "https://qa.example/api/qa/unittestcollections/12/"
                },
                "slugs": {"phantom-axis-iso230": {"A": "tank_x_accuracy", "B": "tank_x_reversal"}},
                "include_simulated": True,
            }
        )
    )
    out = tmp_path / "q.json"
    code, output = export(
        record, out, "--since", "2026-03-01", "--format", "qatrack", "--qatrack-map", str(mapping)
    )
    assert code == 0, output
    document = json.loads(out.read_text())
    assert document["endpoint"] == "/api/qa/testlistinstances/" and document["unmapped"] == []
    instances = document["test_list_instances"]
    assert len(instances) == 3
    body = instances[0]
    assert set(body) == {
        "unit_test_collection",
        "work_started",
        "work_completed",
        "in_progress",
        "include_for_scheduling",
        "user_key",
        "comment",
        "tests",
    }
    assert body["unit_test_collection"] == "https://qa.example/api/qa/unittestcollections/12/"
    assert datetime.fromisoformat(body["work_started"]) == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert datetime.fromisoformat(body["work_completed"]) >= datetime.fromisoformat(body["work_started"])
    assert body["in_progress"] is False and body["include_for_scheduling"] is True
    assert set(body["tests"]) == {"tank_x_accuracy", "tank_x_reversal"}  # only the mapped metrics
    verdicts = {v["metric"]: v for v in results_of(history[0])["verdicts"]}
    assert body["tests"]["tank_x_reversal"]["value"] == pytest.approx(verdicts["B"]["measured"]["value"])
    assert "U = " in body["tests"]["tank_x_reversal"]["comment"]
    assert "SIMULATED" in body["comment"]
    keys = [i["user_key"] for i in instances]
    assert len(set(keys)) == 3 and all(len(k) <= 255 for k in keys)


def test_qatrack_without_a_map_leaves_simulated_runs_out_and_generates_slugs(record, history, tmp_path):
    out = tmp_path / "q.json"
    code, output = export(record, out, "--since", "2026-03-01", "--format", "qatrack")
    assert code == 0, output
    document = json.loads(out.read_text())
    assert document["test_list_instances"] == []
    assert document["skipped_simulated"] == [p.name for p in history]
    mapping = tmp_path / "m.toml"
    mapping.write_text("include_simulated = true\n")
    export(record, out, "--run", history[0].name, "--format", "qatrack", "--qatrack-map", str(mapping))
    document = json.loads(out.read_text())
    (body,) = document["test_list_instances"]
    assert document["unmapped"] == [history[0].name] and body["unit_test_collection"] is None
    verdicts = [v["metric"] for v in results_of(history[0])["verdicts"]]
    assert set(body["tests"]) == {default_slug("phantom-axis-iso230", m) for m in verdicts}
    assert all(slug.isidentifier() for slug in body["tests"])


def test_default_slugs_are_identifiers():
    assert (
        default_slug("electrometer-leakage-reproducibility", "Δt")
        == "electrometer_leakage_reproducibility_delta_t"
    )
    assert default_slug("couch-rotation-walkout", "r_max (3-D)") == "couch_rotation_walkout_r_max_3_D"


def test_action_limit_flows_from_results_to_the_export(store_url, history, tmp_path):
    folder = Path(shutil.copytree(history[0], tmp_path / "with-action"))
    summary = json.loads((folder / "results.json").read_text())
    summary["results"][0]["verdicts"][0]["tolerance"]["action_limit"] = 0.35
    (folder / "results.json").write_text(json.dumps(summary))
    metric = summary["results"][0]["verdicts"][0]["metric"]
    with ResultsStore.open(store_url) as store:
        store.record_folder(folder)
    out = tmp_path / "a.json"
    assert export(store_url, out, "--run", summary["run_id"], "--format", "json")[0] == 0
    (run,) = json.loads(out.read_text())["runs"]
    limits = {m["metric"]: m["action_limit"] for m in run["metrics"] if m["kind"] == "verdict"}
    stated = {v["metric"]: v["tolerance"].get("action_limit") for v in summary["results"][0]["verdicts"]}
    assert limits == stated and limits[metric] == 0.35


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "csv"], "--since"),
        (["--since", "March", "--format", "csv"], "--since"),
        (["--since", "2026-03-02", "--format", "xml"], "xml"),
        (["--since", "2026-03-05", "--until", "2026-03-01"], "not after"),
        (["--run", "no-such-run", "--format", "json"], "no-such-run"),
    ],
)
def test_bad_input(store_url, tmp_path, args, expected):
    code, output = export(store_url, tmp_path / "x", *args)
    assert code == 2 and expected in output
    assert not (tmp_path / "x").exists()
