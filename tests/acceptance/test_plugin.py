"""The pytest plugin as an acceptance-suite author meets it: pytest inside pytest, on the simulated rig."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PASSING = """
def test_phantom_axis(hilcal_run):
    hilcal_run("phantom-axis-iso230", {"runs": 2}).assert_pass()
"""

BACKLASH = """
def test_backlash_is_caught(hilcal_run):
    hilcal_run(
        "phantom-axis-iso230", {"runs": 2}, stage_errors={"phantom_x": {"backlash_mm": 0.4}}
    ).assert_pass()

def test_backlash_is_caught_by_plain_assert(hilcal_run):
    outcome = hilcal_run("phantom-axis-iso230", {"runs": 2}, stage_errors={"phantom_x": {"backlash_mm": 0.4}})
    assert outcome.verdict == "PASS"
"""

STALL = """
def stall(rig):
    rig.simulation.world.stage("phantom_x").inject_stall()

def test_stalled_axis(hilcal_run):
    hilcal_run("phantom-axis-iso230", {"runs": 2}, hook=stall).assert_pass()
"""

REAL_RIG = """
spec_version: 1
name: room1
devices:
  phantom_x:
    role: positioner
    driver: zaber-ascii
    port: {port}
    timeout_s: 0.2
    soft_limits_mm: [0.0, 300.0]
    params: {{address: 1, axis: 1, microstep_size_um: 0.15625}}
"""


def _write_test(pytester: pytest.Pytester, source: str) -> None:
    pytester.makepyfile(test_room1=textwrap.dedent(source))


def _pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest with the plugin, in this process (hilcal's modules are imported already, so not rewritten)."""
    return pytester.runpytest("-p", "hilcal", "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


def _run_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if (p / "run.json").exists()) if folder.is_dir() else []


def test_a_passing_run_passes_and_keeps_its_report_in_runs(pytester: pytest.Pytester) -> None:
    _write_test(pytester, PASSING)
    result = _pytest(pytester)
    result.assert_outcomes(passed=1)
    (run,) = _run_dirs(pytester.path / "runs")  # the invocation directory, not pytest's tmp folder
    assert (run / "report.html").is_file() and (run / "journal.jsonl").is_file()


def test_a_fail_shows_the_verdict_table(pytester: pytest.Pytester) -> None:
    _write_test(pytester, BACKLASH)
    result = _pytest(pytester)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "AssertionError: None" not in out
    # Count in the failure reports only: with CI set, pytest's short summary repeats whole messages.
    out = out.split("short test summary info")[0]
    assert out.count("metric  measured ± U (k)") == 2  # both idioms show the table
    backlash_rows = [line for line in out.splitlines() if re.search(r"\bB\s+[-\d.e]+ ± [\d.e-]+ mm", line)]
    assert len(backlash_rows) == 2 and all("FAIL" in row and "0.2 mm" in row for row in backlash_rows), out
    assert re.search(r"report: .*runs/\S+/report\.html", out)


def test_a_fault_names_the_device_the_error_and_the_run_folder(pytester: pytest.Pytester) -> None:
    _write_test(pytester, STALL)
    result = _pytest(pytester)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "AttributeError" not in out
    assert "phantom-axis-iso230 FAULTED on phantom_x" in out
    assert "DeviceFault: phantom_x" in out and "device: phantom_x" in out
    (run,) = _run_dirs(pytester.path / "runs")
    assert f"run folder: {run}" in out
    assert json.loads((run / "results.json").read_text())["state"] == "faulted"


def test_runs_are_kept_in_the_chosen_folder_or_beside_the_junit_file(pytester: pytest.Pytester) -> None:
    _write_test(pytester, PASSING)
    _pytest(pytester, "--hilcal-runs-dir", "evidence").assert_outcomes(passed=1)
    assert len(_run_dirs(pytester.path / "evidence")) == 1
    _pytest(pytester, "--junitxml", "ci/junit.xml").assert_outcomes(passed=1)
    assert len(_run_dirs(pytester.path / "ci" / "runs")) == 1
    assert not (pytester.path / "runs").exists()


def test_junit_xml_carries_run_id_folder_report_and_every_verdict(pytester: pytest.Pytester) -> None:
    _write_test(pytester, BACKLASH.split("def test_backlash_is_caught_by_plain_assert")[0])
    _pytest(pytester, "--junitxml", "junit.xml").assert_outcomes(failed=1)
    case = ET.parse(pytester.path / "junit.xml").getroot().find(".//testcase")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    (run,) = _run_dirs(pytester.path / "runs")
    assert props["hilcal.run_id"] == run.name
    assert props["hilcal.run_dir"] == str(run)
    assert props["hilcal.report"] == str(run / "report.html") and Path(props["hilcal.report"]).is_file()
    assert props["hilcal.verdict"] == "FAIL"
    saved = json.loads((run / "results.json").read_text())["results"][0]["verdicts"]
    assert {name for name in props if name and name.startswith("hilcal.verdict.")} == {
        f"hilcal.verdict.{v['metric']}" for v in saved
    }
    backlash = next(v for v in saved if v["metric"] == "B")
    fields = dict(item.split("=", 1) for item in (props["hilcal.verdict.B"] or "").split())
    assert float(fields["value"]) == pytest.approx(backlash["measured"]["value"], rel=1e-5)
    assert fields["unit"] == "mm" and fields["outcome"] == "FAIL" and float(fields["limit"]) == 0.2
    assert float(fields["U"]) > 0


