"""Safety envelope: every commanded target is checked here before a byte leaves for a device.

The envelope is the intersection of the travel each device reports at connect time and any tighter
soft limits the rig file sets. The same check serves the pre-flight dry run of a whole plan and the
last-moment check of each move, so a plan that passes pre-flight cannot be refused half-way for limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.messages import Message, MoveTo
from drivers.errors import LimitViolation


@dataclass(frozen=True, slots=True)
class AxisLimits:
    low_mm: float
    high_mm: float
    source: str


class SafetyEnvelope:
    def __init__(self) -> None:
        self._limits: dict[str, AxisLimits] = {}

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
        if type(message) is MoveTo:
            limits = self._limits.get(message.device)
            if limits is None:
                raise LimitViolation(
                    message.device, "target (no known travel limits)", message.target_mm, 0, 0, "mm"
                )
            if not limits.low_mm <= message.target_mm <= limits.high_mm:
                raise LimitViolation(
                    message.device, "target", message.target_mm, limits.low_mm, limits.high_mm, "mm"
                )
