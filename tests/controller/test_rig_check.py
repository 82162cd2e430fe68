"""`hilcal rig check`: identities read, limits and settings compared, every problem at once, nothing moved;
and the VISA library chosen in the rig file."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from controller.cli import app
from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError
from controller.rig.factory import build_rig
from controller.rig_check import check_rig
from drivers.transport.base import Exchange

runner = CliRunner()

#: Commands that move, reference, energise or start something, per protocol (what the check must never send).
FORBIDDEN = [
    re.compile(rb"^/\d+ \d+ (\d+ )?(home|move|stop|estop|set)\b"),  # Zaber ASCII
    re.compile(rb"^(MOV|MVR|FRF|SVO|SPI|STP|HLT)\b(?!\?)"),  # PI GCS (queries end in '?')
    re.compile(rb"^(HV|RGE|IT|UEL);"),  # UNIDOS settings (a bare 'HV' is the query)
    re.compile(rb"^(STA|INT|RES|NUL|GO)\b"),  # UNIDOS integration / zero
    re.compile(rb"^:?(OUTP|SOUR)[^?]*\s"),  # Keithley V-source: any set (queries end in '?')
    re.compile(rb"^:?SYST:ZCH\s"),  # Keithley zero check switched
    re.compile(rb"^(TSTART|BEEP)"),  # NDI tracking start
]


def _default_raw() -> dict:
    return load_rig_config().model_dump(mode="json")


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_simulated_rig_checks_clean_reads_every_identity_and_sends_no_motion():
    sent: list[Exchange] = []
    report = check_rig(
        load_rig_config(), "built-in", listener=lambda e: sent.append(e) if e.direction == "tx" else None
    )
    assert report.ok, report.all_problems()
    assert {d.name for d in report.devices} == set(load_rig_config().devices)
    for device in report.devices:
        assert device.identity is not None and device.identity.serial, device.name
    assert report.devices[0].identity.vendor == "Zaber Technologies"  # type: ignore[union-attr]
    couch = next(d for d in report.devices if d.name == "couch")
    assert any("pivot (SPI?)" in note for note in couch.notes)
    tracker = next(d for d in report.devices if d.name == "tracker")
    assert any("6 tool(s) loaded" in note for note in tracker.notes)
    assert len(sent) > 50  # every device really talked
    commands = [line.lstrip(b"\x05") for e in sent for line in e.data.split(b"\n") if line.strip()]
    bad = [c for c in commands if any(p.search(c) for p in FORBIDDEN)]
    assert not bad, bad


def test_forbidden_patterns_would_catch_motion():
    for command in (
        b"/1 1 03 move abs 1000:AB",
        b"/1 1 home",
        b"MOV X 1",
        b"FRF",
        b"HV;300",
        b"STA",
        b":OUTP ON",
        b":SOUR:VOLT 300",
        b"TSTART:5423",
    ):
        assert any(p.search(command) for p in FORBIDDEN), command
    for command in (b"/1 1 02 get limit.max", b"MOV? X Y Z U V W", b"HV", b":OUTP?", b"SPI?"):
        assert not any(p.search(command) for p in FORBIDDEN), command


def test_every_problem_is_reported_at_once(tmp_path: Path):
    raw = _default_raw()
    raw["devices"]["phantom_x"]["soft_limits_mm"] = [-10.0, 320.0]  # wider than the stage's 0..300 mm
    raw["devices"]["couch"]["params"]["mounting"]["pivot_mm"] = [0.0, 0.0, 5.0]  # SPI? says 0, 0, 0
    raw["devices"]["electrometer_unidos"]["params"]["bias_limit_v"] = 250  # the UNIDOS is set to 300 V
    raw["devices"]["electrometer_6517b"]["certificate"] = {
        "id": "C-1",
        "issued": "2023-01-01",
        "expires": "2025-01-01",
    }
    raw["tracker_registration"]["points_mm"]["reg_9"] = [0.0, 0.0, 0.0]
    raw["devices"]["room_sensor"]["port"] = "/dev/hilcal-no-such-port"
    config = RigConfig.model_validate(raw)
    report = check_rig(config, "rig.yaml", today=date(2026, 6, 1))
    assert not report.ok
    by_device = {d.name: d.problems for d in report.devices}
    assert any("soft_limits_mm [-10, 320]" in p and "[0, 300]" in p for p in by_device["phantom_x"])
    assert any("PivotMismatch" in p for p in by_device["couch"])
    assert any("set to 300 V, above params.bias_limit_v 250 V" in p for p in by_device["electrometer_unidos"])
    assert any("expired on 2025-01-01" in p for p in by_device["electrometer_6517b"])
    assert any("reg_9" in p for p in by_device["tracker"])
    assert any("hilcal-no-such-port" in p for p in by_device["room_sensor"])
    assert by_device["phantom_y"] == [] and by_device["phantom_z"] == []
    # the devices after the unopenable one were still checked
    assert next(d for d in report.devices if d.name == "phantom_y").identity is not None

    result = runner.invoke(app, ["rig", "check", str(_write(tmp_path, raw))])
    assert result.exit_code == 1, result.output
    assert "PROBLEM: soft_limits_mm" in result.output and "PivotMismatch" in result.output
    assert "Nothing was moved, homed or switched on." in result.output


def test_cli_ok_and_bad_input(tmp_path: Path):
    ok = runner.invoke(app, ["rig", "check", str(_write(tmp_path, _default_raw()))])
    assert ok.exit_code == 0, ok.output
    assert "identity: PTW UNIDOS" in ok.output and "Result: every device agrees" in ok.output
    raw = _default_raw()
    raw["devices"]["phantom_x"]["driver"] = "zaber-asci"
    raw["devices"]["phantom_y"]["params"]["microstep_size_um"] = -1
    bad = runner.invoke(app, ["rig", "check", str(_write(tmp_path, raw))])
    assert bad.exit_code == 2
    assert "devices.phantom_x.driver = 'zaber-asci'" in bad.output
    assert "devices.phantom_y.params.microstep_size_um" in bad.output


def test_expiring_certificate_is_said_but_not_a_problem():
    raw = _default_raw()
    raw["devices"]["electrometer_6517b"]["certificate"] = {
        "id": "C-2",
        "issued": "2025-01-01",
        "expires": "2026-06-20",
    }
    raw["devices"] = {"electrometer_6517b": raw["devices"]["electrometer_6517b"]}
    raw["tracker_registration"] = None
    report = check_rig(RigConfig.model_validate(raw), "rig", today=date(2026, 6, 1))
    assert report.ok, report.all_problems()
    assert any("expires soon, on 2026-06-20" in n for n in report.devices[0].notes)


# -- VISA library -------------------------------------------------------------------------------------
def _keithley_only(**extra: object) -> RigConfig:
    raw = _default_raw()
    raw["devices"] = {"electrometer_6517b": raw["devices"]["electrometer_6517b"]}
    raw["tracker_registration"] = None
    raw["motion_safety"] = None
    raw.update(extra)
    return RigConfig.model_validate(raw)


def test_visa_library_defaults_to_pyvisa_py_and_reaches_the_transport():
    config = _keithley_only()
    assert config.visa_library == "@py"
    with build_rig(config, "rig") as rig:
        (transport,) = rig.transports
        assert transport.visa_library == "@py"  # type: ignore[attr-defined]
        rig.connect_all()
        assert rig.devices.dosimeters["electrometer_6517b"].device_identity().model == "6517B"


@pytest.mark.parametrize("where", ["rig", "device"])
def test_a_visa_library_that_cannot_be_loaded_names_the_field(where: str):
    if where == "rig":
        config = _keithley_only(visa_library="@no-such-visa")
        field = "visa_library = '@no-such-visa'"
    else:
        config = _keithley_only()
        config.devices["electrometer_6517b"].visa_library = "/nonexistent/libvisa.so"
        field = "devices.electrometer_6517b.visa_library = '/nonexistent/libvisa.so'"
    with pytest.raises(ConfigError) as err:
        build_rig(config, "rig.yaml")
    text = str(err.value)
    assert field in text, text
    assert "'@ivi'" in text and "devices.electrometer_6517b on port" in text


def test_a_chamber_certificate_is_checked_with_its_electrometer():
    raw = _default_raw()
    raw["devices"]["electrometer_6517b"]["chamber"] = {
        "vendor": "PTW", "model": "TN30013", "serial": "008101",
        "certificate": {"id": "ADCL-7", "issued": "2023-01-01", "expires": "2025-01-01"},
    }  # fmt: skip
    raw["devices"] = {"electrometer_6517b": raw["devices"]["electrometer_6517b"]}
    raw["tracker_registration"] = None
    report = check_rig(RigConfig.model_validate(raw), "rig", today=date(2026, 6, 1))
    assert not report.ok
    assert any(
        "chamber TN30013 008101: certificate 'ADCL-7' expired on 2025-01-01" in p
        for p in report.devices[0].problems
    )


SIM_6517B = """\
spec: "1.1"
devices:
  k6517b:
    eom:
      GPIB INSTR: {q: "\\n", r: "\\n"}
    error: ERROR
    dialogues:
      - {q: "*IDN?", r: "KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4096271,A13/700X"}
