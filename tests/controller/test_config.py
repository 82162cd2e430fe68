"""Rig files: unknown fields, bad values and bad syntax name the file, field, value and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.config import load_rig_config
from controller.errors import ConfigError
from controller.rig.factory import build_rig


def _write(tmp_path: Path, data: object, name: str = "rig.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _rig(**device: object) -> dict[str, object]:
    base = {
        "role": "positioner",
        "driver": "zaber-ascii",
        "port": "/dev/ttyUSB0",
        "params": {"microstep_size_um": 0.1},
    }
    base.update(device)
    return {"name": "bench", "devices": {"stage": base}}


def test_default_rig_loads_and_is_simulated():
    config = load_rig_config()
    assert config.simulated and "phantom_x" in config.devices


def test_unknown_field_is_named_with_its_value(tmp_path):
    data = _rig()
    data["devices"]["stage"]["speed"] = 12  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        load_rig_config(_write(tmp_path, data))
    text = str(info.value)
    assert "rig.yaml" in text and "devices.stage.speed = 12" in text and "unknown field" in text


def test_bad_value_names_field_value_and_expectation(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_rig_config(_write(tmp_path, _rig(timeout_s=-3)))
    assert "devices.stage.timeout_s = -3: expected greater than 0" in str(info.value)


def test_missing_required_field(tmp_path):
    with pytest.raises(ConfigError, match=r"devices\.stage\.port: required field is missing"):
        load_rig_config(
            _write(tmp_path, {"name": "x", "devices": {"stage": {"role": "positioner", "driver": "z"}}})
        )


def test_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="(?s)broken.yaml.*not valid yaml"):
        load_rig_config(path)


def test_toml_rig_is_accepted(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text(
        'name = "t"\n[devices.stage]\nrole = "positioner"\ndriver = "zaber-ascii"\nport = "loop://"\n'
        "[devices.stage.params]\nmicrostep_size_um = 0.1\n",
        encoding="utf-8",
    )
    assert load_rig_config(path).devices["stage"].port == "loop://"


def test_driver_parameters_are_checked_by_the_driver_model(tmp_path):
    config = load_rig_config(_write(tmp_path, _rig(params={"microstep_size_um": 0, "adress": 2})))
    with pytest.raises(ConfigError) as info:
        build_rig(config, "rig.yaml")
    text = str(info.value)
    assert "devices.stage.params.microstep_size_um = 0: expected greater than 0" in text
    assert "devices.stage.params.adress = 2: unknown field" in text


def test_unknown_driver_lists_known_ones(tmp_path):
    config = load_rig_config(_write(tmp_path, _rig(driver="acme-9000")))
    with pytest.raises(
        ConfigError, match=r"devices\.stage\.driver = 'acme-9000': expected one of \[.*'zaber-ascii'"
    ):
        build_rig(config, "rig.yaml")


def test_sim_port_without_simulation_section(tmp_path):
    """Refused when the file is read: otherwise the rig would be taken for real hardware (and previewed)."""
    with pytest.raises(ConfigError, match="devices.stage.port = 'sim:phantom': 'sim:' ports need a sim"):
        load_rig_config(_write(tmp_path, _rig(port="sim:phantom")))


def test_mounting_with_zero_direction_or_unknown_system_is_refused(tmp_path):
    data = _rig(mounting={"system": "q", "origin_mm": [0, 0, 0], "direction": [0, 0, 0]})
    with pytest.raises(ConfigError) as info:
        load_rig_config(_write(tmp_path, data))
    text = str(info.value)
    assert "devices.stage.mounting.direction = [0, 0, 0]: expected" in text and "has no sense" in text
    assert "devices.stage.mounting.system = 'q'" in text
