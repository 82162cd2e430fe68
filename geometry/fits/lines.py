"""Straight lines in space: a total-least-squares line through points, and the point nearest many lines.

The line fit measures a translation axis (couch Tx/Ty/Tz sweeps, water-tank stage axes); the intersection is
the Winston–Lutz isocentre: the point closest to all back-projected beam axes, with the radius of the
smallest sphere about it that touches every axis.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from geometry.errors import DegenerateGeometryError, InvalidInputError
from geometry.fits._base import FitResult, as_point, floats, residual_fields
from geometry.fits._input import (
    DirectionsLike,
    PointsLike,
    coordinates,
    directions,
    rank_deficient,
    spread_mm,
)
from geometry.frames import Direction, Point, common_state


class LineFit(FitResult):
    """A fitted line; ``residuals_mm`` are perpendicular distances of the points from it."""

    point_mm: tuple[float, ...] = Field(description="the centroid of the points, on the line")
    direction: tuple[float, ...] = Field(
        description="unit vector, pointing from the first toward the last point"
    )
    along_mm: tuple[float, ...] = Field(description="each point's position along the line from the centroid")
    direction_uncertainty_deg: float | None = Field(
        description="standard uncertainty of the line's tilt about either perpendicular axis"
    )

    def as_direction(self) -> Direction:
        if self.system is None or len(self.direction) != 3:
            raise InvalidInputError("the line direction has no IEC system: fit typed Points to get one")
        return Direction.from_xyz(self.system, self.direction)

    def point(self) -> Point:
        return as_point(self.system, self.point_mm, "line point")


def fit_line(points: PointsLike) -> LineFit:
    """Fit a line to (N, 2) or (N, 3) points in mm (N ≥ 2) by SVD (orthogonal distances)."""
    xyz, system = coordinates(points, fit="line fit", dims=(2, 3), min_points=2)
    spread = spread_mm(xyz)
    if rank_deficient(spread, 1):
        raise DegenerateGeometryError("line fit: all points coincide, so there is no direction")
    centroid = xyz.mean(axis=0)
    _, _, vt = np.linalg.svd(xyz - centroid)
    direction = vt[0]
    if float((xyz[-1] - xyz[0]) @ direction) < 0.0:
        direction = -direction
    along = (xyz - centroid) @ direction
    perpendicular = (xyz - centroid) - np.outer(along, direction)
    distances = np.linalg.norm(perpendicular, axis=1)
    n, dims = xyz.shape
    # dims − 1 residual components per point; 2(dims − 1) parameters: offset and tilt per perpendicular axis.
    dof = (dims - 1) * (n - 2)
    uncertainty = None
    if dof > 0:
        sigma = math.sqrt(float(np.sum(distances**2)) / dof)
        uncertainty = math.degrees(sigma / math.sqrt(float(np.sum(along**2))))
    return LineFit.model_validate(
        {
            "system": system,
            "n_points": n,
            "dof": dof,
            "point_mm": floats(centroid),
            "direction": floats(direction),
            "along_mm": floats(along),
            "direction_uncertainty_deg": uncertainty,
            **residual_fields(distances),
        }
    )


class LineIntersection(FitResult):
    """The least-squares point nearest N lines; ``residuals_mm`` are its distances to each line."""

    point_mm: tuple[float, float, float]
    sphere_radius_mm: float = Field(description="largest distance to a line: the isocentre sphere radius")
    point_uncertainty_mm: tuple[float, float, float] | None

    def point(self) -> Point:
        return as_point(self.system, self.point_mm, "intersection point")


def fit_line_intersection(points_on_lines: PointsLike, line_directions: DirectionsLike) -> LineIntersection:
    """p* = [Σ(I − uuᵀ)]⁻¹ Σ(I − uuᵀ)a over lines (a_i, u_i); N ≥ 2 lines, not all parallel."""
    anchors, system = coordinates(points_on_lines, fit="line intersection", min_points=2)
    units, direction_system = directions(line_directions, fit="line intersection", count=len(anchors))
    if system is not None and direction_system is not None and system is not direction_system:
        raise InvalidInputError(
            f"line intersection: points are in IEC {system.value}, directions in IEC {direction_system.value}"
        )
    if isinstance(points_on_lines, list | tuple) and isinstance(line_directions, list | tuple):
        for point, direction in zip(points_on_lines, line_directions, strict=True):
            if isinstance(point, Point) and isinstance(direction, Direction):
                common_state(point, direction, "intersect lines from")
    system = system or direction_system
    projectors = np.eye(3)[None, :, :] - units[:, :, None] * units[:, None, :]
    normal = projectors.sum(axis=0)
    eigenvalues = np.linalg.eigvalsh(normal)
    if eigenvalues[0] <= 1e-12 * eigenvalues[-1]:
        raise DegenerateGeometryError(
            "line intersection: the lines are all parallel; they have no nearest point"
        )
    point = np.linalg.solve(normal, np.einsum("nij,nj->i", projectors, anchors))
    offsets = np.einsum("nij,nj->ni", projectors, point - anchors)
    distances = np.linalg.norm(offsets, axis=1)
    n = len(anchors)
    dof = 2 * n - 3
    uncertainty = None
    if dof > 0:
        variance = float(np.sum(distances**2)) / dof
        uncertainty = tuple(float(math.sqrt(v)) for v in np.diag(variance * np.linalg.inv(normal)))
    return LineIntersection.model_validate(
        {
            "system": system,
            "n_points": n,
            "dof": dof,
            "point_mm": floats(point),
            "sphere_radius_mm": float(np.max(distances)),
            "point_uncertainty_mm": uncertainty,
            **residual_fields(distances),
        }
    )
