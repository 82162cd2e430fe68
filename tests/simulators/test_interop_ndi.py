"""The public NDI clients drive our simulator: ``ndicapi`` (``ndicapy``) and scikit-surgerynditracker.

Two blockers, found when we first ran these clients against a prototype simulator, shape this file:

* ndicapi 3.7.6 holds the GIL while it blocks in ``ndiPVWRFromFile`` and ``ndiProbe``, so the simulator runs
  in a CHILD PROCESS (``python -m simulators.ndi.serve``, which prints its endpoints and truth as JSON and
  stops when its stdin closes);
* ``NDITracker`` in ``"vega"`` mode runs ``ping -c 1 <ip>`` first and gives up unless it exits 0. The
  container has no ``ping``, so each vega test puts a ``ping`` that exits 0 first on PATH (``ping_shim``).

The child serves ``tracking_simulation_config()`` on a real-time clock; nothing moves, so the TRUE
``tracker ← tool`` poses are those of a fresh world built here from the same config, and every frame must
match them within the tracker's noise (0.1 mm RMS per marker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulators.clock import VirtualClock
from simulators.hexapod import add_hexapod
from simulators.ndi import NdiConfig
from simulators.rig import SimulationConfig, tracking_simulation_config
from simulators.tracker import build_trackers
from simulators.water_tank import build_water_tanks
from simulators.world import World

ndicapy = pytest.importorskip("ndicapy", reason="ndicapi is not installed (pip install ndicapi==3.7.6)")
nditracker = pytest.importorskip(
    "sksurgerynditracker.nditracker",
    reason="scikit-surgerynditracker is not installed (pip install scikit-surgerynditracker==1.0.6)",
)

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("no_leaks")]

REPO = Path(__file__).resolve().parents[2]
TOOLS = ["reference", "couch_tool", "tank_tool"]
#: Within the noise: tool translations scatter by ~0.05 mm, TX rounds to 0.01 mm.
TRANSLATION_TOL_MM = 0.5
ROTATION_TOL = 0.01


def served_config() -> SimulationConfig:
    """The tracking rig with four sensors on its one tracker, one per client path."""
    config = tracking_simulation_config(clock="realtime", seed=2026)
    sensors = {
        "vega": NdiConfig(tracker="tracker", tools=TOOLS),  # freeze tag 009: BX
        "vega_tx": NdiConfig(tracker="tracker", tools=TOOLS, freeze_tag="Polaris Vega 008"),
        "spectra": NdiConfig(
            tracker="tracker", tools=TOOLS, model="Polaris Spectra", freeze_tag="Polaris Spectra Rev 007"
        ),
        # Older firmware: GETINFO answers ERROR01, so ndiProbe falls back to VER; tracks with BX.
        "vicra_old": NdiConfig(tracker="tracker", tools=TOOLS, model="Polaris Vicra", firmware_version=None),
    }
    return config.model_copy(update={"ndi_sensors": sensors})


def local_truth(config: SimulationConfig) -> dict[str, np.ndarray]:
    """TRUE ``tracker ← tool`` from a world built here (no servers) from the same config."""
    world = World(VirtualClock(), seed=config.seed)
    for name, stage in config.stages.items():
        world.add_stage(name, stage)
    for name, hexapod in config.hexapods.items():
        add_hexapod(world, name, hexapod)
    build_water_tanks(world, config.water_tanks)
    tracker = build_trackers(world, config.trackers)["tracker"]
    return {tool: tracker.true_pose(tool) for tool in tracker.tools}


class Served:
    def __init__(self, info: dict[str, Any], truth: dict[str, np.ndarray]) -> None:
        self.endpoints = {e["name"]: e for e in info["endpoints"]}
        self.child_truth = {tool: np.array(m) for tool, m in info["truth"]["tracker"].items()}
        self.truth = truth

    def port(self, name: str) -> int:
        return int(self.endpoints[name]["tcp_port"])

    def pty(self, name: str) -> str:
        return str(self.endpoints[name]["pty_path"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = served_config()
    path = tmp_path_factory.mktemp("ndi") / "rig.json"
    path.write_text(config.model_dump_json(), encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "-m", "simulators.ndi.serve", "--config", str(path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        line = child.stdout.readline()
        assert line, f"the simulator process exited with {child.poll()} before it served"
        yield Served(json.loads(line), local_truth(config))
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()
    assert child.returncode == 0


@pytest.fixture
def ping_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``ping`` that always succeeds, first on PATH (NDITracker pings a Vega before connecting)."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "ping").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (shim / "ping").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture
def roms(tmp_path: Path) -> list[str]:
    """Dummy ROM files (the clients only check that they exist): empty, 752 random bytes, 4 bytes, 2 KiB."""
    contents = [
        b"",
        bytes(np.random.default_rng(1).integers(0, 256, 752, dtype=np.uint8)),
        b"abcd",
        b"\xff" * 2048,
    ]
    paths = []
    for index, data in enumerate(contents):
        path = tmp_path / f"tool{index}.rom"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def check_pose(matrix: np.ndarray, truth: np.ndarray) -> None:
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(matrix[:3, 3], truth[:3, 3], atol=TRANSLATION_TOL_MM)
    np.testing.assert_allclose(matrix[:3, :3], truth[:3, :3], atol=ROTATION_TOL)
    np.testing.assert_allclose(matrix[3], [0.0, 0.0, 0.0, 1.0])


@contextmanager
def connected(configuration: dict[str, Any]) -> Iterator[Any]:
    """An ``NDITracker`` that is closed even when an assertion fails (no socket or fd is left behind)."""
    tracker = nditracker.NDITracker(configuration)
    try:
        yield tracker
    finally:
        if tracker._device:
            tracker.close()


def frames_until_the_number_changes(tracker: Any, limit_s: float = 2.0) -> list[Any]:
    """Poll ``get_frame`` (as clients do, no sleeping) until the 60 Hz frame number moves on."""
    frames = [tracker.get_frame()]
    deadline = time.monotonic() + limit_s
    while frames[-1][2][0] == frames[0][2][0]:
        assert time.monotonic() < deadline, "the frame number did not advance"
        frames.append(tracker.get_frame())
    return frames


def test_the_child_reports_the_same_truth(served: Served) -> None:
    for tool in TOOLS:
        np.testing.assert_allclose(served.child_truth[tool], served.truth[tool], atol=1e-9)


@pytest.mark.usefixtures("ping_shim")
def test_nditracker_vega_over_tcp_with_bx(served: Served, roms: list[str]) -> None:
    """Freeze tag ``Polaris Vega 009`` → ``BX:0801``; two ROMs keep BX replies under 128 bytes (see below)."""
    for _ in range(2):  # two client sessions in a row against one device
        tracker = nditracker.NDITracker(
            {
                "tracker type": "vega",
                "ip address": "127.0.0.1",
                "port": served.port("vega"),
                "romfiles": roms[:2],
            }
        )
        assert tracker._capture_string == "BX:0801"
        tracker.start_tracking()
        frames = frames_until_the_number_changes(tracker)
        handles, stamps, numbers, matrices, quality = frames[-1]
        assert handles == [1, 2] and len(stamps) == 2
        assert numbers[0] == frames[0][2][0] + 1
        for matrix, tool in zip(matrices, TOOLS[:2], strict=True):
            check_pose(np.asarray(matrix), served.truth[tool])
        assert all(0.0 < q < 0.5 for q in quality)
        tracker.stop_tracking()
        tracker.close()


@pytest.mark.usefixtures("ping_shim")
def test_nditracker_vega_over_tcp_with_tx_and_an_unbound_rom(served: Served, roms: list[str]) -> None:
    """Freeze tag ``Polaris Vega 008`` → ``TX:0801``; a fourth ROM matches no world tool and stays MISSING."""
    configuration = {
        "tracker type": "vega",
        "ip address": "127.0.0.1",
        "port": served.port("vega_tx"),
        "romfiles": roms,
    }
    with connected(configuration) as tracker:
        assert tracker._capture_string == "TX:0801"
        tracker.start_tracking()
        handles, _, numbers, matrices, quality = tracker.get_frame()
        assert handles == [1, 2, 3, 4] and len(set(numbers)) == 1
        for matrix, tool in zip(matrices[:3], TOOLS, strict=True):
            check_pose(np.asarray(matrix), served.truth[tool])
        assert np.all(np.isnan(matrices[3][:3])) and np.isnan(quality[3])
    # close() stopped tracking first


@pytest.mark.parametrize(("sensor", "capture"), [("spectra", "TX:0801"), ("vicra_old", "BX:0801")])
def test_nditracker_polaris_over_a_pty(served: Served, roms: list[str], sensor: str, capture: str) -> None:
    """Serial path: ``ndiProbe`` (INIT, GETINFO or the VER fallback), then INIT, COMM, ROMs, tracking."""
    path = served.pty(sensor)
    assert ndicapy.ndiProbe(path) == ndicapy.NDI_OKAY
    with connected({"tracker type": "polaris", "serial port": path, "romfiles": roms[:2]}) as tracker:
        assert tracker._capture_string == capture
        tracker.start_tracking()
        handles, _, _, matrices, _ = tracker.get_frame()
        assert handles == [1, 2]
        for matrix, tool in zip(matrices, TOOLS[:2], strict=True):
            check_pose(np.asarray(matrix), served.truth[tool])
        tracker.stop_tracking()


def transform_matrix(transform: tuple[float, ...]) -> np.ndarray:
    """ndicapi's own quaternion → 4×4 conversion (it returns the matrix column by column)."""
    return np.array(ndicapy.ndiTransformToMatrixd(tuple(transform))).reshape(4, 4).T


