"""A six-axis hexapod (Stewart platform) carrying a table top, with calibration errors a test can predict.

The controller of a hexapod only knows its own kinematic model. A calibration run compares what the controller
reports with what an external tracker sees, so this model keeps three things apart:

* the **commanded** pose (``target()``, GCS ``MOV?``),
* the **trajectory** pose ``q(t)`` the servo is commanded to along a move (``position()``),
* the **measured** pose the controller computes from its strut encoders through its nominal kinematics,
  ``FK(L(q) + e)`` with ``e`` = ``strut_error_mm`` (``measured_pose()``; ``readback()`` adds readback noise,
  GCS ``POS?``); it equals ``q`` unless a strut error is injected, and
* the **true** pose of the table top (``true_pose_matrix()``, a 4×4 in the hexapod base frame), which carries
  the injected errors and is what an external tracker sees (``table_top_to_room`` maps table-top points to
  the room).

Pose vectors are ``(X, Y, Z, U, V, W)``: translations in mm, rotations in degrees about the spatially fixed
axes X, Y, Z, applied in the order U, then V, then W, about the pivot point ``r`` (GCS ``SPI``, R S T, in
platform coordinates, so it moves with the platform's translation)::

    T(q) = Tr(x, y, z) · Tr(r) · Rx(u) · Ry(v) · Rz(w) · Tr(−r)   (U, V, W about moving axes)

Motion is a synchronized straight line in pose space, ``q = q0 + s·(q1 − q0)``, with a trapezoidal profile on
the path parameter ``s ∈ [0, 1]``: ``ṡ ≤ min(v/|Δxyz|, ω/|Δuvw|)``, ``s̈ ≤ min(a/|Δxyz|, α/|Δuvw|)``, where
``v`` is the system velocity (GCS ``VLS``, mm/s), ``ω``, ``a`` and ``α`` come from the config. So all six axes
start and stop together and each is monotonic along a leg. A new target during a motion first brakes to rest
on the current line, then starts a fresh line. ``halt`` brakes; ``stop`` stops dead.

The true pose (see docs/simulators.md, "Hexapod (PI GCS 2.0)")::

    qm  = FK(L(q) + e)                the struts are where the encoders say: e = strut_error_mm
    q'  = qm ⊙ (1 + k)                per-axis scale error k
    L   ∈ [0, B] per axis             backlash play; on a leg, L ← clamp(L + Δq', 0, B)
    q*  = q' − L + n                  n: true-pose scatter, drawn once per leg, N(0, σ_true)
    t*  = M · (x*, y*, z*) − (0, 0, m·(c0 + c1·e))     M: squareness, sag with payload m and extension e
    T'  = Tr(t*) · Tr(r) · Rx(u*) · Ry(v*) · Tr(d) · Ra(w*) · Tr(−d) · Tr(−r)   d = (dx, dy, 0): walkout
          a = (sin αx, sin αy, √(1 − sin²αx − sin²αy)): the W axis, tilted by rotation_axis_tilt_deg
    T*  = Tr(p) · Rx(m·λx) · Ry(m·λy) · Tr(−p) · T'     p = t* + r (the pivot now), λ = load_tilt_deg_per_kg
    POS? = qm + N(0, readback noise)  everything after qm is downstream of the encoders: POS? cannot see it

Everything is evaluated lazily at ``clock.now()``; pending events (the end of referencing, a motion that waits
for a brake to finish) are applied in time order at the next call, which is exact because time only moves
forward.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geometry.angles import cos_sin_deg
from geometry.rotations import rigid, rot_x, rot_y, rot_z
from simulators.clock import Clock
from simulators.stage import plan_move
from simulators.world import World

Axis = Literal["X", "Y", "Z", "U", "V", "W"]
AXES: tuple[str, ...] = ("X", "Y", "Z", "U", "V", "W")
#: Pivot-point coordinates as GCS names them (``SPI R 0 S 0 T 120``).
PIVOT_COORDINATES: tuple[str, ...] = ("R", "S", "T")
Vector = NDArray[np.float64]
Matrix = NDArray[np.float64]
#: A partial pose by axis name, e.g. ``{"X": 10.0, "W": 1.5}``.
PoseMapping = Mapping[str, float] | Mapping[Axis, float]

#: Poses closer than this (mm or deg) are the same pose; also the tolerance of every limit check.
POSE_EPS = 1e-9
#: Points per straight-line path at which the leg lengths are checked (plus the target itself).
PATH_SAMPLES = 32

DEFAULT_TRAVEL: dict[Axis, tuple[float, float]] = {
    "X": (-50.0, 50.0),
    "Y": (-50.0, 50.0),
    "Z": (-30.0, 30.0),
    "U": (-3.0, 3.0),
    "V": (-3.0, 3.0),
    "W": (-5.0, 5.0),
}


# ============================================================================================ pose algebra
def pose_vector(values: PoseMapping | None = None, base: ArrayLike | None = None) -> Vector:
    """A 6-vector (X Y Z U V W) from ``base`` (default zeros) with the named axes replaced."""
    vec = np.zeros(6) if base is None else np.array(base, dtype=float).reshape(6)
    for axis, value in (values or {}).items():
        vec[AXES.index(axis)] = float(value)
    return vec


def pose_dict(vec: ArrayLike) -> dict[str, float]:
    return {
        axis: float(value) for axis, value in zip(AXES, np.asarray(vec, dtype=float).reshape(6), strict=True)
    }


def rotation_matrix(u_deg: float, v_deg: float, w_deg: float) -> Matrix:
    """``Rx(u) · Ry(v) · Rz(w)``: U, then V, then W, each about axes that move with the platform.

    PI's hexapod manuals (e.g. H-820 MS207E §3.7.4): "the rotational axes ... always move together with the
    platform ... a given rotation in space is calculated from the individual rotations in the order
    U -> V -> W". Intrinsic rotations in that order compose left to right.
    """
    return rot_x(u_deg) @ rot_y(v_deg) @ rot_z(w_deg)


def pose_matrix(pose: ArrayLike, pivot_mm: ArrayLike = (0.0, 0.0, 0.0)) -> Matrix:
    """The nominal 4×4 ``base ← platform`` transform of ``pose`` with rotations about ``pivot_mm``."""
    q = np.asarray(pose, dtype=float).reshape(6)
    r = np.asarray(pivot_mm, dtype=float).reshape(3)
    rot = rotation_matrix(q[3], q[4], q[5])
    return rigid(rot, q[:3] + r - rot @ r)


def pose_from_matrix(matrix: ArrayLike, pivot_mm: ArrayLike = (0.0, 0.0, 0.0)) -> Vector:
    """Inverse of ``pose_matrix`` (|V| < 90°): the X Y Z U V W that give ``matrix`` about ``pivot_mm``."""
    m = np.asarray(matrix, dtype=float)
    rot = m[:3, :3]
    r = np.asarray(pivot_mm, dtype=float).reshape(3)
    v = math.degrees(math.asin(max(-1.0, min(1.0, rot[0, 2]))))
    u = math.degrees(math.atan2(-rot[1, 2], rot[2, 2]))
    w = math.degrees(math.atan2(-rot[0, 1], rot[0, 0]))
    xyz = m[:3, 3] - r + rot @ r
    return np.array([*xyz, u, v, w])


# =========================================================================================== configuration
class StewartGeometry(BaseModel):
    """Joint layout and strut stroke of a 6-6 Stewart platform, used to decide what the hexapod can reach.

    In the hexapod frame (origin = platform-joint centre at the zero pose, Z up) base joint i sits at
    ``(Rb·cos βi, Rb·sin βi, −h)`` and platform joint i at ``(Rp·cos πi, Rp·sin πi, 0)`` in platform
    coordinates, with β = (−b, b, 120 − b, 120 + b, 240 − b, 240 + b), b = base_half_angle, and
    π = (−60 + p, 60 − p, 60 + p, 180 − p, 180 + p, 300 − p), p = platform_half_angle, so each strut joins
    neighbouring joints. A pose is reachable when every strut length lies within ``leg_length_mm``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_radius_mm: float = Field(300.0, gt=0)
    platform_radius_mm: float = Field(250.0, gt=0)
    base_half_angle_deg: float = Field(12.0, ge=0, lt=60)
    platform_half_angle_deg: float = Field(12.0, ge=0, lt=60)
    neutral_height_mm: float = Field(450.0, gt=0)
    leg_length_mm: tuple[float, float] = (455.0, 512.0)

    @model_validator(mode="after")
    def _stroke(self) -> StewartGeometry:
        lo, hi = self.leg_length_mm
        if not 0 < lo < hi:
            raise ValueError(f"leg_length_mm must be (min, max) with 0 < min < max, got {self.leg_length_mm}")
        return self

    def joints(self) -> tuple[Matrix, Matrix]:
        """(base joints in the hexapod frame, platform joints in platform coordinates), 6×3 each."""
        ab, ap = self.base_half_angle_deg, self.platform_half_angle_deg
        beta = np.radians([-ab, ab, 120 - ab, 120 + ab, 240 - ab, 240 + ab])
        pi_ = np.radians([-60 + ap, 60 - ap, 60 + ap, 180 - ap, 180 + ap, 300 - ap])
        rb, rp, h = self.base_radius_mm, self.platform_radius_mm, self.neutral_height_mm
        base = np.column_stack([rb * np.cos(beta), rb * np.sin(beta), np.full(6, -h)])
        platform = np.column_stack([rp * np.cos(pi_), rp * np.sin(pi_), np.zeros(6)])
        return base, platform


