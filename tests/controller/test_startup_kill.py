"""A controller killed (SIGKILL) at each step of start-up leaves a run directory that says what it is.

Either the run never began (no journal record: nothing was sent to any device) and review, verify and
resume say so with exit 2, or it began and review shows it and resume completes it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli import app

runner = CliRunner()

# Each kill point replaces one function the start-up calls with one that SIGKILLs the process at that
# moment; the run itself is the real run_sequence on the built-in simulated rig.
KILLERS = {
    "while-building-the-rig": """
        import controller.session as s
        real = s.build_rig
        def build_rig(*a, **k):
            real(*a, **k)
            die()
        s.build_rig = build_rig
    """,
    "after-staging-the-manifest": """
        import controller.session as s
        real = s._write_json
        def write(path, payload):
            real(path, payload)
            if path.name == "run.json.staged":
                die()
        s._write_json = write
    """,
    "after-run-start-before-the-rename": """
        import os
        real = os.replace
        def replace(src, dst):
            if str(dst).endswith("run.json"):
                die()
            real(src, dst)
        os.replace = replace
    """,
    "after-the-rename-before-connect": """
        import controller.session as s
        real = s._connect
        def connect(*a, **k):
            die()
        s._connect = connect
    """,
}
NEVER_BEGAN = {"while-building-the-rig", "after-staging-the-manifest"}


def _kill_at(point: str, runs: Path) -> Path:
    script = (
        textwrap.dedent(
            """
        import os, signal
        from pathlib import Path
        def die():
            os.kill(os.getpid(), signal.SIGKILL)
        """
        )
        + textwrap.dedent(KILLERS[point])
        + textwrap.dedent(
            f"""
        from controller.config import load_rig_config
        from controller.session import run_sequence
        run_sequence(load_rig_config(), "phantom-axis-iso230", {{"runs": 2}}, runs_dir=Path({str(runs)!r}),
                     write_report=False)
        """
        )
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()
    (run_dir,) = list(runs.iterdir())
    return run_dir


@pytest.mark.parametrize("point", sorted(KILLERS))
def test_a_kill_during_start_up_leaves_a_run_that_says_what_it_is(point: str, tmp_path: Path):
    run_dir = _kill_at(point, tmp_path / "runs")
    review = runner.invoke(app, ["review", str(run_dir)])
    verify = runner.invoke(app, ["verify", str(run_dir)])
    if point in NEVER_BEGAN:
        for result in (review, verify, runner.invoke(app, ["resume", str(run_dir)])):
            assert result.exit_code == 2, result.output
            assert "the run never began" in " ".join(
                result.output.split()
            ) and "nothing was sent" in " ".join(result.output.split())
        return
    assert review.exit_code == 0, review.output
    assert "NO run_end record" in review.output
    assert verify.exit_code == 0, verify.output
    assert (run_dir / "run.json").is_file() and not (run_dir / "run.json.staged").exists()
    resumed = runner.invoke(app, ["resume", str(run_dir)])
    assert resumed.exit_code in (0, 1), resumed.output  # completed with a verdict
    assert runner.invoke(app, ["verify", str(run_dir)]).exit_code == 0
