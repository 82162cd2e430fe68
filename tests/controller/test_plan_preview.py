"""`hilcal plan` and the real-rig confirmation: every step shown, limits and keep-out, an honest estimate.

The estimate is compared with the rig clock of a real simulated run (virtual clock: the same driver polls,
dwells and device kinematics the estimate models), and the preview's steps with the run's journal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from controller.cli import app
from controller.config import load_rig_config
from controller.journal import read_journal
from controller.plan_estimate import polled_s, trapezoid_s
from controller.plan_preview import PlanPreview, build_preview
from controller.session import run_sequence
from drivers.roles.couch import COUCH_AXES
from sequences import get_sequence

runner = CliRunner()

SMALL_LEAKAGE = {"settle_s": 5.0, "readings": 3, "beam_time_s": 5.0, "leakage_time_s": 10.0}
ESTIMATED = [
    ("phantom-axis-iso230", {"runs": 2}),
    ("couch-pose-readback", {"repeats": 1}),
    ("electrometer-leakage-reproducibility", SMALL_LEAKAGE),
    ("water-tank-axes", {}),
]


def _journaled_messages(run_dir: Path) -> list[dict[str, Any]]:
    records = read_journal(run_dir / "journal.jsonl").records
    return [r["message"] for r in sorted(records, key=lambda r: r.get("index", -1)) if r["kind"] == "msg"]


@pytest.mark.parametrize(("sequence", "params"), ESTIMATED, ids=[s for s, _ in ESTIMATED])
def test_estimate_within_5_percent_of_the_simulated_run_and_steps_match_the_journal(
    sequence: str, params: dict[str, Any], tmp_path: Path
) -> None:
    config = load_rig_config()
    preview = build_preview(config, sequence, params)
    outcome = run_sequence(config, sequence, params, runs_dir=tmp_path, write_report=False)
    assert outcome.summary.state == "completed", outcome.summary.error
    assert preview.estimate is not None
    measured = outcome.summary.clock_elapsed_s
    assert measured > 0
    assert abs(preview.estimate.total_s - measured) <= 0.05 * measured, (preview.estimate.total_s, measured)
    journaled = _journaled_messages(outcome.run_dir)
    assert [m["type"] for m in journaled] == [s.kind for s in preview.steps]
    for message, step in zip(journaled, preview.steps, strict=True):
        if message["type"] == "MoveTo":
            assert step.target_mm == pytest.approx(message["target_mm"])
        if message["type"] == "MoveCouch":
            assert step.pose is not None
            pose = {axis: message["setpoint"][axis] for axis in COUCH_AXES}
            assert {axis: step.pose[axis] for axis in COUCH_AXES} == pytest.approx(pose)


def test_kinematics_round_up_to_the_drivers_polls() -> None:
    assert trapezoid_s(150.0, 10.0, 100.0) == pytest.approx(15.1)  # 0.1 s ramps, 14.9 s cruise
    assert trapezoid_s(1.0, 20.0, 100.0) == pytest.approx(0.2)  # triangular: never reaches 20 mm/s
    assert polled_s(0.21, 0.05, sleep_first=False) == pytest.approx(0.25)
    assert polled_s(0.0, 0.05, sleep_first=False) == 0.0
    assert polled_s(0.0, 0.05, sleep_first=True) == pytest.approx(0.05)  # PI GCS sleeps before it looks


def test_preview_lists_every_move_beam_request_and_integration() -> None:
    config = load_rig_config()
    two_targets = {"runs": 2, "targets_mm": [50, 150], "overshoot_mm": 2}
    iso = build_preview(config, "phantom-axis-iso230", two_targets)
    moves = [s.target_mm for s in iso.steps if s.kind == "MoveTo"]
    # per run, per direction, per target: the overshoot approach then the target itself
    assert moves.count(50.0) == moves.count(150.0) == 4
    assert sorted(set(moves)) == [48.0, 50.0, 52.0, 148.0, 150.0, 152.0]
    assert iso.counts["Home"] == 1
    dose = build_preview(config, "electrometer-leakage-reproducibility", SMALL_LEAKAGE)
    params = get_sequence("electrometer-leakage-reproducibility").parse_params(SMALL_LEAKAGE)
    on_s = getattr(params, "beam_on_s", params.beam_time_s)  # beam settle + instrument-timed integration
    assert len(dose.beam_requests) == 3
    assert {(b.dose_rate_gy_per_min, b.duration_s) for b in dose.beam_requests} == {(2.0, on_s)}
    with_beam = [i for i in dose.integrations if i.with_beam]
    assert len(with_beam) == 3 and all(i.duration_s >= params.beam_time_s for i in with_beam)
    load = build_preview(config, "couch-load-positioning")
    loads = [a for a in load.operator_actions if a.kind == "LoadCouch"]
    assert [a.detail.split(" kg")[0] for a in loads] == ["load 0", "load 80", "load 135", "load 0"]


def test_limits_and_keep_out_are_reported() -> None:
    config = load_rig_config()
    iso = build_preview(config, "phantom-axis-iso230", {"runs": 2, "targets_mm": [50, 150]})
    (row,) = iso.travel
    assert (row.device, row.used_low, row.used_high) == ("phantom_x", 0.0, 152.0)  # home datum .. overshoot
    limit = (row.limit_low, row.limit_high, row.limit_source, row.within)
    assert limit == (0.0, 300.0, "rig soft limits", True)
    couch = build_preview(config, "couch-pose-readback", {"repeats": 1})
    (keep_out,) = couch.keep_out
    assert keep_out.paths_checked == couch.counts["MoveCouch"]
    assert any(v.startswith("nozzle") for v in keep_out.volumes)
    assert keep_out.result.startswith("clear")
    rotation = [r for r in couch.travel if r.axis == "couch_rotation_deg"]
    assert rotation and (rotation[0].limit_low, rotation[0].limit_high) == (-5.0, 5.0)


def test_plan_command_prints_an_80_column_summary_and_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "--sequence", "phantom-axis-iso230"])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "4 × the same (last: run 5/5 done)" in result.output
    assert "Estimated duration:" in result.output
    assert "phantom_x position: 0 … 300 mm of 0 … 300 mm" in result.output
    as_json = runner.invoke(app, ["plan", "--sequence", "couch-pose-readback", "--json"])
    assert as_json.exit_code == 0, as_json.output
    preview = PlanPreview.model_validate(json.loads(as_json.output))
    assert preview.counts["MoveCouch"] > 0 and preview.estimate is not None


@pytest.mark.parametrize(
    ("sequence", "text", "named"),
    [
        ("phantom-axis-iso230", "runs: 1\n", "runs = 1"),
        ("phantom-axis-iso230", "targets_mm: [100, 350]\n", "targets_mm[1] = 350"),
        ("couch-pose-readback", "poses: [{vertical_mm: 300}]\n", "keep-out volume 'nozzle'"),
    ],
)
def test_plan_command_bad_input_exits_2_naming_the_parameter(
    sequence: str, text: str, named: str, tmp_path: Path
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["plan", "--sequence", sequence, "--params", str(params)])
    assert result.exit_code == 2, result.output
    assert named in result.output


@pytest.fixture
def real_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """The default rig as a real one (no simulation section); opening any port is recorded and refused."""
    raw = load_rig_config().model_dump(mode="json", exclude_none=True)
    raw.pop("simulation")
    raw["name"] = "real-room"
    sim_ports = sorted({d["port"] for d in raw["devices"].values()})
    ports = {port: f"socket://127.0.0.1:{9 + n}" for n, port in enumerate(sim_ports)}
    for device in raw["devices"].values():
        device["port"] = ports[device["port"]]
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    opened: list[str] = []

    def refuse(address: str, *args: object, **kwargs: object) -> None:
        opened.append(address)
        raise OSError(f"test: {address} must not be opened")

    monkeypatch.setattr("controller.rig.factory.open_transport", refuse)
    return path, opened


def test_real_rig_run_previews_then_declining_opens_nothing(real_rig: tuple[Path, list[str]], tmp_path: Path):
    path, opened = real_rig
    runs = tmp_path / "runs"
    result = runner.invoke(
        app,
        ["run", "--rig", str(path), "--sequence", "phantom-axis-iso230", "--runs-dir", str(runs)],
        input="n\n",
    )
    assert result.exit_code == 2, result.output
    assert "REAL HARDWARE" in result.output and "Estimated duration:" in result.output
    assert "ASSUMED (not in the rig file)" in result.output  # no simulation section: speeds are assumed
    assert "[y/N]" in result.output and "nothing was opened" in result.output
    assert opened == []
    assert not runs.exists() or not any(runs.iterdir())


def test_real_rig_run_with_yes_does_not_ask(real_rig: tuple[Path, list[str]], tmp_path: Path):
    path, opened = real_rig
    result = runner.invoke(
        app,
        ["run", "--rig", str(path), "--sequence=phantom-axis-iso230", "--yes", "--runs-dir", str(tmp_path)],
    )
    assert "[y/N]" not in result.output
    assert "Estimated duration:" in result.output
    assert "Rig real-room; one sequence" in result.output  # past the confirmation, on to the run


def test_simulated_rig_run_asks_nothing(tmp_path: Path) -> None:
    params = tmp_path / "w1.yaml"
    params.write_text("runs: 2\nstep_mm: 100\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["run", "--sequence", "phantom-axis-iso230", "--params", str(params), "--runs-dir", str(tmp_path)],
    )
    assert "Rig default-simulated (simulated); one sequence" in result.output
    assert "[y/N]" not in result.output and "Estimated duration:" not in result.output


def test_a_together_group_lasts_as_long_as_its_longest_member() -> None:
    """A move inside a group (the tank moving while the electrometer resets) is motion on the clock; the
    group takes the longest member's time, not the sum (they run at once)."""
    from controller.config import load_rig_config
    from controller.messages import MoveTo, ResetIntegration, Together
    from controller.plan_estimate import PlanClock

    alone = PlanClock(load_rig_config(), ["phantom_z", "electrometer_tank"])
    grouped = PlanClock(load_rig_config(), ["phantom_z", "electrometer_tank"])
    move = alone.step(MoveTo("phantom_z", 100.0))
    group = grouped.step(Together((MoveTo("phantom_z", 100.0), ResetIntegration("electrometer_tank"))))
    assert move[0] > 1.0 and group == move  # the move is timed; the reset beside it adds nothing
