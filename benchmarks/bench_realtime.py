"""Motion-planned polling: a real-time rehearsal against its physical bound, and the virtual-clock speed.

Real time: the default simulated rig on the real-time clock (``simulation.clock: realtime``, what
``hilcal run --clock realtime`` does). A water-tank scan (``MoveTo`` + ``ReadAxis`` per point, through the
run engine with the journal on) and couch moves (``HexapodCouch.move_to``), each with short (0.5 mm) and
long steps. The physical bound is what the simulated world itself needs: every move's trapezoidal profile
(``simulators.stage.plan_move`` with the stage's or the hexapod's speed and acceleration) plus its settle.
The ratio wall / bound is the real-time overhead of the controller and its waits.

Virtual clock: the default session's virtual seconds over wall seconds is measured separately by running
``hilcal run`` (see docs/benchmarks.md); ``python benchmarks/bench_realtime.py --session`` does it here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
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
from controller.messages import Message, MoveTo, ReadAxis
from controller.rig import Rig, build_rig
from drivers.roles.couch import CouchSetpoint
from simulators.stage import StageConfig, plan_move

AXIS = "phantom_z"
COUCH = "couch"
TARGET = 1.01  # wall ≤ 1.01 × the physical bound (issue 15)
SHORT_MM = 0.5
TANK_SHORT_POINTS = 20
TANK_LONG_MM = 100.0
COUCH_LONG_MM = 40.0  # the simulated hexapod's X travel is ±50 mm


def realtime_config() -> RigConfig:
    """The default rig on the real-time clock, the hexapod referencing in 1 s instead of 15 s."""
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["clock"] = "realtime"
    raw["simulation"]["stages"][AXIS]["power_on_position_mm"] = 5.0  # homing takes 0.5 s, not 15 s
    raw["simulation"]["hexapods"]["couch_hexapod"]["reference_time_s"] = 1.0
    return RigConfig.model_validate(raw)


def stage_config(config: RigConfig) -> StageConfig:
    raw = config.model_dump(mode="json")["simulation"]["stages"][AXIS]
    return StageConfig.model_validate(raw)


def hexapod_profile(config: RigConfig) -> dict[str, float]:
    """Speed, acceleration and settle the simulated hexapod moves with (its config, defaults filled in)."""
    from simulators.hexapod import HexapodConfig

    raw = config.model_dump(mode="json")["simulation"]["hexapods"]["couch_hexapod"]
    hexapod = HexapodConfig.model_validate(raw)
    return {"v": hexapod.velocity_mm_s, "a": hexapod.accel_mm_s2, "settle": hexapod.settle_s}


def move_bound_s(distance: float, speed: float, accel: float, settle: float) -> float:
    """The simulator's own rest-to-rest profile over ``distance``, plus settle."""
    if distance <= 0:
        return 0.0
    return plan_move(0.0, 0.0, 0.0, distance, speed, accel)[-1].t1 + settle


def tank_scan(points: list[float]) -> Generator[Message, Any, None]:
    for depth in points:
        yield MoveTo(AXIS, depth)
        yield ReadAxis(AXIS)


@contextmanager
def engine_on(rig: Rig, folder: Path) -> Iterator[RunEngine]:
    journal = Journal(folder / "journal.jsonl", rig.clock)
    rig.add_exchange_listener(journal.record_exchange)
    envelope = SafetyEnvelope()
    envelope.set_axis_limits(AXIS, 0.0, 300.0, "bench")
    devices = DeviceSet(positioners=rig.devices.positioners)
    try:
        yield RunEngine(devices, rig.clock, journal, envelope)
    finally:
        for transport in rig.transports:
            transport.remove_listener(journal.record_exchange)
        journal.close()


