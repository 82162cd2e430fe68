"""One matrix cell in a child process: the real CLI (``hilcal run`` / ``hilcal resume``) with a fault armed.

``python -m tests.faults.cell SPEC.json OUT.json``. The CLI runs in this process so the simulated world can be
read after it returns (is every positioner stopped?); its exit code is what ``hilcal`` would exit with. A
SIGKILL cell never writes OUT.json: the parent sees the signal in the return code.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import controller.cli as cli
from controller.rig import Rig
from simulators.hexapod import Hexapod
from tests.faults.inject import all_positioners, arm

#: Faults after which the target device (or every device) can no longer be reached to stop it.
SEVERED = {"link_cut": "target", "sim_frozen": "all"}


def world_report(rig: Rig, spec: dict[str, Any]) -> dict[str, Any]:
    """Per world positioner at the end of the run: stopped (at rest, braking or stopped short), or why not."""
    sim = rig.simulation
    assert sim is not None
    from tests.faults.inject import world_models

    severed: set[str] = set()
    if SEVERED.get(spec["fault"]) == "all":
        severed = set(all_positioners(sim))
    elif SEVERED.get(spec["fault"]) == "target" and spec["target"]:
        # A cut wire severs every device on it (a Zaber chain carries all three tank arms), not only the
        # cell's target: one of them may be mid-move when the wire goes.
        on_wire = spec.get("peers") or [spec["target"]]
        severed = {m.name for device in on_wire for m in world_models(sim, rig.config, device)}
    report: dict[str, Any] = {}
    for name, model in all_positioners(sim).items():
        if isinstance(model, Hexapod):
            stopped = model.coming_to_rest()
            within = True
        else:
            state = model.state()
            stopped = not state.moving or state.interrupted
            lo, hi = model.limits_usteps
            within = lo <= state.target_usteps <= hi
        report[name] = {"stopped": stopped, "severed": name in severed, "target_within_limits": within}
    return report


def _with_hook(entry: Callable[..., Any], hook: Callable[[Rig], None]) -> Callable[..., Any]:
    """``entry`` with ``hook`` run after whatever ``on_rig_ready`` the CLI itself passes."""

    @functools.wraps(entry)
    def wrapped(*args: Any, on_rig_ready: Callable[[Rig], None] | None = None, **kwargs: Any) -> Any:
        def both(rig: Rig) -> None:
            if on_rig_ready is not None:
                on_rig_ready(rig)
            hook(rig)

        return entry(*args, on_rig_ready=both, **kwargs)

    return wrapped


def main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    captured: dict[str, Any] = {}

    def hook(rig: Rig) -> None:
        captured["rig"] = rig
        assert rig.simulation is not None
        if spec.get("fault") and spec["mode"] == "run":
            arm(rig.simulation, rig.config, spec)

    if spec["mode"] == "run":
        params = Path(spec["runs_dir"]).parent / "params.yaml"
        params.write_text(yaml.safe_dump(spec["params"]), encoding="utf-8")
        setattr(cli, "run_sequence", _with_hook(cli.run_sequence, hook))  # noqa: B010
        args = ["run", "--sequence", spec["sequence"], "--params", str(params)]
        args += ["--runs-dir", spec["runs_dir"], "--no-report"]
    else:
        setattr(cli, "resume_run", _with_hook(cli.resume_run, hook))  # noqa: B010
        args = ["resume", spec["run_dir"]]
    try:
        cli.app(args, standalone_mode=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out: dict[str, Any] = {"exit_code": code}
    rig = captured.get("rig")
    if rig is not None and rig.simulation is not None:
        out["world"] = world_report(rig, spec)
        out["replies"] = {name: wire.replies for name, wire in rig.simulation.wires.items()}
        out["protocols"] = {name: entry[0] for name, entry in rig.simulation.frontends.items()}
        out["ports"] = {name: str(d.port) for name, d in rig.config.devices.items()}
    Path(out_path).write_text(json.dumps(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
