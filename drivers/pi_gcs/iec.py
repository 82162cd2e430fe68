"""IEC 61217 table-top set points ↔ hexapod coordinates (X Y Z in mm, U V W in degrees about the pivot).

Two rigid transforms meet here. IEC 61217 places the table top t in the room f as

    f ← t  =  Rz(θs) · T(Tx, Ty, Tz) · Rx(ψ) · Ry(φ)         (isocentric rotation, then pitch, then roll;
                                                             Ls = θe = 0, so e is s)

and a PI hexapod places its platform in its own coordinate system H as

    H ← platform  =  T(X, Y, Z) · T(P) · R(U, V, W) · T(−P)   (P = the pivot set by ``SPI``)

PI's manuals say the rotation axes move with the platform and a rotation is composed "in the order
U → V → W". We read that as intrinsic X, Y′, Z″: ``R = Rx(U)·Ry(V)·Rz(W)`` (``UvwConvention.MOVING_AXES``,
the default). The other reading, about the fixed axes (``Rz(W)·Ry(V)·Rx(U)``), is available as
``UvwConvention.FIXED_AXES`` for a site whose controller proves to do that. The two agree to first order
only: they differ by about the product of two angles, 0.16° at U = V = 3°, which is more than a 6-DoF couch's
accuracy class, so the order must be confirmed on the real controller once (docs/drivers/pi-gcs.md).

The mounting closes the loop: where H sits in the room, and where the table-top origin sits on the
platform. The hexapod's zero pose is taken to hold the table top level and square to the room (its IEC
angles are 0 there); that is a commissioning fact to check with an inclinometer at home.

**Isocentric rotation.** A W rotation turns the platform about the pivot, which is not the isocentre. We
do *not* move the pivot per move (``SPI`` is refused unless U = V = W = 0, and it would change what
``POS?`` means); instead the full rigid transform is solved, so X and Y carry the translation that turns
the pivot's swing into a rotation about the isocentre. The end pose is exact. The path between poses is
the controller's own (straight in X..W as far as we know), which is why the couch hands the motion guard
the hexapod's path, not only its end points.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from enum import StrEnum, unique
from typing import Any, Final, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.pi_gcs.gcs import HEXAPOD_AXES
from drivers.roles.couch import COUCH_AXES, CouchSetpoint
from geometry.errors import GimbalLockError
from geometry.rotations import (
    decompose_table_top_rotation,
    invert_rigid,
    rigid,
    rot_x,
    rot_y,
    rot_z,
    table_top_rotation,
)

Matrix = NDArray[np.float64]
Vec3 = tuple[float, float, float]

# Below this cos(V) the U/W split is undefined (V = ±90°).
_GIMBAL_COS_LIMIT: Final = 1e-9


@unique
class UvwConvention(StrEnum):
    """How a PI controller composes U, V, W (rotations about X, Y, Z) into one orientation."""

    #: ``Rx(U)·Ry(V)·Rz(W)``: U first, then V about the moved Y, then W about the twice-moved Z (PI manuals).
    MOVING_AXES = "moving_axes"
    #: ``Rz(W)·Ry(V)·Rx(U)``: U, V, W about the fixed X, Y, Z, in that order.
    FIXED_AXES = "fixed_axes"


class HexapodMounting(BaseModel):
    """Where the hexapod sits in IEC 61217 terms; frozen, unknown fields refused.

    Positions are mm. Axes are unit vectors in IEC f, which for the states a couch role commands
    (Ls = 0, θe = 0) is IEC e at θs = 0. The default is the textbook mount: hexapod X = lateral +Xe,
    Y = longitudinal +Ye, Z = vertical +Ze, its origin at the isocentre, the table-top origin at the hexapod
    origin and the pivot at the table-top origin; hexapod zero is then IEC zero.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    origin_mm: Vec3 = Field((0.0, 0.0, 0.0), description="hexapod coordinate origin (X=Y=Z=0), in IEC f")
    x_axis: Vec3 = Field((1.0, 0.0, 0.0), description="hexapod +X as a unit vector in IEC f")
    y_axis: Vec3 = Field((0.0, 1.0, 0.0), description="hexapod +Y as a unit vector in IEC f")
    z_axis: Vec3 = Field((0.0, 0.0, 1.0), description="hexapod +Z as a unit vector in IEC f")
    table_top_origin_mm: Vec3 = Field(
        (0.0, 0.0, 0.0), description="IEC table-top origin in hexapod coordinates, hexapod at its zero pose"
    )
    pivot_mm: Vec3 | None = Field(
        None, description="pivot point R, S, T (SPI) in hexapod coordinates; None = the table-top origin"
    )
    uvw_convention: UvwConvention = UvwConvention.MOVING_AXES

    @model_validator(mode="after")
    def _right_handed_unit_axes(self) -> Self:
        axes = np.array([self.x_axis, self.y_axis, self.z_axis], dtype=float)
        norms = np.linalg.norm(axes, axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-6):
            raise ValueError(f"hexapod axes must be unit vectors; lengths are {norms.round(9).tolist()}")
        gram = axes @ axes.T
        if np.any(np.abs(gram - np.eye(3)) > 1e-6):
            raise ValueError("hexapod axes must be mutually perpendicular")
        if float(np.dot(np.cross(axes[0], axes[1]), axes[2])) < 0:
            raise ValueError("hexapod axes must form a right-handed system (x × y = z)")
        return self

    @property
    def pivot(self) -> Vec3:
        """The pivot in hexapod coordinates (the table-top origin unless set)."""
        return self.table_top_origin_mm if self.pivot_mm is None else self.pivot_mm

    def axes_matrix(self) -> Matrix:
        """3×3 rotation whose columns are the hexapod's X, Y, Z in IEC f."""
        return np.array([self.x_axis, self.y_axis, self.z_axis], dtype=float).T

    def room_from_hexapod(self) -> Matrix:
        """4×4 transform: hexapod coordinates → IEC f."""
        return rigid(self.axes_matrix(), self.origin_mm)

    def platform_from_table_top(self) -> Matrix:
        """4×4 transform: IEC t coordinates → platform coordinates (table top square to f at hexapod zero)."""
        return rigid(self.axes_matrix().T, self.table_top_origin_mm)


