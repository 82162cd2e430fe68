"""Site tolerance files: a centre's own limits, each with source and reason, recorded with the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli import app
from controller.commissioning import load_session
from controller.errors import ConfigError
from sequences import get_sequence
from sequences.site_tolerances import apply_site_tolerances, load_site_tolerances, parse_site_tolerances
from sequences.tolerances import Confidence

runner = CliRunner()
SITE = """\
site: Example Cancer Centre physics
overrides:
  phantom-axis-iso230:
    clinical-suggested:
      accuracy:
        limit: 0.01
        action_limit: 0.6
        unit: mm
        source: Departmental QA policy QP-07 rev. 3, section 4.2
        reason: our scanner is specified to ±0.01 mm
      backlash:
        action_limit: 0.3
        source: QP-07 rev. 3, section 4.3
        reason: a reversal of 0.3 mm stops beam-data scanning
    vendor-spec-class:
      accuracy: {limit: 0.1, source: QP-07 rev. 3, reason: acceptance of the new scanner}
"""
CHANGE = "source: QP-07 rev. 3\n        reason: a reason"
W1 = "phantom-axis-iso230:\n    clinical-suggested:\n"


def _site_file(tmp_path: Path, text: str = SITE, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_run_applies_the_site_file_and_records_every_change(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "run",
            "--sequence",
            "phantom-axis-iso230",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--no-report",
            "--tolerances",
            str(_site_file(tmp_path)),
        ],
    )
    # the site's 0.01 mm accuracy tolerance is below what the simulated stage achieves: the site value ruled
    assert result.exit_code == 1, result.output
    assert "accuracy limit 0.5 → 0.01 mm" in " ".join(result.output.split())
    (run_dir,) = (tmp_path / "runs").iterdir()
    (res,) = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["results"]
    assert res["profile"] == "clinical-suggested"
    changes = {o["tolerance"]: o for o in res["tolerance_overrides"]}
    assert set(changes) == {"accuracy", "backlash"}  # the other profile's change does not apply
    assert changes["accuracy"] | {"file": None} == {
        "tolerance": "accuracy",
        "applies_to": "A (bidirectional accuracy)",
        "unit": "mm",
        "limit_before": 0.5,
        "limit_after": 0.01,
        "action_limit_before": 1.0,
        "action_limit_after": 0.6,
        "source": "Departmental QA policy QP-07 rev. 3, section 4.2",
        "reason": "our scanner is specified to ±0.01 mm",
        "file": None,
        "site": "Example Cancer Centre physics",
    }
    assert changes["backlash"]["limit_before"] == changes["backlash"]["limit_after"] == 0.2
    assert changes["backlash"]["action_limit_after"] == 0.3
    verdicts = {v["metric"]: v for v in res["verdicts"]}
    assert verdicts["A"]["outcome"] == "FAIL"
    assert verdicts["A"]["tolerance"]["limit"] == 0.01
    assert verdicts["A"]["tolerance"]["source"] == "site: Departmental QA policy QP-07 rev. 3, section 4.2"
    assert verdicts["A"]["tolerance"]["confidence"] == Confidence.SITE.value
    # an action level alone keeps the library tolerance and its source
    assert verdicts["B"]["tolerance"]["limit"] == 0.2 and "TG-106" in verdicts["B"]["tolerance"]["source"]
    assert verdicts["B"]["tolerance"]["action_source"] == "site: QP-07 rev. 3, section 4.3"
    # the manifest carries the changed profile, so a resume judges by the same limits
    manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    params = get_sequence("phantom-axis-iso230").parse_params(manifest["params"])
    assert params.tolerance_profile().accuracy.limit == 0.01
    assert [o.tolerance for o in params.tolerance_profile().overrides] == ["accuracy", "backlash"]


def test_unused_profile_leaves_params_unchanged_and_other_profile_applies(tmp_path: Path):
    site = load_site_tolerances(_site_file(tmp_path))
    sequence = get_sequence("phantom-axis-iso230")
    vendor = sequence.parse_params({"profile": "vendor-spec-class"})
    changed = apply_site_tolerances(sequence.name, vendor, site)
    assert changed.tolerance_profile().accuracy.limit == 0.1
    assert changed.tolerance_profile().repeatability == vendor.tolerance_profile().repeatability
    readback = get_sequence("couch-pose-readback").parse_params({})
    assert apply_site_tolerances("couch-pose-readback", readback, site) is readback


def test_session_file_names_its_site_file_relative_to_itself(tmp_path: Path):
    (tmp_path / "conf").mkdir()
    _site_file(tmp_path / "conf")
    session = tmp_path / "conf" / "session.yaml"
    session.write_text(
        "name: s\ntolerances: site.yaml\nsteps:\n  - sequence: phantom-axis-iso230\n", encoding="utf-8"
    )
    loaded = load_session(session)
    assert loaded.tolerances == str((tmp_path / "conf" / "site.yaml").resolve())
    bad = tmp_path / "conf" / "bad-session.yaml"
    bad.write_text("name: s\ntolerances: missing.yaml\nsteps:\n  - sequence: phantom-axis-iso230\n")
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_session(bad)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "phantom-axis-iso231:\n    clinical-suggested:\n      accuracy:\n"
            f"        limit: 0.3\n        {CHANGE}",
            "overrides.phantom-axis-iso231: unknown sequence; expected one of [",
        ),
        (
            f"phantom-axis-iso230:\n    clinical:\n      accuracy:\n        limit: 0.3\n        {CHANGE}",
            "overrides.phantom-axis-iso230.clinical: unknown profile of phantom-axis-iso230; expected one of "
            "['clinical-suggested', 'vendor-spec-class']",
        ),
        (
            f"{W1}      acuracy:\n        limit: 0.3\n        {CHANGE}",
            "overrides.phantom-axis-iso230.clinical-suggested.acuracy: unknown tolerance of "
            "phantom-axis-iso230; expected one of ['accuracy', 'backlash', 'repeatability']",
        ),
        (
            f"{W1}      accuracy:\n        limit: 0.3\n        reason: tighter",
            "overrides.phantom-axis-iso230.clinical-suggested.accuracy.source: required field is missing",
        ),
        (
            f"{W1}      accuracy:\n        limit: 0.3\n        source: QP-07",
            "overrides.phantom-axis-iso230.clinical-suggested.accuracy.reason: required field is missing",
        ),
        (
            f"{W1}      accuracy:\n        {CHANGE}",
            "overrides.phantom-axis-iso230.clinical-suggested.accuracy = ",
        ),
        (
            f"{W1}      accuracy:\n        limit: -0.3\n        {CHANGE}",
            "overrides.phantom-axis-iso230.clinical-suggested.accuracy.limit = -0.3: expected greater than 0",
        ),
        (
            f"{W1}      accuracy:\n        limit: 0.4\n        action_limit: 0.3\n        {CHANGE}",
            "overrides.phantom-axis-iso230.clinical-suggested.accuracy: action_limit is below the tolerance "
            "limit 0.4 mm",
        ),
        (
            f"{W1}      accuracy:\n        limit: 1.5\n        {CHANGE}",
            "overrides.phantom-axis-iso230.clinical-suggested.accuracy: the library action level 1 is "
            "below the tolerance limit 1.5 mm",
        ),
        (
            f"{W1}      accuracy:\n        limit: 0.3\n        unit: deg\n        {CHANGE}",
            "overrides.phantom-axis-iso230.clinical-suggested.accuracy.unit = 'deg': expected 'mm'",
        ),
    ],
    ids=[
        "unknown-sequence",
        "unknown-profile",
        "unknown-tolerance",
        "no-source",
        "no-reason",
        "nothing-changed",
        "negative-limit",
        "action-below-limit",
        "limit-above-library-action",
        "wrong-unit",
    ],
)
def test_bad_site_file_names_file_field_and_value(tmp_path: Path, body: str, expected: str):
    path = _site_file(tmp_path, f"overrides:\n  {body}\n", name="bad-site.yaml")
    with pytest.raises(ConfigError) as err:
        load_site_tolerances(path)
    assert err.value.source == f"tolerance file {str(path)!r}"
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems


def test_cli_bad_site_file_is_exit_2_before_anything_runs(tmp_path: Path):
    path = _site_file(
        tmp_path,
        "overrides:\n  couch-walkout:\n    tg142-annual:\n      walkout:\n"
        f"        limit: 1\n        {CHANGE}\n",
    )
    result = runner.invoke(
        app,
        [
            "run",
            "--sequence",
            "couch-rotation-walkout",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--tolerances",
            str(path),
        ],
    )
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # the console wraps long lines
    assert "site.yaml" in output and "overrides.couch-walkout: unknown sequence" in output
    assert not (tmp_path / "runs").exists()


def test_unknown_top_level_field_is_refused():
    with pytest.raises(ConfigError, match="overides = .*unknown field"):
        parse_site_tolerances({"overides": {}}, "x.yaml")
