"""The campaign on a separately started cluster: a real ``dask scheduler`` and ``dask worker``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from controller.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
DASK = str(Path(sys.executable).with_name("dask"))
START_TIMEOUT_S = 60.0


def _wait_for_file(path: Path, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll until ``path`` exists; each poll is a bounded wait on the process (which catches it dying)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout_s} s")
        try:
            code = process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"dask scheduler exited with {code} before writing {path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_validate_cli_runs_on_a_dask_scheduler_and_worker(tmp_path: Path):
    scheduler_file = tmp_path / "scheduler.json"
    common = dict(cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--dashboard-address", ":0"],
        **common,
    )  # fmt: skip
    worker = None
    try:
        _wait_for_file(scheduler_file, scheduler, START_TIMEOUT_S)
        address = json.loads(scheduler_file.read_text())["address"]
        worker = subprocess.Popen(
            [DASK, "worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1",
             "--nthreads", "1", "--no-dashboard", "--local-directory", str(tmp_path / "worker")],
            **common,
        )  # fmt: skip
        from dask.distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=START_TIMEOUT_S)
        out = tmp_path / "campaign"
        result = CliRunner().invoke(
            app,
            ["validate", "--sequence", "tracker-registration", "--rigs", "2", "--seed", "7",
             "--scheduler", address, "--out", str(out)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        table = pd.read_parquet(out / "campaign.parquet")
        assert sorted(set(table["seed"])) == [7, 8]
        assert table["error"].isna().all()
        meta = json.loads((out / "campaign.json").read_text())
        assert meta["cluster"]["scheduler"] == address and meta["cluster"]["workers"] == 1
        assert (out / "report.html").exists()
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)


def test_validate_cli_rejects_unknown_names_with_exit_2():
    result = CliRunner().invoke(app, ["validate", "--sequence", "no-such-sequence", "--rigs", "1"])
    assert result.exit_code == 2
    assert "no-such-sequence" in result.output
