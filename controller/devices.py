"""The live devices of a rig, grouped by role, and the beam control the controller may ask for.

The engine only ever sees this: positioners (linear axes), couches (6-DoF), dosimeters, environment
sensors and one beam control. A real linac's beam is not ours to switch; ``OperatorBeam`` asks the
person at the console, while a simulated rig switches its simulated source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


class ConsoleOperator:
    """Asks the person at the console and waits for confirmation."""

    def __init__(self, ask: Callable[[str], None]) -> None:
        self._ask = ask

    def load_couch(self, device: str, payload_kg: float, description: str) -> None:
        what = f" ({description})" if description else ""
        self._ask(f"Load the table top of {device} with {payload_kg:g} kg{what}, then confirm")


class NoOperator:
    """Unattended runs: an action that needs a person is an error, never silently skipped."""

    def load_couch(self, device: str, payload_kg: float, description: str) -> None:
        raise RuntimeError(
            f"{device}: loading {payload_kg:g} kg needs an operator; none is attached to this run"
        )


class NoBeam:
    """A rig with no way to deliver radiation: any beam request is an error, never silently ignored."""

    def beam_on(self, dose_rate_gy_per_min: float) -> None:
        raise RuntimeError("this rig has no beam control; a dosimetry sequence needs one")

    def beam_off(self) -> None:
        return None


class OperatorBeam:
    """On a real rig the operator switches the beam; ``ask`` shows the instruction and waits."""

    def __init__(self, ask: Callable[[str], None]) -> None:
        self._ask = ask

    def beam_on(self, dose_rate_gy_per_min: float) -> None:
        self._ask(f"Switch the beam ON at {dose_rate_gy_per_min:g} Gy/min at the chamber, then confirm")

    def beam_off(self) -> None:
        self._ask("Switch the beam OFF, then confirm")


@dataclass
class DeviceSet:
    positioners: dict[str, AxisPositioner] = field(default_factory=dict)
    couches: dict[str, CouchPositioner] = field(default_factory=dict)
    dosimeters: dict[str, Dosimeter] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    trackers: dict[str, Tracker] = field(default_factory=dict)
    beam: BeamControl = field(default_factory=NoBeam)
    operator: Operator = field(default_factory=NoOperator)

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