def timed_tank(rig: Rig, folder: Path, points: list[float], stage: StageConfig) -> dict[str, float]:
    axis = rig.devices.positioners[AXIS]
    start = axis.position_mm()
    bound = sum(
        move_bound_s(abs(b - a), stage.max_speed_mm_s, stage.accel_mm_s2, stage.settle_s)
        for a, b in zip([start, *points], points, strict=False)
    )
    with engine_on(rig, folder) as engine:
        began = time.perf_counter()
        engine.run(tank_scan(points))
        wall = time.perf_counter() - began
    axis.move_to(start)  # the same moves again, role calls only: the driver's part of the ratio
    waiting = reading = 0.0
    for depth in points:
        began = time.perf_counter()
        axis.move_to(depth)
        arrived = time.perf_counter()
        axis.position_mm()  # what the engine's ReadAxis asks at rest: get pos, get encoder.pos
        axis.encoder_position_mm()
        waiting += arrived - began
        reading += time.perf_counter() - arrived
    return {
        "wall_s": wall,
        "bound_s": bound,
        "ratio": wall / bound,
        "wait_ratio": waiting / bound,  # move_to alone (move abs + planned wait), no engine, no read
        "read_ratio": reading / bound,  # the axis read back at rest (two round trips a point), no engine
        "moves": float(len(points)),
    }


def timed_couch(rig: Rig, lateral: list[float], profile: dict[str, float]) -> dict[str, float]:
    couch = rig.devices.couches[COUCH]
    here = couch.read_setpoint().lateral_mm
    bound = 0.0
    for a, b in zip([here, *lateral], lateral, strict=False):
        d = abs(b - a)
        if d > 0:  # a pure translation: path speed v/d, path acceleration a/d over s ∈ [0, 1]
            bound += move_bound_s(1.0, profile["v"] / d, profile["a"] / d, profile["settle"])
    waiting = commanding = 0.0
    began = time.perf_counter()
    for x in lateral:
        asked = time.perf_counter()
        couch.start_move_to(CouchSetpoint(lateral_mm=x))  # IEC → hexapod, VMO?, MOV, ERR?
        accepted = time.perf_counter()
        couch.wait_until_idle()
        waiting += time.perf_counter() - accepted
        commanding += accepted - asked
    wall = time.perf_counter() - began
    return {
        "wall_s": wall,
        "bound_s": bound,
        "ratio": wall / bound,
        "wait_ratio": waiting / bound,  # from MOV accepted to arrival seen: the planned wait alone
        "read_ratio": commanding / bound,  # the move's command: IEC mapping, VMO?, MOV + ERR?
        "moves": float(len(lateral)),
    }


def run_realtime() -> dict[str, dict[str, float]]:
    from controller.cli import REHEARSAL_SWITCH_INTERVAL_S

    sys.setswitchinterval(REHEARSAL_SWITCH_INTERVAL_S)  # as `hilcal run --clock realtime` does
    config = realtime_config()
    stage = stage_config(config)
    profile = hexapod_profile(config)
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rig = build_rig(config, devices=[AXIS, COUCH])
        with rig:
            rig.connect_all()
            rig.devices.positioners[AXIS].home()
            rig.devices.couches[COUCH].home()
            rig.devices.positioners[AXIS].move_to(20.0)
            short = [20.0 + SHORT_MM * (i + 1) for i in range(TANK_SHORT_POINTS)]
            figures["tank_short"] = timed_tank(rig, Path(tmp) / "short", short, stage)
            long = [short[-1] + TANK_LONG_MM, short[-1]]
            figures["tank_long"] = timed_tank(rig, Path(tmp) / "long", long, stage)
            rig.devices.couches[COUCH].move_to(CouchSetpoint(lateral_mm=-COUCH_LONG_MM / 2))
            couch_short = [-COUCH_LONG_MM / 2 + SHORT_MM * (i + 1) for i in range(10)]
            figures["couch_short"] = timed_couch(rig, couch_short, profile)
            couch_long = [couch_short[-1] + COUCH_LONG_MM - 10 * SHORT_MM, couch_short[-1]]
            figures["couch_long"] = timed_couch(rig, couch_long, profile)
    return figures