DEFAULT_MOUNTING: Final = HexapodMounting()


# -- rotations -----------------------------------------------------------------------------------------
def uvw_rotation(u_deg: float, v_deg: float, w_deg: float, convention: UvwConvention) -> Matrix:
    """The orientation a controller means by U, V, W (degrees), in the given composition order."""
    if convention is UvwConvention.MOVING_AXES:
        return rot_x(u_deg) @ rot_y(v_deg) @ rot_z(w_deg)
    return rot_z(w_deg) @ rot_y(v_deg) @ rot_x(u_deg)


def decompose_uvw(rotation: Matrix, convention: UvwConvention) -> tuple[float, float, float]:
    """(U, V, W) in degrees with ``uvw_rotation(U, V, W) == rotation``; V in [−90, 90].

    Raises ``GimbalLockError`` at V = ±90°, where U and W cannot be separated.
    """
    r = rotation
    if convention is UvwConvention.MOVING_AXES:
        cos_v = math.hypot(r[0, 0], r[0, 1])
        if cos_v < _GIMBAL_COS_LIMIT:
            raise GimbalLockError("hexapod V is ±90°: U and W are not separable")
        v = math.atan2(r[0, 2], cos_v)
        u = math.atan2(-r[1, 2], r[2, 2])
        w = math.atan2(-r[0, 1], r[0, 0])
    else:
        cos_v = math.hypot(r[2, 1], r[2, 2])
        if cos_v < _GIMBAL_COS_LIMIT:
            raise GimbalLockError("hexapod V is ±90°: U and W are not separable")
        v = math.atan2(-r[2, 0], cos_v)
        u = math.atan2(r[2, 1], r[2, 2])
        w = math.atan2(r[1, 0], r[0, 0])
    return math.degrees(u), math.degrees(v), math.degrees(w)


# -- the two poses -------------------------------------------------------------------------------------
def table_top_pose(setpoint: CouchSetpoint) -> Matrix:
    """4×4 IEC t → f for a couch set point: ``Rz(θs)·T(Tx, Ty, Tz)·Rx(ψ)·Ry(φ)``."""
    s = setpoint
    rotation = table_top_rotation(s.couch_rotation_deg, s.pitch_deg, s.roll_deg)
    offset = rot_z(s.couch_rotation_deg) @ np.array([s.lateral_mm, s.longitudinal_mm, s.vertical_mm])
    return rigid(rotation, offset)


