"""The live devices of a rig, grouped by role, and the beam control the controller may ask for.

The engine only ever sees this: positioners (linear axes), couches (6-DoF), dosimeters, environment
sensors and one beam control. A real linac's beam is not ours to switch; ``OperatorBeam`` asks the
person at the console, while a simulated rig switches its simulated source.

Every console prompt says exactly what to do (which beam, dose rate, how long, which load) and is
journaled with its answer and when it was given (``operator_prompt`` records). A reading's charge never
depends on when a key was pressed: the sequences time integrations on the instrument.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from drivers.roles.couch import CouchPositioner
from drivers.roles.dosimeter import Dosimeter
from drivers.roles.positioner import AxisPositioner
from drivers.roles.tracker import Tracker


@runtime_checkable
class BeamControl(Protocol):
    def beam_on(self, dose_rate_gy_per_min: float) -> None: ...

    def beam_off(self) -> None: ...


@runtime_checkable
class Operator(Protocol):
    """Actions a person performs at the rig (placing loads); a simulated rig performs them in its world."""

    def load_couch(self, device: str, payload_kg: float, description: str) -> None: ...

    def place_chambers(self, device: str, other: str, swapped: bool, description: str) -> None:
        """The chambers read by ``device`` and ``other`` at each other's positions, or back at their own."""
        ...


def place_chambers_instruction(device: str, other: str, swapped: bool, description: str) -> str:
    """The prompt for a chamber swap (cross-calibration with alternating positions)."""
    if swapped:
        what = (
            f"Swap the chambers: the chamber read by {device} to the position of the chamber read by "
            f"{other}, and that one to the first position"
        )
    else:
        what = f"Put the chambers read by {device} and {other} back at their own positions"
    detail = f" ({description})" if description else ""
    return f"{what}{detail}; same depth and orientation, cables clear of the field, then confirm. Placed?"


#: Shows an instruction and waits; a False answer (or an exception) means the operator declined.
Ask = Callable[[str], object]
#: Writes one journal record: ``record(kind, durable=..., **fields)`` (``Journal.append``).
Record = Callable[..., object]


@dataclass(frozen=True, slots=True)
class BeamRequest:
    """What the operator is asked to deliver, as far as the plan says it."""

    dose_rate_gy_per_min: float
    duration_s: float | None = None  # how long the beam must stay on (None: until asked to switch it off)
    beam: str = ""  # energy, modality, field
    purpose: str = ""  # e.g. "reading 3/20"
    gy_per_mu: float | None = None  # dose at the chamber per MU for this set-up (None: not stated)

    @property
    def monitor_units(self) -> int | None:
        """MU that keep the beam on for ``duration_s`` at the dose rate (rounded up), when both are known."""
        return monitor_units(self.dose_rate_gy_per_min, self.duration_s, self.gy_per_mu)


def monitor_units(
    dose_rate_gy_per_min: float, duration_s: float | None, gy_per_mu: float | None
) -> int | None:
    """The MU this dose rate (at the chamber) delivers in ``duration_s``, rounded up; None if unknown."""
    if duration_s is None or gy_per_mu is None or gy_per_mu <= 0:
        return None
    return math.ceil(round(dose_rate_gy_per_min * duration_s / 60.0 / gy_per_mu, 6))


def beam_on_instruction(request: BeamRequest) -> str:
    """The beam-on prompt: which beam, dose rate (and MU/min), how long, the dose and MU it takes, and when
    to confirm. MU are stated only when the set-up's dose per MU at the chamber is known."""
    which = request.beam or "the beam set up for this measurement"
    rate = f"Beam ON: {which}, {request.dose_rate_gy_per_min:g} Gy/min at the chamber"
    if request.gy_per_mu is not None:
        mu_rate = request.dose_rate_gy_per_min / request.gy_per_mu
        rate += f" ({mu_rate:.4g} MU/min at {request.gy_per_mu * 100:.4g} cGy/MU)"
    parts = [rate]
    if request.duration_s is not None:
        dose = request.dose_rate_gy_per_min * request.duration_s / 60.0
        mu = request.monitor_units
        set_mu = "set MU for it" if mu is None else f"set at least {mu} MU"
        parts.append(f"for at least {request.duration_s:g} s (≥ {dose:.3g} Gy at the chamber; {set_mu})")
    if request.purpose:
        parts.append(f"for {request.purpose}")
    text = ", ".join(parts) + "."
    return text + " Leave it on until asked to switch it off; the instrument times the reading. Beam on now?"


def beam_off_instruction(purpose: str = "") -> str:
    done = f" ({purpose} is held)" if purpose else ""
    return f"Beam OFF: switch the beam off now{done}. Beam off?"


