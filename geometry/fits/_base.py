"""The fields every geometric fit result shares, and the helpers that fill them."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from geometry.errors import InvalidInputError
from geometry.frames import Point
from geometry.systems import System


class FitResult(BaseModel):
    """Residuals and the frame of a fit. Uncertainties are standard (k = 1) Type A, from the residuals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: System | None = Field(description="IEC system of the input points; None for bare arrays")
    n_points: int
    dof: int = Field(description="residual degrees of freedom; 0 means no uncertainty can be given")
    residuals_mm: tuple[float, ...]
    rms_residual_mm: float
    max_abs_residual_mm: float


def residual_fields(residuals: NDArray[np.float64]) -> dict[str, object]:
    flat = np.asarray(residuals, dtype=float).reshape(-1)
    return {
        "residuals_mm": tuple(float(v) for v in flat),
        "rms_residual_mm": float(math.sqrt(float(np.mean(flat**2)))) if flat.size else 0.0,
        "max_abs_residual_mm": float(np.max(np.abs(flat))) if flat.size else 0.0,
    }


def floats(values: NDArray[np.float64] | tuple[float, ...]) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=float).reshape(-1))


def as_point(system: System | None, xyz_mm: tuple[float, ...], what: str) -> Point:
    """A fitted 3-D location as a typed Point; needs the fit to know its system."""
    if system is None:
        raise InvalidInputError(f"the {what} has no IEC system: fit typed Points (or a 3-D array) to get one")
    if len(xyz_mm) != 3:
        raise InvalidInputError(f"the {what} is 2-D; a Point needs 3 coordinates")
    return Point.from_xyz(system, xyz_mm)
