"""`hilcal due` on both backends: a dated history of real simulated runs, due and overdue by the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from controller.cli import app
from controller.config import load_rig_config
from controller.history import Drift, HistoryPlan, ProgrammeItem, simulate_history
from records.run_folder import read_run_folder
from records.schedule import INTERVALS, Frequency, Schedule, classify, due_report, next_due
from records.store import ResultsStore

runner = CliRunner()
MONDAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> dict[str, Path]:
    """Mon–Wed pass; on Thu the X stage's backlash is 0.52 mm, far past the 0.2 mm limit: B fails."""
    root = tmp_path_factory.mktemp("history")
    plan = HistoryPlan(
        days=4,
        start=MONDAY,
        items=[ProgrammeItem(sequence="phantom-axis-iso230", params={"runs": 2, "step_mm": 100.0})],
        drifts=[Drift(path="simulation.stages.phantom_x.backlash_mm", start=0.02, per_day=0.5, from_day=2)],
    )
    outcomes = simulate_history(load_rig_config(), plan, root, None)
    verdicts = [o.result.outcome.value if o.result else o.summary.state for o in outcomes]
    assert verdicts == ["PASS", "PASS", "PASS", "FAIL"], verdicts
    return {day: o.run_dir for day, o in zip(("mon", "tue", "wed", "thu"), outcomes, strict=True)}


def write_schedule(path: Path, **overrides) -> Path:
    body = {
        "name": "test programme",
        "accept_simulated": True,
        "items": [
            {"sequence": "phantom-axis-iso230", "device": "phantom_x", "frequency": "daily"},
            {"sequence": "phantom-axis-iso230", "device": "phantom_x", "frequency": "weekly"},
        ],
        **overrides,
    }
    path.write_text(yaml.safe_dump(body, allow_unicode=True))
    return path


def due(store_url: str, schedule: Path, at: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["due", "--schedule", str(schedule), "--at", at, "--db", store_url], env={"COLUMNS": "250"}
    )
    return result.exit_code, result.output


def test_windows_by_the_calendar():
    friday = date(2026, 3, 6)
    assert next_due(friday, INTERVALS[Frequency.DAILY], ["mon", "tue", "wed", "thu", "fri"]) == date(
        2026, 3, 9
    )
    assert next_due(friday, INTERVALS[Frequency.DAILY], ["mon", "sat"]) == date(2026, 3, 7)
    assert next_due(date(2026, 1, 31), INTERVALS[Frequency.MONTHLY], []) == date(2026, 2, 28)
    assert next_due(date(2026, 1, 31), INTERVALS[Frequency.QUARTERLY], []) == date(2026, 4, 30)
    assert next_due(date(2024, 2, 29), INTERVALS[Frequency.ANNUAL], []) == date(2025, 2, 28)
    weekly = next_due(friday, INTERVALS[Frequency.WEEKLY], [])
    assert weekly == date(2026, 3, 13)
    assert [classify(date(2026, 3, d), weekly, 2) for d in (12, 13, 15, 16)] == [
        "ok",
        "due",
        "due",
        "overdue",
    ]


