"""A key or a device given twice is an error that names it, never a silent replacement."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from controller.cli import app
from controller.commissioning import load_session
from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError

runner = CliRunner()
DEFAULT_RIG_TEXT = (Path(__file__).parents[2] / "controller" / "default_rig.yaml").read_text(encoding="utf-8")


def _rig_with_second_phantom_x(tmp_path: Path) -> Path:
    """The issue's case: a second ``phantom_x:`` entry (pointing at the Y arm) after the first."""
    text = DEFAULT_RIG_TEXT.replace(
        "  tracker:\n    role: tracker",
        "  phantom_x:\n    role: positioner\n    driver: zaber-ascii\n    port: sim:phantom\n"
        "    params: {address: 2, axis: 1}\n  tracker:\n    role: tracker",
        1,
    )
    path = tmp_path / "rig.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_device_named_twice_in_the_rig_file_is_refused_with_both_lines(tmp_path: Path):
    path = _rig_with_second_phantom_x(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_rig_config(path)
    text = str(caught.value)
    first_line = DEFAULT_RIG_TEXT.splitlines().index("  phantom_x:") + 1
    assert "duplicate key 'phantom_x'" in text and f"first given on line {first_line}" in text
    assert str(path) in text


def test_the_cli_exits_2_without_a_traceback_and_opens_nothing(tmp_path: Path):
    path = _rig_with_second_phantom_x(tmp_path)
    result = runner.invoke(app, ["run", "--rig", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "duplicate key 'phantom_x'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_nested_duplicate_key_is_refused(tmp_path: Path):
    path = tmp_path / "rig.yaml"
    path.write_text(
        DEFAULT_RIG_TEXT.replace("      address: 1\n", "      address: 1\n      address: 2\n", 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="duplicate key 'address'"):
        load_rig_config(path)


def test_a_session_step_key_given_twice_is_refused(tmp_path: Path):
    path = tmp_path / "session.yaml"
    path.write_text(
        "name: s\nsteps:\n  - sequence: phantom-axis-iso230\n    sequence: couch-pose-readback\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="duplicate key 'sequence'"):
        load_session(path)


def test_two_names_for_one_physical_axis_are_refused():
    raw = yaml.safe_load(DEFAULT_RIG_TEXT)
    raw["devices"]["phantom_x_again"] = dict(raw["devices"]["phantom_x"])
    same = "phantom_x_again and devices.phantom_x are the same physical device"
    with pytest.raises(ValueError, match=same):
        RigConfig.model_validate(raw)


def test_devices_on_one_chain_at_different_addresses_are_fine():
    assert len(load_rig_config().devices) >= 3  # phantom x, y, z share sim:phantom at addresses 1, 2, 3


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path: Path):
    path = tmp_path / "rig.yaml"
    path.write_bytes("name: r\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="expected UTF-8 text"):
        load_rig_config(path)