def test_raw_ndicapy_session_over_tcp(served: Served, roms: list[str]) -> None:
    device = ndicapy.ndiOpenNetwork("127.0.0.1", served.port("vega"))
    assert device
    try:
        assert ndicapy.ndiCommand(device, "INIT:") == "OKAY"
        assert "Freeze Tag: Polaris Vega 009" in ndicapy.ndiVER(device, 0)
        assert ndicapy.ndiCommand(device, "APIREV:") == "G.001.005"
        assert ndicapy.ndiCommand(device, "PHSR:01") == "00"
        handles = []
        for rom in roms[:3]:
            ndicapy.ndiCommand(device, "PHRQ:*********1****")
            handle = ndicapy.ndiGetPHRQHandle(device)
            assert ndicapy.ndiPVWRFromFile(device, handle, rom) == 0
            handles.append(handle)
        assert handles == [1, 2, 3]
        ndicapy.ndiCommand(device, "PHSR:02")
        assert ndicapy.ndiGetPHSRNumberOfHandles(device) == 3
        for handle in handles:
            assert ndicapy.ndiCommand(device, f"PINIT:{handle:02X}") == "OKAY"
            assert ndicapy.ndiCommand(device, f"PENA:{handle:02X}D") == "OKAY"
        ndicapy.ndiCommand(device, "PHSR:04")
        assert [ndicapy.ndiGetPHSRHandle(device, i) for i in range(3)] == handles
        with pytest.raises(
            OSError, match="0x0c"
        ):  # before TSTART (asked with TX: ndicapy misreads BX errors)
            ndicapy.ndiCommand(device, "TX:0801")
        assert ndicapy.ndiCommand(device, "TSTART:") == "OKAY"
        ndicapy.ndiCommand(device, "TX:0801")
        for handle, tool in zip(handles, TOOLS, strict=True):
            transform = ndicapy.ndiGetTXTransform(device, bytes([handle]))
            check_pose(transform_matrix(transform), served.truth[tool])
            assert ndicapy.ndiGetTXPortStatus(device, bytes([handle])) == 0x31
        assert ndicapy.ndiGetTXFrame(device, bytes([1])) > 0
        assert ndicapy.ndiCommand(device, "BEEP:1") == "1"
        with pytest.raises(OSError, match="0x0c"):
            ndicapy.ndiCommand(device, "PDIS:03")  # not while tracking
        assert ndicapy.ndiCommand(device, "TSTOP:") == "OKAY"
        assert ndicapy.ndiCommand(device, f"PDIS:{handles[2]:02X}") == "OKAY"  # now two tools: BX decodes
        assert ndicapy.ndiCommand(device, "TSTART:") == "OKAY"
        ndicapy.ndiCommand(device, "BX:0801")
        for handle, tool in zip(handles[:2], TOOLS[:2], strict=True):
            transform = ndicapy.ndiGetBXTransform(device, bytes([handle]))
            check_pose(transform_matrix(transform), served.truth[tool])
            assert ndicapy.ndiGetBXPortStatus(device, bytes([handle])) == 0x31
        assert ndicapy.ndiCommand(device, "TSTOP:") == "OKAY"
    finally:
        ndicapy.ndiCloseNetwork(device)


