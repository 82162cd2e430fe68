"""Independent geometry from the tracker: registration to IEC 61217 f and tool positions in f.

Registration (issue 6): the registration phantom carries fiducial tools at positions known in IEC f (set up
on the lasers at installation; the rig file lists them). One tracker frame sees all of them; a rigid
(Kabsch) fit of known IEC positions to measured tracker positions gives f ← tracker, and its residuals are
the registration's own quality, reported with every geometric result. Frames are recorded as data by the
plans; everything here is pure analysis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from controller.config import TrackerRegistrationConfig
from geometry.fits import fit_rigid

__all__ = ["Registration", "TrackerRegistrationConfig", "register", "tool_point_in_iec"]

Matrix = NDArray[np.float64]


class Registration(BaseModel):
    """f ← tracker, with how well the fiducials fitted."""

    model_config = ConfigDict(frozen=True)

    matrix: tuple[tuple[float, float, float, float], ...]
    rms_residual_mm: float
    max_residual_mm: float
    fiducials: int
    standard_uncertainty_mm: float = Field(description="of a point mapped near the fiducials' centroid")

    def to_iec(self, points_tracker_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        m = np.array(self.matrix)
        mapped: NDArray[np.float64] = np.asarray(points_tracker_mm, dtype=float) @ m[:3, :3].T + m[:3, 3]
        return mapped

    def rotation(self) -> Matrix:
        return np.array(self.matrix)[:3, :3]


def quaternion_matrix(q: Iterable[float]) -> Matrix:
    """Rotation matrix of a unit quaternion (q0, qx, qy, qz), q0 the scalar part (NDI order)."""
    w, x, y, z = (float(v) for v in q)
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    if not math.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"not a rotation quaternion: {(w, x, y, z)!r}")
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def tool_matrix(pose: Mapping[str, Any]) -> Matrix:
    """tracker ← tool as 4×4 from a recorded ToolPose."""
    m = np.eye(4)
    m[:3, :3] = quaternion_matrix(pose["rotation"])
    m[:3, 3] = pose["translation_mm"]
    return m


def tool_in_frame(frame: Mapping[str, Any], tool: str) -> Mapping[str, Any]:
    """The recorded pose of ``tool`` in a recorded TrackerFrame; a tool not seen is a clear error."""
    for pose in frame["tools"]:
        if pose["tool"] == tool:
            if pose["status"] != "ok":
                raise ValueError(
                    f"tracker {frame['device']}: tool {tool!r} was {pose['status']} "
                    f"at frame {pose['frame_number']}"
                )
            found: Mapping[str, Any] = pose
            return found
    raise ValueError(f"tracker {frame['device']}: no tool {tool!r} in the frame")


def seen_poses(frames: Iterable[Mapping[str, Any]], tool: str) -> list[Mapping[str, Any]]:
    """The poses of ``tool`` in the frames where it was tracked; a tool that dropped out of some frames
    (occluded, out of volume) is averaged over the rest, and one never seen is a clear error."""
    poses, statuses = [], []
    for frame in frames:
        for pose in frame["tools"]:
            if pose["tool"] == tool:
                statuses.append(pose["status"])
                if pose["status"] == "ok":
                    poses.append(pose)
                break
        else:
            statuses.append("absent")
    if not poses:
        summary = ", ".join(f"{s}×{statuses.count(s)}" for s in sorted(set(statuses))) or "no frames"
        raise ValueError(f"tool {tool!r} was not tracked in any of {len(statuses)} frames ({summary})")
    return poses


def mean_tool_position(
    frames: Iterable[Mapping[str, Any]], tool: str, offset_mm: Iterable[float] = (0, 0, 0)
) -> tuple[NDArray[np.float64], float]:
    """Mean tracker-frame position of a point fixed to ``tool`` over frames, and its standard error."""
    offset = np.append(np.asarray(list(offset_mm), dtype=float), 1.0)
    points = np.array([(tool_matrix(pose) @ offset)[:3] for pose in seen_poses(frames, tool)])
    if len(points) == 0:
        raise ValueError(f"no frames to average for tool {tool!r}")
    spread = float(np.sqrt(np.mean(np.var(points, axis=0, ddof=1)))) if len(points) > 1 else 0.0
    return points.mean(axis=0), spread / math.sqrt(len(points))


def register(
    frames: list[Mapping[str, Any]], config: TrackerRegistrationConfig, tool_noise_mm: float = 0.1
) -> Registration:
    """Rigid fit of the fiducials' known IEC positions to their measured tracker positions."""
    names = sorted(config.points_mm)
    measured = []
    for name in names:
        mean, _ = mean_tool_position(frames, name)
        measured.append(mean)
    known = np.array([config.points_mm[n] for n in names], dtype=float)
    # fit maps tracker → f: nominal = measured tracker points, measured = known IEC points
    fit = fit_rigid(np.array(measured), known)
    matrix = fit.matrix()
    n = len(names)
    # a mapped point's uncertainty: fiducial scatter and placement, averaged over the fit (≈ σ/√n per axis)
    sigma = math.hypot(config.placement_uncertainty_mm, tool_noise_mm / math.sqrt(max(len(frames), 1)))
    return Registration(
        matrix=tuple(tuple(float(v) for v in row) for row in matrix),
        rms_residual_mm=fit.rms_residual_mm,
        max_residual_mm=fit.max_abs_residual_mm,
        fiducials=n,
        standard_uncertainty_mm=sigma / math.sqrt(n),
    )


def tool_point_in_iec(
    frames: list[Mapping[str, Any]],
    tool: str,
    registration: Registration,
    offset_mm: Iterable[float] = (0, 0, 0),
) -> tuple[NDArray[np.float64], float]:
    """A point fixed to ``tool`` in IEC f, averaged over frames, with its standard uncertainty (mm)."""
    mean, standard_error = mean_tool_position(frames, tool, offset_mm)
    return registration.to_iec(mean[None, :])[0], math.hypot(
        standard_error, registration.standard_uncertainty_mm
    )
