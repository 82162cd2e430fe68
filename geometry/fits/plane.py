"""Plane fit by SVD: table-top levelling, water-surface and phantom-face checks."""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from geometry.errors import DegenerateGeometryError, InvalidInputError
from geometry.fits._base import FitResult, as_point, floats, residual_fields
from geometry.fits._input import PointsLike, coordinates, rank_deficient, spread_mm
from geometry.frames import Direction, Point


class PlaneFit(FitResult):
    """A fitted plane; ``residuals_mm`` are signed distances along the normal."""

    point_mm: tuple[float, float, float] = Field(description="the centroid of the points, on the plane")
    normal: tuple[float, float, float] = Field(description="unit normal, its largest component positive")
    normal_uncertainty_deg: float | None = Field(
        description="standard uncertainty of the normal's tilt about the in-plane axis with least spread"
    )

    def as_direction(self) -> Direction:
        if self.system is None:
            raise InvalidInputError("the plane normal has no IEC system: fit typed Points to get one")
        return Direction.from_xyz(self.system, self.normal)

    def point(self) -> Point:
        return as_point(self.system, self.point_mm, "plane point")

    def tilt_deg(self, reference_normal: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> float:
        """Angle between the plane's normal and a reference (default: vertical, i.e. levelness), 0–90°."""
        n, ref = np.array(self.normal), np.asarray(reference_normal, dtype=float)
        ref = ref / np.linalg.norm(ref)
        return math.degrees(math.atan2(float(np.linalg.norm(np.cross(n, ref))), abs(float(n @ ref))))


def fit_plane(points: PointsLike) -> PlaneFit:
    """Fit a plane to (N, 3) points in mm (N ≥ 3, not collinear)."""
    xyz, system = coordinates(points, fit="plane fit", min_points=3)
    spread = spread_mm(xyz)
    if rank_deficient(spread, 2):
        raise DegenerateGeometryError(
            "plane fit: the points are collinear (or coincide); the plane is undefined"
        )
    centroid = xyz.mean(axis=0)
    _, singular, vt = np.linalg.svd(xyz - centroid)
    normal = vt[2]
    if normal[int(np.argmax(np.abs(normal)))] < 0.0:
        normal = -normal
    distances = (xyz - centroid) @ normal
    n = len(xyz)
    dof = n - 3
    uncertainty = None
    if dof > 0:
        sigma = math.sqrt(float(np.sum(distances**2)) / dof)
        uncertainty = math.degrees(sigma / float(singular[1]))
    return PlaneFit.model_validate(
        {
            "system": system,
            "n_points": n,
            "dof": dof,
            "point_mm": floats(centroid),
            "normal": floats(normal),
            "normal_uncertainty_deg": uncertainty,
            **residual_fields(distances),
        }
    )
