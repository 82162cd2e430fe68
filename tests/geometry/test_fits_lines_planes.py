"""Line fit, Winston–Lutz line intersection and plane fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry import DegenerateGeometryError, Direction, InvalidInputError, Point, System
from geometry.fits import fit_line, fit_line_intersection, fit_plane
from tests.geometry.strategies import STATISTICAL, seeds


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


@STATISTICAL
@given(seed=seeds, length=st.floats(10.0, 500.0))
def test_line_fit_recovers_direction_under_noise(seed: int, length: float) -> None:
    rng = np.random.default_rng(seed)
    direction, anchor = _unit(rng), rng.uniform(-100, 100, 3)
    t = np.linspace(-length / 2, length / 2, 21)
    exact = anchor + np.outer(t, direction)
    fit = fit_line(exact)
    np.testing.assert_allclose(fit.direction, direction, atol=1e-9)
    noisy = fit_line(exact + rng.normal(0, 0.01, exact.shape))
    assert noisy.direction_uncertainty_deg is not None
    angle = math.degrees(
        math.atan2(np.linalg.norm(np.cross(noisy.direction, direction)), noisy.direction @ direction)
    )
    # angle combines two perpendicular tilts: bound it by 6 u·√2
    assert angle <= 6 * math.sqrt(2) * noisy.direction_uncertainty_deg + 1e-9


def test_line_fit_direction_follows_the_sweep_and_is_typed() -> None:
    points = [Point(system=System.FIXED, x_mm=0.0, y_mm=y, z_mm=0.01 * y) for y in (100.0, 50.0, 0.0, -50.0)]
    fit = fit_line(points)
    assert fit.direction[1] < 0.0
    assert fit.as_direction().system is System.FIXED
    assert fit.along_mm[0] < fit.along_mm[-1]  # positions increase along the sweep
    assert fit_line([(0.0, 0.0), (3.0, 4.0)]).direction == pytest.approx((0.6, 0.8))


def test_line_fit_degenerate_input() -> None:
    with pytest.raises(DegenerateGeometryError, match="coincide"):
        fit_line([(1, 2, 3), (1, 2, 3)])
    with pytest.raises(InvalidInputError, match="at least 2 points, got 1"):
        fit_line([(1, 2, 3)])


@STATISTICAL
@given(seed=seeds, n=st.integers(3, 12))
def test_line_intersection_recovers_the_isocentre(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    iso = rng.uniform(-2, 2, 3)
    directions = np.array([_unit(rng) for _ in range(n)])
    anchors = iso + directions * rng.uniform(-500, 500, (n, 1))
    exact = fit_line_intersection(anchors, directions)
    np.testing.assert_allclose(exact.point_mm, iso, atol=1e-9)
    assert exact.sphere_radius_mm < 1e-9
    offsets = rng.normal(0, 0.05, (n, 3))
    offsets -= np.sum(offsets * directions, axis=1)[:, None] * directions  # perpendicular miss of each beam
    noisy = fit_line_intersection(anchors + offsets, directions)
    assert noisy.point_uncertainty_mm is not None
    # Each beam misses by 0.05 mm per perpendicular component: the true covariance is σ²·[Σ(I − uuᵀ)]⁻¹.
    normal = sum(np.eye(3) - np.outer(u, u) for u in directions)
    true_u = 0.05 * np.sqrt(np.diag(np.linalg.inv(normal)))
    assert np.all(np.abs(np.array(noisy.point_mm) - iso) <= 6 * true_u + 1e-9)
    assert noisy.sphere_radius_mm == pytest.approx(max(noisy.residuals_mm))


def test_line_intersection_typed_and_degenerate() -> None:
    anchors = [Point(system=System.FIXED, x_mm=0.0, y_mm=0.0, z_mm=z) for z in (0.0, 5.0)]
    along_z = [Direction(system=System.FIXED, x=0.0, y=0.0, z=1.0)] * 2
    with pytest.raises(DegenerateGeometryError, match="all parallel"):
        fit_line_intersection(anchors, along_z)
    with pytest.raises(DegenerateGeometryError, match="direction 1 is the zero vector"):
        fit_line_intersection([(0, 0, 0), (1, 0, 0)], [(1, 0, 0), (0, 0, 0)])
    with pytest.raises(InvalidInputError, match=r"expected 2 directions as a \(2, 3\) array"):
        fit_line_intersection([(0, 0, 0), (1, 0, 0)], [(1, 0, 0)])
    crossing = [Direction(system=System.FIXED, x=1, y=0, z=0), Direction(system=System.FIXED, x=0, y=1, z=0)]
    result = fit_line_intersection(anchors, crossing)
    assert result.point().system is System.FIXED
    np.testing.assert_allclose(result.point_mm, (0.0, 0.0, 2.5), atol=1e-12)
    with pytest.raises(InvalidInputError, match="points are in IEC f, directions in IEC t"):
        fit_line_intersection(anchors, [d.model_copy(update={"system": System.TABLE_TOP}) for d in crossing])


@STATISTICAL
@given(seed=seeds)
def test_plane_fit_recovers_normal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    normal = _unit(rng)
    basis = np.linalg.svd(normal[None, :])[2][1:]
    uv = rng.uniform(-200, 200, (30, 2))
    points = rng.uniform(-50, 50, 3) + uv @ basis
    fit = fit_plane(points)
    sign = 1.0 if normal[np.argmax(np.abs(normal))] > 0 else -1.0
    np.testing.assert_allclose(fit.normal, sign * normal, atol=1e-9)
    noisy = fit_plane(points + np.outer(rng.normal(0, 0.02, 30), normal))
    assert noisy.normal_uncertainty_deg is not None
    tilt = math.degrees(math.acos(min(1.0, abs(float(np.dot(noisy.normal, normal))))))
    assert tilt <= 6 * math.sqrt(2) * noisy.normal_uncertainty_deg + 1e-6


def test_plane_tilt_and_degenerate_input() -> None:
    level = fit_plane([(0, 0, 0), (100, 0, 0), (0, 100, 1.0), (100, 100, 1.0)])
    assert level.tilt_deg() == pytest.approx(math.degrees(math.atan(0.01)), abs=1e-9)
    with pytest.raises(DegenerateGeometryError, match="collinear"):
        fit_plane([(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)])
    with pytest.raises(InvalidInputError, match="non-finite"):
        fit_plane([(0, 0, 0), (1, 0, 0), (0, math.inf, 0)])