resources:
  GPIB0::27::INSTR: {device: k6517b}
"""


def test_visa_library_sim_in_the_rig_file_opens_a_scripted_instrument(tmp_path: Path):
    definitions = tmp_path / "k6517b.yaml"
    definitions.write_text(SIM_6517B, encoding="utf-8")
    rig = tmp_path / "rig.yaml"
    rig.write_text(
        "name: pyvisa-sim\n"
        "devices:\n"
        "  electrometer_6517b:\n"
        "    role: dosimeter\n"
        "    driver: keithley-6517b\n"
        "    port: GPIB0::27::INSTR\n"
        f"    visa_library: '{definitions}@sim'\n",
        encoding="utf-8",
    )
    config = load_rig_config(rig)
    assert not config.simulated
    with build_rig(config, str(rig)) as live:
        (transport,) = live.transports
        assert transport.visa_library == f"{definitions}@sim"  # type: ignore[attr-defined]
        assert transport.query(b"*IDN?\n").startswith(b"KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4096271")


def test_every_missing_rom_file_is_named_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # the example's ROM paths are relative to where hilcal starts: none here
    example = Path(__file__).resolve().parents[2] / "examples" / "couch-hexapod-vega.yaml"
    result = runner.invoke(app, ["rig", "check", str(example)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "devices.tracker.params.tools" in text
    missing = [("reg_1", "registration-1"), ("reg_4", "registration-4"), ("couch_tool", "couch-array")]
    for tool, rom in missing:
        assert f"{tool}: ROM file 'roms/{rom}.rom' does not exist" in text, text
    assert "'frame_format'" not in text  # the tools, not the whole params mapping
