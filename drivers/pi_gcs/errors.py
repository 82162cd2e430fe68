"""GCS error codes as typed errors, and the driver's own hexapod errors.

A GCS controller never answers a set command; it latches the first error, and ``ERR?`` returns and
clears it. The connection asks ``ERR?`` after every command that can fail and turns a non-zero code into
one of the classes below, chosen from ``GCS_ERRORS``. Every error keeps the code and the controller's
meaning of it, so a log line reads "MOV X 999 → GCS error 7 (position out of limits)".

Codes and meanings: PI's GCS error list as shipped in PIPython ``pipython/pidevice/gcserror.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from drivers.errors import DeviceFault, DeviceRejected, HilcalDriverError


class GcsError(DeviceRejected):
    """The controller latched a GCS error for ``command``; ``gcs_code`` and ``text`` say which."""

    def __init__(self, device: str, command: str, gcs_code: int, text: str) -> None:
        super().__init__(device, command, f"GCS error {gcs_code}", text)
        self.gcs_code = gcs_code
        self.text = text


class GcsSyntaxError(GcsError):
    """The controller did not understand the command (codes 1, 2, 3, 24, 26): a driver or wire bug."""


class GcsNotReferenced(GcsError):
    """Code 5: a move on an unreferenced axis, or with the servo off. Reference (``FRF``) first."""


class GcsOutOfLimits(GcsError):
    """Code 7: the target is outside the travel or the pose is not reachable by the struts."""


class GcsVelocityOutOfLimits(GcsError):
    """Code 8: the requested velocity is outside what the controller allows."""


class GcsPivotError(GcsError):
    """Code 9: ``SPI`` while U, V and W are not all 0."""


class GcsStopped(GcsError):
    """Code 10: motion was ended by ``STP``, ``HLT`` or ``#24``."""


class GcsInvalidAxis(GcsError):
    """Codes 15 and 23: an axis identifier this controller does not have."""


class GcsParameterOutOfRange(GcsError):
    """Code 17: a parameter value outside its allowed range."""


class GcsBusy(GcsError):
    """Code 536: a coordinate system (pivot) cannot be defined while the hexapod moves."""


class GcsMotionError(GcsError):
    """Code 1024: position error too large; the controller switched the servo off. This is a fault."""


#: GCS code → (error class, meaning). Codes not listed become a plain ``GcsError`` with a generic text.
GCS_ERRORS: Final[Mapping[int, tuple[type[GcsError], str]]] = MappingProxyType(
    {
        1: (GcsSyntaxError, "parameter syntax error"),
        2: (GcsSyntaxError, "unknown command"),
        3: (GcsSyntaxError, "command too long or command buffer overrun"),
        5: (GcsNotReferenced, "move on an unreferenced axis, or with the servo off"),
        7: (GcsOutOfLimits, "position out of limits"),
        8: (GcsVelocityOutOfLimits, "velocity out of limits"),
        9: (GcsPivotError, "pivot point set while U, V and W are not all 0"),
        10: (GcsStopped, "controller was stopped by command"),
        15: (GcsInvalidAxis, "invalid axis identifier"),
        17: (GcsParameterOutOfRange, "parameter out of range"),
        23: (GcsInvalidAxis, "illegal axis or channel"),
        24: (GcsSyntaxError, "wrong number of parameters"),
        26: (GcsSyntaxError, "parameter missing"),
        536: (GcsBusy, "coordinate system cannot be defined while the hexapod is moving"),
        1024: (GcsMotionError, "motion error: position error too large, servo switched off"),
    }
)

#: Codes that mean the hexapod is no longer under control: the driver enters ``fault``.
FAULT_CODES: Final = frozenset((1024,))


def gcs_error(device: str, command: str, code: int) -> GcsError:
    """The typed error for a non-zero ``ERR?`` code."""
    cls, text = GCS_ERRORS.get(code, (GcsError, "GCS error not in our table (see the controller manual)"))
    return cls(device, command, code, text)


class UnreachablePose(HilcalDriverError):
    """``VMO?`` answered 0: the controller cannot reach this pose (strut lengths, joint angles).

    Raised before ``MOV``; nothing moved.
    """

    def __init__(self, device: str, target: Mapping[str, float], detail: str = "") -> None:
        pose = " ".join(f"{axis}={value:g}" for axis, value in target.items())
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{device}: pose {pose} is not reachable (VMO? answered 0){extra}; nothing moved")
        self.device = device
        self.target = dict(target)


class PivotMismatch(HilcalDriverError):
    """At connect, the controller's pivot (``SPI?``) is not the pivot the rig file expects.

    Every U, V, W (and the isocentric compensation in X and Y) turns about the controller's pivot, so a
    pivot the driver does not know puts every rotated pose in the wrong place while ``POS?`` still agrees
    with the command. This is a configuration error, found before any motion.
    """

    def __init__(
        self,
        device: str,
        expected: tuple[float, float, float],
        reported: tuple[float, float, float],
        tolerance_mm: float,
    ) -> None:
        worst = max(abs(r - e) for r, e in zip(reported, expected, strict=True))

        def rst(values: tuple[float, float, float]) -> str:
            return " ".join(f"{key}={value:g}" for key, value in zip("RST", values, strict=True))

        super().__init__(
            f"{device}: the controller's pivot point (SPI?) is {rst(reported)} mm but the rig expects "
            f"{rst(expected)} mm (params.mounting.pivot_mm, or the table-top origin); they differ by "
            f"{worst:g} mm, more than the {tolerance_mm:g} mm tolerance, so every rotation would turn about "
            f"the wrong point. Set the pivot on the controller (SPI, with U = V = W = 0) or correct the rig "
            f"file; nothing moved"
        )
        self.device = device
        self.expected = expected
        self.reported = reported
        self.tolerance_mm = tolerance_mm
        self.difference_mm = worst


class MotionTimeout(HilcalDriverError):
    """A reference move or move still running when its deadline on the rig clock passed."""

    def __init__(self, device: str, action: str, timeout_s: float, detail: str) -> None:
        super().__init__(f"{device}: {action} not finished after {timeout_s:g} s on the rig clock; {detail}")
        self.device = device
        self.action = action
        self.timeout_s = timeout_s


class HexapodFault(DeviceFault):
    """The hexapod reported a condition that ends motion (motion error, failed referencing)."""
