"""A depth scan on the simulated rig in real time: ``Together`` against its physical bound and sequential.

At each of N depths the tank stops, both electrometers integrate the same delivery, then the tank moves to
the next depth while both are read, and both are reset. The physical bound is what the simulated world
itself needs: every move's trapezoidal profile (``simulators.stage.plan_move`` with the stage's speed and
acceleration) plus its settle time, plus every integration. The same plan with every group unrolled into
consecutive messages is the sequential reference.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controller.config import RigConfig, load_rig_config
from controller.devices import DeviceSet
from controller.engine import RunEngine
from controller.interlocks import SafetyEnvelope
from controller.journal import Journal
from controller.messages import (
    Beam,
    ConfigureDosimeter,
    Dwell,
    HoldIntegration,
    Home,
    Message,
    MoveTo,
    ReadDosimeter,
    ResetIntegration,
    StartIntegration,
    Together,
    members,
)
from controller.rig import Rig, build_rig
from drivers.roles.dosimeter import DosimeterSettings
from simulators.stage import StageConfig, plan_move

AXIS = "phantom_z"
ELECTROMETERS = ("electrometer_unidos", "electrometer_6517b")
DEPTHS_MM = tuple(20.0 + 10.0 * i for i in range(8))
INTEGRATION_S = 1.0
SETTLE_S = 0.1
TARGET = 0.03  # within 3 % of the physical bound


def realtime_rig(settle_s: float = SETTLE_S) -> Rig:
    """The default simulated rig on the real-time clock, with the tank axis and both electrometers only."""
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["clock"] = "realtime"
    raw["simulation"]["stages"][AXIS]["settle_s"] = settle_s
    rig = build_rig(RigConfig.model_validate(raw), devices=[AXIS, *ELECTROMETERS])
    rig.connect_all()
    return rig


def scan(depths: tuple[float, ...], grouped: bool) -> Generator[Message, Any, list[Any]]:
    """Integrate at each depth; move on while reading. ``grouped`` False unrolls every group."""

    def step(*messages: Message) -> Iterator[Message]:
        if grouped:
            yield Together(messages)
        else:
            yield from messages

    readings: list[Any] = []
    for i in range(len(depths)):
        for message in step(*(StartIntegration(e) for e in ELECTROMETERS)):
            yield message
        yield Dwell(INTEGRATION_S)
        for message in step(*(HoldIntegration(e) for e in ELECTROMETERS)):
            yield message
        move = (MoveTo(AXIS, depths[i + 1]),) if i + 1 < len(depths) else ()
        for message in step(*move, *(ReadDosimeter(e) for e in ELECTROMETERS)):
            readings.append((yield message))
        for message in step(*(ResetIntegration(e) for e in ELECTROMETERS)):
            yield message
    yield Beam(on=False)
    return readings


def setup(depth: float) -> Generator[Message, Any, None]:
    yield Home(AXIS)
    for device, range_name in zip(ELECTROMETERS, ("MEDIUM", "auto"), strict=True):
        yield ConfigureDosimeter(device, DosimeterSettings(range=range_name))
        yield ResetIntegration(device)
    yield MoveTo(AXIS, depth)
    yield Beam(on=True, dose_rate_gy_per_min=6.0)


def physical_bound_s(stage: StageConfig, depths: tuple[float, ...]) -> float:
    """Moves (profile + settle) and integrations, as the simulated world defines them."""
    moves = 0.0
    for start, end in itertools.pairwise(depths):
        segments = plan_move(0.0, start, 0.0, end, stage.max_speed_mm_s, stage.accel_mm_s2)
        moves += segments[-1].t1 + stage.settle_s
    return moves + len(depths) * INTEGRATION_S


def envelope() -> SafetyEnvelope:
    result = SafetyEnvelope()
    result.set_axis_limits(AXIS, 0.0, 300.0, "bench")
    return result


@contextmanager
def engine_on(rig: Rig, folder: Path, name: str) -> Iterator[RunEngine]:
    journal = Journal(folder / name, rig.clock)
    rig.add_exchange_listener(journal.record_exchange)
    devices = DeviceSet(
        positioners=rig.devices.positioners, dosimeters=rig.devices.dosimeters, beam=rig.devices.beam
    )
    try:
        yield RunEngine(devices, rig.clock, journal, envelope())
    finally:
        for transport in rig.transports:
            transport.remove_listener(journal.record_exchange)
        journal.close()


def timed_scan(rig: Rig, folder: Path, grouped: bool) -> tuple[float, int]:
    with engine_on(rig, folder, f"setup-{grouped}") as engine:
        engine.run(setup(DEPTHS_MM[0]))
    with engine_on(rig, folder, f"scan-{grouped}") as engine:
        start = time.perf_counter()
        readings = engine.run(scan(DEPTHS_MM, grouped))
        elapsed = time.perf_counter() - start
    return elapsed, len(readings)


def run() -> dict[str, float]:
    stage = StageConfig.model_validate(
        load_rig_config().model_dump(mode="json")["simulation"]["stages"][AXIS] | {"settle_s": SETTLE_S}
    )
    bound = physical_bound_s(stage, DEPTHS_MM)
    with tempfile.TemporaryDirectory() as tmp, realtime_rig() as rig:
        together_s, _ = timed_scan(rig, Path(tmp), grouped=True)
        sequential_s, _ = timed_scan(rig, Path(tmp), grouped=False)
    steps = sum(1 for _ in scan(DEPTHS_MM, grouped=True))
    messages = sum(len(members(m)) for m in scan(DEPTHS_MM, grouped=True))
    return {
        "depths": float(len(DEPTHS_MM)),
        "plan_steps_together": float(steps),
        "plan_messages": float(messages),
        "physical_bound_s": bound,
        "together_s": together_s,
        "sequential_s": sequential_s,
        "together_over_bound": together_s / bound,
        "sequential_over_together": sequential_s / together_s,
        "target_over_bound": 1.0 + TARGET,
    }


def report(figures: dict[str, float]) -> None:
    verdict = "within" if figures["together_over_bound"] <= figures["target_over_bound"] else "OVER"
    print(
        f"\nDepth scan on the simulated rig, real-time clock ({figures['depths']:.0f} depths, "
        f"{INTEGRATION_S:g} s integrations on both electrometers, move on while reading):"
    )
    print(f"  physical bound         {figures['physical_bound_s']:9.3f} s   (profile + settle + integration)")
    print(
        f"  with Together          {figures['together_s']:9.3f} s   "
        f"ratio {figures['together_over_bound']:.4f}   ({verdict} the 3 % target)"
    )
    print(
        f"  sequential             {figures['sequential_s']:9.3f} s   "
        f"sequential / together {figures['sequential_over_together']:.3f}"
    )


if __name__ == "__main__":
    report(run())
