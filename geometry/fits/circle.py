"""Circle fit: rotation isocentricity (couch walkout, collimator spoke, gantry sag traces).

Kåsa's algebraic fit is linear and needs no start, but it is biased toward small radii on short noisy arcs, so
by default its answer seeds a geometric (orthogonal-distance) Levenberg–Marquardt refinement. 3-D points are
first projected onto their best-fit plane; the plane normal, oriented by the order of the points (right-hand
rule), is the rotation axis direction.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from geometry.errors import DegenerateGeometryError
from geometry.fits._base import FitResult, as_point, floats, residual_fields
from geometry.fits._input import Array, PointsLike, coordinates, rank_deficient, spread_mm
from geometry.fits._lsq import covariance, levenberg_marquardt, standard_uncertainties
from geometry.frames import Point


class CircleFit(FitResult):
    """A fitted circle; ``residuals_mm`` are radial (distance to centre − radius) in the fitted plane."""

    centre_mm: tuple[float, ...] = Field(description="2 or 3 coordinates, like the input")
    radius_mm: float
    centre_uncertainty_mm: tuple[float, ...] | None
    radius_uncertainty_mm: float | None
    normal: tuple[float, float, float] | None = Field(
        description="3-D input only: unit axis, right-handed with the order of the points"
    )
    plane_residuals_mm: tuple[float, ...] | None = Field(description="3-D input only: signed out-of-plane")
    arc_span_deg: float = Field(description="angle the points cover around the centre; short arcs fit worse")
    method: str = Field(description="'kasa' or 'geometric'")
    iterations: int

    def centre_point(self) -> Point:
        return as_point(self.system, self.centre_mm, "circle centre")

    def centre_distance_mm(self, reference_mm: tuple[float, ...] | None = None) -> float:
        """Distance from the centre to a reference (default: the origin, i.e. the isocentre in f)."""
        centre = np.array(self.centre_mm)
        reference = np.zeros_like(centre) if reference_mm is None else np.asarray(reference_mm, dtype=float)
        return float(np.linalg.norm(centre - reference))

    def axis_distance_mm(self, reference_mm: tuple[float, ...] | None = None) -> float:
        """Distance from a reference (default: the origin) to the rotation axis: the couch "walkout".

        For 3-D input the axis is the line through the centre along ``normal``, so the height of the marker
        plane does not count; for 2-D input it equals :meth:`centre_distance_mm`.
        """
        centre = np.array(self.centre_mm)
        reference = np.zeros_like(centre) if reference_mm is None else np.asarray(reference_mm, dtype=float)
        offset = reference - centre
        if self.normal is not None:
            normal = np.array(self.normal)
            offset = offset - (offset @ normal) * normal
        return float(np.linalg.norm(offset))


def kasa(points_2d: Array) -> tuple[Array, float]:
    """Algebraic circle ``x² + y² + Dx + Ey + F = 0`` by linear least squares; (centre, radius)."""
    mean = points_2d.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((points_2d - mean) ** 2, axis=1))))
    q = (points_2d - mean) / scale  # centred and scaled so the linear system is well conditioned
    design = np.column_stack([q, np.ones(len(q))])
    if rank_deficient(np.linalg.svd(design, compute_uv=False), 3, relative=1e-12):
        raise DegenerateGeometryError("circle fit: the points are collinear; no finite circle passes them")
    (d, e, f), *_ = np.linalg.lstsq(design, -np.sum(q**2, axis=1), rcond=None)
    radius_sq = d * d / 4.0 + e * e / 4.0 - f
    if radius_sq <= 0.0:
        raise DegenerateGeometryError("circle fit: the algebraic fit gives no real circle")
    centre = mean + scale * np.array([-d / 2.0, -e / 2.0])
    return centre, scale * math.sqrt(radius_sq)


def _geometric(points_2d: Array, centre: Array, radius: float) -> tuple[Array, Array, Array, int]:
    def fun(params: Array) -> tuple[Array, Array]:
        delta = points_2d - params[:2]
        dist = np.linalg.norm(delta, axis=1)
        dist = np.where(dist == 0.0, np.finfo(float).tiny, dist)
        jac = np.column_stack([-delta / dist[:, None], -np.ones(len(dist))])
        return dist - params[2], jac

    solution = levenberg_marquardt(fun, np.array([*centre, radius]))
    return solution.params, solution.residuals, solution.jacobian, solution.iterations


def _arc_span_deg(points_2d: Array, centre: Array) -> float:
    angles = np.sort(np.arctan2(points_2d[:, 1] - centre[1], points_2d[:, 0] - centre[0]))
    gaps = np.diff(np.concatenate([angles, [angles[0] + 2.0 * math.pi]]))
    return math.degrees(2.0 * math.pi - float(np.max(gaps)))


def fit_circle(points: PointsLike, *, geometric: bool = True) -> CircleFit:
    """Fit a circle to (N, 2) or (N, 3) points in mm (N ≥ 3); 3-D points are fitted in their best plane."""
    xyz, system = coordinates(points, fit="circle fit", dims=(2, 3), min_points=3)
    spread = spread_mm(xyz)
    if rank_deficient(spread, 1):
        raise DegenerateGeometryError("circle fit: all points coincide")
    if rank_deficient(spread, 2):
        raise DegenerateGeometryError("circle fit: the points are collinear; no finite circle passes them")
    if xyz.shape[1] == 3:
        mean = xyz.mean(axis=0)
        _, _, vt = np.linalg.svd(xyz - mean)
        basis = vt[:2]
        normal = np.cross(basis[0], basis[1])  # right-handed with the in-plane basis
        plane_residuals = (xyz - mean) @ normal
        flat = (xyz - mean) @ basis.T
    else:
        flat = xyz
    centre, radius = kasa(flat)
    method, iterations = "kasa", 0
    cov = None
    dof = len(flat) - 3
    residuals = np.linalg.norm(flat - centre, axis=1) - radius
    if geometric:
        params, residuals, jac, iterations = _geometric(flat, centre, radius)
        centre, radius, method = params[:2], float(params[2]), "geometric"
        cov = covariance(jac, residuals, dof)
    centre_u = standard_uncertainties(cov[:2, :2] if cov is not None else None)
    radius_u = None if cov is None else float(np.sqrt(max(cov[2, 2], 0.0)))
    data: dict[str, object] = {
        "system": system,
        "n_points": len(xyz),
        "dof": dof,
        "centre_mm": floats(centre),
        "radius_mm": float(radius),
        "centre_uncertainty_mm": centre_u,
        "radius_uncertainty_mm": radius_u,
        "normal": None,
        "plane_residuals_mm": None,
        "arc_span_deg": _arc_span_deg(flat, centre),
        "method": method,
        "iterations": iterations,
        **residual_fields(residuals),
    }
    if xyz.shape[1] == 3:
        delta = flat - centre
        turning = float(np.sum(delta[:-1, 0] * delta[1:, 1] - delta[:-1, 1] * delta[1:, 0]))
        data["normal"] = floats(normal if turning >= 0.0 else -normal)
        data["plane_residuals_mm"] = floats(plane_residuals)
        data["centre_mm"] = floats(mean + centre @ basis)
        if cov is not None:
            data["centre_uncertainty_mm"] = standard_uncertainties(basis.T @ cov[:2, :2] @ basis)
    return CircleFit.model_validate(data)
