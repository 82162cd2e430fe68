"""A Zaber driver query (`get pos` → mm) against raw reads of the same reply, on the same pty.

Three raw baselines: pyserial's ``readline`` (one ``read`` call per byte), and two reads as efficient as
our transport's (whatever has arrived in one call, split at the terminator): pyserial
``read(in_waiting)`` and ``select`` + ``os.read`` on the port's descriptor. All talk to the same simulated
chain served on a pty by ``simulators``; blocks alternate so that drift on the machine hits every side
alike, and each repeat's ratio is taken against that repeat's raw figure. The driver side also runs with
checksums + message IDs and with the run journal listening, to show what each costs.
"""

from __future__ import annotations

import os
import select
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
COMMAND = b"/1 1 get pos\n"


def _raw(path: str, n: int) -> float:
    port = serial.Serial(path, 115200, timeout=1)
    try:
        start = time.perf_counter()
        for _ in range(n):
            port.write(COMMAND)
            port.readline()
        return (time.perf_counter() - start) / n
    finally:
        port.close()


def _raw_in_waiting(path: str, n: int) -> float:
    """pyserial, reading whatever has arrived (``read(in_waiting)``, or one byte to block) until ``\\n``."""
    port = serial.Serial(path, 115200, timeout=1)
    try:
        start = time.perf_counter()
        for _ in range(n):
            port.write(COMMAND)
            reply = b""
            while not reply.endswith(b"\n"):
                reply += port.read(port.in_waiting or 1)
        return (time.perf_counter() - start) / n
    finally:
        port.close()


def _raw_os_read(path: str, n: int) -> float:
    """``os.write``, then ``select`` + ``os.read`` on the descriptor pyserial opened (raw, non-blocking)."""
    port = serial.Serial(path, 115200, timeout=1)
    fd = port.fileno()
    try:
        start = time.perf_counter()
        for _ in range(n):
            os.write(fd, COMMAND)
            reply = b""
            while not reply.endswith(b"\n"):
                select.select([fd], [], [], 1.0)
                reply += os.read(fd, 4096)
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
    results: dict[str, list[float]] = {
        "raw": [],
        "raw_in_waiting": [],
        "raw_os_read": [],
        "driver": [],
        "driver_framed": [],
        "driver_journaled": [],
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp), WallClock())
            _raw(path, 200)
            _raw_in_waiting(path, 200)
            _raw_os_read(path, 200)
            _driver(path, 200)
            for _ in range(REPEATS):
                results["raw"].append(_raw(path, QUERIES))
                results["raw_in_waiting"].append(_raw_in_waiting(path, QUERIES))
                results["raw_os_read"].append(_raw_os_read(path, QUERIES))
                results["driver"].append(_driver(path, QUERIES))
                results["driver_framed"].append(_driver(path, QUERIES, framed=True))
                results["driver_journaled"].append(_driver(path, QUERIES, journal=journal))
            journal.close()
    finally:
        rig.close()
    medians = {key: statistics.median(values) * 1e6 for key, values in results.items()}
    figures = {
        "raw_pyserial_us": medians["raw"],
        "raw_in_waiting_us": medians["raw_in_waiting"],
        "raw_os_read_us": medians["raw_os_read"],
        "driver_us": medians["driver"],
        "driver_checksum_msgid_us": medians["driver_framed"],
        "driver_journaled_us": medians["driver_journaled"],
        "ratio_driver_vs_raw": medians["driver"] / medians["raw"],
        "ratio_framed_vs_raw": medians["driver_framed"] / medians["raw"],
        "ratio_journaled_vs_raw": medians["driver_journaled"] / medians["raw"],
    }
    # Paired ratios: each repeat's driver figure over the same repeat's raw figure (median, min, max).
    for side in ("driver", "driver_framed", "driver_journaled"):
        for base in ("raw", "raw_in_waiting", "raw_os_read"):
            ratios = [d / r for d, r in zip(results[side], results[base], strict=True)]
            key = f"paired_{side}_vs_{base}"
            figures[key] = statistics.median(ratios)
            figures[f"{key}_min"] = min(ratios)
            figures[f"{key}_max"] = max(ratios)
    for key, values in results.items():
        figures[f"{key}_min_us"] = min(values) * 1e6
        figures[f"{key}_max_us"] = max(values) * 1e6
    return figures


def report(figures: dict[str, float]) -> None:
    """The driver against each raw read, side by side: medians, and paired ratios (median, range)."""
    print(
        f"\nZaber `get pos` round trip on one pty (simulator in this process), {REPEATS} alternating repeats:"
    )
    print(f"  {'':31s}{'median':>10s}{'range':>18s}{'vs readline':>20s}{'vs read(in_waiting)':>22s}")
    rows = (
        ("raw pyserial write+readline", "raw", "raw_pyserial_us"),
        ("raw pyserial read(in_waiting)", "raw_in_waiting", "raw_in_waiting_us"),
        ("raw select + os.read", "raw_os_read", "raw_os_read_us"),
        ("driver position_mm()", "driver", "driver_us"),
        ("driver, checksum + msg id", "driver_framed", "driver_checksum_msgid_us"),
        ("driver, journal listening", "driver_journaled", "driver_journaled_us"),
    )
    for label, key, median in rows:
        line = (
            f"  {label:31s} {figures[median]:6.1f} µs  "
            f"{figures[f'{key}_min_us']:6.1f}–{figures[f'{key}_max_us']:<6.1f} µs"
        )
        if key.startswith("driver"):
            for base in ("raw", "raw_in_waiting"):
                ratio = f"paired_{key}_vs_{base}"
                text = f"{figures[ratio]:.2f} ({figures[f'{ratio}_min']:.2f}–{figures[f'{ratio}_max']:.2f})"
                line += f"{text:>20s}" if base == "raw" else f"{text:>22s}"
        print(line)
    print(
        "  vs select + os.read: driver {:.2f} ({:.2f}–{:.2f})   (budget: 1.25 × raw readline)".format(
            figures["paired_driver_vs_raw_os_read"],
            figures["paired_driver_vs_raw_os_read_min"],
            figures["paired_driver_vs_raw_os_read_max"],
        )
    )


if __name__ == "__main__":
    report(run())
