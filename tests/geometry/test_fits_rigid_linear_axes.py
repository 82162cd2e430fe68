"""Rigid fit in IEC table-top order, OLS for axis scale, axis angles and iso size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry import DegenerateGeometryError, Direction, InvalidInputError, MachineState, Point, Pose, System
from geometry.fits import (
    angle_between_deg,
    axis_alignment,
    axis_orthogonality,
    fit_line,
    fit_rigid,
    fit_straight_line,
    iso_size,
)
from geometry.rotations import table_top_rotation
from tests.geometry.strategies import STATISTICAL, seeds

MARKERS = np.array([[0, 0, 0], [200, 0, 0], [0, 300, 0], [0, 0, 100], [150, -200, 50], [-80, 120, 30]], float)


@STATISTICAL
@given(
    seed=seeds,
    yaw=st.floats(-180, 180),
    pitch=st.floats(-5, 5),
    roll=st.floats(-5, 5),
    shift=st.tuples(*[st.floats(-50, 50)] * 3),
)
def test_rigid_fit_recovers_table_top_angles_and_pivot_shift(
    seed: int, yaw: float, pitch: float, roll: float, shift: tuple[float, float, float]
) -> None:
    rotation = table_top_rotation(yaw, pitch, roll)
    pivot = np.array([0.0, 100.0, 0.0])
    measured = (MARKERS - pivot) @ rotation.T + pivot + np.array(shift)
    exact = fit_rigid(MARKERS, measured, pivot_mm=pivot)
    assert (exact.rotation_deg, exact.pitch_deg, exact.roll_deg) == pytest.approx(
        (yaw, pitch, roll), abs=1e-9
    )
    np.testing.assert_allclose(exact.translation_mm, shift, atol=1e-9)
    np.testing.assert_allclose(exact.apply(MARKERS), measured, atol=1e-9)
    rng = np.random.default_rng(seed)
    noisy = fit_rigid(MARKERS, measured + rng.normal(0, 0.05, measured.shape), pivot_mm=pivot)
    assert noisy.pitch_uncertainty_deg is not None and noisy.translation_uncertainty_mm is not None
    assert abs(noisy.pitch_deg - pitch) <= 6 * noisy.pitch_uncertainty_deg + 1e-9
    assert abs(noisy.roll_deg - roll) <= 6 * (noisy.roll_uncertainty_deg or 0.0) + 1e-9
    assert abs(noisy.rotation_deg - yaw) <= 6 * (noisy.rotation_uncertainty_deg or 0.0) + 1e-9
    assert np.all(
        np.abs(np.array(noisy.translation_mm) - shift) <= 6 * np.array(noisy.translation_uncertainty_mm)
    )


def test_rigid_fit_uncertainty_is_calibrated() -> None:
    rng = np.random.default_rng(11)
    rotation = table_top_rotation(3.0, 1.0, -0.5)
    measured = MARKERS @ rotation.T
    pitches: list[float] = []
    reported: list[float] = []
    for _ in range(300):
        fit = fit_rigid(MARKERS, measured + rng.normal(0, 0.1, MARKERS.shape))
        pitches.append(fit.pitch_deg)
        reported.append(fit.pitch_uncertainty_deg or math.nan)
    ratio = np.std(pitches, ddof=1) / np.mean(reported)
    assert 0.8 < ratio < 1.25, ratio


def test_rigid_fit_of_table_top_markers_gives_the_table_top_pose() -> None:
    state = MachineState(
        couch_rotation_deg=7.0, table_pitch_deg=1.0, table_roll_deg=-2.0, table_vertical_mm=-30
    )
    nominal = [Point.from_xyz(System.TABLE_TOP, m) for m in MARKERS]
    measured = [p.to(System.FIXED, state).model_copy(update={"state": None}) for p in nominal]
    fit = fit_rigid(nominal, measured)
    assert fit.system is System.FIXED and fit.nominal_system is System.TABLE_TOP
    np.testing.assert_allclose(fit.pose().matrix(), Pose.of_system("t", "f", state).matrix(), atol=1e-9)
    assert (fit.rotation_deg, fit.pitch_deg, fit.roll_deg) == pytest.approx((7.0, 1.0, -2.0), abs=1e-9)


@pytest.mark.parametrize("pitch", [90.0, -90.0])
def test_rigid_fit_at_gimbal_lock_still_fits(pitch: float) -> None:
    """A tracker mounted upright has its Y axis along IEC Z: pitch ±90° in the Z-X′-Y″ order. The fit must
    still be the exact rotation and translation (registration needs only those); the yaw/roll split is a
    convention (roll 0) without uncertainty, and the translation's uncertainty stays calibrated."""
    rotation = table_top_rotation(90.0, pitch, 90.0)  # the hypothesis example that raised GimbalLockError
    shift = np.array([-200.0, 1500.0, 300.0])
    measured = MARKERS @ rotation.T + shift
    exact = fit_rigid(MARKERS, measured)
    np.testing.assert_allclose(np.array(exact.rotation), rotation, atol=1e-12)
    np.testing.assert_allclose(exact.translation_mm, shift, atol=1e-9)
    assert exact.pitch_deg == pitch and exact.roll_deg == 0.0 and exact.rotation_uncertainty_deg is None
    np.testing.assert_allclose(table_top_rotation(exact.rotation_deg, pitch, 0.0), rotation, atol=1e-12)
    rng = np.random.default_rng(7)
    errors, reported = [], []
    for _ in range(300):
        noisy = fit_rigid(MARKERS, measured + rng.normal(0, 0.1, MARKERS.shape))
        assert noisy.translation_uncertainty_mm is not None  # near the lock, whichever way it is split
        errors.append(np.array(noisy.translation_mm) - shift)
        reported.append(noisy.translation_uncertainty_mm)
    ratio = np.std(errors, axis=0, ddof=1) / np.mean(reported, axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio


def test_rigid_fit_never_returns_a_reflection() -> None:
    mirrored = MARKERS * np.array([1.0, 1.0, -1.0])
    fit = fit_rigid(MARKERS, mirrored)
    assert np.linalg.det(np.array(fit.rotation)) == pytest.approx(1.0)
    assert fit.max_abs_residual_mm > 1.0


def test_rigid_fit_degenerate_input() -> None:
    with pytest.raises(DegenerateGeometryError, match="collinear"):
        fit_rigid([(0, 0, 0), (1, 0, 0), (2, 0, 0)], [(0, 0, 0), (1, 0, 0), (2, 0, 0)])
    with pytest.raises(InvalidInputError, match="3 nominal but 4 measured"):
        fit_rigid(MARKERS[:3], MARKERS[:4])
    with pytest.raises(InvalidInputError, match="at least 3 points, got 2"):
        fit_rigid(MARKERS[:2], MARKERS[:2])
    with pytest.raises(InvalidInputError, match="pivot_mm"):
        fit_rigid(MARKERS, MARKERS, pivot_mm=(0.0, math.nan, 0.0))


@STATISTICAL
@given(
    seed=seeds,
    a=st.floats(-5, 5),
    b=st.floats(0.99, 1.01),
    n=st.integers(4, 40),
)
def test_straight_line_recovers_scale_error(seed: int, a: float, b: float, n: int) -> None:
    sigma = 0.01
    x = np.linspace(0.0, 300.0, n)
    y = a + b * x + np.random.default_rng(seed).normal(0, sigma, n)
    fit = fit_straight_line(x, y)
    assert fit.slope_uncertainty is not None and fit.intercept_uncertainty is not None
    # Bound by the true noise: with few points the estimated u itself scatters (Student t, n − 2 dof).
    sxx = float(np.sum((x - x.mean()) ** 2))
    assert abs(fit.slope - b) <= 6 * sigma / math.sqrt(sxx)
    assert abs(fit.intercept - a) <= 6 * sigma * math.sqrt(1 / n + x.mean() ** 2 / sxx)
    assert fit.predict(150.0) == pytest.approx(fit.intercept + 150.0 * fit.slope)


def test_straight_line_closed_form_and_calibration() -> None:
    fit = fit_straight_line([0.0, 1.0, 2.0, 3.0], [1.0, 3.1, 4.9, 7.0])
    # Hand OLS: x̄ = 1.5, ȳ = 4, Sxx = 5, Sxy = 9.9 → b = 1.98, a = 4.0 − 2.97 = 1.03.
    assert fit.slope == pytest.approx(1.98, abs=1e-12)
    assert fit.intercept == pytest.approx(1.03, abs=1e-12)
    residuals = np.array([1.0, 3.1, 4.9, 7.0]) - (1.03 + 1.98 * np.arange(4))
    s2 = float(residuals @ residuals) / 2
    assert fit.slope_uncertainty == pytest.approx(math.sqrt(s2 / 5.0), abs=1e-12)
    assert fit.intercept_uncertainty == pytest.approx(math.sqrt(s2 * (0.25 + 1.5**2 / 5.0)), abs=1e-12)
    assert fit.r_squared is not None and 0.99 < fit.r_squared <= 1.0
    rng = np.random.default_rng(5)
    x = np.linspace(0, 100, 10)
    slopes: list[float] = []
    reported: list[float] = []
    for _ in range(400):
        result = fit_straight_line(x, 0.5 + 1.002 * x + rng.normal(0, 0.02, 10))
        slopes.append(result.slope)
        reported.append(result.slope_uncertainty or math.nan)
    assert 0.85 < np.std(slopes, ddof=1) / np.mean(reported) < 1.2


def test_straight_line_degenerate_input() -> None:
    with pytest.raises(DegenerateGeometryError, match="all x values are equal"):
        fit_straight_line([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(InvalidInputError, match=r"y\[1\] is not finite"):
        fit_straight_line([0.0, 1.0, 2.0], [0.0, math.nan, 2.0])
    with pytest.raises(InvalidInputError, match="at least 2 points, got 1"):
        fit_straight_line([0.0], [0.0])
    with pytest.raises(InvalidInputError, match="equal length"):
        fit_straight_line([0.0, 1.0], [0.0, 1.0, 2.0])
    two = fit_straight_line([0.0, 1.0], [0.0, 2.0])
    assert two.slope == 2.0 and two.slope_uncertainty is None


def test_axis_orthogonality_from_line_fits() -> None:
    rng = np.random.default_rng(3)
    t = np.linspace(-100, 100, 11)[:, None]
    x_axis = fit_line(t * np.array([1.0, 0.0, 0.0]) + rng.normal(0, 0.01, (11, 3)))
    skew = math.radians(0.3)
    y_axis = fit_line(t * np.array([math.sin(skew), math.cos(skew), 0.0]))
    result = axis_orthogonality({"x": x_axis, "y": y_axis, "z": (0.0, 0.0, 1.0)})
    xy = result.pairs[0]
    assert (xy.first, xy.second) == ("x", "y")
    assert xy.orthogonality_error_deg == pytest.approx(-0.3, abs=0.02)
    assert xy.uncertainty_deg is not None and xy.uncertainty_deg > 0
    assert result.max_abs_orthogonality_error_deg == pytest.approx(abs(xy.orthogonality_error_deg), abs=0.01)


def test_axis_angle_precision_and_errors() -> None:
    assert angle_between_deg((1, 0, 0), (1, 1e-12, 0)) == pytest.approx(math.degrees(1e-12), rel=1e-6)
    assert angle_between_deg((1, 0, 0), (-1, 0, 0)) == pytest.approx(180.0)
    with pytest.raises(DegenerateGeometryError, match="zero vector"):
        angle_between_deg((0, 0, 0), (1, 0, 0))
    with pytest.raises(InvalidInputError, match="at least 2 axes"):
        axis_orthogonality({"x": (1, 0, 0)})
    mixed = {
        "x": Direction(system=System.FIXED, x=1, y=0, z=0),
        "y": Direction(system=System.TABLE_TOP, x=0, y=1, z=0),
    }
    with pytest.raises(InvalidInputError, match="different IEC systems"):
        axis_orthogonality(mixed)


def test_axis_alignment_reports_reversal_and_tilts() -> None:
    # A stage axis meant to be +Xf, mounted backwards and tilted 0.5° down and 0.2° toward +Y.
    down, side = math.radians(0.5), math.radians(0.2)
    measured = -np.array([1.0, math.tan(side), -math.tan(down)])
    result = axis_alignment(measured, "x")
    assert result.reversed is True
    assert result.tilts_deg["z"] == pytest.approx(-0.5, abs=1e-9)
    assert result.tilts_deg["y"] == pytest.approx(0.2, abs=1e-9)
    assert result.angle_deg == pytest.approx(angle_between_deg(-measured, (1, 0, 0)), abs=1e-12)


def test_iso_size_is_the_pairwise_diameter() -> None:
    points = [(0.1, 0.0, 0.0), (-0.2, 0.1, 0.0), (0.0, -0.3, 0.05), (0.05, 0.2, -0.1)]
    result = iso_size(points)
    distances = [np.linalg.norm(np.subtract(p, q)) for p in points for q in points]
    assert result.diameter_mm == pytest.approx(max(distances))
    assert result.pair == (2, 3)
    assert "diameter" in result.convention
    with pytest.raises(InvalidInputError, match="at least 2 points, got 1"):
        iso_size([(0.0, 0.0)])
