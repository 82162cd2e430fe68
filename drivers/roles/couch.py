"""The couch-positioner role: a 6-DoF patient positioner commanded in IEC 61217 table-top terms.

A set point is the couch part of an IEC 61217 machine state: isocentric (patient-support) rotation θs,
table-top translations (lateral Tx, longitudinal Ty, vertical Tz of the table-top system t relative to the
eccentric system e) and table-top pitch and roll — applied in the IEC order rotation, pitch, roll. Vendor
coordinates (a hexapod's X Y Z U V W about its pivot) never cross this boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

COUCH_AXES = ("couch_rotation_deg", "lateral_mm", "longitudinal_mm", "vertical_mm", "pitch_deg", "roll_deg")


@dataclass(frozen=True, slots=True)
class CouchSetpoint:
    """Couch position in IEC 61217 terms (frame: table top t in eccentric e, rotation θs of s in f)."""

    lateral_mm: float = 0.0
    longitudinal_mm: float = 0.0
    vertical_mm: float = 0.0
    couch_rotation_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0

    frame: str = "IEC 61217 table-top parameters (θs, Tx Ty Tz of t in e, pitch, roll)"

    def as_dict(self) -> dict[str, float]:
        return {axis: float(getattr(self, axis)) for axis in COUCH_AXES}


@runtime_checkable
class CouchPositioner(Protocol):
    """A couch or hexapod table top. All targets are checked against limits before any byte is sent."""

    name: str

    @property
    def state(self) -> str: ...

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def limits(self) -> dict[str, tuple[float, float]]:
        """Per IEC couch axis (keys of ``COUCH_AXES``), the allowed range in mm or degrees."""
        ...

    def home(self, timeout_s: float = 300.0) -> None:
        """Reference the positioner (e.g. GCS ``FRF``) and wait until done."""
        ...

    def start_move_to(self, setpoint: CouchSetpoint) -> None: ...

    def is_moving(self) -> bool: ...

    def wait_until_idle(self, timeout_s: float = 300.0) -> None: ...

    def move_to(self, setpoint: CouchSetpoint, timeout_s: float = 300.0) -> None: ...

    def read_setpoint(self) -> CouchSetpoint:
        """The positioner's own readback, converted to IEC terms."""
        ...

    def stop(self) -> None: ...

    def emergency_stop(self) -> None: ...
