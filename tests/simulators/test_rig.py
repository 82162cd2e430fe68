"""The simulated rig: config validation, building the world, serving chains, closing cleanly."""

from __future__ import annotations

import os
from typing import Any

import pytest
import serial
from pydantic import ValidationError

from simulators.clock import RealTimeClock, VirtualClock
from simulators.rig import SimulatedRig, SimulationConfig, default_simulation_config

pytestmark = pytest.mark.usefixtures("no_leaks")


def test_default_config_is_the_phantom_stage() -> None:
    config = default_simulation_config()
    stage = config.stages["phantom_x"]
    assert stage.travel_mm == (0.0, 300.0)
    assert stage.backlash_mm < 0.2 and abs(stage.pitch_error_um_per_m) * 0.3 < 500  # inside W1 tolerances
    assert config.zaber_chains["phantom"].devices[1].axes == ["phantom_x"]
    assert SimulationConfig.model_validate(config.model_dump()) == config  # round-trips through plain data


def test_rig_over_pty_with_virtual_clock() -> None:
    with SimulatedRig(default_simulation_config()) as rig:
        assert isinstance(rig.clock, VirtualClock)
        path = rig.endpoint("phantom")
        assert os.path.exists(path)
        expected = {"name": "phantom", "protocol": "zaber-ascii", "tcp_port": None, "pty_path": path}
        assert rig.describe() == [expected]
        with serial.Serial(path, timeout=2.0) as port:
            port.write(b"/1 0 home\r\n")
            assert port.readline() == b"@01 0 OK BUSY WR 0\r\n"
            rig.clock.sleep(rig.world.stage("phantom_x").busy_until() - rig.clock.now())
            port.write(b"/1 0\r\n")
            assert port.readline() == b"@01 0 OK IDLE -- 0\r\n"
        with pytest.raises(KeyError, match="not served over tcp"):
            rig.endpoint("phantom", "tcp")
        with pytest.raises(KeyError, match="no served endpoint"):
            rig.endpoint("couch")


def test_rig_over_tcp_with_real_time() -> None:
    config = default_simulation_config(clock="realtime", serve="tcp")
    with SimulatedRig(config) as rig:
        assert isinstance(rig.clock, RealTimeClock)
        (entry,) = rig.describe()
        assert (
            entry["pty_path"] is None and rig.endpoint("phantom") == f"socket://127.0.0.1:{entry['tcp_port']}"
        )


def test_serve_both_and_close_is_idempotent() -> None:
    rig = SimulatedRig(default_simulation_config(), serve_both=True)
    try:
        (entry,) = rig.describe()
        assert entry["tcp_port"] and entry["pty_path"] == rig.endpoint("phantom")
        assert rig.endpoint("phantom", "tcp").endswith(f":{entry['tcp_port']}")
    finally:
        rig.close()
    rig.close()


def _config(**changes: Any) -> dict[str, Any]:
    data = default_simulation_config().model_dump()
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"zaber_chains": {"c": {"devices": {1: {"axes": ["nope"], "serial": 1}}}}}, "unknown stage"),
        (
            {"zaber_chains": {"c": {"devices": {1: {"axes": ["phantom_x"], "serial": 1},
                                                2: {"axes": ["phantom_x"], "serial": 2}}}}},
            "driven twice",
        ),
        ({"zaber_chains": {"c": {"devices": {0: {"axes": ["phantom_x"], "serial": 1}}}}}, "1..99"),
        ({"zaber_chains": {"c": {"devices": {1: {"axes": ["phantom_x"]}}}}}, "serial"),
        ({"clock": "sundial"}, "clock"),
        ({"speed": 2}, "speed"),
    ],
)  # fmt: skip
def test_config_validation(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimulationConfig.model_validate(_config(**changes))