def run_session(runs_dir: Path) -> dict[str, float]:
    """``hilcal run`` (the default session, virtual clock, no report): rig-clock and wall seconds per run."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli", "run", "--runs-dir", str(runs_dir), "--no-report"],
        capture_output=True,
        check=False,
    )
    command_wall = time.perf_counter() - began
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    command_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    clock = wall = motion_clock = motion_wall = 0.0
    for results in sorted(runs_dir.glob("*/results.json")):
        summary = json.loads(results.read_text())
        run_wall = summary["ended_wall"] - summary["started_wall"]
        clock += summary["clock_elapsed_s"]
        wall += run_wall
        sequence = summary["results"][0]["sequence"] if summary["results"] else ""
        if sequence.startswith(("phantom", "water", "couch")):
            motion_clock += summary["clock_elapsed_s"]
            motion_wall += run_wall
    return {
        "exit_code": float(done.returncode),
        "virtual_s": clock,
        "runs_wall_s": wall,
        "command_wall_s": command_wall,
        "command_cpu_s": command_cpu,
        "virtual_over_command_cpu": clock / command_cpu,
        "virtual_over_runs_wall": clock / wall if wall else math.nan,
        "virtual_over_command_wall": clock / command_wall,
        "motion_virtual_over_wall": motion_clock / motion_wall if motion_wall else math.nan,
    }


def run(repeats: int = 1) -> dict[str, Any]:
    """Medians of ``repeats`` real-time rounds; Python's switch interval is restored afterwards."""
    before = sys.getswitchinterval()
    try:
        rounds = [run_realtime() for _ in range(repeats)]
    finally:
        sys.setswitchinterval(before)
    return {
        case: {key: statistics.median(r[case][key] for r in rounds) for key in rounds[0][case]}
        for case in rounds[0]
    }


def session() -> dict[str, float]:
    """``run_session`` in a throwaway runs directory."""
    with tempfile.TemporaryDirectory() as tmp:
        return run_session(Path(tmp))


def report(figures: dict[str, Any]) -> None:
    print("\nMotion-planned polling, real-time clock (default simulated rig; wall / physical bound):")
    labels = {
        "tank_short": f"tank scan, {SHORT_MM:g} mm steps (engine)",
        "tank_long": f"tank scan, {TANK_LONG_MM:g} mm moves (engine)",
        "couch_short": f"couch, {SHORT_MM:g} mm moves",
        "couch_long": f"couch, {COUCH_LONG_MM - 10 * SHORT_MM:g} mm moves",
    }
    for case, label in labels.items():
        f = figures[case]
        verdict = "within" if f["ratio"] <= TARGET else "OVER"
        other = "read back" if case.startswith("tank") else "command (VMO?, MOV)"
        print(
            f"  {label:34s} {f['moves']:3.0f} moves  bound {f['bound_s']:8.3f} s  wall {f['wall_s']:8.3f} s  "
            f"ratio {f['ratio']:.4f}  ({verdict} {TARGET:g}); move + wait alone {f['wait_ratio']:.4f}, "
            f"{other} +{(f['read_ratio']) * 100:.2f} % of the bound"
        )
    print(f"  load average {os.getloadavg()[0]:.1f}")


def report_session(session: dict[str, float]) -> None:
    print("\nDefault session on the virtual clock (`hilcal run --no-report`):")
    print(
        f"  {session['virtual_s']:.0f} virtual s in {session['runs_wall_s']:.2f} s of run wall time: "
        f"{session['virtual_over_runs_wall']:.0f}× real time "
        f"({session['virtual_over_command_wall']:.0f}× over the whole command, "
        f"{session['command_wall_s']:.1f} s with start-up and session reports; "
        f"motion sequences alone {session['motion_virtual_over_wall']:.0f}×)"
    )
    print(
        f"  CPU of the whole command {session['command_cpu_s']:.1f} s: "
        f"{session['virtual_over_command_cpu']:.0f} virtual s per CPU s (load-independent); "
        f"load average at the end {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--session", action="store_true", help="also time the default session")
    args = parser.parse_args()
    report(run(args.repeats))
    if args.session:
        report_session(session())