@pytest.mark.parametrize(
    ("rig", "reason"),
    [
        (REAL_RIG.format(port="/dev/ttyNOPE-hilcal"), "cannot open it on port '/dev/ttyNOPE-hilcal'"),
        (REAL_RIG.format(port="loop://") + "colour: blue\n", "colour = 'blue': unknown field"),
        (REAL_RIG.format(port="loop://"), "phantom_x: did not answer at connect"),
    ],
    ids=["port-missing", "rig-file-invalid", "device-not-answering"],
)
def test_an_unusable_rig_is_an_error_with_its_reason_not_a_failure(
    pytester: pytest.Pytester, rig: str, reason: str
) -> None:
    _write_test(pytester, PASSING)
    (pytester.path / "room1.yaml").write_text(rig)
    result = _pytest(pytester, "--hilcal-rig", "room1.yaml")
    result.assert_outcomes(errors=1, failed=0)
    assert reason in result.stdout.str()
    assert not (pytester.path / "runs").exists()


def test_settle_time_is_set_by_marker_or_option_and_the_first_beam_is_announced(
    pytester: pytest.Pytester,
) -> None:
    _write_test(
        pytester,
        """
        import pytest

        @pytest.mark.hilcal_params(settle_s=30, readings=3)
        def test_d1_d3(hilcal_run):
            outcome = hilcal_run("electrometer-leakage-reproducibility")
            assert outcome.summary.state == "completed"
        """,
    )
    _pytest(pytester, "--junitxml", "a.xml").assert_outcomes(passed=1)
    _pytest(pytester, "--junitxml", "b.xml", "--hilcal-settle-s", "45").assert_outcomes(
        passed=1
    )
    beams = []
    for name in ("a.xml", "b.xml"):
        case = ET.parse(pytester.path / name).getroot().find(".//testcase")
        assert case is not None
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        params = json.loads((Path(props["hilcal.run_dir"] or "") / "run.json").read_text())["params"]
        beams.append((params["settle_s"], float(props["hilcal.first_beam_s"] or "nan")))
    (settle_a, beam_a), (settle_b, beam_b) = beams
    assert (settle_a, settle_b) == (30.0, 45.0)
    assert beam_a >= settle_a + 120.0  # the settle and the 120 s leakage-before window come first
    assert beam_b - beam_a == pytest.approx(15.0)


def test_the_readme_acceptance_suite_example_runs_and_passes_on_the_simulated_rig(
    pytester: pytest.Pytester,
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Acceptance suite", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "# tests/acceptance/test_room1.py" in example
    pytester.makepyfile(test_room1=example)
    _pytest(pytester, "--junitxml", "qa/junit.xml").assert_outcomes(passed=2)
    assert len(_run_dirs(pytester.path / "qa" / "runs")) == 2


def test_the_operator_prompt_reaches_the_console_through_capture(pytester: pytest.Pytester) -> None:
    """Three prompts read one stdin: yes, then no, then end of input (no terminal) — the last two decline."""
    _write_test(
        pytester,
        """
        import pytest
        from controller.pytest_plugin import _console_ask

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_prompt(request, n):
            if not _console_ask(request.config)(f"Switch the beam ON ({n}), then confirm"):
                pytest.fail(f"declined prompt {n}", pytrace=False)
        """,
    )
    result = pytester.run(sys.executable, "-m", "pytest", "-p", "hilcal", stdin=b"y\nn\n")
    out = result.stdout.str()
    assert all(f"hilcal: Switch the beam ON ({n}), then confirm [Y/n]" in out for n in (1, 2, 3))
    result.assert_outcomes(passed=1, failed=2)
    assert "declined prompt 2" in out and "declined prompt 3" in out


def test_a_real_rig_beam_prompt_states_the_duration_and_beam_the_plan_is_at() -> None:
    from controller.devices import DeviceSet, attach_console
    from controller.messages import Beam, Dwell
    from controller.pytest_plugin import _PlanPosition

    position = _PlanPosition()
    position.planned(
        [Beam(on=False), Dwell(600.0), Beam(on=True, dose_rate_gy_per_min=2.0, duration_s=35.0, beam="6 MV")]
    )
    position.advance(1, "Dwell 600 s")  # the settle is done; the beam-on is the message now running
    asked: list[str] = []
    devices = DeviceSet()
    attach_console(devices, lambda text: asked.append(text) or True, position.beam_request)
    devices.beam.beam_on(2.0)
    assert len(asked) == 1 and "6 MV" in asked[0] and "35 s" in asked[0] and "2 Gy/min" in asked[0]
