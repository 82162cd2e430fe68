"""The same 1-D scan point through hilcal, bluesky and QCoDeS, side by side in one process, interleaved.

A scan point is: move an axis, read it back, a checkpoint, read a detector, everything journaled. Every
side drives zero-delay simulated devices, so what is measured is each framework's own cost per point.

* hilcal: the scan point of ``bench_engine`` (imported from it, so both benchmarks time the same thing,
  and whatever hilcal code is committed): ``RunEngine.run`` of ``MoveTo``, ``ReadAxis``, ``Checkpoint``,
  ``ReadDosimeter`` per point on a zero-delay axis and electrometer, journal on: six records per point.
  Two rows: the journal fsyncing only at state changes (the durability the bluesky side has: every record
  reaches the kernel at once, fsync at the end of the run), and the journal's default (group commit:
  also an fsync at every checkpoint, so a power cut loses at most the point under way).
* bluesky: ``RunEngine`` running ``bluesky.plans.scan([det], motor, 0, 299, n)`` on ophyd's simulated
  ``SynAxis`` and ``SynGauss`` (zero delay); ``scan`` checkpoints before each point and reads the motor
  with the detector. A subscriber writes every document as one JSON line with one ``os.write`` on an
  ``O_APPEND`` descriptor (as our journal writes a record) and fsyncs at the run's ``stop`` document.
* QCoDeS: ``qcodes.dataset.do1d`` sweeping a ``DummyInstrument`` channel while reading a position
  readback parameter and ``DummyInstrumentWithMeasurement``'s Gaussian, into a SQLite database as
  QCoDeS does by default (rows flushed every ``write_period``, 5 s, and at the end; it has no checkpoint).

Each repeat runs the sides in turn (A B C A B C …) at each number of points, so drift on a shared machine
hits them alike; ratios are paired (one repeat's peer figure over the same repeat's hilcal figure). Only
the scan itself is timed: building devices and opening files is outside it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_engine

PEERS = ("bluesky", "ophyd", "qcodes")
INSTALL_HINT = "pip install -e '.[bench]'"
POINTS = (100, 1000)
QUICK_POINTS = (100,)
FULL_POINTS = (100, 1000, 10000)
REPEATS = 5
START, STOP = 0.0, 299.0


def require_peers() -> None:
    """Fail with the command that installs the peers, instead of an ImportError deep in a run."""
    missing = [name for name in PEERS if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(
            f"bench_peers: {', '.join(missing)} not installed; the peer benchmark needs the bench extra: "
            f"{INSTALL_HINT} (make bench installs it)"
        )


class BlueskySide:
    """bluesky's RunEngine on ophyd.sim, with a subscriber that journals every document to a file."""

    def __init__(self, folder: Path) -> None:
        import bluesky.plans as bp
        import event_model
        from bluesky import RunEngine
        from ophyd.sim import SynAxis, SynGauss

        self._folder = folder
        self._scan = bp.scan
        # event-model's own encoder turns numpy values in documents into JSON, as its exporters do.
        self._encoder = event_model.NumpyEncoder(separators=(",", ":")).encode
        self.motor = SynAxis(name="motor")
        self.det = SynGauss("det", self.motor, "motor", center=150.0, Imax=1.0, sigma=50.0)
        self.engine = RunEngine({})
        self._runs = 0

    def once(self, n: int) -> tuple[float, float]:
        """Wall and CPU seconds (all threads of the process: the RunEngine's loop runs in its own)."""
        self._runs += 1
        fd = os.open(
            self._folder / f"bluesky-{self._runs}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
        )
        encode = self._encoder

        def journal(name: str, doc: dict[str, Any]) -> None:
            os.write(fd, (encode([name, doc]) + "\n").encode())
            if name == "stop":
                os.fsync(fd)

        token = self.engine.subscribe(journal)  # type: ignore[no-untyped-call]
        try:
            start, cpu = time.perf_counter(), time.process_time()
            self.engine(self._scan([self.det], self.motor, START, STOP, n))
            return time.perf_counter() - start, time.process_time() - cpu
        finally:
            self.engine.unsubscribe(token)  # type: ignore[no-untyped-call]
            os.close(fd)


