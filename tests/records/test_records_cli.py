"""The QA record's commands as a person meets them: where the record is, said in the help."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from controller.cli import app


def test_the_main_help_says_where_the_record_is():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "runs/qa-record.sqlite" in result.output and "HILCAL_DB" in result.output


@pytest.mark.parametrize("command", [["run"], ["trends"], ["db", "import"], ["simulate-history"]])
def test_every_db_option_names_its_variable_and_default(command):
    """The --db help's "[env HILCAL_DB; default: …]" once vanished: rich took the brackets for markup."""
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    line = next(line for line in result.output.splitlines() if "--db" in line)
    assert "HILCAL_DB" in line and "qa-record.sqlite in the runs folder" in line, line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["trends", "--since", "yesterday"], "error: --since 'yesterday': expected an ISO 8601 date"),
        (["trends", "--db", "mysql://x"], "error: database URL 'mysql://x': expected sqlite"),
        (["run", "--db", "mysql://x"], "error: --db 'mysql://x': expected sqlite"),
        (["baseline", "no-such-run", "--by", "A. Physicist"], "error: run 'no-such-run' is not in the QA"),
        (["simulate-history", "--plan", "/nonexistent/plan.yaml"], "error: "),
    ],
)
def test_bad_input_is_said_plainly_and_exits_2(args, said, tmp_path, monkeypatch):
    """The error prefix is red on a terminal, never the literal markup "[red]error:[/red]"."""
    monkeypatch.setenv("HILCAL_DB", f"sqlite:///{tmp_path / 'qa.sqlite'}")
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 2, result.output
    assert said in result.output and "[red]" not in result.output and "[/red]" not in result.output


def test_two_sessions_then_trends_shows_both_in_the_default_record(tmp_path, monkeypatch):
    """What a newcomer does: `make run` twice, then `hilcal trends` (a shorter session, same commands).

    The polarity step reports P_pol as a verdict and as an informative value: its trend once held each
    run twice and `hilcal trends` stopped with a traceback.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HILCAL_DB")  # the default: runs/qa-record.sqlite
    (tmp_path / "session.yaml").write_text(
        "name: quick\nsteps:\n"
        "  - {sequence: phantom-axis-iso230, params: {runs: 2, step_mm: 100}}\n"
        "  - {sequence: chamber-polarity-recombination}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for _ in range(2):
        done = runner.invoke(app, ["run", "--session", "session.yaml", "--no-report"])
        assert done.exit_code == 0, done.output
    assert (tmp_path / "runs" / "qa-record.sqlite").is_file()
    result = runner.invoke(app, ["trends"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") == 8}
    for metric in ("A", "R", "B", "P_pol", "P_ion"):
        assert rows[metric].split("│")[2].strip() == "2", rows[metric]  # both sessions, once each
    assert (tmp_path / "runs" / "trends.html").is_file()
    # At 80 columns every device key and metric is still there whole (the table once showed "KEITHL…").
    narrow = runner.invoke(app, ["trends"], env={"COLUMNS": "80"}).output
    assert max(len(line) for line in narrow.splitlines()) <= 80
    titles = [line.strip() for line in narrow.splitlines() if " · " in line]
    assert any(t.endswith("· phantom-axis-iso230") and t.count("/") == 2 for t in titles), titles
    assert any(t.endswith("· chamber-polarity-recombination") for t in titles), titles
    cells = {line.split("│")[1].strip() for line in narrow.splitlines() if line.count("│") == 8}
    assert {"A", "R", "B", "P_pol", "P_ion"} <= cells, cells
