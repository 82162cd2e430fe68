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
