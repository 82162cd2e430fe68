"""The positioner role for one linear axis (phantom stages, range-finder columns, 1-D tanks).

Positions cross this boundary in millimetres along the axis's own scale, measured from the axis's home
datum. Where the axis sits in the room (its IEC 61217 frame) is rig knowledge, added above this layer.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class AxisPositioner(Protocol):
    """One motorised linear axis. All waits use the injected clock; all targets are checked before I/O."""

    name: str

    @property
    def state(self) -> str:
        """The driver state machine's current state (e.g. ``ready``, ``moving``, ``fault``)."""
        ...

    def connect(self) -> None:
        """Open the conversation: identify, read status, warnings and travel limits."""
        ...

    def close(self) -> None: ...

    def travel_mm(self) -> tuple[float, float]:
        """The axis's travel limits as the device reports them."""
        ...

    def home(self, timeout_s: float = 120.0) -> None:
        """Reference the axis and wait until it is idle at its home datum."""
        ...

    def start_move_to(self, target_mm: float) -> None:
        """Command an absolute move and return at once; refuses a target outside the travel."""
        ...

    def is_moving(self) -> bool: ...

    def wait_until_idle(self, timeout_s: float = 120.0) -> None: ...

    def move_to(self, target_mm: float, timeout_s: float = 120.0) -> None:
        """``start_move_to`` then ``wait_until_idle``."""
        ...

    def position_mm(self) -> float:
        """The controller's own position readback (motor steps converted to mm)."""
        ...

    def encoder_position_mm(self) -> float | None:
        """An independent linear-encoder reading in mm, or None when the axis has no encoder."""
        ...

    def stop(self) -> None:
        """Decelerate to a stop (the safe-state action on an abort)."""
        ...

    def emergency_stop(self) -> None:
        """Stop without the normal deceleration."""
        ...
