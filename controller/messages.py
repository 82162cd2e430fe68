"""Plans as data: the messages a sequence yields and the run engine executes.

A sequence never touches a device. It yields these small frozen records; the engine checks each one
(limits, state), journals it, dispatches it to the device role and sends the response back into the
generator. Because a plan is data, it can be dry-run before any motion, and replayed from a journal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from typing import Any, get_args

from drivers.environment import EnvironmentReading
from drivers.roles.couch import CouchSetpoint
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from drivers.roles.tracker import ToolPose, TrackerFrame


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


@dataclass(frozen=True, slots=True)
class MoveCouch:
    """Move a couch to an IEC 61217 table-top set point; returns when it is idle."""

    device: str
    setpoint: CouchSetpoint


@dataclass(frozen=True, slots=True)
class ReadCouch:
    """Read a couch's own readback in IEC terms; returns a ``CouchReading``."""

    device: str


@dataclass(frozen=True, slots=True)
class ConfigureDosimeter:
    device: str
    settings: DosimeterSettings


@dataclass(frozen=True, slots=True)
class ZeroDosimeter:
    device: str


@dataclass(frozen=True, slots=True)
class StartIntegration:
    device: str


@dataclass(frozen=True, slots=True)
class HoldIntegration:
    device: str


@dataclass(frozen=True, slots=True)
class ResetIntegration:
    device: str


@dataclass(frozen=True, slots=True)
class ReadDosimeter:
    """Read charge or current; returns a ``DosimeterReading`` in SI units."""

    device: str


@dataclass(frozen=True, slots=True)
class ReadEnvironment:
    """Read temperature and pressure with their provenance; returns an ``EnvironmentReading``."""

    device: str


@dataclass(frozen=True, slots=True)
class ReadTracker:
    """Read one tracker frame (every enabled tool); returns a ``TrackerFrame`` in the tracker's frame."""

    device: str
    samples: int = 1  # consecutive frames averaged by the sequence, not the engine (each is journaled)


@dataclass(frozen=True, slots=True)
class LoadCouch:
    """Have the table top carry ``payload_kg`` (phantom slabs placed by the operator; a simulated load)."""

    device: str
    payload_kg: float
    description: str = ""


@dataclass(frozen=True, slots=True)
class SwapChambers:
    """Put the chambers read by ``device`` and ``other`` at each other's positions (``swapped``) or back at
    their own (cross-calibration with alternating positions). The operator does it on a real rig; a simulated
    rig moves its chambers. The arrangement is stated, not toggled, so a resumed run can restore it."""

    device: str
    other: str
    swapped: bool
    description: str = ""


@dataclass(frozen=True, slots=True)
class Beam:
    """Switch the beam on (at a dose rate at the chamber) or off, through the rig's beam control."""

    on: bool
    dose_rate_gy_per_min: float = 0.0
    #: How long the beam must stay on, as told to whoever switches it (None: not stated, until switched off).
    duration_s: float | None = None
    #: Which beam (energy, modality, field) as set up at the console ("": not stated).
    beam: str = ""
    #: Dose at the chamber per monitor unit for this beam set-up (None: not stated); with it the prompt
    #: states the MU and MU/min to set at the console.
    gy_per_mu: float | None = None


@dataclass(frozen=True, slots=True)
class Together:
    """Run these messages at once, each on its own device, and wait for all; returns their responses in order.

    For work the physics lets overlap: a tank axis moving while an electrometer is read and reset, two
    electrometers integrating one delivery. Each member names a different device (a member is a device
    message: no dwell, checkpoint, beam, couch load or nested group), so the engine can give each its own
    thread without two threads ever talking to one instrument.
    """

    messages: tuple[Message, ...]

    def __post_init__(self) -> None:
        problem = group_problem(self.messages)
        if problem is not None:
            raise ValueError(f"Together: {problem}")


Message = (
    Home
    | MoveTo
    | ReadAxis
    | Dwell
    | Checkpoint
    | MoveCouch
    | ReadCouch
    | ConfigureDosimeter
    | ZeroDosimeter
    | StartIntegration
    | HoldIntegration
    | ResetIntegration
    | ReadDosimeter
    | ReadEnvironment
    | ReadTracker
    | LoadCouch
    | Beam
    | Together
    | SwapChambers
)

#: Messages that cannot be a member of a ``Together``: they address no single device, prompt the operator
#: or hold the run's own timing.
NOT_IN_GROUP: tuple[type, ...] = (Dwell, Checkpoint, Beam, LoadCouch, Together, SwapChambers)

MESSAGE_TYPES: dict[str, type[Message]] = {cls.__name__: cls for cls in get_args(Message)}


