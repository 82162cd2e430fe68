"""docs/rig.md and docs/session.md match the models; `hilcal rig schema`; the real-hardware examples load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli import app
from controller.commissioning import load_session
from controller.config import RigConfig, load_rig_config
from controller.plan_check import check_plan
from controller.rig_schema import DOCS, GENERATED_PAGES, model_table, nested_models, render, rig_schema
from drivers.ndi.roms import ROM_FOLDER
from sequences import get_sequence

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("page", sorted(GENERATED_PAGES))
def test_docs_field_tables_match_the_models(page: str):
    text = (DOCS / page).read_text(encoding="utf-8")
    assert render(text, GENERATED_PAGES[page]()) == text, (
        f"docs/{page} is out of date with the models: run `python -m controller.rig_schema`"
    )


def test_every_rig_field_is_in_the_rig_page():
    text = (DOCS / "rig.md").read_text(encoding="utf-8")
    for model in nested_models(RigConfig):
        for name in model.model_fields:
            assert f"| `{name}` |" in text, f"{model.__name__}.{name}"
    assert "PydanticUndefined" not in text and " object at 0x" not in text


def test_a_changed_model_fails_the_comparison():
    text = (DOCS / "rig.md").read_text(encoding="utf-8")
    stale = text.replace("| `visa_library` | str | '@py' |", "| `visa_library` | str | '@ivi' |")
    assert stale != text
    assert render(stale, GENERATED_PAGES["rig.md"]()) != stale
    assert "| `timeout_s` | float | 1 |" in model_table(
        RigConfig.model_fields["devices"].annotation.__args__[1]
    )


def test_rig_schema_has_driver_params_and_visa_library(tmp_path: Path):
    out = tmp_path / "rig.schema.json"
    result = runner.invoke(app, ["rig", "schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    schema = json.loads(out.read_text(encoding="utf-8"))
    assert schema == json.loads(json.dumps(rig_schema()))
    defs = schema["$defs"]
    assert schema["properties"]["visa_library"]["default"] == "@py"
    assert "visa_library" in defs["DeviceConfig"]["properties"]
    branches = {b["if"]["properties"]["driver"]["const"]: b["then"] for b in defs["DeviceConfig"]["allOf"]}
    assert branches["zaber-ascii"]["properties"]["params"] == {"$ref": "#/$defs/params_zaber_ascii"}
    assert "microstep_size_um" in defs["params_zaber_ascii"]["required"]
    assert "HexapodMounting" in defs  # nested driver models are reachable
    stdout = runner.invoke(app, ["rig", "schema"])
    assert json.loads(stdout.output)["title"] == "hilcal rig file"


@pytest.fixture
def rom_dir(tmp_path: Path, monkeypatch) -> Path:
    """The couch example names vendor ROM files relative to the working directory: stand-ins here."""
    (tmp_path / "roms").mkdir()
    for name in ("registration-1", "registration-2", "registration-3", "registration-4"):
        shutil.copy(ROM_FOLDER / "reference.rom", tmp_path / "roms" / f"{name}.rom")
    shutil.copy(ROM_FOLDER / "couch.rom", tmp_path / "roms" / "couch-array.rom")
    monkeypatch.chdir(tmp_path)
    return tmp_path


EXAMPLE_PLANS = [
    ("water-tank-zaber.yaml", "phantom-axis-iso230", {"axis": "phantom_x"}),
    ("water-tank-zaber.yaml", "phantom-axis-iso230", {"axis": "phantom_z", "runs": 2}),
    (
        "electrometers.yaml",
        "electrometer-leakage-reproducibility",
        {"dosimeter": "electrometer_6517b", "range": "auto"},
    ),
    (
        "electrometers.yaml",
        "electrometer-leakage-reproducibility",
        {"dosimeter": "electrometer_unidos", "range": "MEDIUM"},
    ),
]


@pytest.mark.parametrize(("rig", "sequence", "params"), EXAMPLE_PLANS)
def test_example_rigs_load_and_plan_check(rig: str, sequence: str, params: dict, rom_dir: Path):
    config = load_rig_config(EXAMPLES / rig)
    assert not config.simulated
    seq = get_sequence(sequence)
    checked = check_plan(config, seq, seq.parse_params(params), source=rig)
    assert checked.devices and not checked.warnings


def test_example_session_plan_checks_on_the_couch_rig(rom_dir: Path):
    config = load_rig_config(EXAMPLES / "couch-hexapod-vega.yaml")
    session = load_session(EXAMPLES / "session-couch.yaml")
    for step in session.steps:
        seq = get_sequence(step.sequence)
        check_plan(config, seq, seq.parse_params(step.params), source=step.sequence)


def test_examples_reach_real_hardware_ports():
    ports = {
        name: device.port
        for rig in ("water-tank-zaber.yaml", "electrometers.yaml", "couch-hexapod-vega.yaml")
        for name, device in load_rig_config(EXAMPLES / rig).devices.items()
    }
    assert ports["phantom_x"] == "/dev/ttyUSB0"
    assert ports["electrometer_6517b"] == "GPIB0::27::INSTR"
    assert ports["electrometer_unidos"].startswith("TCPIP::10.0.0.20::8123::SOCKET")
    assert ports["couch"].startswith("socket://") and ports["tracker"].startswith("socket://")
    assert (
        load_rig_config(EXAMPLES / "electrometers.yaml").devices["electrometer_6517b"].visa_library == "@ivi"
    )
