"""The tracking rig: water tanks, trackers and NDI sensors built from SimulationConfig and served."""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from simulators.ndi import NdiCombinedApiSim, crc16
from simulators.rig import (
    SimulatedRig,
    SimulationConfig,
    default_simulation_config,
    tracking_simulation_config,
)
from simulators.tracker import OpticalTracker, TrackedTool
from simulators.water_tank import WaterTankScanner
from tests.simulators.helpers import home

pytestmark = pytest.mark.usefixtures("no_leaks")


def test_tracking_config_round_trips_and_the_default_stays_as_it_was() -> None:
    config = tracking_simulation_config()
    assert SimulationConfig.model_validate(config.model_dump()) == config
    default = default_simulation_config()
    assert default.water_tanks == {} and default.trackers == {} and default.ndi_sensors == {}


def test_rig_builds_the_world_and_serves_the_sensor() -> None:
    with SimulatedRig(tracking_simulation_config(serve="tcp")) as rig:
        protocol, frontend, port = rig.frontends["vega"]
        assert (protocol, port) == ("ndi-combined-api", 0) and isinstance(frontend, NdiCombinedApiSim)
        assert rig.ndi_sensors["vega"] is frontend
        tank, tracker = rig.water_tanks["tank"], rig.trackers["tracker"]
        assert rig.world.get("tank", WaterTankScanner) is tank
        assert rig.world.get("tracker", OpticalTracker) is tracker
        assert {"reference", "couch_tool", "tank_tool"} <= set(rig.world.names())
        # Mid-travel on each stage; the stages' pitch errors shift it by a few µm.
        np.testing.assert_allclose(tank.carriage_position_mm(), [0.0, 0.0, -100.0], atol=0.01)
        frame = tracker.measure()
        assert {name: m.status for name, m in frame.tools.items()} == dict.fromkeys(
            ("reference", "couch_tool", "tank_tool"), "ok"
        )
        # The tank tool follows the phantom_x stage that the Zaber chain drives.
        home(rig.world.stage("phantom_x"), rig.clock)  # type: ignore[arg-type]
        rig.clock.sleep(1 / 60)
        room = tracker.room_from_tracker() @ tracker.measure_tool("tank_tool").pose()
        np.testing.assert_allclose(room[:3, 3], [-150.0, 0.0, -50.0], atol=0.5)
        body = rig.world.get("tank_tool", TrackedTool)
        np.testing.assert_allclose(
            body.room_pose()[:3, 3], tank.carriage_position_mm() + np.array([0, 0, 50]), atol=1e-9
        )
        assert body.room_pose()[0, 3] == pytest.approx(-150.0, abs=1e-9)  # x homed: exactly the origin
        entry = next(e for e in rig.describe() if e["name"] == "vega")
        assert entry["protocol"] == "ndi-combined-api" and entry["pty_path"] is None
        with socket.create_connection(("127.0.0.1", entry["tcp_port"]), timeout=2.0) as conn:
            conn.sendall(b"INIT:E3A5\r")
            assert conn.recv(64) == b"OKAYA896\r"
            conn.sendall(b"APIREV:%04X\r" % crc16(b"APIREV:"))
            assert conn.recv(64) == b"G.001.0056001\r"


def _config(**changes: Any) -> dict[str, Any]:
    """The tracking config as plain data, each changed section merged over the original by name."""
    data = tracking_simulation_config().model_dump()
    for key, value in changes.items():
        data[key] = {**data[key], **value}
    return data


ROOM_TOOL = {"mount": {"kind": "room"}}
HEXAPOD_TOOL = {"mount": {"kind": "hexapod", "name": "nope"}}
TANK_TOOL = {"mount": {"kind": "water_tank", "name": "no"}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"water_tanks": {"t": {"axes": {"x": {"stage": "nope", "direction": "+X"}}}}}, "unknown stage"),
        ({"trackers": {"tr": {"tools": {"c": HEXAPOD_TOOL}}}}, "unknown hexapod"),
        ({"trackers": {"tr": {"tools": {"c": TANK_TOOL}}}}, "unknown water"),
        ({"ndi_sensors": {"vega": {"tracker": "nope"}}}, "unknown tracker"),
        ({"ndi_sensors": {"vega": {"tracker": "tracker", "tools": ["nope"]}}}, "lacks"),
        ({"trackers": {"tr": {"tools": {"phantom_x": ROOM_TOOL}}}}, "world model name 'phantom_x'"),
        ({"trackers": {"couch_hexapod": {}}}, "world model name 'couch_hexapod'"),
        ({"trackers": {"tr": {"tools": {"reference": ROOM_TOOL}}}}, "used by two trackers"),
        ({"ndi_sensors": {"phantom": {"tracker": "tracker"}}}, "served endpoint name 'phantom'"),
        ({"trackers": {"tr": {"tools": {"r": {"mount": {"kind": "room"}, "colour": "red"}}}}}, "colour"),
    ],
)  # fmt: skip
def test_config_validation(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimulationConfig.model_validate(_config(**changes))