class PromptLog:
    """Asks, and journals each prompt with its answer and its times (UTC, and seconds waited).

    ``record`` is looked up at each prompt, so it can be wired to the run's journal after construction.
    """

    def __init__(self, ask: Ask, record: Callable[[], Record | None] = lambda: None) -> None:
        self._ask = ask
        self._record = record

    def confirm(self, action: str, instruction: str, **details: Any) -> None:
        asked = datetime.now(UTC)
        started = time.monotonic()
        answer: object = None
        try:
            answer = self._ask(instruction)
        except BaseException:
            self._write(action, instruction, details, asked, started, "interrupted")
            raise
        confirmed = answer is None or bool(answer)
        self._write(action, instruction, details, asked, started, "confirmed" if confirmed else "declined")
        if not confirmed:
            raise KeyboardInterrupt(f"operator declined: {instruction}")

    def _write(
        self,
        action: str,
        instruction: str,
        details: dict[str, Any],
        asked: datetime,
        started: float,
        answer: str,
    ) -> None:
        record = self._record()
        if record is None:
            return
        record(
            "operator_prompt",
            durable=True,
            action=action,
            instruction=instruction,
            details=details,
            answer=answer,
            asked_utc=asked.isoformat(),
            answered_utc=datetime.now(UTC).isoformat(),
            waited_s=round(time.monotonic() - started, 3),
        )


class ConsoleOperator:
    """Asks the person at the console and waits for confirmation."""

    def __init__(self, ask: Ask, record: Callable[[], Record | None] = lambda: None) -> None:
        self._prompts = PromptLog(ask, record)

    def load_couch(self, device: str, payload_kg: float, description: str) -> None:
        what = f" ({description})" if description else ""
        self._prompts.confirm(
            "load_couch",
            f"Load the table top of {device} with {payload_kg:g} kg{what}, then confirm. Loaded?",
            device=device,
            payload_kg=payload_kg,
            description=description,
        )

    def place_chambers(self, device: str, other: str, swapped: bool, description: str) -> None:
        self._prompts.confirm(
            "place_chambers",
            place_chambers_instruction(device, other, swapped, description),
            device=device,
            other=other,
            swapped=swapped,
            description=description,
        )


class NoOperator:
    """Unattended runs: an action that needs a person is an error, never silently skipped."""

    def load_couch(self, device: str, payload_kg: float, description: str) -> None:
        raise RuntimeError(
            f"{device}: loading {payload_kg:g} kg needs an operator; none is attached to this run"
        )

    def place_chambers(self, device: str, other: str, swapped: bool, description: str) -> None:
        raise RuntimeError(
            f"{device}, {other}: moving the chambers needs an operator; none is attached to this run"
        )


class NoBeam:
    """A rig with no way to deliver radiation: any beam request is an error, never silently ignored."""

    def beam_on(self, dose_rate_gy_per_min: float) -> None:
        raise RuntimeError("this rig has no beam control; a dosimetry sequence needs one")

    def beam_off(self) -> None:
        return None


class OperatorBeam:
    """On a real rig the operator switches the beam; the prompt states what the plan asks for.

    ``request`` returns the beam request the plan is at (dose rate, planned duration, which beam, what
    reading), or None when unknown: the prompt then states the dose rate alone.
    """

    def __init__(
        self,
        ask: Ask,
        record: Callable[[], Record | None] = lambda: None,
        request: Callable[[float], BeamRequest | None] = lambda _rate: None,
    ) -> None:
        self._prompts = PromptLog(ask, record)
        self._request = request
        self._purpose = ""

    def beam_on(self, dose_rate_gy_per_min: float) -> None:
        request = self._request(dose_rate_gy_per_min) or BeamRequest(dose_rate_gy_per_min)
        self._purpose = request.purpose
        self._prompts.confirm(
            "beam_on",
            beam_on_instruction(request),
            dose_rate_gy_per_min=request.dose_rate_gy_per_min,
            duration_s=request.duration_s,
            beam=request.beam,
            purpose=request.purpose,
            gy_per_mu=request.gy_per_mu,
            monitor_units=request.monitor_units,
        )

    def beam_off(self) -> None:
        purpose, self._purpose = self._purpose, ""
        self._prompts.confirm("beam_off", beam_off_instruction(purpose), purpose=purpose)


@dataclass
class DeviceSet:
    positioners: dict[str, AxisPositioner] = field(default_factory=dict)
    couches: dict[str, CouchPositioner] = field(default_factory=dict)
    dosimeters: dict[str, Dosimeter] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    trackers: dict[str, Tracker] = field(default_factory=dict)
    beam: BeamControl = field(default_factory=NoBeam)
    operator: Operator = field(default_factory=NoOperator)
    #: Where operator prompts and answers are recorded (the run's ``Journal.append``, set at run start).
    record_event: Record | None = None

    def all(self) -> Iterator[tuple[str, Any]]:
        yield from self.positioners.items()
        yield from self.couches.items()
        yield from self.dosimeters.items()
        yield from self.environment.items()
        yield from self.trackers.items()

    def names(self) -> list[str]:
        return [name for name, _ in self.all()]

    def moving_devices(self) -> Iterator[tuple[str, Any]]:
        """Everything that must be sent a stop when a run faults or is aborted."""
        yield from self.positioners.items()
        yield from self.couches.items()
        yield from self.dosimeters.items()  # their stop holds the integration


def attach_console(
    devices: DeviceSet,
    ask: Ask,
    request: Callable[[float], BeamRequest | None] = lambda _rate: None,
) -> None:
    """A real rig: the beam and the loads are the operator's; each prompt is journaled with the run."""

    def record() -> Record | None:
        return devices.record_event

    devices.beam = OperatorBeam(ask, record, request)
    devices.operator = ConsoleOperator(ask, record)