def group_problem(messages: tuple[Message, ...]) -> str | None:
    """Why these messages cannot run together (None when they can): each must be a device message, once."""
    if len(messages) < 1:
        return "a group needs at least one message"
    seen: set[str] = set()
    for position, member in enumerate(messages):
        if isinstance(member, NOT_IN_GROUP) or not isinstance(getattr(member, "device", None), str):
            kind = type(member).__name__
            return f"member {position} ({kind}) is not a device message and cannot run together"
        device: str = member.device  # type: ignore[union-attr]
        if device in seen:
            return f"device {device!r} is named twice; each member must run on a different device"
        seen.add(device)
    return None


def members(message: Message) -> tuple[Message, ...]:
    """The messages a plan step runs: a group's members, or the message itself."""
    return message.messages if isinstance(message, Together) else (message,)


@dataclass(frozen=True, slots=True)
class AxisReading:
    """One reading of an axis: readback and encoder in mm on the axis scale, and when it was taken."""

    device: str
    position_mm: float
    encoder_mm: float | None
    clock_s: float


@dataclass(frozen=True, slots=True)
class CouchReading:
    device: str
    setpoint: CouchSetpoint
    clock_s: float


# Nested value types a message or a reading may carry, rebuilt by name from the journal.
VALUE_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        AxisReading,
        CouchReading,
        CouchSetpoint,
        DosimeterReading,
        DosimeterSettings,
        EnvironmentReading,
        ToolPose,
        TrackerFrame,
    )
}


_PLAIN = frozenset({str, int, float, bool, type(None)})
#: One compiled builder per dataclass type (``_record_builder``): the field names are looked up once.
_BUILDERS: dict[type, Callable[[Any], dict[str, Any]]] = {}


def to_record(value: Any) -> Any:
    """A dataclass (possibly nested) as a JSON-able dict tagged with its type; other values unchanged.

    Runs for every message and every reading the engine journals, so plain values return first and
    each dataclass type gets a builder of its own, made once (``_record_builder``).
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    build = _BUILDERS.get(kind)
    if build is not None:
        return build(value)
    if kind is tuple or kind is list:
        return [item if type(item) in _PLAIN else to_record(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return _BUILDERS.setdefault(kind, _record_builder(kind))(value)
    if isinstance(value, datetime):
        return {"type": "datetime", "iso": value.isoformat()}
    if isinstance(value, tuple | list):
        return [to_record(item) for item in value]
    return value


def _record_builder(kind: type) -> Callable[[Any], dict[str, Any]]:
    """A function writing ``kind``'s record with one dict display: what a loop over its fields did.

    Generated once per type (as ``dataclasses`` generates ``__init__``), from field names that are
    identifiers by construction; each field stays as it is when plain and goes through ``to_record``
    otherwise, so nested dataclasses, tuples and datetimes are tagged exactly as before.
    """
    names = [f.name for f in fields(kind)]
    reads = "".join(f"    v{i} = value.{name}\n" for i, name in enumerate(names))
    items = "".join(
        f", {name!r}: v{i} if type(v{i}) in _PLAIN else to_record(v{i})" for i, name in enumerate(names)
    )
    source = f"def build(value):\n{reads}    return {{'type': {kind.__name__!r}{items}}}\n"
    namespace: dict[str, Any] = {"_PLAIN": _PLAIN, "to_record": to_record}
    exec(compile(source, f"<record builder for {kind.__qualname__}>", "exec"), namespace)
    build: Callable[[Any], dict[str, Any]] = namespace["build"]
    return build


def from_record(record: Any) -> Any:
    """Inverse of ``to_record`` for messages, readings and their nested values."""
    if isinstance(record, dict) and "type" in record:
        kind = record["type"]
        if kind == "datetime":
            return datetime.fromisoformat(record["iso"])
        cls = MESSAGE_TYPES.get(kind) or VALUE_TYPES.get(kind)
        if cls is None:
            raise ValueError(f"journal record of unknown type {kind!r}")
        values = {k: from_record(v) for k, v in record.items() if k != "type"}
        for f in fields(cls):
            if isinstance(values.get(f.name), list):
                values[f.name] = tuple(values[f.name])
        return cls(**values)
    if isinstance(record, list):
        return [from_record(item) for item in record]
    return record


def message_to_record(message: Message) -> dict[str, Any]:
    record = to_record(message)
    assert isinstance(record, dict)
    return record


def message_from_record(record: dict[str, Any]) -> Message:
    message = from_record(record)
    if type(message) not in MESSAGE_TYPES.values():
        raise ValueError(f"journal record is not a message: {record!r}")
    return message  # type: ignore[no-any-return]
