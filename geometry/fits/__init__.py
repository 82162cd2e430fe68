"""Fits and geometric checks that turn measured points into centres, axes and poses.

Each returns a frozen pydantic result with residuals and, where the data are redundant, standard (k = 1)
uncertainties estimated from the residual scatter. Inputs are (N, d) arrays in mm or sequences of typed
:class:`geometry.frames.Point`; typed input makes the result carry its IEC system.
"""

from geometry.fits.axes import (
    AxisAlignment,
    AxisOrthogonality,
    AxisPair,
    angle_between_deg,
    axis_alignment,
    axis_orthogonality,
    tilt_deg,
)
from geometry.fits.circle import CircleFit, fit_circle
from geometry.fits.isosize import IsoSize, iso_size
from geometry.fits.linear import StraightLineFit, fit_straight_line
from geometry.fits.lines import LineFit, LineIntersection, fit_line, fit_line_intersection
from geometry.fits.plane import PlaneFit, fit_plane
from geometry.fits.rigid import RigidFit, fit_rigid
from geometry.fits.sphere import SphereFit, fit_sphere

__all__ = [
    "AxisAlignment",
    "AxisOrthogonality",
    "AxisPair",
    "CircleFit",
    "IsoSize",
    "LineFit",
    "LineIntersection",
    "PlaneFit",
    "RigidFit",
    "SphereFit",
    "StraightLineFit",
    "angle_between_deg",
    "axis_alignment",
    "axis_orthogonality",
    "fit_circle",
    "fit_line",
    "fit_line_intersection",
    "fit_plane",
    "fit_rigid",
    "fit_sphere",
    "fit_straight_line",
    "iso_size",
    "tilt_deg",
]
