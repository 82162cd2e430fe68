"""`hilcal --version`, a readable `hilcal sequences`, and pyproject's SPDX licence that pip still builds."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_hilcal_and_key_dependencies():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"hilcal {version('hilcal')}"
    for package in ("pydantic", "pyvisa", "pyvisa-py", "pyserial", "numpy"):
        assert f"  {package} {version(package)}" in lines
    assert any(line.startswith("  python 3.") for line in lines)


def test_sequences_listing_is_readable():
    result = runner.invoke(app, ["sequences"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "PydanticUndefined" not in text
    assert not re.search(r"<[\w.]+ object at 0x", text)
    assert "Tolerance(limit=" not in text  # models summarised, not repr'd
    assert "poses: list of CouchPose = [14 items]" in text
    assert re.search(r"axis: str = 'phantom_x'", text)


def test_defaults_say_required_and_summarise_models():
    from controller.rig_schema import default_text, type_text
    from drivers.pi_gcs.params import HexapodParams
    from drivers.registry import ZaberAxisParams

    assert default_text(ZaberAxisParams.model_fields["microstep_size_um"]) == "required"
    assert default_text(ZaberAxisParams.model_fields["checksums"]) == "false"
    assert default_text(HexapodParams.model_fields["soft_limits"]) == "{}"
    assert default_text(HexapodParams.model_fields["mounting"]).startswith(
        "HexapodMounting(origin_mm: [0, 0, 0]"
    )
    assert type_text(ZaberAxisParams.model_fields["encoder_count_size_um"].annotation) == "float | null"


def test_pyproject_licence_is_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "LicenseRef-Proprietary"
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))


@pytest.mark.slow
def test_pip_still_builds_the_editable_install_metadata():
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--dry-run", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Would install hilcal-" in result.stdout
    assert "deprecat" not in (result.stdout + result.stderr).lower()


def test_the_run_directory_line_names_only_files_the_run_writes(tmp_path: Path):
    args = ["run", "--sequence", "couch-pose-readback", "--runs-dir", str(tmp_path), "--no-report"]
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    result = runner.invoke(app, [*args, "--db", db], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (line,) = [text for text in result.output.splitlines() if text.startswith("Run directory:")]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert "report.html" not in line and not (run_dir / "report.html").exists()
    assert "journal.jsonl" in line and "results.json" in line
