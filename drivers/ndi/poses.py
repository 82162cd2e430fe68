"""Tool poses as matrices: quaternion ↔ rotation, ``ToolPose`` → 4×4, one tool seen from another.

Pure numpy, no I/O. Conventions follow the tracker: a pose maps tool coordinates into tracker coordinates
(tracker ← tool), ``p_tracker = R · p_tool + t``, with the unit quaternion ``(q0, qx, qy, qz)``, scalar
first, as NDI reports it. Matrices are homogeneous 4×4 ``float64``, translations in mm.

Registration of the tracker frame to IEC 61217 f is geometry and belongs to the sequences; these helpers
only give them the poses in a form they can compose: ``relative_pose(a, b)`` is tool A in tool B's frame
(B⁻¹·A), which cancels any motion of the camera itself when B is a fixed reference tool.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from drivers.roles.tracker import ToolPose

Matrix = NDArray[np.float64]

#: Quaternions are normalised before use; one whose norm is further than this from 1 is refused, since it
#: is not a rotation reported with rounding (TX carries 4 decimals) but a garbled or placeholder value.
QUATERNION_NORM_TOLERANCE = 1e-3


def quaternion_to_rotation(q: Sequence[float], *, tolerance: float = QUATERNION_NORM_TOLERANCE) -> Matrix:
    """3×3 rotation matrix of the unit quaternion ``(q0, qx, qy, qz)``; normalised first.

    Raises ``ValueError`` for a non-finite quaternion or one whose norm differs from 1 by more than
    ``tolerance``.
    """
    values = np.asarray(q, dtype=np.float64)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise ValueError(f"a quaternion is 4 finite numbers (q0, qx, qy, qz), got {q!r}")
    norm = float(np.linalg.norm(values))
    if abs(norm - 1.0) > tolerance:
        raise ValueError(f"quaternion {tuple(q)} has norm {norm:.6f}, not 1 within {tolerance:g}")
    w, x, y, z = values / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ],
        dtype=np.float64,
    )


def rotation_to_quaternion(rotation: Matrix) -> tuple[float, float, float, float]:
    """Unit quaternion ``(q0, qx, qy, qz)`` of a 3×3 rotation, with ``q0 ≥ 0`` (Shepperd's method)."""
    m = np.asarray(rotation, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError("a rotation is a finite 3×3 matrix")
    trace = float(m[0, 0] + m[1, 1] + m[2, 2])
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = (0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = ((m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s)
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s)
    values = np.array(q, dtype=np.float64)
    values /= np.linalg.norm(values)
    if values[0] < 0:
        values = -values
    w, x, y, z = (float(v) for v in values)
    return w, x, y, z


def homogeneous(rotation: Matrix, translation_mm: Sequence[float]) -> Matrix:
    """4×4 from a 3×3 rotation and a translation."""
    matrix = np.eye(4, dtype=np.float64)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = np.asarray(translation_mm, dtype=np.float64)
    return matrix


def invert(transform: Matrix) -> Matrix:
    """Inverse of a rigid 4×4 transform (transpose the rotation; no general matrix inverse)."""
    rotation = transform[:3, :3]
    inverse = np.eye(4, dtype=np.float64)
    inverse[:3, :3] = rotation.T
    inverse[:3, 3] = -rotation.T @ transform[:3, 3]
    return inverse


def pose_matrix(pose: ToolPose, *, require_ok: bool = True) -> Matrix:
    """4×4 tracker ← tool of one pose.

    ``require_ok`` (the default) refuses any status but ``ok``: a partially out-of-volume pose still has
    numbers, but not the tracker's stated accuracy, so using one must be a decision at the call site.
    """
    if require_ok and pose.status != "ok":
        raise ValueError(f"tool {pose.tool!r} is {pose.status}, not ok: its pose is not a measurement")
    if not all(math.isfinite(v) for v in (*pose.rotation, *pose.translation_mm)):
        raise ValueError(f"tool {pose.tool!r} ({pose.status}) carries no transform")
    return homogeneous(quaternion_to_rotation(pose.rotation), pose.translation_mm)


def relative_pose(a: ToolPose, b: ToolPose, *, require_ok: bool = True) -> Matrix:
    """Tool A in tool B's frame, 4×4 B ← A, i.e. ``inv(T_tracker←B) · T_tracker←A``."""
    return invert(pose_matrix(b, require_ok=require_ok)) @ pose_matrix(a, require_ok=require_ok)


def transform_point(transform: Matrix, point_mm: Sequence[float]) -> Matrix:
    """``R · p + t`` for one point (3-vector)."""
    return transform[:3, :3] @ np.asarray(point_mm, dtype=np.float64) + transform[:3, 3]


__all__ = [
    "QUATERNION_NORM_TOLERANCE",
    "homogeneous",
    "invert",
    "pose_matrix",
    "quaternion_to_rotation",
    "relative_pose",
    "rotation_to_quaternion",
    "transform_point",
]