class QcodesSide:
    """QCoDeS do1d on its dummy instruments, into a SQLite database."""

    def __init__(self, folder: Path) -> None:
        from qcodes.dataset import do1d, initialise_or_create_database_at, load_or_create_experiment
        from qcodes.instrument_drivers.mock_instruments import (
            DummyInstrument,
            DummyInstrumentWithMeasurement,
        )

        initialise_or_create_database_at(folder / "qcodes.db")
        self._experiment = load_or_create_experiment("bench_peers", sample_name="simulated")
        self._do1d = do1d
        self.stage = DummyInstrument("bench_stage", gates=["ch1"])
        self.stage.add_parameter("ch1_readback", get_cmd=self.stage.ch1.get, unit="V")
        self.meter = DummyInstrumentWithMeasurement("bench_meter", setter_instr=self.stage)

    def once(self, n: int) -> tuple[float, float]:
        """Wall and CPU seconds of one do1d run."""
        stage = self.stage
        with contextlib.redirect_stdout(io.StringIO()):  # do1d prints a line per run
            start, cpu = time.perf_counter(), time.process_time()
            self._do1d(
                stage.ch1,
                START,
                STOP,
                n,
                0.0,
                stage.ch1_readback,
                self.meter.v1,
                exp=self._experiment,
                do_plot=False,
                show_progress=False,
            )
            return time.perf_counter() - start, time.process_time() - cpu

    def close(self) -> None:
        self.meter.close()
        self.stage.close()


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def _summary(per_point_us: Sequence[float]) -> dict[str, float]:
    q1, q3 = _quartiles(per_point_us)
    return {
        "median_us": statistics.median(per_point_us),
        "q1_us": q1,
        "q3_us": q3,
        "min_us": min(per_point_us),
        "max_us": max(per_point_us),
    }


def _ratios(peer: Sequence[float], ours: Sequence[float]) -> dict[str, float]:
    paired = [p / o for p, o in zip(peer, ours, strict=True)]
    return {"median": statistics.median(paired), "min": min(paired), "max": max(paired)}


def _hilcal_once(n: int, journal: str) -> tuple[float, float]:
    """Wall seconds of bench_engine's scan of ``n`` points, and the CPU seconds around it.

    The CPU figure also counts building the axis, the journal and the engine (outside the wall figure):
    a few hundred microseconds per run, a few µs per point at 100 points.
    """
    cpu = time.process_time()
    wall = bench_engine._scan_once(n, journal) * n
    return wall, time.process_time() - cpu


def run(points: Sequence[int] = POINTS, repeats: int = REPEATS) -> dict[str, Any]:
    """Per-point figures (µs) of each side at each number of points, and the paired peer/hilcal ratios."""
    require_peers()
    import bluesky
    import ophyd
    import qcodes

    with tempfile.TemporaryDirectory(prefix="bench_peers-") as tmp:
        folder = Path(tmp)
        sides: dict[str, Callable[[int], tuple[float, float]]] = {
            "hilcal": lambda n: _hilcal_once(n, "now"),  # bench_engine's "now": fsync at state changes
            "hilcal_default": lambda n: _hilcal_once(n, "default"),
        }
        blue = BlueskySide(folder)
        sides["bluesky"] = blue.once
        qc = QcodesSide(folder)
        sides["qcodes"] = qc.once
        try:
            for once in sides.values():  # warm up imports, caches and the database
                once(20)
            samples: dict[int, dict[str, list[float]]] = {n: {name: [] for name in sides} for n in points}
            cpu: dict[int, dict[str, list[float]]] = {n: {name: [] for name in sides} for n in points}
            for _ in range(repeats):
                for n in points:
                    for name, once in sides.items():
                        wall_s, cpu_s = once(n)
                        samples[n][name].append(wall_s / n * 1e6)
                        cpu[n][name].append(cpu_s / n * 1e6)
        finally:
            qc.close()
    figures: dict[str, Any] = {
        "versions": {
            "bluesky": bluesky.__version__,
            "ophyd": ophyd.__version__,
            "qcodes": qcodes.__version__,
        },
        "repeats": repeats,
        "points": list(points),
        "samples_us": {str(n): by_side for n, by_side in samples.items()},
        "cpu_samples_us": {str(n): by_side for n, by_side in cpu.items()},
    }
    for n, by_side in samples.items():
        block: dict[str, Any] = {name: _summary(values) for name, values in by_side.items()}
        for peer in ("bluesky", "qcodes"):
            for ours in ("hilcal", "hilcal_default"):
                if ours in by_side:
                    block[f"{peer}_over_{ours}"] = _ratios(by_side[peer], by_side[ours])
        if "hilcal_default" in by_side:
            block["hilcal_default_over_hilcal"] = _ratios(by_side["hilcal_default"], by_side["hilcal"])
        # CPU time: what each side costs in work, less sensitive than wall time to a shared machine's load
        # (and blind to fsync waits, which are I/O).
        block["cpu"] = {name: _summary(values) for name, values in cpu[n].items()}
        for peer in ("bluesky", "qcodes"):
            block["cpu"][f"{peer}_over_hilcal"] = _ratios(cpu[n][peer], cpu[n]["hilcal"])
        figures[str(n)] = block
    return figures


