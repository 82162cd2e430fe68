"""Circle and sphere fits: exact recovery, recovery under noise within the stated uncertainty, degeneracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry import DegenerateGeometryError, InvalidInputError, MachineState, Point, System
from geometry.fits import fit_circle, fit_sphere
from geometry.rotations import table_top_rotation
from tests.geometry.strategies import STATISTICAL, seeds


def _arc(centre: tuple[float, float], radius: float, start_deg: float, span_deg: float, n: int) -> np.ndarray:
    angles = np.radians(start_deg + np.linspace(0.0, span_deg, n))
    return np.column_stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)])


@STATISTICAL
@given(
    seed=seeds,
    cx=st.floats(-50, 50),
    cy=st.floats(-50, 50),
    radius=st.floats(1.0, 500.0),
    start=st.floats(0, 360),
    span=st.floats(45.0, 360.0),
)
def test_circle_recovers_centre_and_radius_under_noise(
    seed: int, cx: float, cy: float, radius: float, start: float, span: float
) -> None:
    sigma = 0.002 * radius
    points = _arc((cx, cy), radius, start, span, 24) + np.random.default_rng(seed).normal(0, sigma, (24, 2))
    fit = fit_circle(points)
    assert fit.centre_uncertainty_mm is not None and fit.radius_uncertainty_mm is not None
    # 6 standard uncertainties (plus float slack): a true failure, not bad luck, at 50 examples.
    for got, want, u in zip(fit.centre_mm, (cx, cy), fit.centre_uncertainty_mm, strict=True):
        assert abs(got - want) <= 6 * u + 1e-9
    assert abs(fit.radius_mm - radius) <= 6 * fit.radius_uncertainty_mm + 1e-9
    assert fit.method == "geometric"


def test_geometric_refinement_beats_kasa_on_a_short_noisy_arc() -> None:
    rng = np.random.default_rng(7)
    errors: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(40):
        points = _arc((0.0, 0.0), 100.0, 60.0, 40.0, 15) + rng.normal(0, 0.3, (15, 2))
        for geometric in (True, False):
            errors[geometric].append(fit_circle(points, geometric=geometric).radius_mm - 100.0)
    # Kåsa shrinks the radius on short arcs; the geometric fit is (nearly) unbiased.
    assert np.mean(errors[False]) < np.mean(errors[True])
    assert abs(np.mean(errors[True])) < abs(np.mean(errors[False]))


def test_circle_uncertainty_is_calibrated() -> None:
    rng = np.random.default_rng(2024)
    centres, reported = [], []
    for _ in range(300):
        fit = fit_circle(_arc((3.0, -2.0), 80.0, 0.0, 120.0, 12) + rng.normal(0, 0.05, (12, 2)))
        centres.append(fit.centre_mm)
        assert fit.centre_uncertainty_mm is not None
        reported.append(fit.centre_uncertainty_mm)
    ratio = np.std(np.array(centres), axis=0, ddof=1) / np.mean(np.array(reported), axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio


def test_circle_in_3d_gives_the_rotation_axis() -> None:
    # A marker on a couch that rotates about a vertical axis at (0.3, −0.2) tilted by 0.2° pitch.
    tilt = table_top_rotation(0.0, 0.2, 0.0)
    flat = np.column_stack([_arc((0.3, -0.2), 50.0, 270.0, 180.0, 9), np.full(9, 5.0)])
    points = [Point.from_xyz(System.FIXED, tilt @ p) for p in flat]
    fit = fit_circle(points)
    assert fit.system is System.FIXED and fit.normal is not None
    np.testing.assert_allclose(fit.normal, tilt @ np.array([0.0, 0.0, 1.0]), atol=1e-12)
    np.testing.assert_allclose(fit.centre_point().xyz_mm, tilt @ np.array([0.3, -0.2, 5.0]), atol=1e-9)
    assert fit.radius_mm == pytest.approx(50.0, abs=1e-9)
    assert fit.arc_span_deg == pytest.approx(180.0, abs=1e-9)
    assert max(abs(r) for r in fit.plane_residuals_mm or ()) < 1e-9
    # Walkout is measured to the axis, so the marker plane's 5 mm height does not count.
    axis_offset = tilt @ np.array([0.3, -0.2, 5.0]) - 5.0 * (tilt @ np.array([0.0, 0.0, 1.0]))
    assert fit.axis_distance_mm() == pytest.approx(float(np.linalg.norm(axis_offset)), abs=1e-9)
    assert fit.axis_distance_mm() == pytest.approx(math.sqrt(0.13), abs=1e-9)
    reversed_fit = fit_circle(points[::-1])
    assert reversed_fit.normal is not None
    np.testing.assert_allclose(reversed_fit.normal, -np.array(fit.normal), atol=1e-12)


def test_three_points_fit_exactly_without_uncertainty() -> None:
    fit = fit_circle([(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0)])
    assert fit.radius_mm == pytest.approx(1.0, abs=1e-12)
    assert fit.dof == 0 and fit.centre_uncertainty_mm is None


@pytest.mark.parametrize(
    ("points", "error", "message"),
    [
        ([(0, 0), (1, 1), (2, 2), (3, 3)], DegenerateGeometryError, "collinear"),
        ([(0, 0, 0), (1, 1, 1), (2, 2, 2)], DegenerateGeometryError, "collinear"),
        ([(1, 1), (1, 1), (1, 1)], DegenerateGeometryError, "coincide"),
        ([(0, 0), (1, 0)], InvalidInputError, "at least 3 points, got 2"),
        ([(0, 0), (1, math.nan), (0, 1)], InvalidInputError, "point 1 has a non-finite coordinate"),
        ([0.0, 1.0, 2.0], InvalidInputError, r"expected an \(N, 2\) or \(N, 3\) array"),
    ],
)
def test_circle_degenerate_input(
    points: list[tuple[float, ...]] | list[float], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        fit_circle(points)


def test_circle_refuses_a_mix_of_points_and_bare_coordinates() -> None:
    with pytest.raises(InvalidInputError, match="not a mix"):
        fit_circle([Point(system=System.FIXED, x_mm=0, y_mm=0, z_mm=0), (1.0, 0.0, 0.0)])  # type: ignore[arg-type]


def test_circle_points_from_different_frames_are_refused() -> None:
    a = Point(system=System.FIXED, x_mm=0, y_mm=0, z_mm=0)
    b = Point(system=System.TABLE_TOP, x_mm=1, y_mm=0, z_mm=0)
    with pytest.raises(ValueError, match="IEC f and a Point in IEC t"):
        fit_circle([a, b, a])
    c = Point(system=System.TABLE_TOP, state=MachineState(couch_rotation_deg=5.0), x_mm=1, y_mm=0, z_mm=0)
    with pytest.raises(ValueError, match="different machine states"):
        fit_circle([b.model_copy(update={"state": MachineState()}), c, c])


def _sphere_points(centre: np.ndarray, radius: float, n: int, rng: np.random.Generator) -> np.ndarray:
    directions = rng.normal(size=(n, 3))
    points: np.ndarray = centre + radius * directions / np.linalg.norm(directions, axis=1)[:, None]
    return points


@STATISTICAL
@given(seed=seeds, radius=st.floats(1.0, 200.0))
def test_sphere_recovers_centre_and_radius(seed: int, radius: float) -> None:
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-100, 100, 3)
    points = _sphere_points(centre, radius, 30, rng)
    exact = fit_sphere(points)
    np.testing.assert_allclose(exact.centre_mm, centre, atol=1e-9 * max(1.0, radius))
    noisy = fit_sphere(points + rng.normal(0, 0.002 * radius, points.shape))
    assert noisy.centre_uncertainty_mm is not None and noisy.radius_uncertainty_mm is not None
    assert np.all(
        np.abs(np.array(noisy.centre_mm) - centre) <= 6 * np.array(noisy.centre_uncertainty_mm) + 1e-9
    )
    assert abs(noisy.radius_mm - radius) <= 6 * noisy.radius_uncertainty_mm + 1e-9


def test_sphere_degenerate_input() -> None:
    with pytest.raises(DegenerateGeometryError, match="one plane"):
        fit_sphere([(1, 0, 0), (0, 1, 0), (-1, 0, 0), (0, -1, 0), (0.6, 0.8, 0)])
    with pytest.raises(InvalidInputError, match="at least 4 points, got 3"):
        fit_sphere([(1, 0, 0), (0, 1, 0), (0, 0, 1)])
    with pytest.raises(InvalidInputError, match=r"expected an \(N, 3\) array"):
        fit_sphere([(1, 0), (0, 1), (0, 0), (2, 2)])
