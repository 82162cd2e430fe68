"""The dosimeter role: an electrometer with an ionization chamber, whatever its protocol.

Readings cross this boundary in SI base units (coulomb, ampere) with their status; an overload, an HV
fault or an active zero check is raised as a typed error (``drivers.errors.DosimeterStateError``
subclasses in the drivers), never returned as a plausible number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

MeasureMode = Literal["charge", "current"]


@dataclass(frozen=True, slots=True)
class DosimeterSettings:
    mode: MeasureMode = "charge"
    range: str = "auto"  # the instrument's own range name ("LOW", "MEDIUM", "HIGH", "2e-8", "auto")
    bias_voltage_v: float = 300.0  # signed: the sign is the polarity applied to the chamber
    integration_time_s: float | None = None  # None: integrate until hold / beam-gated


@dataclass(frozen=True, slots=True)
class DosimeterReading:
    value: float  # in ``unit``
    unit: Literal["C", "A"]
    clock_s: float
    integration_time_s: float | None = None
    bias_voltage_v: float | None = None
    range: str | None = None
    status: tuple[str, ...] = field(default_factory=tuple)


@runtime_checkable
class Dosimeter(Protocol):
    name: str

    @property
    def state(self) -> str:
        """disconnected, idle, zeroing, integrating, holding or fault."""
        ...

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def identify(self) -> str: ...

    def configure(self, settings: DosimeterSettings) -> None: ...

    def zero(self, timeout_s: float = 120.0) -> None:
        """Null the electrometer's offset and wait until done."""
        ...

    def start_integration(self) -> None: ...

    def hold(self) -> None: ...

    def reset(self) -> None: ...

    def read(self) -> DosimeterReading:
        """The present charge (integrating/holding) or current reading."""
        ...

    def stop(self) -> None:
        """Safe state: hold any integration (HV stays: switching it costs minutes of settling)."""
        ...
