"""PI's public client ``pipython`` 2.11 (pure-Python gateways, no vendor DLL) drives our C-887 simulator.

An independent check on our reading of the manual: pipython's answer framing (``eol``: space+LF continues an
answer), its ``ERR?`` after every command, its ``HLP?`` parsing (``ONT?`` must be listed or ``waitontarget``
stops checking), ``pitools.startup`` with FRF (which meets error 5 with the servo off and switches it on) and
its polling of ``#7``/``SVO?``/``ONT?``. pipython waits in wall time, so the world runs on a
``RealTimeClock`` with a fast hexapod: referencing 0.3 s, the first move about half a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pipython import GCSDevice, GCSError, pitools
from pipython.pidevice.common.gcscommands_helpers import getsupportedfunctions
from pipython.pidevice.interfaces.piserial import PISerial
from pipython.pidevice.interfaces.pisocket import PISocket

from simulators.clock import RealTimeClock
from simulators.hexapod import HexapodConfig
from simulators.pi_gcs import PiGcsControllerConfig, PiGcsControllerSim, build_pi_gcs_controllers
from simulators.serve import PtyServer, TcpServer
from simulators.world import World

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("no_leaks")]

FAST = HexapodConfig(
    reference_time_s=0.3,
    velocity_mm_s=50.0,
    max_velocity_mm_s=200.0,
    angular_velocity_deg_s=20.0,
    accel_mm_s2=1000.0,
    angular_accel_deg_s2=200.0,
    settle_s=0.05,
    power_on_pose={"Z": 5.0},
)


class ClosingOncePISocket(PISocket):  # type: ignore[misc]
    """``PISocket`` whose ``close()`` may be called twice.

    pipython 2.11's ``GCSDevice`` closes its gateway in ``__exit__`` and again in ``__del__``; ``PISerial``
    tolerates that, ``PISocket`` raises ``OSError`` from ``shutdown`` the second time (it would against a real
    C-887 as well). Nothing on the wire changes.
    """

    def close(self) -> None:
        if self.connected:
            super().close()


def controller() -> PiGcsControllerSim:
    world = World(RealTimeClock(), seed=11)
    return build_pi_gcs_controllers(world, {"couch": FAST}, {"pi": PiGcsControllerConfig(hexapod="couch")})[
        "pi"
    ]


@contextmanager
def pipython_device(kind: str, sim: PiGcsControllerSim) -> Iterator[Any]:
    server = TcpServer(sim) if kind == "tcp" else PtyServer(sim)
    with server:
        if isinstance(server, TcpServer):
            gateway: Any = ClosingOncePISocket(host="127.0.0.1", port=server.port)
        else:
            gateway = PISerial(port=server.path, baudrate=115200)
        with GCSDevice(gateway=gateway) as device:
            device.timeout = 2000  # ms; a missing answer fails fast instead of after pipython's 7 s
            yield device


@pytest.mark.parametrize("kind", ["tcp", "pty"])
def test_pipython_starts_up_references_moves_and_stops(kind: str) -> None:
    sim = controller()
    with pipython_device(kind, sim) as device:
        assert device.qIDN().strip() == "Physik Instrumente (PI) GmbH & Co. KG, C-887.52, 0123456789, 3.2.0.0"
        assert device.devname == "C-887.52"
        assert device.qCSV() == 2.0
        assert device.axes == ["X", "Y", "Z", "U", "V", "W"]
        assert {"qONT", "IsControllerReady", "IsMoving", "StopAll", "qVMO"} <= set(device.funcs)

        pitools.startup(device, refmodes=["FRF"])  # FRF X → error 5 → SVO X 1 → FRF X → wait → SVO all on
        assert all(device.qFRF().values()) and all(device.qSVO().values())
        assert device.qPOS() == dict.fromkeys(device.axes, 0.0)

        device.MOV({"X": 20.0, "Y": -10.0, "W": 1.0})
        assert device.IsMoving()["X"] and not device.qONT("X")["X"]
        pitools.waitontarget(device)
        assert all(device.qONT().values())
        assert device.qPOS() == {"X": 20.0, "Y": -10.0, "Z": 0.0, "U": 0.0, "V": 0.0, "W": 1.0}
        assert device.qMOV(["X", "W"]) == {"X": 20.0, "W": 1.0}

        device.MVR("X", -5.0)
        pitools.waitontarget(device, axes="X")
        assert device.qPOS("X")["X"] == 15.0

        assert device.qVMO({"X": 50.0, "Y": 50.0, "Z": 30.0}) is False
        with pytest.raises(GCSError) as refused:
            device.MOV("X", 999.0)
        assert refused.value.val == 7

        assert device.qVMO("X", -40.0) is True
        device.MOV("X", -40.0)
        device.StopAll(noraise=True)  # #24 latches error 10; pipython reads and masks it
        assert not any(device.IsMoving().values())
        assert device.qERR() == 0
        assert device.qTMX("W")["W"] == 5.0 and device.qSPI() == {"R": 0.0, "S": 0.0, "T": 0.0}
    assert sim.hexapod.referenced


def test_our_help_parses_into_pipython_functions() -> None:
    """For an unknown devname, pipython builds its function list from HLP? minus the first and last line."""
    answer = controller().feed(b"HLP?\n").decode("cp1252")
    funcs = getsupportedfunctions(answer)
    assert {"qONT", "qPOS", "MOV", "MVR", "IsMoving", "IsControllerReady", "StopAll", "GetPosStatus"} <= set(
        funcs
    )
    assert {"qIDN", "qSVO", "SVO", "FRF", "qFRF", "HLT", "STP", "VLS", "qVLS", "SPI", "qSPI", "qVMO"} <= set(
        funcs
    )
    # pitools must not find commands we do not implement, or startup would send them.
    assert not {"RON", "EAX", "INI", "ONL", "RNP", "FPH", "SAI"} & set(funcs)
