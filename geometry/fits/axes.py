"""Angles between measured axes: orthogonality of translation axes and alignment with IEC axes.

Why atan2: acos loses half the digits near 0° and 180°, exactly where aligned axes live. Directions are
compared sign-aware: a stage mounted backwards is reported as reversed, not as 180° misaligned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field

from geometry.errors import DegenerateGeometryError, InvalidInputError
from geometry.fits.lines import LineFit
from geometry.frames import Direction, common_state
from geometry.systems import System

AxisLike = Direction | LineFit | ArrayLike


def _unit(value: AxisLike, name: str) -> tuple[NDArray[np.float64], float | None, System | None]:
    """Unit vector, its tilt uncertainty (from a LineFit) and its system."""
    if isinstance(value, LineFit):
        vector, uncertainty, system = np.array(value.direction), value.direction_uncertainty_deg, value.system
    elif isinstance(value, Direction):
        vector, uncertainty, system = value.xyz, None, value.system
    else:
        vector, uncertainty, system = np.asarray(value, dtype=float).reshape(-1), None, None
    if vector.shape != (3,) or not np.all(np.isfinite(vector)):
        raise InvalidInputError(f"axis {name!r} must be 3 finite components, got {vector.tolist()!r}")
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise DegenerateGeometryError(f"axis {name!r} is the zero vector")
    return vector / norm, uncertainty, system


def angle_between_deg(u: ArrayLike, v: ArrayLike) -> float:
    """Angle in [0, 180] degrees between two non-zero vectors."""
    a, _, _ = _unit(u, "u")
    b, _, _ = _unit(v, "v")
    return math.degrees(math.atan2(float(np.linalg.norm(np.cross(a, b))), float(a @ b)))


def tilt_deg(lateral_mm: float, along_mm: float) -> float:
    """Tilt from two points: atan(Δlateral / Δalong), e.g. a beam-axis shift over depth."""
    if along_mm == 0.0:
        raise DegenerateGeometryError("tilt: the two points are at the same position along the axis")
    return math.degrees(math.atan(lateral_mm / along_mm))


class AxisPair(BaseModel):
    """Angle between two named axes; ``orthogonality_error_deg`` = angle − 90°, signed by the directions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first: str
    second: str
    angle_deg: float
    orthogonality_error_deg: float
    uncertainty_deg: float | None = Field(description="from the line fits' tilt uncertainties, when given")


class AxisOrthogonality(BaseModel):
    """Every pairwise angle of a set of axes (e.g. the three couch or tank translation axes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: System | None
    pairs: tuple[AxisPair, ...]
    max_abs_orthogonality_error_deg: float


def axis_orthogonality(axes: Mapping[str, AxisLike]) -> AxisOrthogonality:
    """Pairwise angles of ≥ 2 named axes (Directions, LineFits or 3-vectors), all in one system."""
    if len(axes) < 2:
        raise InvalidInputError(f"axis orthogonality needs at least 2 axes, got {len(axes)}")
    units = {name: _unit(value, name) for name, value in axes.items()}
    systems = {s for _, _, s in units.values() if s is not None}
    if len(systems) > 1:
        listed = ", ".join(sorted(s.value for s in systems))
        raise InvalidInputError(f"axis orthogonality: axes are in different IEC systems ({listed})")
    typed = [v for v in axes.values() if isinstance(v, Direction)]
    for other in typed[1:]:
        common_state(typed[0], other, "compare axes from")
    pairs = []
    for (name_a, (a, ua, _)), (name_b, (b, ub, _)) in combinations(units.items(), 2):
        angle = math.degrees(math.atan2(float(np.linalg.norm(np.cross(a, b))), float(a @ b)))
        uncertainty = None if ua is None and ub is None else math.hypot(ua or 0.0, ub or 0.0)
        pairs.append(
            AxisPair(
                first=name_a,
                second=name_b,
                angle_deg=angle,
                orthogonality_error_deg=angle - 90.0,
                uncertainty_deg=uncertainty,
            )
        )
    return AxisOrthogonality(
        system=next(iter(systems), None),
        pairs=tuple(pairs),
        max_abs_orthogonality_error_deg=max(abs(p.orthogonality_error_deg) for p in pairs),
    )


_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}


class AxisAlignment(BaseModel):
    """How a measured axis sits relative to a nominal system axis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nominal_axis: Literal["x", "y", "z"]
    reversed: bool = Field(description="the measured axis points along the negative nominal axis")
    angle_deg: float = Field(description="angle to the nominal axis (after undoing a reversal), ≥ 0")
    tilts_deg: dict[str, float] = Field(
        description="signed tilt toward each other axis: atan2(component, nominal component)"
    )
    uncertainty_deg: float | None


def axis_alignment(measured: AxisLike, nominal_axis: Literal["x", "y", "z"]) -> AxisAlignment:
    """Compare a measured axis direction with +X, +Y or +Z of its system (e.g. a tank axis vs IEC f)."""
    if nominal_axis not in _AXIS_INDEX:
        raise InvalidInputError(f"nominal axis must be 'x', 'y' or 'z', got {nominal_axis!r}")
    unit, uncertainty, _ = _unit(measured, nominal_axis)
    index = _AXIS_INDEX[nominal_axis]
    is_reversed = bool(unit[index] < 0.0)
    aligned = -unit if is_reversed else unit
    tilts = {
        other: math.degrees(math.atan2(float(aligned[k]), float(aligned[index])))
        for other, k in _AXIS_INDEX.items()
        if k != index
    }
    reference = np.eye(3)[index]
    angle = math.degrees(
        math.atan2(float(np.linalg.norm(np.cross(aligned, reference))), float(aligned[index]))
    )
    return AxisAlignment(
        nominal_axis=nominal_axis,
        reversed=is_reversed,
        angle_deg=angle,
        tilts_deg=tilts,
        uncertainty_deg=uncertainty,
    )