def platform_pose(pose: Mapping[str, float], mounting: HexapodMounting = DEFAULT_MOUNTING) -> Matrix:
    """4×4 platform → hexapod coordinates for ``POS?``-style values: ``T(XYZ)·T(P)·R(UVW)·T(−P)``."""
    rotation = uvw_rotation(pose["U"], pose["V"], pose["W"], mounting.uvw_convention)
    pivot = _fixed_transforms(mounting)[4]
    shift = np.array([pose["X"], pose["Y"], pose["Z"]], dtype=float) + pivot - rotation @ pivot
    return rigid(rotation, shift)


@functools.lru_cache(maxsize=16)
def _fixed_transforms(mounting: HexapodMounting) -> tuple[Matrix, Matrix, Matrix, Matrix, Matrix]:
    """The mounting's constant matrices, computed once per mounting (the limit search maps many poses).

    Returns (hexapod ← f, t ← platform, f ← hexapod, platform ← t, pivot).
    """
    room_from_hexapod = mounting.room_from_hexapod()
    platform_from_table_top = mounting.platform_from_table_top()
    pivot = np.asarray(mounting.pivot, dtype=float)
    for matrix in (room_from_hexapod, platform_from_table_top, pivot):
        matrix.setflags(write=False)
    return (
        invert_rigid(room_from_hexapod),
        invert_rigid(platform_from_table_top),
        room_from_hexapod,
        platform_from_table_top,
        pivot,
    )


def setpoint_to_hexapod(
    setpoint: CouchSetpoint, mounting: HexapodMounting = DEFAULT_MOUNTING
) -> dict[str, float]:
    """The hexapod pose ``{"X": …, …, "W": …}`` that puts the table top at ``setpoint``.

    Solves ``H ← platform = (f ← H)⁻¹ · (f ← t) · (platform ← t)⁻¹`` and splits it into X..W about the
    mounting's pivot. Raises ``GimbalLockError`` if the result has V = ±90°.
    """
    hexapod_from_room, table_top_from_platform, _, _, pivot = _fixed_transforms(mounting)
    wanted = hexapod_from_room @ table_top_pose(setpoint) @ table_top_from_platform
    rotation = wanted[:3, :3]
    u, v, w = decompose_uvw(rotation, mounting.uvw_convention)
    x, y, z = wanted[:3, 3] - pivot + rotation @ pivot
    return {"X": float(x), "Y": float(y), "Z": float(z), "U": u, "V": v, "W": w}


def hexapod_to_setpoint(
    pose: Mapping[str, float], mounting: HexapodMounting = DEFAULT_MOUNTING
) -> CouchSetpoint:
    """The IEC set point of the table top when the hexapod reads ``pose`` (θs in (−180°, 180°])."""
    _, _, room_from_hexapod, platform_from_table_top, _ = _fixed_transforms(mounting)
    placed = room_from_hexapod @ platform_pose(pose, mounting) @ platform_from_table_top
    rotation_deg, pitch_deg, roll_deg = decompose_table_top_rotation(placed[:3, :3])
    lateral, longitudinal, vertical = rot_z(-rotation_deg) @ placed[:3, 3]
    return CouchSetpoint(
        lateral_mm=float(lateral),
        longitudinal_mm=float(longitudinal),
        vertical_mm=float(vertical),
        couch_rotation_deg=rotation_deg,
        pitch_deg=pitch_deg,
        roll_deg=roll_deg,
    )


# -- limits --------------------------------------------------------------------------------------------
#: How far each IEC axis is explored when mapping the hexapod's travel to IEC ranges.
SEARCH_REACH: Final = {
    "couch_rotation_deg": 180.0,
    "lateral_mm": 2000.0,
    "longitudinal_mm": 2000.0,
    "vertical_mm": 2000.0,
    "pitch_deg": 89.0,
    "roll_deg": 89.0,
}


def iec_ranges(
    travel: Mapping[str, tuple[float, float]],
    mounting: HexapodMounting = DEFAULT_MOUNTING,
    *,
    coarse_steps: int = 64,
    tolerance: float = 1e-9,
) -> dict[str, tuple[float, float]]:
    """Per IEC couch axis, the range reachable by moving that axis *alone* from the hexapod's home.

    Home is the set point of the hexapod's zero pose (or the middle of its travel if zero lies outside).
    Because the hexapod's axes are coupled through the mounting (a yaw needs X and Y; a pivot off the
    table-top origin couples pitch with Y and Z), a combination of values each inside its own range can
    still leave the travel. The couch therefore also checks every target in hexapod coordinates. Each
    side is found by a coarse outward scan and then bisection to ``tolerance``, so a range that is not
    connected is cut at its first gap. Results are cached per travel and mounting.
    """
    key = tuple((axis, float(lo), float(hi)) for axis, (lo, hi) in travel.items())
    return dict(_iec_ranges(key, mounting, coarse_steps, tolerance))


