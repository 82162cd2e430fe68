"""Ordinary least squares ``y = a + b·x`` for 1-D axis data: stage scale error, electrometer linearity.

Why separate from the 3-D line fit: here x is the commanded (error-free) quantity and only y scatters, which
is what a scale-error check assumes. Units are whatever x and y carry: a in y's unit, b in y-unit per x-unit.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field

from geometry.errors import DegenerateGeometryError, InvalidInputError


class StraightLineFit(BaseModel):
    """OLS fit ``y = intercept + slope·x`` with standard (k = 1) uncertainties from the residual scatter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_points: int
    dof: int
    intercept: float = Field(description="a, in y's unit")
    slope: float = Field(description="b, in y-unit per x-unit (1.0 for a perfect length scale)")
    intercept_uncertainty: float | None
    slope_uncertainty: float | None
    intercept_slope_covariance: float | None
    r_squared: float | None = Field(description="None when y does not vary")
    residuals: tuple[float, ...] = Field(description="y − fitted, in y's unit")
    rms_residual: float
    max_abs_residual: float
    max_residual_percent: float | None = Field(
        description="largest |residual| as a percentage of its fitted value (points with a zero fit skipped)"
    )

    def predict(self, x: float) -> float:
        return self.intercept + self.slope * x


def fit_straight_line(x: ArrayLike, y: ArrayLike) -> StraightLineFit:
    """OLS of y on x (N ≥ 2; uncertainties need N ≥ 3)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.ndim != 1 or ys.shape != xs.shape:
        raise InvalidInputError(
            f"straight-line fit: x and y must be 1-D and equal length, got {xs.shape}, {ys.shape}"
        )
    for name, values in (("x", xs), ("y", ys)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InvalidInputError(
                f"straight-line fit: {name}[{int(bad[0])}] is not finite ({values[bad[0]]})"
            )
    n = len(xs)
    if n < 2:
        raise InvalidInputError(f"straight-line fit needs at least 2 points, got {n}")
    x_mean, y_mean = float(xs.mean()), float(ys.mean())
    sxx = float(np.sum((xs - x_mean) ** 2))
    if sxx <= (1e-12 * max(1.0, float(np.max(np.abs(xs))))) ** 2 * n:
        raise DegenerateGeometryError("straight-line fit: all x values are equal, so the slope is undefined")
    slope = float(np.sum((xs - x_mean) * (ys - y_mean))) / sxx
    intercept = y_mean - slope * x_mean
    fitted = intercept + slope * xs
    residuals = ys - fitted
    dof = n - 2
    u_a = u_b = cov_ab = None
    if dof > 0:
        variance = float(np.sum(residuals**2)) / dof
        u_b = math.sqrt(variance / sxx)
        u_a = math.sqrt(variance * (1.0 / n + x_mean**2 / sxx))
        cov_ab = -x_mean * variance / sxx
    syy = float(np.sum((ys - y_mean) ** 2))
    nonzero = np.abs(fitted) > 0.0
    percent = float(np.max(np.abs(residuals[nonzero] / fitted[nonzero]))) * 100.0 if np.any(nonzero) else None
    return StraightLineFit(
        n_points=n,
        dof=dof,
        intercept=intercept,
        slope=slope,
        intercept_uncertainty=u_a,
        slope_uncertainty=u_b,
        intercept_slope_covariance=cov_ab,
        r_squared=None if syy == 0.0 else 1.0 - float(np.sum(residuals**2)) / syy,
        residuals=tuple(float(v) for v in residuals),
        rms_residual=math.sqrt(float(np.mean(residuals**2))),
        max_abs_residual=float(np.max(np.abs(residuals))),
        max_residual_percent=percent,
    )
