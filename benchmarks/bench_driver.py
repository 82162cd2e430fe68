"""A Zaber driver query (`get pos` → mm) against a raw pyserial write+readline, on the same pty.

Both talk to the same simulated chain served on a pty by ``simulators``; blocks alternate so that drift
on the machine hits both sides alike. The driver side also runs with checksums + message IDs and with the
run journal listening, to show what each costs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import serial

from controller.journal import Journal
from drivers.clock import WallClock
from drivers.transport.serial_port import SerialTransport
from drivers.zaber import ZaberAxis, ZaberConnection
from simulators.rig import SimulatedRig, default_simulation_config

QUERIES = 2000
REPEATS = 7


def _raw(path: str, n: int) -> float:
    port = serial.Serial(path, 115200, timeout=1)
    try:
        start = time.perf_counter()
        for _ in range(n):
            port.write(b"/1 1 get pos\n")
            port.readline()
        return (time.perf_counter() - start) / n
    finally:
        port.close()


def _driver(path: str, n: int, *, framed: bool = False, journal: Journal | None = None) -> float:
    transport = SerialTransport(path, device="bench", timeout_s=1.0)
    if journal is not None:
        transport.add_listener(journal.record_exchange)
    connection = ZaberConnection(transport, checksums=framed, message_ids=framed)
    axis = ZaberAxis(
        connection,
        name="x",
        address=1,
        axis=1,
        microstep_size_um=0.15625,
        encoder_count_size_um=None,
        clock=WallClock(),
    )
    try:
        axis.connect()
        start = time.perf_counter()
        for _ in range(n):
            axis.position_mm()
        return (time.perf_counter() - start) / n
    finally:
        transport.close()


def run() -> dict[str, float]:
    rig = SimulatedRig(default_simulation_config())
    path = rig.endpoint("phantom")
    results: dict[str, list[float]] = {"raw": [], "driver": [], "driver_framed": [], "driver_journaled": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp), WallClock())
            _raw(path, 200)
            _driver(path, 200)
            for _ in range(REPEATS):
                results["raw"].append(_raw(path, QUERIES))
                results["driver"].append(_driver(path, QUERIES))
                results["driver_framed"].append(_driver(path, QUERIES, framed=True))
                results["driver_journaled"].append(_driver(path, QUERIES, journal=journal))
            journal.close()
    finally:
        rig.close()
    medians = {key: statistics.median(values) * 1e6 for key, values in results.items()}
    return {
        "raw_pyserial_us": medians["raw"],
        "driver_us": medians["driver"],
        "driver_checksum_msgid_us": medians["driver_framed"],
        "driver_journaled_us": medians["driver_journaled"],
        "ratio_driver_vs_raw": medians["driver"] / medians["raw"],
        "ratio_framed_vs_raw": medians["driver_framed"] / medians["raw"],
        "ratio_journaled_vs_raw": medians["driver_journaled"] / medians["raw"],
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:28s} {value:10.3f}")