class HexapodMounting(BaseModel):
    """Where the hexapod base frame sits in the room: ``room ← base = Tr(origin) · Rz · Ry · Rx``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def room_from_base(self) -> Matrix:
        return rigid(rotation_matrix(*self.rotation_deg), self.origin_mm)


class HexapodErrors(BaseModel):
    """Calibration errors of the real mechanics; the controller knows none of them.

    Units: ``scale_error`` is relative (0.001 = +0.1 %); ``backlash`` is mm for X Y Z and degrees for U V W;
    squareness angles in degrees; walkout in mm (hexapod frame); sag coefficients in µm per kg and µm per kg
    per metre of extension; noise is one standard deviation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale_error: dict[Axis, float] = Field(default_factory=dict)
    #: Y leans toward X by this angle (a pure Y move also moves X by sin(angle) per mm).
    squareness_xy_deg: float = Field(0.0, ge=-5, le=5)
    #: Z leans toward X by this angle.
    squareness_xz_deg: float = Field(0.0, ge=-5, le=5)
    #: Z leans toward Y by this angle.
    squareness_yz_deg: float = Field(0.0, ge=-5, le=5)
    #: The true W (isocentric) rotation axis passes through pivot + (dx, dy) instead of the pivot.
    walkout_mm: tuple[float, float] = (0.0, 0.0)
    #: The true W rotation axis leans from the hexapod Z axis by these angles toward +X and toward +Y
    #: (a pure W move then also tilts the table top and, away from the axis, moves it vertically).
    rotation_axis_tilt_deg: tuple[float, float] = (0.0, 0.0)
    #: Under payload m the true table top turns by m·ax about the hexapod X axis and m·ay about the Y axis
    #: (degrees per kg), about the pivot point: a load-dependent pitch and roll.
    load_tilt_deg_per_kg: tuple[float, float] = (0.0, 0.0)
    backlash: dict[Axis, float] = Field(default_factory=dict)
    #: Sag δz = −payload·(sag_um_per_kg + sag_um_per_kg_m·e), e = max(0, lever arm + q[sag_axis]) in metres.
    sag_um_per_kg: float = Field(0.0, ge=0)
    sag_um_per_kg_m: float = Field(0.0, ge=0)
    sag_axis: Literal["X", "Y"] = "Y"
    sag_lever_arm_mm: float = 0.0
    readback_noise_mm: float = Field(0.0, ge=0)
    readback_noise_deg: float = Field(0.0, ge=0)
    #: Per strut (in ``StewartGeometry.joints`` order): how much longer each strut really is, as its encoder
    #: measures it, than the length the controller commands (a following error, a strut that stops short or
    #: is pushed long). The platform really goes where the struts are, and ``POS?`` reports it: both are the
    #: forward kinematics of the measured lengths. Needs ``legs``.
    strut_error_mm: tuple[float, float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    #: Scatter of the true pose, drawn once per motion (positioning repeatability).
    true_noise_mm: float = Field(0.0, ge=0)
    true_noise_deg: float = Field(0.0, ge=0)

    @field_validator("scale_error")
    @classmethod
    def _scale(cls, value: dict[str, float]) -> dict[str, float]:
        if any(abs(k) >= 0.5 for k in value.values()):
            raise ValueError("a scale error must be within ±0.5 (±50 %)")
        return value

    @field_validator("strut_error_mm")
    @classmethod
    def _strut_error(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not math.isfinite(e) or abs(e) > 20.0 for e in value):
            raise ValueError("a strut error must be finite and within ±20 mm")
        return value

    @field_validator("rotation_axis_tilt_deg")
    @classmethod
    def _axis_tilt(cls, value: tuple[float, float]) -> tuple[float, float]:
        if any(abs(a) > 5.0 for a in value):
            raise ValueError("a rotation-axis tilt must be within ±5°")
        return value

    @field_validator("backlash")
    @classmethod
    def _backlash(cls, value: dict[str, float]) -> dict[str, float]:
        if any(b < 0 for b in value.values()):
            raise ValueError("backlash must not be negative")
        return value

    def scale_vector(self) -> Vector:
        return 1.0 + pose_vector(self.scale_error)

    def backlash_vector(self) -> Vector:
        return pose_vector(self.backlash)

    def squareness_matrix(self) -> Matrix:
        """Columns: the true directions of the X, Y, Z translation axes (unit vectors)."""
        a, b, c = (
            math.radians(x) for x in (self.squareness_xy_deg, self.squareness_xz_deg, self.squareness_yz_deg)
        )
        ez = np.array([math.sin(b), math.sin(c), 0.0])
        ez[2] = math.sqrt(max(0.0, 1.0 - ez[0] ** 2 - ez[1] ** 2))
        return np.column_stack([[1.0, 0.0, 0.0], [math.sin(a), math.cos(a), 0.0], ez])

    def rotation_axis(self) -> Vector:
        """The true W axis as a unit vector in the (U, V-tilted) platform frame: (sin a, sin b, √…)."""
        a, b = (math.radians(x) for x in self.rotation_axis_tilt_deg)
        axis = np.array([math.sin(a), math.sin(b), 0.0])
        axis[2] = math.sqrt(max(0.0, 1.0 - axis[0] ** 2 - axis[1] ** 2))
        return axis

    def load_rotation(self, payload_kg: float) -> Matrix:
        """``Rx(m·ax) · Ry(m·ay)``: the table top's extra rotation under ``payload_kg``, about base axes."""
        ax, ay = self.load_tilt_deg_per_kg
        return rot_x(payload_kg * ax) @ rot_y(payload_kg * ay)

    def sag_mm(self, payload_kg: float, pose: Vector) -> float:
        """Downward deflection (mm, ≥ 0) under ``payload_kg`` at ``pose``."""
        extension_m = max(0.0, self.sag_lever_arm_mm + float(pose[AXES.index(self.sag_axis)])) / 1000.0
        return payload_kg * (self.sag_um_per_kg + self.sag_um_per_kg_m * extension_m) / 1000.0

    def noise_sigma(self, *, true: bool) -> Vector:
        mm, deg = (
            (self.true_noise_mm, self.true_noise_deg)
            if true
            else (self.readback_noise_mm, self.readback_noise_deg)
        )
        return np.array([mm, mm, mm, deg, deg, deg])


class HexapodConfig(BaseModel):
    """A hexapod table-top positioner. Lengths in mm, angles in degrees, unless the name says otherwise.

    Defaults describe a couch-top hexapod: ±50 mm in X/Y, ±30 mm in Z, ±3° pitch/roll, ±5° yaw, a
    coupled strut workspace (the corners of that box are out of reach), 10 mm/s system velocity (max 30),
    5 °/s, 50 mm/s², 20 °/s², 15 s referencing. These are engineering values chosen for the simulator, typical
    of couch-top positioners; they are not taken from a vendor data sheet.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    travel: dict[Axis, tuple[float, float]] = Field(default_factory=lambda: dict(DEFAULT_TRAVEL))
    legs: StewartGeometry | None = Field(default_factory=StewartGeometry)
    #: System velocity at power-up (GCS ``VLS``): the top speed of the pivot point along a line.
    velocity_mm_s: float = Field(10.0, gt=0)
    max_velocity_mm_s: float = Field(30.0, gt=0)
    angular_velocity_deg_s: float = Field(5.0, gt=0)
    accel_mm_s2: float = Field(50.0, gt=0)
    angular_accel_deg_s2: float = Field(20.0, gt=0)
    reference_time_s: float = Field(15.0, gt=0)
    #: An axis reports on target this long after its motion ends.
    settle_s: float = Field(0.1, ge=0)
    #: The controller's on-target window on the struts: ``ONT?`` is 1 only while every strut's measured
    #: length is within this of its commanded length. None: not modelled (every strut error is inside it).
    on_target_window_mm: float | None = Field(None, gt=0)
    pivot_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: True mechanical pose at power-up, before referencing (missing axes are 0).
    power_on_pose: dict[Axis, float] = Field(default_factory=dict)
    payload_kg: float = Field(0.0, ge=0)
    errors: HexapodErrors = Field(default_factory=HexapodErrors)
    mounting: HexapodMounting = Field(default_factory=HexapodMounting)

    @model_validator(mode="after")
    def _consistent(self) -> HexapodConfig:
        if self.legs is None and any(self.errors.strut_error_mm):
            raise ValueError("errors.strut_error_mm needs the strut geometry (legs)")
        missing = [axis for axis in AXES if axis not in self.travel]
        if missing:
            raise ValueError(f"travel must give (min, max) for every axis; missing {missing}")
        for axis, (lo, hi) in self.travel.items():
            if not lo <= 0.0 <= hi or not lo < hi:
                raise ValueError(f"travel[{axis}] must be (min, max) with min ≤ 0 ≤ max, min < max")
        if self.velocity_mm_s > self.max_velocity_mm_s:
            raise ValueError("velocity_mm_s must not exceed max_velocity_mm_s")
        for name, pose in (("the zero pose", {}), ("power_on_pose", self.power_on_pose)):
            vec = pose_vector(pose)
            if not within_travel(*self.travel_vectors(), vec) or not legs_ok(self.legs, vec, self.pivot_mm):
                raise ValueError(f"{name} is outside the workspace")
        return self

    def travel_vectors(self) -> tuple[Vector, Vector]:
        """(minimum, maximum) per axis as 6-vectors."""
        limits = {str(axis): value for axis, value in self.travel.items()}
        return np.array([limits[a][0] for a in AXES]), np.array([limits[a][1] for a in AXES])


def within_travel(lo: Vector, hi: Vector, pose: Vector) -> bool:
    return bool(np.all(pose >= lo - POSE_EPS) and np.all(pose <= hi + POSE_EPS))


def axis_rotation(axis: ArrayLike, angle_deg: float) -> Matrix:
    """Rotation by ``angle_deg`` about the unit vector ``axis`` (Rodrigues); ``rot_z`` for axis = Z."""
    k = np.asarray(axis, dtype=float).reshape(3)
    k = k / np.linalg.norm(k)
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.asarray(c * np.eye(3) + s * cross + (1.0 - c) * np.outer(k, k), dtype=float)


def leg_lengths(geometry: StewartGeometry, pose: ArrayLike, pivot_mm: ArrayLike = (0.0, 0.0, 0.0)) -> Vector:
    """Strut lengths (mm) of ``geometry`` at ``pose`` about ``pivot_mm``."""
    base, platform = geometry.joints()
    m = pose_matrix(pose, pivot_mm)
    moved = platform @ m[:3, :3].T + m[:3, 3]
    return np.asarray(np.linalg.norm(moved - base, axis=1), dtype=float)


def forward_kinematics(
    geometry: StewartGeometry,
    lengths: ArrayLike,
    pivot_mm: ArrayLike = (0.0, 0.0, 0.0),
    start: ArrayLike | None = None,
    *,
    tolerance: float = 1e-11,
    max_iterations: int = 30,
) -> Vector:
    """The pose whose strut lengths are ``lengths`` (Newton from ``start``, default the zero pose).

    The controller's own forward kinematics: how it turns its six strut encoders into the X..W it reports.
    Converges in a few steps from any nearby pose; raises ``ValueError`` if it does not.
    """
    target = np.asarray(lengths, dtype=float).reshape(6)
    q = np.zeros(6) if start is None else np.array(start, dtype=float).reshape(6)
    step = 1e-6
    for _ in range(max_iterations):
        residual = leg_lengths(geometry, q, pivot_mm) - target
        jacobian = np.empty((6, 6))
        for j in range(6):
            dq = np.zeros(6)
            dq[j] = step
            jacobian[:, j] = (
                leg_lengths(geometry, q + dq, pivot_mm) - leg_lengths(geometry, q - dq, pivot_mm)
            ) / (2 * step)
        delta = np.linalg.solve(jacobian, residual)
        q = q - delta
        if float(np.max(np.abs(delta))) < tolerance:
            return q
    raise ValueError(f"forward kinematics did not converge for strut lengths {target.round(6).tolist()}")


def leg_lengths_along(
    geometry: StewartGeometry, poses: ArrayLike, pivot_mm: ArrayLike = (0.0, 0.0, 0.0)
) -> Matrix:
    """Strut lengths (mm) at each of ``poses`` (N×6), one row per pose: ``leg_lengths`` for many poses at
    once (the joints built once, the rotations stacked), for checking a whole path in one step."""
    q = np.asarray(poses, dtype=float).reshape(-1, 6)
    r = np.asarray(pivot_mm, dtype=float).reshape(3)
    base, platform = geometry.joints()
    angles = q[:, 3:]
    if np.all(angles == angles[0]):  # e.g. a pure translation: one rotation for the whole path
        rot = np.broadcast_to(rotation_matrix(*angles[0]), (len(q), 3, 3))
    else:
        rot = np.stack([rotation_matrix(u, v, w) for u, v, w in angles.tolist()])
    shift = q[:, :3] + r - rot @ r  # pose_matrix's translation, per pose
    moved = platform @ rot.transpose(0, 2, 1) + shift[:, None, :]
    return np.asarray(np.linalg.norm(moved - base, axis=2), dtype=float)


#: A pure translation whose struts stay this far inside the stroke all along its line is judged in closed
#: form (``translation_clear_of_stroke``); closer to the stroke's ends the sampled check decides.
CLEAR_OF_STROKE_MM = 1e-6


@functools.lru_cache(maxsize=16)
def _joint_rows(geometry: StewartGeometry) -> tuple[tuple[tuple[float, float, float], ...], ...]:
    """``geometry.joints()`` as plain floats (base joints, then platform joints), built once per geometry."""
    return tuple(
        tuple((float(x), float(y), float(z)) for x, y, z in joints.tolist()) for joints in geometry.joints()
    )


def translation_clear_of_stroke(
    geometry: StewartGeometry, start: Vector, end: Vector, pivot_mm: Vector
) -> bool:
    """True when the straight line ``start → end`` (the same U V W at both ends: a pure translation) keeps
    every strut inside ``leg_length_mm`` by more than ``CLEAR_OF_STROKE_MM`` at every point, ends included.

    Along a pure translation each strut vector is ``c + s·Δ`` (``Δ`` the XYZ step), so its squared length
    is a parabola in ``s``: largest at an end, smallest at ``s* = −c·Δ/|Δ|²`` clamped to [0, 1]. Plain
    floats, no numpy: a few microseconds. False means "not shown clear", never "unreachable"; the sampled
    check decides then. So the answers are those of the sampled check, which this only short-cuts.
    """
    base, platform = _joint_rows(geometry)
    (cu, su), (cv, sv), (cw, sw) = (cos_sin_deg(float(a)) for a in start[3:6])
    rot = (  # Rx(u)·Ry(v)·Rz(w), as rotation_matrix
        (cv * cw, -cv * sw, sv),
        (su * sv * cw + cu * sw, -su * sv * sw + cu * cw, -su * cv),
        (-cu * sv * cw + su * sw, cu * sv * sw + su * cw, cu * cv),
    )
    r = (float(pivot_mm[0]), float(pivot_mm[1]), float(pivot_mm[2]))
    shift = [
        float(start[k]) + r[k] - (rot[k][0] * r[0] + rot[k][1] * r[1] + rot[k][2] * r[2]) for k in range(3)
    ]
    step = (float(end[0] - start[0]), float(end[1] - start[1]), float(end[2] - start[2]))
    aa = step[0] * step[0] + step[1] * step[1] + step[2] * step[2]
    lo, hi = geometry.leg_length_mm
    low_sq, high_sq = (lo + CLEAR_OF_STROKE_MM) ** 2, (hi - CLEAR_OF_STROKE_MM) ** 2
    for (bx, by, bz), (px, py, pz) in zip(base, platform, strict=True):
        c = [rot[k][0] * px + rot[k][1] * py + rot[k][2] * pz + shift[k] - (bx, by, bz)[k] for k in range(3)]
        bb = c[0] * step[0] + c[1] * step[1] + c[2] * step[2]
        cc = c[0] * c[0] + c[1] * c[1] + c[2] * c[2]
        if max(cc, cc + 2.0 * bb + aa) >= high_sq:
            return False
        s_min = min(max(-bb / aa, 0.0), 1.0) if aa > 0.0 else 0.0
        if cc + 2.0 * bb * s_min + aa * s_min * s_min <= low_sq:
            return False
    return True


def legs_ok(geometry: StewartGeometry | None, pose: ArrayLike, pivot_mm: ArrayLike) -> bool:
    if geometry is None:
        return True
    lengths = leg_lengths(geometry, pose, pivot_mm)
    lo, hi = geometry.leg_length_mm
    return bool(np.all(lengths >= lo - POSE_EPS) and np.all(lengths <= hi + POSE_EPS))


# ================================================================================================== errors
MotionFault = Literal["stall", "limit", "estop"]


class HexapodError(Exception):
    """A command the hexapod refuses; the protocol front-end maps each kind to the controller's error code."""


class NotReadyError(HexapodError):
    """A motion before referencing, or with the servo off."""


class UnreachableError(HexapodError):
    """A target (or a point on the line to it) outside the travel or the strut workspace."""


class PivotError(HexapodError):
    """A pivot-point change while U, V or W is not 0."""


class VelocityError(HexapodError):
    """A system velocity outside (0, max_velocity_mm_s]."""


class BusyError(HexapodError):
    """A setting that may only change while the platform is at rest."""


# ================================================================================================== motion
class _Piece(Protocol):
    """One constant-acceleration piece of a profile in ``s`` (``simulators.stage.plan_move`` makes them)."""

    @property
    def t1(self) -> float: ...

    def at(self, t: float) -> tuple[float, float]: ...


@dataclass(frozen=True, slots=True)
class _Leg:
    """One straight line in pose space, ``q(s) = start + s·(end − start)``, with its profile and error state.

    ``play`` is known at ``s = play_s`` and evolves by the clamp rule from there; the true-pose scatter moves
    from ``noise_from`` (at ``s = noise_s``) to ``noise_to`` (at ``s_rest``).
    """

    t0: float
    start: Vector
    end: Vector
    pieces: tuple[_Piece, ...]
    s_rest: float
    speed_s: float
    accel_s: float
    reference: bool
    mask: tuple[bool, ...]
    play_s: float
    play_ref: Vector
    noise_s: float
    noise_from: Vector
    noise_to: Vector

    @property
    def t_end(self) -> float:
        return self.pieces[-1].t1 if self.pieces else self.t0

    def s_at(self, t: float) -> tuple[float, float]:
        if t >= self.t_end:
            return self.s_rest, 0.0
        for piece in self.pieces:
            if t < piece.t1:
                return piece.at(t)
        return self.s_rest, 0.0

    def pose(self, s: float) -> Vector:
        if s >= 1.0:
            return self.end.copy()
        return self.start + s * (self.end - self.start)

    def noise(self, s: float) -> Vector:
        span = self.s_rest - self.noise_s
        if span <= 0.0:
            return self.noise_to.copy()
        f = min(max((s - self.noise_s) / span, 0.0), 1.0)
        return self.noise_from + f * (self.noise_to - self.noise_from)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A motion that starts when the current leg has braked to rest."""

    reference: bool
    target: Vector
    mask: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class HexapodState:
    """A consistent snapshot at time ``t`` (poses as X Y Z U V W dicts)."""

    t: float
    position: dict[str, float]
    target: dict[str, float]
    moving: dict[str, bool]
    on_target: dict[str, bool]
    play: dict[str, float]
    referenced: bool
    referencing: bool
    servo: bool
    pivot_mm: tuple[float, float, float]
    velocity_mm_s: float
    payload_kg: float


def reference_profile(t0: float, duration_s: float) -> tuple[list[Any], float, float]:
    """Referencing as a trapezoid in ``s`` lasting exactly ``duration_s``: ¼ accelerate, ½ cruise, ¼ brake.

    Returns the pieces, the top path speed and the path acceleration.
    """
    speed = 4.0 / (3.0 * duration_s)
    accel = 4.0 * speed / duration_s
    return plan_move(t0, 0.0, 0.0, 1.0, speed, accel), speed, accel


class Hexapod:
    """One simulated hexapod; thread-safe, evaluated lazily at ``clock.now()``.

    Commands raise ``HexapodError`` subclasses and never clamp a target. Poses cross the API as mappings
    (``{"X": 10.0}``) or 6-vectors in X Y Z U V W order.
    """

    def __init__(self, name: str, config: HexapodConfig, *, clock: Clock, rng: np.random.Generator) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        self._rng = rng  # readback noise, one draw per query
        # The true-pose scatter has its own stream: a tracker sees the same whatever the POS? polling rate.
        self._truth_rng = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
        self._lock = threading.RLock()
        self._errors = config.errors
        self._payload_kg = config.payload_kg
        self._pivot = np.array(config.pivot_mm, dtype=float)
        self._velocity = config.velocity_mm_s
        self._lo, self._hi = config.travel_vectors()
        self._servo = False
        self._referenced = False
        self._referencing = False
        self._target = np.zeros(6)
        self._pending: _Pending | None = None
        # Injected motion faults: one armed for the next move, one scheduled, and those not yet reported.
        self._fault_next: tuple[MotionFault, float] | None = None
        self._fault_at: tuple[MotionFault, float] | None = None
        self._faults: list[MotionFault] = []
        start = pose_vector(config.power_on_pose)
        self._leg = self._rest(clock.now(), start, np.zeros(6), np.zeros(6))

    # ------------------------------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> HexapodConfig:
        return self._config

    @property
    def errors(self) -> HexapodErrors:
        return self._errors

    def __repr__(self) -> str:
        return f"Hexapod({self._name!r})"

    # ------------------------------------------------------------------------------------- planning
    @staticmethod
    def _rest(t: float, pose: Vector, play: Vector, noise: Vector) -> _Leg:
        return _Leg(t, pose, pose, (), 1.0, 0.0, 0.0, False, (False,) * 6, 1.0, play, 1.0, noise, noise)

    def _profile(self, t0: float, start: Vector, end: Vector) -> tuple[list[Any], float, float]:
        """Pieces, top path speed and path acceleration for the line ``start → end`` from rest at ``t0``."""
        delta = end - start
        d_lin = float(np.linalg.norm(delta[:3]))
        d_ang = float(np.linalg.norm(delta[3:]))
        cfg = self._config
        speeds = [
            v / d for v, d in ((self._velocity, d_lin), (cfg.angular_velocity_deg_s, d_ang)) if d > POSE_EPS
        ]
        accels = [
            a / d for a, d in ((cfg.accel_mm_s2, d_lin), (cfg.angular_accel_deg_s2, d_ang)) if d > POSE_EPS
        ]
        if not speeds:
            return [], 0.0, 0.0
        speed, accel = min(speeds), min(accels)
        return plan_move(t0, 0.0, 0.0, 1.0, speed, accel), speed, accel

    @staticmethod
    def _mask(start: Vector, end: Vector) -> tuple[bool, ...]:
        return tuple(bool(abs(b - a) > POSE_EPS) for a, b in zip(start, end, strict=True))

    def _draw_scatter(self) -> Vector:
        return self._truth_rng.standard_normal(6) * self._errors.noise_sigma(true=True)

    def _play(self, leg: _Leg, s: float) -> Vector:
        """Backlash play on ``leg`` at path parameter ``s`` (the leg is monotonic in every axis)."""
        limit = self._errors.backlash_vector()
        if leg.reference:  # the reference run ends with a defined approach: its play relaxes to 0
            remaining = 1.0 - leg.play_s
            factor = (1.0 - s) / remaining if remaining > 0 else 0.0
            return np.clip(leg.play_ref * max(factor, 0.0), 0.0, limit)
        scaled = (leg.end - leg.start) * self._errors.scale_vector()
        return np.clip(leg.play_ref + (s - leg.play_s) * scaled, 0.0, limit)

    def _install(self, t0: float, pending: _Pending) -> None:
        """Start ``pending`` at ``t0`` from where the current leg rests."""
        leg = self._leg
        start = leg.pose(leg.s_rest)
        play = self._play(leg, leg.s_rest)
        noise = leg.noise(leg.s_rest)
        if pending.reference:
            pieces, speed, accel = reference_profile(t0, self._config.reference_time_s)
        else:
            pieces, speed, accel = self._profile(t0, start, pending.target)
        self._leg = _Leg(
            t0, start, pending.target.copy(), tuple(pieces), 1.0, speed, accel, pending.reference,
            pending.mask, 0.0, play, 0.0, noise, self._draw_scatter(),
        )  # fmt: skip

    def _advance(self, now: float) -> None:
        """Apply what happened up to ``now``: the end of referencing, a motion waiting for a brake."""
        if self._fault_at is not None and self._fault_at[1] <= now:
            kind, at = self._fault_at
            self._fault_at = None
            if at < self._leg.t_end:
                self._drop_servo(at, kind)
        while now >= self._leg.t_end:
            if self._leg.reference and self._referencing:
                self._referencing = False
                self._referenced = True
                self._target = self._leg.end.copy()
            if self._pending is None:
                return
            pending, self._pending = self._pending, None
            self._install(self._leg.t_end, pending)

    def _rebase(
        self, now: float, *, pieces: tuple[_Piece, ...] | None = None, s_rest: float | None = None
    ) -> None:
        """Re-anchor the play and scatter of the current leg at ``now`` (optionally with a new profile)."""
        leg = self._leg
        s, _ = leg.s_at(now)
        self._leg = replace(
            leg,
            t0=now if pieces is not None else leg.t0,
            pieces=leg.pieces if pieces is None else pieces,
            s_rest=leg.s_rest if s_rest is None else s_rest,
            play_s=s,
            play_ref=self._play(leg, s),
            noise_s=s,
            noise_from=leg.noise(s),
            noise_to=leg.noise(s) if pieces == () else leg.noise_to,
        )

    def _brake(self, now: float) -> None:
        """Decelerate to rest on the current line (no-op when at rest)."""
        leg = self._leg
        s, sdot = leg.s_at(now)
        if now >= leg.t_end:
            return
        if sdot <= 0.0 or leg.accel_s <= 0.0:
            self._rebase(now, pieces=(), s_rest=s)
            return
        s_stop = min(s + sdot * sdot / (2.0 * leg.accel_s), leg.s_rest)
        pieces = plan_move(now, s, sdot, s_stop, max(sdot, leg.speed_s), leg.accel_s)
        self._rebase(now, pieces=tuple(pieces), s_rest=s_stop)

    def _freeze(self, now: float) -> None:
        """Stop dead at ``now``."""
        if now < self._leg.t_end:
            s, _ = self._leg.s_at(now)
            self._rebase(now, pieces=(), s_rest=s)

    def _drop_servo(self, t: float, kind: MotionFault) -> None:
        """A motion fault at ``t``: stop dead, servo off, reference kept, the fault left for reporting."""
        self._pending = None
        self._referencing = False
        self._freeze(t)
        if self._referenced:
            self._target = self._leg.pose(self._leg.s_rest)
        self._servo = False
        self._faults.append(kind)

    def _rest_pose(self, now: float) -> Vector:
        """Where the platform would come to rest if it braked now."""
        leg = self._leg
        s, sdot = leg.s_at(now)
        if now < leg.t_end and sdot > 0.0 and leg.accel_s > 0.0:
            s = min(s + sdot * sdot / (2.0 * leg.accel_s), leg.s_rest)
        return leg.pose(s)

    def _begin(self, now: float, pending: _Pending) -> None:
        """Start ``pending`` now, or as soon as the current motion has braked to rest."""
        self._pending = None
        self._brake(now)
        if now >= self._leg.t_end:
            self._install(now, pending)
        else:
            self._pending = pending
        self._advance(now)

    def _check_line(self, start: Vector, end: Vector) -> None:
        if not within_travel(self._lo, self._hi, end):
            bad = [
                a
                for i, a in enumerate(AXES)
                if not self._lo[i] - POSE_EPS <= end[i] <= self._hi[i] + POSE_EPS
            ]
            raise UnreachableError(f"{self._name}: target {pose_dict(end)} outside the travel in {bad}")
        geometry = self._config.legs
        if geometry is None:
            return
        if (start[3:] == end[3:]).all() and translation_clear_of_stroke(geometry, start, end, self._pivot):
            return  # every sample is inside the stroke, shown in closed form
        samples = np.linspace(0.0, 1.0, PATH_SAMPLES + 1)[1:]
        lengths = leg_lengths_along(geometry, start + samples[:, None] * (end - start), self._pivot)
        lo, hi = geometry.leg_length_mm
        within = np.all((lengths >= lo - POSE_EPS) & (lengths <= hi + POSE_EPS), axis=1)  # as legs_ok
        if not within.all():
            first = int(np.argmin(within))  # the first sample along the path that leaves the stroke
            raise UnreachableError(
                f"{self._name}: strut lengths {np.round(lengths[first], 3).tolist()} leave "
                f"{geometry.leg_length_mm} at s={samples[first]:.3f} on the way to {pose_dict(end)}"
            )

    # ------------------------------------------------------------------------------------- commands
    def reference(self) -> None:
        """Reference the platform (GCS ``FRF``): a ``reference_time_s`` run to the zero pose.

        Referencing needs the servo on. The reference is dropped at the start and set only when the run
        completes undisturbed; ``halt``/``stop``/servo off abort it.
        """
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            if not self._servo:
                raise NotReadyError(f"{self._name}: servo is off")
            self._referenced = False
            self._referencing = True
            self._target = np.zeros(6)
            self._begin(now, _Pending(True, np.zeros(6), (True,) * 6))

    def move_to(self, target: PoseMapping) -> None:
        """Absolute move of the named axes (the others keep their commanded target)."""
        with self._lock:
            self._move(pose_vector(target, self._target))

    def move_by(self, delta: PoseMapping) -> None:
        """Relative move from the last commanded target (GCS ``MVR``)."""
        with self._lock:
            self._move(self._target + pose_vector(delta))

    def _move(self, new_target: Vector) -> None:
        now = self._clock.now()
        self._advance(now)
        if not self._servo:
            raise NotReadyError(f"{self._name}: servo is off")
        if not self._referenced:
            raise NotReadyError(f"{self._name}: not referenced")
        start = self._rest_pose(now)
        self._check_line(start, new_target)
        self._target = new_target.copy()
        mask = self._mask(start, new_target)
        self._begin(now, _Pending(False, new_target.copy(), mask))
        if self._fault_next is not None and self._pending is None and now < self._leg.t_end:
            kind, fraction = self._fault_next
            self._fault_next = None
            self._fault_at = (kind, now + fraction * (self._leg.t_end - now))

    # ------------------------------------------------------------------------------ fault injection
    def inject_motion_fault(self, kind: MotionFault, *, fraction: float = 0.5) -> None:
        """Fail the next move ``fraction`` of the way: a strut ``stall`` or a strut ``limit`` switch trips.

        Either way the platform stops dead and the servo drops (the controller reports the fault code).
        """
        if not 0.0 < fraction < 1.0:
            raise ValueError("fraction must be within (0, 1)")
        with self._lock:
            self._fault_next = (kind, fraction)

    def emergency_stop(self) -> None:
        """The room's emergency stop cuts the amplifiers: stop dead now, servo off."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._drop_servo(now, "estop")

    def take_faults(self) -> list[MotionFault]:
        """Motion faults since the last call, oldest first (the controller latches their error codes)."""
        with self._lock:
            self._advance(self._clock.now())
            faults, self._faults = self._faults, []
            return faults

    def can_reach(self, target: PoseMapping) -> bool:
        """Could an absolute move of the named axes go ahead from here (GCS ``VMO?``)? Moves nothing."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            try:
                self._check_line(self._rest_pose(now), pose_vector(target, self._target))
            except UnreachableError:
                return False
            return True

    def halt(self) -> None:
        """Brake smoothly to rest (GCS ``HLT``); the target becomes the rest pose; aborts referencing."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._pending = None
            self._referencing = False
            self._brake(now)
            if self._referenced:
                self._target = self._leg.pose(self._leg.s_rest)

    def stop(self) -> None:
        """Stop dead (GCS ``STP``/``#24``); the target becomes the current pose; aborts referencing."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._pending = None
            self._referencing = False
            self._freeze(now)
            if self._referenced:
                self._target = self._leg.pose(self._leg.s_rest)

    def set_servo(self, on: bool) -> None:
        """Servo on/off for the whole platform; switching off stops dead (and aborts referencing)."""
        with self._lock:
            if self._servo and not on:
                self.stop()
            self._servo = bool(on)

    def set_velocity(self, velocity_mm_s: float) -> None:
        """System velocity (GCS ``VLS``), only while at rest."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            if not 0.0 < velocity_mm_s <= self._config.max_velocity_mm_s:
                raise VelocityError(
                    f"{self._name}: {velocity_mm_s} mm/s outside (0, {self._config.max_velocity_mm_s}]"
                )
            if self._moving_now(now):
                raise BusyError(f"{self._name}: the velocity can only change at rest")
            self._velocity = float(velocity_mm_s)

    def set_pivot(self, pivot: Mapping[str, float]) -> None:
        """Change pivot coordinates R S T (platform frame, mm); only while U = V = W = 0 (pose and target)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            pose = self._leg.pose(self._leg.s_at(now)[0])
            if np.any(np.abs(pose[3:]) > POSE_EPS) or np.any(np.abs(self._target[3:]) > POSE_EPS):
                raise PivotError(f"{self._name}: the pivot point can only change while U = V = W = 0")
            for key, value in pivot.items():
                self._pivot[PIVOT_COORDINATES.index(key)] = float(value)

    def set_error(self, **changes: Any) -> None:
        """Inject calibration errors (any ``HexapodErrors`` field); validated, only the given ones change.

        The play is re-anchored at this instant under the old parameters first, then clamped to the new
        backlash, so changing the backlash never makes the table top jump by more than the change itself.
        """
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            new = HexapodErrors.model_validate({**self._errors.model_dump(), **changes})
            if self._config.legs is None and any(new.strut_error_mm):
                raise ValueError(f"{self._name}: strut_error_mm needs the strut geometry (legs)")
            self._rebase(now)
            self._errors = new
            self._leg = replace(self._leg, play_ref=np.clip(self._leg.play_ref, 0.0, new.backlash_vector()))

    def set_payload(self, payload_kg: float) -> None:
        if payload_kg < 0:
            raise ValueError("payload_kg must not be negative")
        with self._lock:
            self._payload_kg = float(payload_kg)

    # ------------------------------------------------------------------------------------- queries
    def now(self) -> float:
        return self._clock.now()

    def _moving_now(self, now: float) -> bool:
        return now < self._leg.t_end or self._pending is not None

    def _moving_mask(self, now: float) -> tuple[bool, ...]:
        leg_mask = self._leg.mask if now < self._leg.t_end else (False,) * 6
        pending = self._pending.mask if self._pending is not None else (False,) * 6
        return tuple(a or b for a, b in zip(leg_mask, pending, strict=True))

    def _on_target(self, now: float) -> tuple[bool, ...]:
        if not (self._servo and self._referenced):
            return (False,) * 6
        window = self._config.on_target_window_mm
        if window is not None and max(abs(e) for e in self._errors.strut_error_mm) > window:
            return (False,) * 6  # a strut outside the window: the controller never reports on target
        settling = now < self._leg.t_end + self._config.settle_s
        moving = self._moving_mask(now)
        return tuple(not (m or (settling and lm)) for m, lm in zip(moving, self._leg.mask, strict=True))

    def moving(self) -> dict[str, bool]:
        """Per axis: is it moving now (GCS ``#5``)? Every axis counts as moving while referencing."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return dict(zip(AXES, self._moving_mask(now), strict=True))

    def on_target(self) -> dict[str, bool]:
        """Per axis: referenced, servo on, at rest for ``settle_s`` and, when ``on_target_window_mm`` is set,
        every strut within that window of its commanded length (GCS ``ONT?``)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return dict(zip(AXES, self._on_target(now), strict=True))

    def coming_to_rest(self) -> bool:
        """At rest, or braking / stopped short of its target (after HLT, STP, a fault): nothing more to go."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            if not self._moving_now(now):
                return True
            return self._pending is None and self._leg.s_rest < 1.0 - 1e-12

    def is_moving(self) -> bool:
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return self._moving_now(now)

    def busy_until(self) -> float:
        """Clock time at which every axis is on target again (≤ now if it is); exact for pending motions."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            end = self._leg.t_end
            if self._pending is not None:
                if self._pending.reference:
                    end += self._config.reference_time_s
                else:
                    pieces, _, _ = self._profile(end, self._leg.pose(self._leg.s_rest), self._pending.target)
                    end = pieces[-1].t1 if pieces else end
            return end + self._config.settle_s

    @property
    def referenced(self) -> bool:
        with self._lock:
            self._advance(self._clock.now())
            return self._referenced

    @property
    def referencing(self) -> bool:
        with self._lock:
            self._advance(self._clock.now())
            return self._referencing

    @property
    def servo(self) -> bool:
        return self._servo

    @property
    def velocity_mm_s(self) -> float:
        return self._velocity

    @property
    def pivot_mm(self) -> tuple[float, float, float]:
        with self._lock:
            return (float(self._pivot[0]), float(self._pivot[1]), float(self._pivot[2]))

    @property
    def payload_kg(self) -> float:
        return self._payload_kg

    def travel(self) -> tuple[dict[str, float], dict[str, float]]:
        """(minimum, maximum) commandable position per axis (GCS ``TMN?``/``TMX?``)."""
        return pose_dict(self._lo), pose_dict(self._hi)

    def position(self) -> Vector:
        """The believed (kinematic) pose ``q(t)``, noise-free; meaningful once referenced."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return self._leg.pose(self._leg.s_at(now)[0])

    def _measured(self, pose: Vector) -> Vector:
        """The pose the strut encoders give at commanded pose ``pose``: FK(L(pose) + strut error)."""
        errors = self._errors.strut_error_mm
        geometry = self._config.legs
        if geometry is None or not any(errors):
            return pose
        lengths = leg_lengths(geometry, pose, self._pivot) + np.asarray(errors, dtype=float)
        return forward_kinematics(geometry, lengths, self._pivot, start=pose)

    def measured_pose(self) -> Vector:
        """The controller's pose from its strut encoders through its nominal kinematics, noise-free."""
        with self._lock:
            return self._measured(self.position())

    def readback(self) -> Vector:
        """What the controller reports (GCS ``POS?``): the encoder pose + readback noise; 0 until referenced.

        A C-887 reports ``POS?`` from its strut encoders through its own nominal kinematic model, so the
        readback shows a strut that is not where it was commanded, and none of the errors downstream of the
        encoders (scale, squareness, backlash, walkout, axis tilt, sag, load tilt).
        """
        with self._lock:
            pose = self.measured_pose()
            if not self._referenced:
                return np.zeros(6)
            return pose + self._rng.standard_normal(6) * self._errors.noise_sigma(true=False)

    def target(self) -> Vector:
        """The commanded pose (GCS ``MOV?``)."""
        with self._lock:
            self._advance(self._clock.now())
            return self._target.copy()

    def play(self) -> Vector:
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return self._play(self._leg, self._leg.s_at(now)[0])

    def leg_lengths(self, pose: ArrayLike | None = None) -> Vector:
        """Commanded strut lengths at ``pose`` (default: the trajectory pose now) about the current pivot."""
        if self._config.legs is None:
            raise ValueError(f"{self._name}: no strut geometry configured")
        return leg_lengths(self._config.legs, self.position() if pose is None else pose, self._pivot)

    def measured_leg_lengths(self) -> Vector:
        """Strut lengths as the encoders measure them now: commanded + ``strut_error_mm``."""
        measured = self.leg_lengths() + np.asarray(self._errors.strut_error_mm, dtype=float)
        return np.asarray(measured, dtype=float)

    def true_pose_matrix(self) -> Matrix:
        """The true 4×4 ``base ← table top`` transform now, with every injected error applied."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            leg = self._leg
            s, _ = leg.s_at(now)
            errors = self._errors
            q = self._measured(leg.pose(s)) * errors.scale_vector() - self._play(leg, s) + leg.noise(s)
            xyz = errors.squareness_matrix() @ q[:3]
            xyz[2] -= errors.sag_mm(self._payload_kg, q)
            r = self._pivot
            d = np.array([errors.walkout_mm[0], errors.walkout_mm[1], 0.0])
            # Tr(r)·Rx·Ry·Tr(d)·Ra(w)·Tr(−d)·Tr(−r): W turns about the (tilted) axis a through r + d, in the
            # frame that U and V have tilted; U and V turn about r.
            rxy = rot_x(q[3]) @ rot_y(q[4])
            rw = axis_rotation(errors.rotation_axis(), q[5])
            rot = rxy @ rw
            translation = xyz + r + rxy @ (d - rw @ d) - rot @ r
            # Load tilt: Tr(p)·Rx(m·ax)·Ry(m·ay)·Tr(−p) on the left, p = where the pivot is now (base frame).
            load = errors.load_rotation(self._payload_kg)
            p = xyz + r
            return rigid(load @ rot, p + load @ (translation - p))

    def true_pose(self) -> Vector:
        """The true pose expressed as X Y Z U V W about the current pivot (what a perfect tracker infers)."""
        with self._lock:
            return pose_from_matrix(self.true_pose_matrix(), self._pivot)

    @property
    def room_from_base(self) -> Matrix:
        return self._config.mounting.room_from_base()

    def table_top_to_base(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        """True positions in the hexapod base frame of points fixed to the table top (N×3 or 3)."""
        pts = np.asarray(points_mm, dtype=float)
        m = self.true_pose_matrix()
        return np.asarray(pts @ m[:3, :3].T + m[:3, 3], dtype=float)

    def table_top_to_room(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        """True positions in the room of points fixed to the table top (N×3 or 3)."""
        m = self.room_from_base @ self.true_pose_matrix()
        pts = np.asarray(points_mm, dtype=float)
        return np.asarray(pts @ m[:3, :3].T + m[:3, 3], dtype=float)

    def state(self) -> HexapodState:
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            s, _ = self._leg.s_at(now)
            return HexapodState(
                t=now,
                position=pose_dict(self._leg.pose(s)),
                target=pose_dict(self._target),
                moving=dict(zip(AXES, self._moving_mask(now), strict=True)),
                on_target=dict(zip(AXES, self._on_target(now), strict=True)),
                play=pose_dict(self._play(self._leg, s)),
                referenced=self._referenced,
                referencing=self._referencing,
                servo=self._servo,
                pivot_mm=self.pivot_mm,
                velocity_mm_s=self._velocity,
                payload_kg=self._payload_kg,
            )


def add_hexapod(world: World, name: str, config: HexapodConfig) -> Hexapod:
    """Build a hexapod on ``world``'s clock with its own random stream and register it (``world.add``)."""
    return world.add(Hexapod(name, config, clock=world.clock, rng=world.rng_for(name)))
