"""Safety envelope: every commanded target is checked here before a byte leaves for a device.

The envelope is the intersection of the travel each device reports at connect time and any tighter
soft limits the rig file sets. The same check serves the pre-flight dry run of a whole plan and the
last-moment check of each move, so a plan that passes pre-flight cannot be refused half-way for limits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.messages import Message, MoveCouch, MoveTo
from drivers.errors import LimitViolation
from drivers.roles.couch import COUCH_AXES, CouchSetpoint


@dataclass(frozen=True, slots=True)
class AxisLimits:
    low_mm: float
    high_mm: float
    source: str


PathCheck = Callable[[str, CouchSetpoint | None, CouchSetpoint], None]


def straight_path_check(guard: Callable[[Sequence[CouchSetpoint]], None], device: str) -> PathCheck:
    """The envelope's view of a couch move: the straight IEC path from the last target (home if none)."""

    def check(name: str, start: CouchSetpoint | None, end: CouchSetpoint) -> None:
        if name == device:
            guard([start if start is not None else CouchSetpoint(), end])

    return check


class SafetyEnvelope:
    def __init__(self) -> None:
        self._limits: dict[str, AxisLimits] = {}
        self._couch_limits: dict[str, dict[str, AxisLimits]] = {}
        self._couch_path_checks: list[PathCheck] = []
        self._last_couch_target: dict[str, CouchSetpoint] = {}

    def set_couch_limits(self, device: str, limits: dict[str, tuple[float, float]], source: str) -> None:
        """Per IEC couch axis (``COUCH_AXES``), narrowing what was set before."""
        current = self._couch_limits.setdefault(device, {})
        for axis, (low, high) in limits.items():
            if axis not in COUCH_AXES:
                raise ValueError(f"{device}: {axis!r} is not an IEC couch axis {COUCH_AXES}")
            before = current.get(axis)
            label = source
            if before is not None:
                low, high, label = (
                    max(low, before.low_mm),
                    min(high, before.high_mm),
                    f"{before.source} ∩ {source}",
                )
            if low > high:
                raise ValueError(f"{device}.{axis}: limits from {label} leave no travel ({low} > {high})")
            current[axis] = AxisLimits(low, high, label)

    def add_couch_path_check(self, check: PathCheck) -> None:
        """A whole-path check (keep-out volumes); called with the previous and the new target."""
        self._couch_path_checks.append(check)

    def couch_limits(self, device: str) -> dict[str, AxisLimits]:
        return dict(self._couch_limits.get(device, {}))

    def set_axis_limits(self, device: str, low_mm: float, high_mm: float, source: str) -> None:
        """Narrow (never widen) the allowed travel of ``device``."""
        current = self._limits.get(device)
        if current is not None:
            low_mm, high_mm = max(low_mm, current.low_mm), min(high_mm, current.high_mm)
            source = f"{current.source} ∩ {source}"
        if low_mm > high_mm:
            raise ValueError(f"{device}: limits from {source} leave no travel ({low_mm} > {high_mm} mm)")
        self._limits[device] = AxisLimits(low_mm, high_mm, source)

    def limits(self, device: str) -> AxisLimits | None:
        return self._limits.get(device)

    def check(self, message: Message) -> None:
        """Raise ``LimitViolation`` for a move outside the envelope; other messages carry no motion risk."""
        if type(message) is MoveCouch:
            self._check_couch(message)
        elif type(message) is MoveTo:
            limits = self._limits.get(message.device)
            if limits is None:
                raise LimitViolation(
                    message.device, "target (no known travel limits)", message.target_mm, 0, 0, "mm"
                )
            if not limits.low_mm <= message.target_mm <= limits.high_mm:
                raise LimitViolation(
                    message.device, "target", message.target_mm, limits.low_mm, limits.high_mm, "mm"
                )

    def _check_couch(self, message: MoveCouch) -> None:
        limits = self._couch_limits.get(message.device)
        if limits is None:
            raise LimitViolation(message.device, "couch pose (no known limits)", 0, 0, 0, "")
        for axis, value in message.setpoint.as_dict().items():
            axis_limits = limits.get(axis)
            if axis_limits is None:
                raise LimitViolation(message.device, f"{axis} (no known limits)", value, 0, 0, "")
            if not axis_limits.low_mm <= value <= axis_limits.high_mm:
                unit = "mm" if axis.endswith("_mm") else "deg"
                raise LimitViolation(
                    message.device,
                    f"{axis} ({axis_limits.source})",
                    value,
                    axis_limits.low_mm,
                    axis_limits.high_mm,
                    unit,
                )
        previous = self._last_couch_target.get(message.device)
        for check in self._couch_path_checks:
            check(message.device, previous, message.setpoint)
        self._last_couch_target[message.device] = message.setpoint

    def reset_path_memory(self) -> None:
        """Forget the last commanded couch targets (a dry run must not leak into the live run)."""
        self._last_couch_target.clear()
