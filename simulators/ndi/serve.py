"""Serve a simulated rig with its NDI sensors in a process of its own: ``python -m simulators.ndi.serve``.

Why a separate process: ndicapi 3.7.6 holds the GIL while it blocks in ``ndiPVWRFromFile`` and ``ndiProbe``,
so a simulator thread inside the client's process deadlocks (seen by us with ndicapi 3.7.6; see its
``ndicapimodule.cxx``).

The rig runs on a ``RealTimeClock`` and serves every endpoint over a pty and TCP. Once listening, it prints
ONE line of JSON on stdout and flushes it::

    {"pid": 123, "endpoints": [{"name": "vega", "protocol": "ndi-combined-api", "tcp_port": 40123,
     "pty_path": "/dev/pts/7"}, ...], "truth": {"tracker": {"reference": [[...4×4...]], ...}}}

``truth`` is each tracker's TRUE ``tracker ← tool`` at start-up (noise-free; meaningful while nothing moves).
The process serves until its stdin reaches end-of-file (the parent closes the pipe) or it gets SIGTERM or
SIGINT, then closes every server.

Options: ``--config FILE`` (YAML or JSON: a ``SimulationConfig``, or a rig file with a ``simulation:``
section); without it, ``tracking_simulation_config()``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from simulators.rig import SimulatedRig, SimulationConfig, tracking_simulation_config


def load_config(path: str | None) -> SimulationConfig:
    """The config to serve, always on real time (outside clients wait in wall time)."""
    if path is None:
        return tracking_simulation_config(clock="realtime")
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "simulation" in data:
        data = data["simulation"]
    config = SimulationConfig.model_validate(data)
    return config.model_copy(update={"clock": "realtime"})


def describe(rig: SimulatedRig) -> dict[str, Any]:
    truth = {
        name: {tool: tracker.true_pose(tool).tolist() for tool in tracker.tools}
        for name, tracker in rig.trackers.items()
    }
    return {"pid": os.getpid(), "endpoints": rig.describe(), "truth": truth}


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.ndi.serve", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", help="YAML/JSON SimulationConfig (or rig file with a simulation section)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with SimulatedRig(config, serve_both=True) as rig:
        sys.stdout.write(json.dumps(describe(rig)) + "\n")
        sys.stdout.flush()
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except SystemExit:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
