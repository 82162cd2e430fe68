"""Right-handed, active rotation matrices in degrees and rigid 4×4 homogeneous transforms.

IEC 61217 defines a positive rotation as clockwise when looking from the origin along the positive axis, which
is the right-hand rule; these matrices implement exactly that. ``Rz(θ) @ v`` turns ``v`` by +θ about +Z.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geometry.angles import cos_sin_deg
from geometry.errors import GimbalLockError, InvalidInputError

Matrix = NDArray[np.float64]

# Below this cos(pitch) the Z-X'-Y'' decomposition cannot separate rotation from roll.
_GIMBAL_COS_LIMIT = 1e-9


def rot_x(angle_deg: float) -> Matrix:
    """3×3 rotation by ``angle_deg`` about +X (table-top pitch ψ)."""
    c, s = cos_sin_deg(angle_deg)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle_deg: float) -> Matrix:
    """3×3 rotation by ``angle_deg`` about +Y (gantry φg, table-top roll φ)."""
    c, s = cos_sin_deg(angle_deg)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle_deg: float) -> Matrix:
    """3×3 rotation by ``angle_deg`` about +Z (collimator, couch, eccentric, receptor)."""
    c, s = cos_sin_deg(angle_deg)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rigid(rotation: ArrayLike | None = None, translation_mm: ArrayLike | None = None) -> Matrix:
    """4×4 homogeneous transform ``x ↦ R x + t`` (identity parts when omitted)."""
    matrix = np.eye(4)
    if rotation is not None:
        matrix[:3, :3] = np.asarray(rotation, dtype=float)
    if translation_mm is not None:
        matrix[:3, 3] = np.asarray(translation_mm, dtype=float)
    return matrix


def translation(x_mm: float, y_mm: float, z_mm: float) -> Matrix:
    """4×4 pure translation."""
    return rigid(translation_mm=(x_mm, y_mm, z_mm))


def invert_rigid(matrix: ArrayLike) -> Matrix:
    """Inverse of a rigid 4×4 transform, computed as (Rᵀ, −Rᵀt) to keep it exactly orthonormal."""
    m = np.asarray(matrix, dtype=float)
    rotation_t = m[:3, :3].T
    return rigid(rotation_t, -rotation_t @ m[:3, 3])


def is_rotation(matrix: ArrayLike, tolerance: float = 1e-9) -> bool:
    """True for a proper rotation: orthonormal columns and determinant +1."""
    m = np.asarray(matrix, dtype=float)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        return False
    return bool(np.allclose(m.T @ m, np.eye(3), atol=tolerance) and abs(np.linalg.det(m) - 1.0) < tolerance)


def table_top_rotation(rotation_deg: float, pitch_deg: float, roll_deg: float) -> Matrix:
    """Orientation in IEC table-top order: rotation about Z, then pitch about X′, then roll about Y″.

    ``rotation_deg`` is the total yaw θs + θe; the matrix is ``Rz(θ)·Rx(ψ)·Ry(φ)`` (intrinsic Z-X′-Y″).
    """
    return rot_z(rotation_deg) @ rot_x(pitch_deg) @ rot_y(roll_deg)


def decompose_table_top_rotation(rotation: ArrayLike) -> tuple[float, float, float]:
    """(rotation_deg, pitch_deg, roll_deg) with ``R = Rz(θ)·Rx(ψ)·Ry(φ)``; pitch in [-90, 90].

    Why this order: DICOM C.8.8.14.12 applies pitch before roll about the table-top origin, after the
    isocentric/eccentric yaw. The decomposition is singular at pitch ±90°, where it raises
    :class:`GimbalLockError` instead of returning an arbitrary split of rotation and roll.
    """
    r = np.asarray(rotation, dtype=float)
    if not is_rotation(r, tolerance=1e-6):
        raise InvalidInputError(f"expected a proper 3×3 rotation matrix, got {r.tolist()!r}")
    sin_pitch = float(np.clip(r[2, 1], -1.0, 1.0))
    cos_pitch = math.hypot(r[2, 0], r[2, 2])
    if cos_pitch < _GIMBAL_COS_LIMIT:
        raise GimbalLockError(
            "table-top pitch is ±90°: rotation and roll are not separable in the IEC Z-X′-Y″ order"
        )
    pitch = math.degrees(math.atan2(sin_pitch, cos_pitch))
    roll = math.degrees(math.atan2(-r[2, 0], r[2, 2]))
    yaw = math.degrees(math.atan2(-r[0, 1], r[1, 1]))
    return yaw, pitch, roll
