"""Rigid (Kabsch/Horn) fit of nominal → measured marker sets, reported in IEC table-top order.

Why the pivot: DICOM pitches and rolls about the table-top origin, while a QA report wants the shift of a
stated point (usually the isocentre). The fit reports where the pivot moved and the rotation split as
isocentric rotation, then pitch, then roll (R = Rz·Rx·Ry), so the numbers compare with couch readouts.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field

from geometry.errors import DegenerateGeometryError, GimbalLockError, InvalidInputError
from geometry.fits._base import FitResult, floats, residual_fields
from geometry.fits._input import PointsLike, coordinates, rank_deficient, spread_mm
from geometry.frames import Pose
from geometry.rotations import decompose_table_top_rotation, rigid, rot_x, rot_y, rot_z
from geometry.systems import System

Row = tuple[float, float, float]


class RigidFit(FitResult):
    """``measured ≈ R·(nominal − pivot) + pivot + translation``; ``residuals_mm`` are per-marker distances."""

    nominal_system: System | None = Field(
        description="system of the nominal points (the fitted pose's local)"
    )
    rotation: tuple[Row, Row, Row]
    pivot_mm: Row
    translation_mm: Row = Field(description="displacement of the pivot")
    rotation_deg: float = Field(description="about Z (θs + θe), applied first")
    pitch_deg: float = Field(description="about the rotated X, second")
    roll_deg: float = Field(description="about the pitched Y, third")
    rotation_uncertainty_deg: float | None
    pitch_uncertainty_deg: float | None
    roll_uncertainty_deg: float | None
    translation_uncertainty_mm: Row | None

    def matrix(self) -> NDArray[np.float64]:
        """4×4 transform taking nominal coordinates to measured coordinates."""
        r, pivot = np.array(self.rotation), np.array(self.pivot_mm)
        return rigid(r, pivot + np.array(self.translation_mm) - r @ pivot)

    def apply(self, nominal_mm: ArrayLike) -> NDArray[np.float64]:
        m = self.matrix()
        moved: NDArray[np.float64] = np.asarray(nominal_mm, dtype=float) @ m[:3, :3].T + m[:3, 3]
        return moved

    def pose(self) -> Pose:
        """The nominal frame's pose in the measured system (e.g. IEC t in IEC f)."""
        if self.system is None:
            raise InvalidInputError("the rigid fit has no IEC system: fit typed Points to get a Pose")
        return Pose.from_matrix(self.system, self.matrix())


def _derivatives(yaw: float, pitch: float, roll: float) -> tuple[NDArray[np.float64], ...]:
    """∂R/∂θ, ∂R/∂ψ, ∂R/∂φ (per radian) of R = Rz(θ)·Rx(ψ)·Ry(φ)."""
    quarter = (rot_z(yaw + 90.0), rot_x(pitch + 90.0), rot_y(roll + 90.0))
    # d/dα R(α) = R(α + 90°) with the axis row/column zeroed: the generator of each elementary rotation.
    dz, dx, dy = (q.copy() for q in quarter)
    dz[2, :] = dz[:, 2] = 0.0
    dx[0, :] = dx[:, 0] = 0.0
    dy[1, :] = dy[:, 1] = 0.0
    rz, rx, ry = rot_z(yaw), rot_x(pitch), rot_y(roll)
    return dz @ rx @ ry, rz @ dx @ ry, rz @ rx @ dy


