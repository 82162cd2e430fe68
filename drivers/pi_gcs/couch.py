"""A PI hexapod as the couch positioner role: IEC 61217 set points in, GCS bytes out, checked first.

``HexapodCouch`` satisfies ``drivers.roles.couch.CouchPositioner``. Every move passes, in this order and
before any byte is written: the state machine's guard; the IEC limits (the hexapod's ``TMN?``/``TMX?``
travel mapped to IEC axes, intersected with the rig's soft limits); the travel of each hexapod axis at the
mapped target; and the motion guard, if one is installed, which sees the path the platform will take.
Only then does the controller ask ``VMO?`` and, if the pose is reachable, send ``MOV``.

The motion guard is how collision checking (``controller.collision``, which drivers may not import)
reaches the driver: any callable taking the waypoints of the path and raising to refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

import numpy as np

from drivers.errors import IllegalStateError, LimitViolation, ProtocolError
from drivers.pi_gcs.errors import PivotMismatch
from drivers.pi_gcs.hexapod import HexapodController
from drivers.pi_gcs.iec import (
    DEFAULT_MOUNTING,
    HexapodMounting,
    hexapod_to_setpoint,
    iec_ranges,
    setpoint_to_hexapod,
    wire_pose,
)
from drivers.roles.couch import COUCH_AXES, CouchSetpoint
from drivers.roles.identity import DeviceIdentity
from geometry.errors import GeometryError, GimbalLockError

#: Largest change of X/Y/Z (mm) and of U/V/W (degrees) between two waypoints handed to the motion guard.
WAYPOINT_SPACING: Final = (5.0, 0.5)
#: Most waypoints one move may need: a 2 m stroke at 5 mm is 400; more means the travel or pose is garbage.
MAX_WAYPOINTS: Final = 10_000
#: Default largest difference (mm, per coordinate) between the controller's pivot and the mounting's.
#: A pivot off by δ displaces a pose rotated by θ by about δ·θ: 0.01 mm at 5° is 0.9 µm.
PIVOT_TOLERANCE_MM: Final = 0.01


class PathGuard(Protocol):
    """Refuses a motion by raising. ``waypoints`` run from the current pose to the target, in order.

    Consecutive waypoints are close (``WAYPOINT_SPACING``) and lie on the hexapod's own straight path in
    X..W; a guard may join them by interpolating the IEC parameters.
    """

    def __call__(self, waypoints: Sequence[CouchSetpoint]) -> None: ...


def _pose_text(pose: Mapping[str, float]) -> str:
    return " ".join(f"{axis}={value:g}" for axis, value in pose.items())


def axis_quantity(axis: str) -> tuple[str, str]:
    """``"couch_rotation_deg"`` → ``("couch rotation", "deg")``: wording and unit for errors."""
    quantity, _, unit = axis.rpartition("_")
    return quantity.replace("_", " "), unit


class HexapodCouch:
    """A hexapod table top commanded in IEC 61217 terms. Construction does no I/O; ``connect()`` does.

    ``soft_limits`` narrows IEC axes (keys from ``COUCH_AXES``); it never widens the hexapod's travel.
    ``velocity`` (mm/s) is sent with ``VLS`` at connect when given. ``pivot_tolerance_mm``: how far the
    controller's ``SPI?`` may be from ``mounting.pivot`` (per coordinate) before ``connect`` refuses with
    ``PivotMismatch``; ``None`` skips the check (only for test doubles that do not answer ``SPI?``).
    """

    def __init__(
        self,
        controller: HexapodController,
        *,
        name: str | None = None,
        mounting: HexapodMounting = DEFAULT_MOUNTING,
        soft_limits: Mapping[str, tuple[float, float]] | None = None,
        velocity: float | None = None,
        path_guard: PathGuard | None = None,
        pivot_tolerance_mm: float | None = PIVOT_TOLERANCE_MM,
    ) -> None:
        limits = dict(soft_limits or {})
        for axis, (low, high) in limits.items():
            if axis not in COUCH_AXES:
                raise ValueError(f"soft limit for unknown couch axis {axis!r}; expected one of {COUCH_AXES}")
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"soft limit for {axis} must be finite with low <= high, got {(low, high)}")
        if velocity is not None and not (velocity > 0 and math.isfinite(velocity)):
            raise ValueError(f"velocity must be positive and finite, got {velocity!r}")
        tolerance = pivot_tolerance_mm
        if tolerance is not None and not (tolerance > 0 and math.isfinite(tolerance)):
            raise ValueError(f"pivot_tolerance_mm must be positive and finite, got {pivot_tolerance_mm!r}")
        self.name = controller.name if name is None else name
        self.mounting = mounting
        self.soft_limits = limits
        self.velocity = velocity
        self.path_guard = path_guard
        self.pivot_tolerance_mm = pivot_tolerance_mm
        self._controller = controller
        self._limits: dict[str, tuple[float, float]] | None = None

    # -- role ------------------------------------------------------------------------------------------
    @property
    def controller(self) -> HexapodController:
        return self._controller

    @property
    def state(self) -> str:
        return self._controller.state

    def connect(self) -> None:
        """Connect the controller, verify its pivot, map its travel to IEC limits, set the velocity.

        ``SPI?`` must match ``mounting.pivot`` within ``pivot_tolerance_mm`` (else ``PivotMismatch``, before
        any motion): every set point is mapped to X..W about that pivot, and ``POS?`` cannot reveal a
        different one, because the controller reports its pose about its own pivot.
        """
        controller = self._controller
        controller.connect()
        if self.pivot_tolerance_mm is not None:
            self.verify_pivot(self.pivot_tolerance_mm)
        device = self._device_ranges(controller.travel())
        limits: dict[str, tuple[float, float]] = {}
        for axis in COUCH_AXES:
            low, high = device[axis]
            if axis in self.soft_limits:
                soft_low, soft_high = self.soft_limits[axis]
                low, high = max(low, soft_low), min(high, soft_high)
            if low > high:
                raise ValueError(
                    f"{self.name}: soft limits for {axis} {self.soft_limits[axis]} do not overlap the "
                    f"hexapod's range {device[axis]}"
                )
            limits[axis] = (low, high)
        self._limits = limits
        if self.velocity is not None and controller.state in ("connected", "ready"):
            controller.set_velocity(self.velocity)

    def _device_ranges(self, travel: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """``iec_ranges`` of the travel the controller reported: a travel with no IEC meaning (its home pose
        does not map back, a number so large the matrices overflow) is a garbled ``TMN?``/``TMX?`` answer."""
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                ranges = iec_ranges(travel, self.mounting)
        except ValueError as err:  # GeometryError is a ValueError
            text = " ".join(f"{axis}={low:g}..{high:g}" for axis, (low, high) in travel.items())
            raise ProtocolError(
                self.name, "TMN?/TMX?", text, f"travel has no IEC 61217 ranges ({err})"
            ) from None
        if not all(math.isfinite(edge) for edges in ranges.values() for edge in edges):
            raise ProtocolError(self.name, "TMN?/TMX?", str(ranges), "travel maps to non-finite IEC ranges")
        return ranges

    def _setpoint(self, pose: Mapping[str, float], command: str) -> CouchSetpoint:
        """``hexapod_to_setpoint`` of a pose read from the wire: a pose with no finite IEC set point (pitch
        ±90°, numbers so large the matrices overflow) is a garbled reply, never a measurement."""
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                setpoint = hexapod_to_setpoint(pose, self.mounting)
        except GeometryError as err:
            raise ProtocolError(
                self.name, command, _pose_text(pose), f"pose has no IEC 61217 set point ({err})"
            ) from None
        if not all(math.isfinite(getattr(setpoint, axis)) for axis in COUCH_AXES):
            raise ProtocolError(
                self.name, command, _pose_text(pose), "pose maps to a non-finite IEC 61217 set point"
            )
        return setpoint

    def verify_pivot(self, tolerance_mm: float = PIVOT_TOLERANCE_MM) -> tuple[float, float, float]:
        """``SPI?`` against ``mounting.pivot``: the reported pivot, or ``PivotMismatch``."""
        reported = self._controller.pivot()
        expected = tuple(float(v) for v in self.mounting.pivot)
        if any(abs(r - e) > tolerance_mm for r, e in zip(reported, expected, strict=True)):
            raise PivotMismatch(self.name, (expected[0], expected[1], expected[2]), reported, tolerance_mm)
        return reported

    def close(self) -> None:
        self._controller.close()

    def device_identity(self) -> DeviceIdentity:
        """The hexapod controller's ``*IDN?`` fields read at connect (see ``HexapodController``); no I/O."""
        return self._controller.device_identity()

    def limits(self) -> dict[str, tuple[float, float]]:
        """Per IEC axis, the hexapod's range for that axis moved alone from home, ∩ the soft limits.

        The hexapod's axes are coupled, so a combination of in-range values can still be refused by the
        per-axis hexapod check (see ``plan``).
        """
        if self._limits is None:
            raise IllegalStateError(self.name, "report limits", self.state)
        return dict(self._limits)

    def home(self, timeout_s: float = 300.0) -> None:
        """``FRF`` and wait until referenced (the controller switches the servo on first if needed)."""
        self._controller.reference(timeout_s)

    def plan(self, setpoint: CouchSetpoint) -> dict[str, float]:
        """Every check of a move, with no I/O: returns the hexapod target or raises.

        State → IEC limits (``LimitViolation``) → hexapod travel per axis (``LimitViolation`` naming the
        hexapod axis) → motion guard (whatever it raises, e.g. a collision error).
        """
        controller = self._controller
        controller.require("move", "start_moving")
        limits = self.limits()
        for axis in COUCH_AXES:
            value = float(getattr(setpoint, axis))
            low, high = limits[axis]
            if not (math.isfinite(value) and low <= value <= high):
                quantity, unit = axis_quantity(axis)
                raise LimitViolation(self.name, quantity, value, low, high, unit)
        try:
            target = wire_pose(setpoint_to_hexapod(setpoint, self.mounting))
        except GimbalLockError as err:  # V = ±90°: far outside any hexapod's travel
            low, high = controller.travel()["V"]
            raise LimitViolation(self.name, "axis V", 90.0, low, high, "deg") from err
        controller.check_move(target)
        if self.path_guard is not None:
            self.path_guard(self._waypoints(target, setpoint))
        return target

    def _waypoints(self, target: Mapping[str, float], setpoint: CouchSetpoint) -> list[CouchSetpoint]:
        start = self._controller.last_position
        if start is None:
            raise IllegalStateError(self.name, "plan a move from an unknown pose (read it first)", self.state)
        linear_mm, angular_deg = WAYPOINT_SPACING
        # The path is cut into steps of WAYPOINT_SPACING: from a garbled POS? (X = 1e30) that would be
        # 10^29 waypoints. The platform cannot stand outside its own travel by more than one step.
        travel = self._controller.travel()
        for axis, value in start.items():
            low, high = travel.get(axis, (-math.inf, math.inf))
            slack = linear_mm if axis in ("X", "Y", "Z") else angular_deg
            if not low - slack <= value <= high + slack:
                raise ProtocolError(
                    self.name,
                    "POS?",
                    _pose_text(start),
                    f"pose is outside the travel of {axis} {low:g}..{high:g}",
                )
        span = max(
            max(abs(target[axis] - start[axis]) / linear_mm for axis in ("X", "Y", "Z")),
            max(abs(target[axis] - start[axis]) / angular_deg for axis in ("U", "V", "W")),
        )
        if not span <= MAX_WAYPOINTS:  # in a travel of ±10^30 mm (a garbled TMN?/TMX?) the count explodes
            raise ProtocolError(
                self.name, "POS?", _pose_text(start), f"a path of {span:g} waypoints to {_pose_text(target)}"
            )
        count = max(1, math.ceil(span))
        points = [self._setpoint(start, "POS?")]
        for k in range(1, count):
            f = k / count
            pose = {axis: start[axis] + (target[axis] - start[axis]) * f for axis in target}
            points.append(self._setpoint(pose, "POS?"))
        points.append(setpoint)
        return points

    def start_move_to(self, setpoint: CouchSetpoint) -> None:
        """``plan`` (no bytes), then ``VMO?`` and ``MOV``; returns at once."""
        self._controller.start_move(self.plan(setpoint))

    def is_moving(self) -> bool:
        return self._controller.is_moving()

    def wait_until_idle(self, timeout_s: float = 300.0) -> None:
        self._controller.wait_until_idle(timeout_s)

    def move_to(self, setpoint: CouchSetpoint, timeout_s: float = 300.0) -> None:
        self.start_move_to(setpoint)
        self.wait_until_idle(timeout_s)

    def read_setpoint(self) -> CouchSetpoint:
        """``POS?`` in IEC terms through the mounting (a ``ProtocolError`` if it has no finite meaning)."""
        return self._setpoint(self._controller.position(), "POS?")

    def stop(self) -> None:
        """``HLT`` (smooth stop); the pose is read back once the platform stands still."""
        self._controller.halt()

    def emergency_stop(self) -> None:
        """``#24`` (abrupt stop of everything); latches ``stopped`` until ``controller.reset_stop()``."""
        self._controller.stop_all()

    def __repr__(self) -> str:
        return f"HexapodCouch({self.name!r}, state={self.state!r})"
