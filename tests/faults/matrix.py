"""The fault matrix: which sequences, which faults, and which device each fault hits (docs/faults.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Faults in the order of issue 10. ``wire`` faults spoil one device's conversation, ``motion`` faults
#: act on the simulated world, ``simulator`` faults on every endpoint, ``signal`` faults on the controller.
FAULTS: dict[str, str] = {
    "link_cut": "wire",
    "muted": "wire",
    "garbled": "wire",
    "partial_frame": "wire",
    "bad_checksum": "wire",
    "device_error": "wire",
    "stall": "motion",
    "limit_switch": "motion",
    "estop": "motion",
    "sim_killed": "simulator",
    "sim_frozen": "simulator",
    "sigkill": "signal",
    "sigterm": "signal",
    "sigint": "signal",
}

#: Protocols whose frames carry a checksum the driver checks (Zaber LRC, NDI CRC16).
CHECKSUMMED = {"zaber-ascii", "ndi-combined-api"}
#: Protocols behind which a positioner moves (Zaber stages, the PI hexapod).
MOVING = {"zaber-ascii", "pi-gcs2"}
#: Protocols with a device error code the simulator can raise (docs/faults.md, "device error code").
DEVICE_ERRORS = {"zaber-ascii", "ndi-combined-api", "pi-gcs2", "ptw-unidos", "keithley-6517b"}


@dataclass(frozen=True)
class Variant:
    """One row of the matrix: a sequence with the parameters it runs with on the default rig."""

    label: str
    sequence: str
    params: dict[str, Any] = field(default_factory=dict)
    #: Rig devices in the order a fault prefers them (the first one the fault applies to is hit).
    prefer: tuple[str, ...] = ()


VARIANTS: tuple[Variant, ...] = (
    Variant("phantom-axis-iso230", "phantom-axis-iso230", prefer=("phantom_x",)),
    Variant("water-tank-axes", "water-tank-axes", prefer=("phantom_x", "phantom_y", "phantom_z", "tracker")),
    Variant("tracker-registration", "tracker-registration", prefer=("tracker",)),
    Variant("couch-pose-readback", "couch-pose-readback", prefer=("couch",)),
    Variant("couch-translation-accuracy", "couch-translation-accuracy", prefer=("couch", "tracker")),
    Variant("couch-rotation-accuracy", "couch-rotation-accuracy", prefer=("couch", "tracker")),
    # These two hit the tracker first, so the NDI link is faulted inside couch sequences too.
    Variant("couch-rotation-walkout", "couch-rotation-walkout", prefer=("tracker", "couch")),
    Variant("couch-load-positioning", "couch-load-positioning", prefer=("tracker", "couch")),
    Variant(
        "electrometer-leakage-reproducibility[6517b]",
        "electrometer-leakage-reproducibility",
        {"dosimeter": "electrometer_6517b"},
        prefer=("electrometer_6517b",),
    ),
    Variant(
        "electrometer-leakage-reproducibility[unidos]",
        "electrometer-leakage-reproducibility",
        {"dosimeter": "electrometer_unidos", "range": "MEDIUM"},
        prefer=("electrometer_unidos",),
    ),
    # x, y and z share one Zaber chain; 55 % into its replies the Y profile is being scanned
    Variant(
        "proton-lateral-profile",
        "proton-lateral-profile",
        {"core_step_mm": 2.0, "tail_step_mm": 3.0, "settle_s": 0.0},
        prefer=("electrometer_tank", "phantom_y"),
    ),
    Variant("electrometer-linearity", "electrometer-linearity", prefer=("electrometer_6517b",)),
    Variant("electrometer-end-effect", "electrometer-end-effect", prefer=("electrometer_6517b",)),
    Variant(
        "chamber-polarity-recombination", "chamber-polarity-recombination", prefer=("electrometer_6517b",)
    ),
    Variant(
        "chamber-cross-calibration",
        "chamber-cross-calibration",
        {"cycles": 1, "readings": 2},
        prefer=("electrometer_unidos",),
    ),
    Variant("air-density-stability", "air-density-stability", {"duration_s": 600.0}, prefer=("room_sensor",)),
    # x, y and z share one Zaber chain; 55 % into its replies phantom_x is homing or centring the chamber
    Variant(
        "proton-range-check",
        "proton-range-check",
        {"coarse_step_mm": 5.0, "fine_step_mm": 1.0, "noise_repeats": 3, "settle_s": 0.0},
        prefer=("electrometer_tank", "phantom_x"),
    ),
    Variant(
        "proton-output-constancy",
        "proton-output-constancy",
        {"deliveries": 3, "settle_s": 0.0},
        prefer=("electrometer_tank", "phantom_x"),
    ),
)


@dataclass(frozen=True)
class Cell:
    """One (variant, fault) cell; ``target`` is the rig device hit, or None with ``na`` saying why."""

    variant: Variant
    fault: str
    target: str | None
    endpoint: str | None
    protocol: str | None
    na: str | None = None

    @property
    def name(self) -> str:
        return f"{self.variant.label} × {self.fault}"


def applies(fault: str, protocol: str) -> bool:
    """Can ``fault`` be made on a device speaking ``protocol``?"""
    kind = FAULTS[fault]
    if fault == "bad_checksum":
        return protocol in CHECKSUMMED
    if fault == "device_error":
        return protocol in DEVICE_ERRORS
    if kind == "motion":
        return protocol in MOVING
    return True


def plan_cell(variant: Variant, fault: str, protocols: dict[str, tuple[str, str]]) -> Cell:
    """Pick the device ``fault`` hits in ``variant``; ``protocols``: rig device → (endpoint, protocol)."""
    for device in variant.prefer:
        endpoint, protocol = protocols[device]
        if applies(fault, protocol):
            return Cell(variant, fault, device, endpoint, protocol)
    used = ", ".join(f"{d} ({protocols[d][1]})" for d in variant.prefer)
    if fault == "bad_checksum":
        why = f"no device it uses has a checksummed protocol: {used}; no check can catch the corruption"
    elif FAULTS[fault] == "motion":
        why = f"it commands no motion (uses {used}); nothing can stall, trip a limit or be e-stopped mid-move"
    else:
        why = f"no device it uses reports device error codes: {used}"
    return Cell(variant, fault, None, None, None, na=why)