LABELS = {
    "hilcal": "hilcal, fsync at state changes",
    "hilcal_default": "hilcal, fsync at each checkpoint",
    "bluesky": "bluesky RE scan, ophyd.sim",
    "qcodes": "QCoDeS do1d, SQLite",
}


def _ratio(r: dict[str, float]) -> str:
    return f"{r['median']:.2f} × ({r['min']:.2f}–{r['max']:.2f})"


def report(figures: dict[str, Any]) -> None:
    versions = figures["versions"]
    print(
        "\nOne 1-D scan point (move, read back, checkpoint, detector read, journaled), µs per point; "
        f"{figures['repeats']} interleaved repeats; bluesky {versions['bluesky']} + ophyd "
        f"{versions['ophyd']}, QCoDeS {versions['qcodes']}. Paired ratios: median (range)."
    )
    print(
        f"  {'points':>6s}  {'wall time':33s}{'median':>9s}{'IQR':>18s}{'range':>18s}{'/ hilcal':>27s}"
        f"{'/ hilcal, checkpoint fsync':>29s}"
    )
    for n in figures["points"]:
        block = figures[str(n)]
        for name, label in LABELS.items():
            s = block[name]
            line = (
                f"  {n:6d}  {label:33s} {s['median_us']:8.1f} "
                f"{s['q1_us']:8.1f}–{s['q3_us']:<8.1f} {s['min_us']:8.1f}–{s['max_us']:<8.1f}"
            )
            if name in ("bluesky", "qcodes"):
                line += f"   {_ratio(block[f'{name}_over_hilcal']):>24s}"
                line += f"     {_ratio(block[f'{name}_over_hilcal_default']):>24s}"
            elif name == "hilcal_default":
                line += f"   {_ratio(block['hilcal_default_over_hilcal']):>24s}"
            print(line)
    print(
        f"  {'points':>6s}  {'CPU time (all threads)':33s}{'median':>9s}{'IQR':>18s}{'range':>18s}"
        f"{'/ hilcal':>27s}"
    )
    for n in figures["points"]:
        cpu = figures[str(n)]["cpu"]
        for name, label in LABELS.items():
            if name == "hilcal_default":
                continue
            s = cpu[name]
            line = (
                f"  {n:6d}  {label:33s} {s['median_us']:8.1f} "
                f"{s['q1_us']:8.1f}–{s['q3_us']:<8.1f} {s['min_us']:8.1f}–{s['max_us']:<8.1f}"
            )
            if name != "hilcal":
                line += f"   {_ratio(cpu[f'{name}_over_hilcal']):>24s}"
            print(line)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help=f"only {QUICK_POINTS} points")
    group.add_argument("--full", action="store_true", help=f"{FULL_POINTS} points (bluesky takes minutes)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    points = QUICK_POINTS if args.quick else FULL_POINTS if args.full else POINTS
    report(run(points, args.repeats))


if __name__ == "__main__":
    main()
