"""Every kind of bad input a person can give hilcal, through the real CLI.

Each case must end with exit 2, a message naming the file or option, the field and the value, no
traceback, no run directory, and no device opened (the transport opener is replaced by one that fails the
test if it is ever called). The table is the specification: add a row for every new way to get it wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli import app

runner = CliRunner()
RIG = (Path(__file__).parents[2] / "controller" / "default_rig.yaml").read_text(encoding="utf-8")
ISO230 = ["--sequence", "phantom-axis-iso230"]
D1 = ["--sequence", "electrometer-leakage-reproducibility"]
READBACK = ["--sequence", "couch-pose-readback"]


def rig_with(old: str, new: str) -> str:
    assert old in RIG, old
    return RIG.replace(old, new, 1)


@dataclass(frozen=True)
class Case:
    """One bad input: files written to the test directory, the CLI words, what the error must name."""

    id: str
    args: list[str]
    names: list[str]
    files: dict[str, str | bytes] = field(default_factory=dict)
    command: str = "run"
    tries_a_port: bool = False  # the error is that the port is not there: opening it is how that is found


def rig_case(
    id: str,
    text: str | bytes,
    names: list[str],
    args: list[str] = ISO230,
    files: dict[str, str] | None = None,
    tries_a_port: bool = False,
) -> Case:
    files = {"rig.yaml": text, **(files or {})}
    return Case(id, ["--rig", "{rig.yaml}", *args], names, files, tries_a_port=tries_a_port)


def params_case(id: str, sequence: list[str], text: str, names: list[str]) -> Case:
    return Case(id, [*sequence, "--params", "{params.yaml}"], names, {"params.yaml": text})


PHANTOM_X_AGAIN = (
    "  phantom_x:\n    role: positioner\n    driver: zaber-ascii\n    port: sim:phantom\n"
    "    params: {address: 2, axis: 1, microstep_size_um: 0.15625}\n  tracker:\n    role: tracker"
)

CASES = [
    # -- rig files -------------------------------------------------------------------------------
    rig_case(
        "rig-duplicate-device", rig_with("  tracker:\n    role: tracker", PHANTOM_X_AGAIN), ["'phantom_x'"]
    ),
    rig_case("rig-duplicate-top-level-key", RIG + "\nname: again\n", ["duplicate key 'name'"]),
    rig_case(
        "rig-two-devices-one-axis",
        rig_with("params: {address: 2, axis: 1,", "params: {address: 1, axis: 1,"),
        ["devices.phantom_y and devices.phantom_x are the same physical device"],
    ),
    rig_case("rig-unknown-driver", rig_with("driver: ptw-unidos", "driver: ptw-unidoz"), ["'ptw-unidoz'"]),
    rig_case(
        "rig-role-driver-mismatch",
        rig_with("    role: dosimeter\n    driver: ptw-unidos", "    role: tracker\n    driver: ptw-unidos"),
        ["devices.electrometer_unidos.role", "is a dosimeter"],
    ),
    rig_case(
        "rig-bad-driver-param",
        rig_with("{bias_limit_v: 400, poll_interval_s: 0.5}", "{bias_limit_v: -4}"),
        ["devices.electrometer_unidos.params.bias_limit_v", "-4"],
    ),
    rig_case(
        "rig-unknown-driver-param",
        rig_with("      address: 1\n", "      adress: 1\n"),
        ["devices.phantom_x.params.adress"],
    ),
    rig_case(
        "rig-soft-limits-inverted",
        rig_with("soft_limits_mm: [0.0, 300.0]", "soft_limits_mm: [300.0, 0.0]"),
        ["devices.phantom_x.soft_limits_mm", "low < high"],
    ),
    rig_case(
        "rig-soft-limits-nan",
        rig_with("soft_limits_mm: [0.0, 300.0]", "soft_limits_mm: [.nan, 300.0]"),
        ["devices.phantom_x.soft_limits_mm.0 = nan", "finite"],
    ),
    rig_case(
        "rig-soft-limits-infinite",
        rig_with("soft_limits_mm: [0.0, 300.0]", "soft_limits_mm: [0.0, .inf]"),
        ["devices.phantom_x.soft_limits_mm.1 = inf", "finite"],
    ),
    rig_case(
        "rig-couch-limits-unknown-axis",
        rig_with(
            "    driver: pi-gcs-hexapod\n",
            "    driver: pi-gcs-hexapod\n    couch_limits: {tilt_deg: [0, 1]}\n",
        ),
        ["devices.couch.couch_limits", "tilt_deg"],
    ),
    rig_case(
        "rig-couch-limits-inverted",
        rig_with(
            "    driver: pi-gcs-hexapod\n",
            "    driver: pi-gcs-hexapod\n    couch_limits: {roll_deg: [2, -2]}\n",
        ),
        ["devices.couch.couch_limits", "roll_deg"],
    ),
    rig_case(
        "rig-hexapod-soft-limit-nan",
        rig_with("pitch_deg: [-3.0, 3.0]", "pitch_deg: [-3.0, .nan]"),
        ["devices.couch.params.soft_limits.pitch_deg.1 = nan", "finite"],
    ),
    rig_case(
        "rig-baudrate-absurd",
        rig_with("    timeout_s: 1.0\n", "    timeout_s: 1.0\n    baudrate: 1e30\n"),
        ["devices.phantom_x.baudrate"],
    ),
    rig_case(
        "rig-timeout-zero", rig_with("timeout_s: 1.0", "timeout_s: 0"), ["devices.phantom_x.timeout_s = 0"]
    ),
    rig_case("rig-unknown-field", RIG + "\nroom: 3\n", ["room"]),
    rig_case("rig-spec-version", rig_with("spec_version: 1", "spec_version: 2"), ["spec_version = 2"]),
    rig_case("rig-not-utf8", RIG.encode("utf-8").replace(b"X arm", b"X \xff arm"), ["expected UTF-8"]),
    rig_case("rig-not-a-mapping", "- just\n- a list\n", ["top level = list"]),
    rig_case("rig-yaml-syntax", "name: [unclosed\n", ["not valid yaml"]),
    Case("rig-toml-syntax", ["--rig", "{rig.toml}", *ISO230], ["not valid toml"], {"rig.toml": "name = \n"}),
    rig_case(
        "rig-missing-port",
        rig_with("    port: sim:room_sensor\n", ""),
        ["devices.room_sensor.port", "missing"],
    ),
    rig_case(
        "rig-sim-port-without-simulation",
        RIG[: RIG.index("simulation:\n")],
        ["'sim:' ports need a simulation section"],
    ),
    rig_case(
        "rig-sim-endpoint-unknown",
        rig_with("port: sim:k6517b", "port: sim:nowhere"),
        ["devices.electrometer_6517b", "'sim:nowhere'"],
        args=D1,
    ),
    rig_case(
        "rig-serial-port-absent",
        rig_with("port: sim:room_sensor", "port: /dev/ttyHILCAL-NOT-THERE"),
        ["devices.room_sensor", "/dev/ttyHILCAL-NOT-THERE"],
        args=[*D1, "--params", "{params.yaml}"],
        files={"params.yaml": "environment: room_sensor\n"},
        tries_a_port=True,
    ),
    rig_case(
        "rig-mounting-zero-direction",
        rig_with("direction: [1.0, 0.0, 0.0]", "direction: [0.0, 0.0, 0.0]"),
        ["devices.phantom_x.mounting.direction"],
    ),
    rig_case(
        "rig-mounting-unknown-system",
        rig_with("      system: f\n", "      system: q\n"),
        ["devices.phantom_x.mounting.system", "'q'"],
    ),
    rig_case(
        "rig-registration-two-points",
        rig_with("    reg_3: [200.0, 200.0, 0.0]\n    reg_4: [0.0, -200.0, 150.0]\n", ""),
        ["tracker_registration.points_mm"],
    ),
    rig_case(
        "rig-motion-safety-step-zero",
        rig_with("max_step_mm: 2.0", "max_step_mm: 0"),
        ["motion_safety.max_step_mm = 0"],
    ),
    rig_case(
        "rig-gantry-beyond-a-turn", rig_with("gantry_deg: 0.0", "gantry_deg: 400"), ["gantry_deg = 400"]
    ),
    rig_case(
        "rig-tracker-rom-missing",
        rig_with("reg_1: builtin:reference", "reg_1: /nonexistent/reg_1.rom"),
        ["devices.tracker.params", "reg_1"],
    ),
    # -- sequence parameter files ----------------------------------------------------------------
    params_case("params-unknown-device", ISO230, "axis: phantom_q\n", ["axis = 'phantom_q'", "phantom_x"]),
    params_case("params-device-wrong-role", ISO230, "axis: couch\n", ["axis = 'couch'", "is a couch"]),
    params_case(
        "params-target-beyond-soft-limits", ISO230, "targets_mm: [10, 350]\n", ["targets_mm[1] = 350"]
    ),
    params_case("params-target-nan", ISO230, "targets_mm: [10, .nan]\n", ["targets_mm.1 = nan", "finite"]),
    params_case("params-unknown-field", ISO230, "axes: phantom_x\n", ["axes"]),
    params_case("params-duplicate-key", ISO230, "runs: 2\nruns: 3\n", ["duplicate key 'runs'"]),
    params_case("params-unknown-profile", ISO230, "profile: strictest\n", ["profile", "strictest"]),
    params_case(
        "params-bias-beyond-chamber-rating", D1, "bias_voltage_v: 500\n", ["bias_voltage_v = 500", "400"]
    ),
    params_case(
        "params-bias-beyond-instrument",
        D1,
        "dosimeter: electrometer_unidos\nrange: MEDIUM\nbias_voltage_v: -450\n",
        ["bias_voltage_v = -450"],
    ),
    params_case(
        "params-range-unsupported",
        D1,
        "dosimeter: electrometer_unidos\n",
        ["range = 'auto'", "VERY_LOW, LOW, MEDIUM, HIGH"],
    ),
    params_case("params-range-beyond-instrument", D1, "range: '1e-3'\n", ["range = '1e-3'"]),
    params_case("params-bias-zero", D1, "bias_voltage_v: 0\n", ["bias_voltage_v = 0"]),
    params_case(
        "params-environment-is-a-dosimeter",
        D1,
        "environment: electrometer_unidos\n",
        ["environment = 'electrometer_unidos'", "is a dosimeter"],
    ),
    params_case(
        "params-couch-pitch-beyond-limits",
        READBACK,
        "poses:\n  - {pitch_deg: 5}\n",
        ["pitch_deg=5", "[-3, 3]"],
    ),
    params_case(
        "params-every-missing-device-at-once",
        ["--sequence", "water-tank-axes"],
        "axes: {x: phantom_q, y: couch, z: nothing}\n",
        ["axes.x = 'phantom_q'", "axes.y = 'couch'", "axes.z = 'nothing'", "3 problem(s)"],
    ),
    params_case(
        "params-tool-not-on-tracker",
        ["--sequence", "couch-translation-accuracy"],
        "couch_tool: wand\n",
        ["couch_tool = 'wand'", "not a tool of tracker 'tracker'"],
    ),
    Case("params-file-missing", [*ISO230, "--params", "{tmp}/absent.yaml"], ["absent.yaml", "cannot read"]),
    # -- session files ---------------------------------------------------------------------------
    Case(
        "session-unknown-sequence",
        ["--session", "{session.yaml}"],
        ["steps.0.sequence = 'phantom-axis-iso231'"],
        {"session.yaml": "name: s\nsteps:\n  - sequence: phantom-axis-iso231\n"},
    ),
    Case(
        "session-later-step-device-missing",
        ["--session", "{session.yaml}"],
        ["steps.1.params (couch-pose-readback)", "couch = 'table'"],
        {
            "session.yaml": "name: s\nsteps:\n  - sequence: phantom-axis-iso230\n"
            "  - sequence: couch-pose-readback\n    params: {couch: table}\n"
        },
    ),
    Case(
        "session-with-params",
        ["--session", "{session.yaml}", "--params", "{params.yaml}"],
        ["--params belongs to --sequence"],
        {"session.yaml": "name: s\nsteps:\n  - sequence: phantom-axis-iso230\n", "params.yaml": "runs: 2\n"},
    ),
    # -- command-line options --------------------------------------------------------------------
    Case("option-set-without-equals", [*ISO230, "--set", "gantry_deg"], ["--set", "'gantry_deg'"]),
    Case("option-set-unknown-path", [*ISO230, "--set", "devices.phantom_q.baudrate=9600"], ["phantom_q"]),
    Case(
        "option-set-bad-value",
        [*ISO230, "--set", "devices.phantom_x.baudrate=-1"],
        ["devices.phantom_x.baudrate = -1"],
    ),
    Case(
        "option-set-bad-simulation-value",
        [*ISO230, "--set", "simulation.stages.phantom_x.backlash_mm=-1"],
        ["simulation.stages.phantom_x.backlash_mm"],
    ),
    Case("option-unknown-sequence", ["--sequence", "phantom-axis-iso231"], ["phantom-axis-iso231"]),
    Case(
        "option-air-incomplete",
        [*D1, "--air-temperature-c", "21.5"],
        ["--air-temperature-c, --air-pressure-kpa and --operator go together"],
    ),
    Case(
        "option-air-pressure-in-hpa",
        [*D1, "--air-temperature-c", "21.5", "--air-pressure-kpa", "1013", "--operator", "AB"],
        ["1013"],
    ),
    Case(
        "option-runs-dir-is-a-file",
        [*ISO230, "--runs-dir", "{params.yaml}"],
        ["--runs-dir"],
        {"params.yaml": ""},
    ),
    Case("resume-not-a-run", ["{tmp}"], ["run.json"], command="resume"),
]


def _fill(word: str, tmp: Path) -> str:
    return word.replace("{tmp}", str(tmp)).replace("{", str(tmp) + "/").replace("}", "")


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"a device was opened for bad input: {args}")


def test_the_table_has_at_least_forty_distinct_cases():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_exits_2_naming_what_is_wrong(case: Case, tmp_path: Path, mocker):
    no_device_opened = mocker.patch("controller.rig.factory.open_transport", side_effect=_refuse)
    if case.tries_a_port:
        mocker.stopall()
    for name, content in case.files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    runs = tmp_path / "runs"
    args = [_fill(word, tmp_path) if "{" in word else word for word in case.args]
    extra = ["--runs-dir", str(runs), "--no-report"] if case.command == "run" else []
    if "--runs-dir" in args:
        extra = ["--no-report"]
    result = runner.invoke(app, [case.command, *args, *extra])
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    for name in case.names:
        assert name in said, f"{name!r} not in: {said}"
    assert "Traceback" not in result.output
    assert not runs.exists() or not any(runs.iterdir()), "a run directory was left behind"
    if not case.tries_a_port:
        assert not no_device_opened.called
