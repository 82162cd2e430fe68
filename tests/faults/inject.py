"""Turn a matrix cell into injections on a live simulated rig, armed at the N-th reply of one endpoint."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from simulators.faults import FaultKind
from simulators.hexapod import Hexapod
from simulators.keithley6517b.device import Keithley6517bSim
from simulators.ndi.protocol import corrupt_crc, error_reply
from simulators.pi_gcs.protocol import ErrorCode
from simulators.ptw_unidos.device import UnidosSim
from simulators.rig import SimulatedRig
from simulators.stage import LinearStage
from simulators.zaber.protocol import corrupt_checksum

#: The device error each protocol raises (docs/faults.md); all are codes the manuals list.
NDI_DEVICE_ERROR = 0x10  # "System not initialized"
PI_DEVICE_ERROR = ErrorCode.PARAM_SYNTAX  # the controller reports it could not parse what it was sent
K6517B_DEVICE_ERROR = -310  # "System error"
SIGNALS = {"sigkill": signal.SIGKILL, "sigterm": signal.SIGTERM, "sigint": signal.SIGINT}


def world_models(sim: SimulatedRig, rig_config: Any, device: str) -> list[LinearStage | Hexapod]:
    """The stages or hexapod a rig device drives (empty for devices that move nothing)."""
    spec = rig_config.devices[device]
    endpoint = str(spec.port).removeprefix("sim:")
    if endpoint in sim.chains:
        chain = sim.config.zaber_chains[endpoint]
        params = spec.params
        axis_names = chain.devices[int(params["address"])].axes
        return [sim.world.stage(axis_names[int(params.get("axis", 1)) - 1])]
    if endpoint in sim.pi_controllers:
        return [sim.pi_controllers[endpoint].hexapod]
    return []


def all_positioners(sim: SimulatedRig) -> dict[str, LinearStage | Hexapod]:
    models: dict[str, LinearStage | Hexapod] = {name: sim.world.stage(name) for name in sim.config.stages}
    for name in sim.config.hexapods:
        models[name] = sim.world.get(name, Hexapod)
    return models


def _motion_fault(models: list[LinearStage | Hexapod], fault: str) -> Callable[[], None]:
    def fire() -> None:
        for model in models:
            if isinstance(model, LinearStage):
                if fault == "stall":
                    model.inject_stall()
                else:
                    model.inject_limit_trigger()
            else:
                model.inject_motion_fault("stall" if fault == "stall" else "limit")

    return fire


def _device_error(
    sim: SimulatedRig, rig_config: Any, target: str, endpoint: str, protocol: str, n: int
) -> None:
    """Arm the protocol's own device error at the trigger (see docs/faults.md for each choice)."""
    wire = sim.wires[endpoint]
    if protocol == "zaber-ascii":
        address = int(rig_config.devices[target].params["address"])
        device = sim.chains[endpoint].devices[address]
        wire.arm("call", after_replies=n, callback=lambda: device.inject_fault_flag("FQ"))
    elif protocol == "ndi-combined-api":
        wire.arm("rewrite", after_replies=n, rewrite=lambda _reply: error_reply(NDI_DEVICE_ERROR))
    elif protocol == "pi-gcs2":
        controller = sim.pi_controllers[endpoint]
        wire.arm("call", after_replies=n, callback=lambda: controller.inject_error(PI_DEVICE_ERROR))
    elif protocol == "ptw-unidos":
        unidos = sim.frontends[endpoint][1]
        assert isinstance(unidos, UnidosSim)
        wire.arm("call", after_replies=n, callback=lambda: unidos.inject_hv_error(True))
    elif protocol == "keithley-6517b":
        keithley = sim.frontends[endpoint][1]
        assert isinstance(keithley, Keithley6517bSim)
        wire.arm("call", after_replies=n, callback=lambda: keithley.inject_error(K6517B_DEVICE_ERROR))
    else:
        raise ValueError(f"no device error for {protocol}")


def arm(sim: SimulatedRig, rig_config: Any, spec: dict[str, Any]) -> None:
    """Arm ``spec['fault']`` on ``spec['endpoint']`` after ``spec['trigger']`` of its replies."""
    fault, endpoint, target = spec["fault"], spec["endpoint"], spec["target"]
    wire = sim.wires[endpoint]
    n = int(spec["trigger"])
    simple: dict[str, FaultKind] = {
        "link_cut": "cut",
        "muted": "mute",
        "garbled": "garble",
        "partial_frame": "partial",
    }
    if fault in simple:
        wire.arm(simple[fault], after_replies=n)
    elif fault == "bad_checksum":
        rewrite = corrupt_checksum if spec["protocol"] == "zaber-ascii" else corrupt_crc
        wire.arm("rewrite", after_replies=n, rewrite=rewrite)
    elif fault == "device_error":
        _device_error(sim, rig_config, target, endpoint, spec["protocol"], n)
    elif fault in ("stall", "limit_switch"):
        wire.arm(
            "call", after_replies=n, callback=_motion_fault(world_models(sim, rig_config, target), fault)
        )
    elif fault == "estop":
        wire.arm("call", after_replies=n, callback=sim.world.emergency_stop)
    elif fault == "sim_killed":
        wire.arm("call", after_replies=n, callback=sim.kill)
    elif fault == "sim_frozen":
        wire.arm("call", after_replies=n, callback=sim.freeze)
    elif fault in SIGNALS:
        number = SIGNALS[fault]
        wire.arm("call", after_replies=n, callback=lambda: os.kill(os.getpid(), number))
    else:
        raise ValueError(f"unknown fault {fault!r}")
