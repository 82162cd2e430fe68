"""A rig that cannot be built is bad input: exit 2, the device and the problem named, no traceback, no run
directory left behind for review or resume to reject."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli import app

runner = CliRunner()
DEFAULT_RIG = (Path(__file__).parents[2] / "controller" / "default_rig.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("driver: ptw-unidos", "driver: ptw-unidoz", "devices.electrometer_unidos.driver = 'ptw-unidoz'"),
        (
            "    role: dosimeter\n    driver: ptw-unidos",
            "    role: tracker\n    driver: ptw-unidos",
            "is a dosimeter",
        ),
        (
            "{bias_limit_v: 400, poll_interval_s: 0.5}",
            "{bias_limit_v: -4}",
            "devices.electrometer_unidos.params",
        ),
        (
            "port: sim:k6517b",
            "port: sim:nowhere",
            "devices.electrometer_6517b: cannot open it on port 'sim:nowhere'",
        ),
        (
            "port: sim:room_sensor",
            "port: /dev/ttyHILCAL-NOT-THERE",
            "devices.room_sensor: cannot open it on port '/dev/ttyHILCAL-NOT-THERE'",
        ),
    ],
)
def test_rig_that_cannot_be_built_exits_2_naming_the_device(tmp_path: Path, old: str, new: str, named: str):
    assert old in DEFAULT_RIG
    rig = tmp_path / "rig.yaml"
    rig.write_text(DEFAULT_RIG.replace(old, new, 1), encoding="utf-8")
    runs = tmp_path / "runs"
    params = tmp_path / "d1.yaml"
    params.write_text("environment: room_sensor\n", encoding="utf-8")  # the 6517B and the room sensor
    result = runner.invoke(
        app,
        [
            "run",
            "--rig",
            str(rig),
            "--sequence",
            "electrometer-leakage-reproducibility",
            "--params",
            str(params),
            "--runs-dir",
            str(runs),
        ],
    )
    assert result.exit_code == 2, result.output
    assert named in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert not runs.exists() or not any(runs.iterdir())


def test_a_bad_simulation_override_is_bad_input(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "run",
            "--sequence",
            "phantom-axis-iso230",
            "--set",
            "simulation.stages.phantom_x.backlash_mm=-1",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "backlash_mm" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_runs_dir_that_is_a_file_is_bad_input(tmp_path: Path):
    blocker = tmp_path / "runs"
    blocker.write_text("not a directory", encoding="utf-8")
    result = runner.invoke(app, ["run", "--sequence", "phantom-axis-iso230", "--runs-dir", str(blocker)])
    assert result.exit_code == 2, result.output
    assert "cannot create the run directory" in " ".join(result.output.split())
    assert "Traceback" not in result.output
