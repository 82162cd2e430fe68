"""``python -m simulators.ndi.serve``: config loading, the JSON line, serving from a child, clean exits."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simulators.ndi.serve import load_config
from simulators.rig import tracking_simulation_config

pytestmark = pytest.mark.usefixtures("no_leaks")
REPO = Path(__file__).resolve().parents[2]


def test_load_config_accepts_a_rig_file_and_forces_real_time(tmp_path: Path) -> None:
    config = tracking_simulation_config(seed=3)
    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text(yaml.safe_dump({"name": "x", "simulation": config.model_dump(mode="json")}))
    loaded = load_config(str(rig_file))
    assert loaded.clock == "realtime" and loaded.seed == 3 and loaded.ndi_sensors == config.ndi_sensors
    plain = tmp_path / "sim.json"
    plain.write_text(config.model_dump_json())
    assert load_config(str(plain)).trackers == config.trackers
    assert load_config(None) == tracking_simulation_config(clock="realtime")


@pytest.mark.parametrize("stop", ["stdin", "sigterm"])
def test_child_serves_and_stops_cleanly(stop: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "simulators.ndi.serve"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        info = json.loads(child.stdout.readline())
        assert info["pid"] == child.pid
        vega = next(e for e in info["endpoints"] if e["name"] == "vega")
        assert vega["protocol"] == "ndi-combined-api" and vega["pty_path"].startswith("/dev/")
        assert set(info["truth"]["tracker"]) == {"reference", "couch_tool", "tank_tool"}
        with socket.create_connection(("127.0.0.1", vega["tcp_port"]), timeout=5.0) as conn:
            conn.sendall(b"INIT:E3A5\r")
            assert conn.recv(64) == b"OKAYA896\r"
        if stop == "sigterm":
            child.send_signal(signal.SIGTERM)
        child.stdin.close()
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        if not child.stdin.closed:
            child.stdin.close()
