"""`hilcal run --clock realtime|virtual` and the wall / physical-bound ratio a real-time rehearsal prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller import cli
from controller.commissioning import SessionStep
from controller.config import load_rig_config
from controller.errors import ConfigError
from controller.plan_preview import build_preview
from controller.results import RunSummary
from controller.session import RunOutcome

SHORT_W1 = {"targets_mm": [10.0, 12.0, 14.0], "runs": 2, "dwell_s": 0.5}


def test_clock_option_sets_the_simulated_rigs_clock_and_refuses_a_real_rig() -> None:
    config = load_rig_config()
    assert cli._with_clock(config, None) is config
    realtime = cli._with_clock(config, "realtime")
    assert realtime.simulation is not None and realtime.simulation["clock"] == "realtime"
    with pytest.raises(ConfigError, match="expected realtime or virtual"):
        cli._with_clock(config, "fast")
    real = config.model_copy(update={"simulation": None})
    with pytest.raises(ConfigError, match="a real rig runs on wall time"):
        cli._with_clock(real, "virtual")


def test_bad_clock_on_the_command_line_exits_2_before_anything_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["run", "--clock", "sometimes", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "expected realtime or virtual" in result.output
    assert not any(tmp_path.iterdir())


def test_rehearsal_ratio_is_wall_over_the_plan_without_polling_granularity(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = cli._with_clock(load_rig_config(), "realtime")
    step = SessionStep(sequence="phantom-axis-iso230", params=SHORT_W1)
    polled = build_preview(config, step.sequence, step.params).estimate
    assert polled is not None
    summary = RunSummary(
        run_id="r", rig="x", simulated=True, state="completed", started_wall=100.0, ended_wall=150.0,
        clock_elapsed_s=50.0, results=[],
    )  # fmt: skip
    cli._print_rehearsal_ratio(config, step, RunOutcome("r", Path("."), summary))
    printed = " ".join(capsys.readouterr().out.split())
    found = re.search(r"50\.00 s wall for a physical bound of ([\d.]+) s .*: ([\d.]+)×", printed)
    assert found, printed
    bound, ratio = float(found.group(1)), float(found.group(2))
    assert 0 < bound < polled.total_s  # every wait rounded up to a 50 ms poll is gone from the bound
    assert ratio == pytest.approx(50.0 / bound, abs=1e-3)