def test_ndicapy_cannot_return_bx_replies_of_128_bytes_or_more(served: Served, roms: list[str]) -> None:
    """A client quirk, not a simulator fault: ``ndiCommand`` returns the binary BX reply as a C string decoded
    as UTF-8. Three valid tools make a 129-byte body (length byte 0x81, then 0x00): not UTF-8, so ndicapy
    raises ``UnicodeDecodeError`` although it parsed the frame. A real Vega sends the same bytes. So
    scikit-surgerynditracker's BX path handles at most two visible tools; TX has no such limit."""
    device = ndicapy.ndiOpenNetwork("127.0.0.1", served.port("vega"))
    try:
        ndicapy.ndiCommand(device, "INIT:")
        for rom in roms[:3]:
            ndicapy.ndiCommand(device, "PHRQ:*********1****")
            handle = ndicapy.ndiGetPHRQHandle(device)
            ndicapy.ndiPVWRFromFile(device, handle, rom)
            ndicapy.ndiCommand(device, f"PINIT:{handle:02X}")
            ndicapy.ndiCommand(device, f"PENA:{handle:02X}D")
        ndicapy.ndiCommand(device, "TSTART:")
        with pytest.raises(UnicodeDecodeError):
            ndicapy.ndiCommand(device, "BX:0801")
        # The C layer did parse it: the transforms are there.
        check_pose(transform_matrix(ndicapy.ndiGetBXTransform(device, bytes([3]))), served.truth["tank_tool"])
        ndicapy.ndiCommand(device, "TSTOP:")
    finally:
        ndicapy.ndiCloseNetwork(device)
