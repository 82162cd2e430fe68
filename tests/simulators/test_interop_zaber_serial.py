"""Zaber's own public client, ``zaber.serial`` 0.9.1, drives our simulator over TCP and over a pty.

An independent check on our reading of the manual: the client's reply regex, address/axis/message-ID matching
and its BUSY→IDLE polling must all be satisfied. zaber-serial polls with a real 50 ms sleep, so this
rig runs on real time with a fast stage and short moves (each transport takes well under a second).
"""

from __future__ import annotations

import pytest
from zaber.serial import AsciiCommand, AsciiDevice, AsciiSerial

from simulators.rig import SimulatedRig, SimulationConfig, ZaberChainConfig, ZaberDeviceConfig
from simulators.stage import StageConfig

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("no_leaks")]


def fast_rig_config(serve: str) -> SimulationConfig:
    return SimulationConfig.model_validate(
        {
            "clock": "realtime",
            "serve": serve,
            "stages": {
                "x": StageConfig(
                    max_speed_mm_s=100.0, accel_mm_s2=5000.0, homing_speed_mm_s=50.0, power_on_position_mm=1.0
                )
            },
            "zaber_chains": {
                "stage": ZaberChainConfig(devices={1: ZaberDeviceConfig(axes=["x"], serial=777)}),
            },
        }
    )


@pytest.mark.parametrize("serve", ["tcp", "pty"])
def test_zaber_serial_drives_the_simulator(serve: str) -> None:
    with SimulatedRig(fast_rig_config(serve)) as rig, AsciiSerial(rig.endpoint("stage"), timeout=2) as port:
        device = AsciiDevice(port, 1)
        assert device.get_status() == "IDLE"
        assert device.send("move abs 100").data == "BADDATA"  # not homed yet (our documented choice)

        first = device.home()  # sends "home", then polls "/1 0" until IDLE
        assert (first.reply_flag, first.device_status) == ("OK", "BUSY")
        assert device.send("").warning_flag == "--"

        device.move_abs(10000)
        assert device.get_position() == 10000
        device.move_rel(-2000)
        assert device.get_position() == 8000
        assert device.axis(1).get_position() == 8000

        reply = device.send(AsciiCommand(1, 0, 7, "get pos"))
        assert (reply.message_id, reply.reply_flag, reply.data) == (7, "OK", "8000")

        rejected = device.send("foo")
        assert (rejected.reply_flag, rejected.data) == ("RJ", "BADCOMMAND")
        assert device.send("get system.serial").data == "777"

        device.move_abs(100000, blocking=False)
        stopped = device.stop()  # "stop", then polls until IDLE
        assert stopped.reply_flag == "OK"
        assert device.send("").warning_flag == "NI"
