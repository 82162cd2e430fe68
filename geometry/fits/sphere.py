"""Sphere fit: a BB or a ball-bearing phantom surface, or a 3-D isocentre sphere from tracked points.

Algebraic (linear) first, then a geometric Levenberg–Marquardt refinement, as for the circle.
"""

from __future__ import annotations

import math

import numpy as np

from geometry.errors import DegenerateGeometryError
from geometry.fits._base import FitResult, as_point, floats, residual_fields
from geometry.fits._input import Array, PointsLike, coordinates, rank_deficient, spread_mm
from geometry.fits._lsq import covariance, levenberg_marquardt, standard_uncertainties
from geometry.frames import Point


class SphereFit(FitResult):
    """A fitted sphere; ``residuals_mm`` are distance to centre − radius."""

    centre_mm: tuple[float, float, float]
    radius_mm: float
    centre_uncertainty_mm: tuple[float, float, float] | None
    radius_uncertainty_mm: float | None
    method: str
    iterations: int

    def centre_point(self) -> Point:
        return as_point(self.system, self.centre_mm, "sphere centre")


def _algebraic(xyz: Array) -> tuple[Array, float]:
    mean = xyz.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((xyz - mean) ** 2, axis=1))))
    q = (xyz - mean) / scale
    design = np.column_stack([q, np.ones(len(q))])
    (d, e, f, g), *_ = np.linalg.lstsq(design, -np.sum(q**2, axis=1), rcond=None)
    radius_sq = (d * d + e * e + f * f) / 4.0 - g
    if radius_sq <= 0.0:
        raise DegenerateGeometryError("sphere fit: the algebraic fit gives no real sphere")
    return mean + scale * np.array([-d / 2.0, -e / 2.0, -f / 2.0]), scale * math.sqrt(radius_sq)


def fit_sphere(points: PointsLike, *, geometric: bool = True) -> SphereFit:
    """Fit a sphere to (N, 3) points in mm (N ≥ 4, not all in one plane)."""
    xyz, system = coordinates(points, fit="sphere fit", min_points=4)
    spread = spread_mm(xyz)
    if rank_deficient(spread, 1):
        raise DegenerateGeometryError("sphere fit: all points coincide")
    if rank_deficient(spread, 3):
        raise DegenerateGeometryError(
            "sphere fit: the points lie in one plane (or line); the sphere is undefined"
        )
    centre, radius = _algebraic(xyz)
    residuals = np.linalg.norm(xyz - centre, axis=1) - radius
    method, iterations, cov = "algebraic", 0, None
    dof = len(xyz) - 4
    if geometric:

        def fun(params: Array) -> tuple[Array, Array]:
            delta = xyz - params[:3]
            dist = np.linalg.norm(delta, axis=1)
            dist = np.where(dist == 0.0, np.finfo(float).tiny, dist)
            return dist - params[3], np.column_stack([-delta / dist[:, None], -np.ones(len(dist))])

        solution = levenberg_marquardt(fun, np.array([*centre, radius]))
        centre, radius = solution.params[:3], float(solution.params[3])
        residuals, iterations, method = solution.residuals, solution.iterations, "geometric"
        cov = covariance(solution.jacobian, residuals, dof)
    uncertainties = standard_uncertainties(cov)
    return SphereFit.model_validate(
        {
            "system": system,
            "n_points": len(xyz),
            "dof": dof,
            "centre_mm": floats(centre),
            "radius_mm": float(radius),
            "centre_uncertainty_mm": None if uncertainties is None else uncertainties[:3],
            "radius_uncertainty_mm": None if uncertainties is None else uncertainties[3],
            "method": method,
            "iterations": iterations,
            **residual_fields(residuals),
        }
    )
