"""Run-engine overhead per step: move + read through the engine (journal on) vs the same calls by hand.

Both sides drive the same zero-delay in-memory axis, so the difference is the engine's own cost:
message dispatch, the envelope check, the state machine and two journal records per step.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from controller.devices import DeviceSet
from controller.engine import RunEngine
from controller.interlocks import SafetyEnvelope
from controller.journal import Journal
from controller.messages import MoveTo, ReadAxis
from drivers.clock import WallClock
from drivers.testing import InstantAxis

STEPS = 5000
REPEATS = 7


def _plan(n: int):
    for i in range(n):
        yield MoveTo("x", float(i % 300))
        yield ReadAxis("x")


def _engine_once(n: int) -> float:
    axis = InstantAxis("x")
    axis.connect()
    axis.home()
    envelope = SafetyEnvelope()
    envelope.set_axis_limits("x", 0.0, 300.0, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp), WallClock())
        engine = RunEngine(DeviceSet(positioners={"x": axis}), WallClock(), journal, envelope)
        start = time.perf_counter()
        engine.run(_plan(n))
        elapsed = time.perf_counter() - start
        journal.close()
    return elapsed


def _raw_once(n: int) -> float:
    axis = InstantAxis("x")
    axis.connect()
    axis.home()
    start = time.perf_counter()
    for i in range(n):
        axis.move_to(float(i % 300))
        axis.position_mm()
        axis.encoder_position_mm()
    return time.perf_counter() - start


def run() -> dict[str, float]:
    _engine_once(200)
    _raw_once(200)
    engine = statistics.median(_engine_once(STEPS) for _ in range(REPEATS)) / STEPS
    raw = statistics.median(_raw_once(STEPS) for _ in range(REPEATS)) / STEPS
    return {
        "engine_step_us": engine * 1e6,
        "raw_step_us": raw * 1e6,
        "engine_overhead_us": (engine - raw) * 1e6,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:24s} {value:10.2f}")
