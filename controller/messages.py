"""Plans as data: the messages a sequence yields and the run engine executes.

A sequence never touches a device. It yields these small frozen records; the engine checks each one
(limits, state), journals it, dispatches it to the device role and sends the response back into the
generator. Because a plan is data, it can be dry-run before any motion, and replayed from a journal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Home:
    """Reference an axis at its home datum."""

    device: str


@dataclass(frozen=True, slots=True)
class MoveTo:
    """Absolute move of an axis, in mm on the axis's own scale; returns when the axis is idle."""

    device: str
    target_mm: float


@dataclass(frozen=True, slots=True)
class ReadAxis:
    """Read the axis's own position readback and its independent encoder; returns an ``AxisReading``."""

    device: str


@dataclass(frozen=True, slots=True)
class Dwell:
    """Let time pass on the rig clock (settling); instant on a virtual-clock rig."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A point where the run may pause, and where progress is reported."""

    label: str = ""


Message = Home | MoveTo | ReadAxis | Dwell | Checkpoint

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls for cls in (Home, MoveTo, ReadAxis, Dwell, Checkpoint)
}


@dataclass(frozen=True, slots=True)
class AxisReading:
    """One reading of an axis: readback and encoder in mm on the axis scale, and when it was taken."""

    device: str
    position_mm: float
    encoder_mm: float | None
    clock_s: float


def message_to_record(message: Message) -> dict[str, Any]:
    return {"type": type(message).__name__, **asdict(message)}


def message_from_record(record: dict[str, Any]) -> Message:
    fields = dict(record)
    cls = MESSAGE_TYPES[fields.pop("type")]
    return cls(**fields)