def _snap(inside: Callable[[float], bool], edge: float) -> float:
    """Bisection stops a hair inside a limit (±4.9999999999°); GCS carries 6 decimals, so take the
    6-decimal value when it is still inside — a pose exactly at the limit is then allowed, as on the wire."""
    snapped = round(edge, 6)
    return snapped if inside(snapped) else edge


@functools.lru_cache(maxsize=32)
def _iec_ranges(
    key: tuple[tuple[str, float, float], ...], mounting: HexapodMounting, coarse_steps: int, tolerance: float
) -> tuple[tuple[str, tuple[float, float]], ...]:
    travel = {axis: (lo, hi) for axis, lo, hi in key}
    home_pose = {axis: 0.0 if lo <= 0.0 <= hi else (lo + hi) / 2 for axis, (lo, hi) in travel.items()}
    home = hexapod_to_setpoint(home_pose, mounting)
    if not _within_travel(home, travel, mounting, slack=1e-9):
        raise ValueError(f"the hexapod's home pose {home_pose} does not map back inside its travel")
    ranges: dict[str, tuple[float, float]] = {}
    for axis in COUCH_AXES:
        start = float(getattr(home, axis))

        def inside(value: float, axis: str = axis) -> bool:
            return _within_travel(_replace(home, axis, value), travel, mounting)

        reach = SEARCH_REACH[axis]
        low = _snap(inside, _edge(inside, start, start - reach, coarse_steps, tolerance))
        high = _snap(inside, _edge(inside, start, start + reach, coarse_steps, tolerance))
        ranges[axis] = (low, high)
    return tuple(ranges.items())


def _replace(setpoint: CouchSetpoint, axis: str, value: float) -> CouchSetpoint:
    change: dict[str, Any] = {axis: value}
    return dataclasses.replace(setpoint, **change)


def within_travel(
    pose: Mapping[str, float], travel: Mapping[str, tuple[float, float]], slack: float = 0.0
) -> bool:
    """True when every axis of ``pose`` that has a travel lies inside it (widened by ``slack``)."""
    return all(
        travel[axis][0] - slack <= value <= travel[axis][1] + slack
        for axis, value in pose.items()
        if axis in travel
    )


def _within_travel(
    setpoint: CouchSetpoint,
    travel: Mapping[str, tuple[float, float]],
    mounting: HexapodMounting,
    slack: float = 0.0,
) -> bool:
    try:
        pose = wire_pose(setpoint_to_hexapod(setpoint, mounting))
    except GimbalLockError:
        return False
    return within_travel(pose, travel, slack)


WIRE_DECIMALS = 6


def wire_pose(pose: Mapping[str, float]) -> dict[str, float]:
    """The pose as GCS carries it (6 decimals): what is checked against the travel is what is sent."""
    return {axis: round(value, WIRE_DECIMALS) for axis, value in pose.items()}


def _edge(inside: Callable[[float], bool], start: float, stop: float, steps: int, tolerance: float) -> float:
    """The last value inside, walking from ``start`` (inside) toward ``stop``."""
    good = start
    for k in range(1, steps + 1):
        probe = start + (stop - start) * k / steps
        if not inside(probe):
            bad = probe
            while abs(bad - good) > tolerance:
                middle = (good + bad) / 2
                if inside(middle):
                    good = middle
                else:
                    bad = middle
            # Bisection stops just inside; a limit that is really a round number (the travel itself) is
            # reported as that number when it is inside too, so a target exactly on it is accepted.
            rounded = round(good, 6)
            if abs(rounded - good) <= 1e-6 and inside(rounded):
                return rounded
            return good
        good = probe
    return good


__all__ = [
    "DEFAULT_MOUNTING",
    "HEXAPOD_AXES",
    "HexapodMounting",
    "UvwConvention",
    "decompose_uvw",
    "hexapod_to_setpoint",
    "iec_ranges",
    "platform_pose",
    "setpoint_to_hexapod",
    "table_top_pose",
    "uvw_rotation",
    "within_travel",
]