def test_due_and_overdue_from_the_record(store_url, history, tmp_path):
    schedule = write_schedule(tmp_path / "schedule.yaml")
    with ResultsStore.open(store_url) as store:
        store.import_runs(history["mon"].parent)
    # Thursday: Wednesday's pass makes the daily item due today; Thursday's FAIL does not satisfy it.
    code, out = due(store_url, schedule, "2026-03-05")
    assert code == 0, out
    assert history["wed"].name in out and "DUE" in out
    assert f"later run {history['thu'].name}" in out and "FAIL" in out
    # Friday: the daily item is overdue (the failed Thursday run is not a done QA item) -> exit 1.
    code, out = due(store_url, schedule, "2026-03-06")
    assert code == 1, out
    assert "OVERDUE" in out and "1 of 2 item(s) overdue" in out
    # At 80 columns nothing is cut short: each cell wraps, so the run id reads whole down its column.
    narrow = runner.invoke(
        app,
        ["due", "--schedule", str(schedule), "--at", "2026-03-05", "--db", store_url],
        env={"COLUMNS": "80"},
    ).output
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 80
    run_column = "".join(line.split("│")[3].strip() for line in narrow.splitlines() if line.count("│") >= 7)
    assert history["wed"].name in run_column, narrow
    # The weekly item, last passed Wednesday 4 March: due 11 March, grace to 13 March, overdue from 14 March.
    weekly = Schedule.model_validate(yaml.safe_load(schedule.read_text()))
    with ResultsStore.open(store_url) as store:
        status = {
            day: due_report(store, weekly, datetime(2026, 3, day, 12, tzinfo=UTC))[1].status
            for day in (10, 11, 13, 14)
        }
    assert status == {10: "ok", 11: "due", 13: "due", 14: "overdue"}
    # Before the first run nothing satisfies: never performed, overdue.
    code, out = due(store_url, schedule, "2026-03-01")
    assert code == 1 and "never performed" in out


def test_a_signed_off_fail_satisfies_the_item(store_url, history, tmp_path):
    schedule = write_schedule(tmp_path / "schedule.yaml")
    thursday = read_run_folder(history["thu"])
    with ResultsStore.open(store_url) as store:
        store.import_runs(history["mon"].parent)
        store.sign(
            thursday.run_id,
            "A. Physicist",
            "QMP",
            thursday.journal_sha256 or "",
            thursday.journal_records or 0,
            None,
            "B over limit; stage serviced",
        )
    code, out = due(store_url, schedule, "2026-03-06")
    assert code == 0, out
    assert f"{history['thu'].name} (2026-03-05, FAIL, signed off)" in out


def test_simulated_runs_count_only_when_the_schedule_says_so(store_url, history, tmp_path):
    with ResultsStore.open(store_url) as store:
        store.import_runs(history["mon"].parent)
    code, out = due(store_url, write_schedule(tmp_path / "real.yaml", accept_simulated=False), "2026-03-04")
    assert code == 1 and "never performed" in out
    other = write_schedule(
        tmp_path / "other.yaml",
        items=[{"sequence": "phantom-axis-iso230", "device": "phantom_y", "frequency": "daily"}],
    )
    code, out = due(store_url, other, "2026-03-04")
    assert code == 1 and "never performed" in out  # another device's runs do not satisfy it


def test_programme_start_makes_a_new_item_due_not_overdue(store_url, tmp_path):
    schedule = write_schedule(tmp_path / "s.yaml", start="2026-03-02")
    assert due(store_url, schedule, "2026-03-02")[0] == 0
    assert due(store_url, schedule, "2026-03-03")[0] == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"items": [{"sequence": "no-such-sequence", "device": "x", "frequency": "daily"}]},
            "no-such-sequence",
        ),
        (
            {"items": [{"sequence": "phantom-axis-iso230", "device": "x", "frequency": "fortnightly"}]},
            "fortnightly",
        ),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"items": []}, "items"),
    ],
)
def test_bad_schedules_are_bad_input(tmp_path, change, expected):
    code, out = due(
        "sqlite:///" + str(tmp_path / "r.sqlite"),
        write_schedule(tmp_path / "bad.yaml", **change),
        "2026-03-02",
    )
    assert code == 2 and expected in out
    assert not (tmp_path / "r.sqlite").exists()  # bad input never touches the record


def test_bad_date_is_bad_input(tmp_path):
    code, out = due(
        "sqlite:///" + str(tmp_path / "r.sqlite"), write_schedule(tmp_path / "s.yaml"), "next tuesday"
    )
    assert code == 2 and "--at" in out


def test_the_example_schedule_loads():
    result = runner.invoke(app, ["due", "--at", "2026-03-02"])
    assert result.exit_code == 1, result.output  # an empty record: every item never performed
    assert "example programme" in result.output