def _small_rotations(rotation: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """∂R/∂ω_k (per radian) of R → exp([ω]×)·R: small rotations about the fixed X, Y, Z axes."""
    generators = []
    for k in range(3):
        skew = np.zeros((3, 3))
        i, j = (k + 1) % 3, (k + 2) % 3
        skew[j, i], skew[i, j] = 1.0, -1.0  # [e_k]×
        generators.append(skew @ rotation)
    return tuple(generators)


def _locked_angles(rotation: NDArray[np.float64]) -> tuple[float, float, float]:
    """(yaw, ±90, 0): at pitch ±90° Rz(θ)·Rx(±90°) takes X to (cos θ, sin θ, 0), so θ is read off column X."""
    pitch = 90.0 if rotation[2, 1] > 0.0 else -90.0
    return math.degrees(math.atan2(rotation[1, 0], rotation[0, 0])), pitch, 0.0


def _degrees(uncertainties: list[float | None] | None, index: int) -> float | None:
    value = None if uncertainties is None else uncertainties[index]
    return None if value is None else math.degrees(value)


def fit_rigid(
    nominal: PointsLike, measured: PointsLike, *, pivot_mm: ArrayLike = (0.0, 0.0, 0.0)
) -> RigidFit:
    """Least-squares rotation and translation (no scaling, no reflection) taking nominal to measured.

    Needs ≥ 3 corresponding markers, not collinear. ``pivot_mm`` is in the measured system's coordinates.
    """
    a, nominal_system = coordinates(nominal, fit="rigid fit (nominal)", min_points=3)
    b, system = coordinates(measured, fit="rigid fit (measured)", min_points=3)
    if a.shape != b.shape:
        raise InvalidInputError(
            f"rigid fit: {len(a)} nominal but {len(b)} measured points; they must pair up"
        )
    if rank_deficient(spread_mm(a), 2):
        raise DegenerateGeometryError(
            "rigid fit: the nominal points are collinear; rotation about them is undefined"
        )
    pivot = np.asarray(pivot_mm, dtype=float).reshape(-1)
    if pivot.shape != (3,) or not np.all(np.isfinite(pivot)):
        raise InvalidInputError(f"rigid fit: pivot_mm must be 3 finite coordinates, got {pivot_mm!r}")
    a_mean, b_mean = a.mean(axis=0), b.mean(axis=0)
    u, _, vt = np.linalg.svd((a - a_mean).T @ (b - b_mean))
    reflect = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, reflect]) @ u.T
    t = b_mean - rotation @ a_mean
    translation = rotation @ pivot + t - pivot
    residual_vectors = a @ rotation.T + t - b
    locked = False
    try:
        yaw, pitch, roll = decompose_table_top_rotation(rotation)
    except GimbalLockError:
        # Pitch ±90°: any rotation is still a valid fit (a tracker mounted upright has its y axis along
        # IEC Z); only the split of yaw and roll is arbitrary, so roll is put to 0 and the angles carry no
        # uncertainty. The translation's comes from small rotations about the fixed axes, which never lock.
        locked = True
        yaw, pitch, roll = _locked_angles(rotation)
    n = len(a)
    dof = 3 * n - 6
    uncertainties: list[float | None] | None = None
    if dof > 0:
        lever = a - pivot
        derivatives = _small_rotations(rotation) if locked else _derivatives(yaw, pitch, roll)
        columns = [(lever @ d.T).reshape(-1) for d in derivatives]
        columns += [np.tile(np.eye(3)[k], n) for k in range(3)]
        jac = np.column_stack(columns)
        variance = float(np.sum(residual_vectors**2)) / dof
        cov = variance * np.linalg.inv(jac.T @ jac)
        uncertainties = [float(math.sqrt(max(v, 0.0))) for v in np.diag(cov)]
        if locked:
            uncertainties[:3] = [None, None, None]
    return RigidFit.model_validate(
        {
            "system": system,
            "nominal_system": nominal_system,
            "n_points": n,
            "dof": dof,
            "rotation": tuple(floats(row) for row in rotation),
            "pivot_mm": floats(pivot),
            "translation_mm": floats(translation),
            "rotation_deg": yaw,
            "pitch_deg": pitch,
            "roll_deg": roll,
            "rotation_uncertainty_deg": _degrees(uncertainties, 0),
            "pitch_uncertainty_deg": _degrees(uncertainties, 1),
            "roll_uncertainty_deg": _degrees(uncertainties, 2),
            "translation_uncertainty_mm": None if uncertainties is None else tuple(uncertainties[3:]),
            **residual_fields(np.linalg.norm(residual_vectors, axis=1)),
        }
    )
