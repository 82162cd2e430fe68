"""Validation shared by the fits: shape, finiteness, count, and one common frame for typed points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel

from geometry.errors import DegenerateGeometryError, InvalidInputError
from geometry.frames import Direction, Point, common_state
from geometry.systems import System

Array: TypeAlias = NDArray[np.float64]
PointsLike: TypeAlias = ArrayLike | Sequence[Point]
DirectionsLike: TypeAlias = ArrayLike | Sequence[Direction]


def coordinates(
    points: PointsLike, *, fit: str, dims: tuple[int, ...] = (3,), min_points: int
) -> tuple[Array, System | None]:
    """An (N, d) float array of mm and the system the points share (None for a bare array)."""
    system: System | None = None
    if isinstance(points, Sequence) and any(isinstance(p, BaseModel) for p in points):
        if not all(isinstance(p, Point) for p in points):
            raise InvalidInputError(
                f"{fit}: give only Points (one system) or only bare coordinates, not a mix"
            )
        typed = [p for p in points if isinstance(p, Point)]
        for other in typed[1:]:
            common_state(typed[0], other, f"fit ({fit}) together")
        system = typed[0].system
        array = np.array([p.xyz_mm for p in typed])
    else:
        array = np.asarray(points, dtype=float)
    if array.ndim != 2 or array.shape[1] not in dims:
        shapes = " or ".join(f"(N, {d})" for d in dims)
        raise InvalidInputError(f"{fit}: expected an {shapes} array of mm, got shape {array.shape}")
    bad = np.flatnonzero(~np.all(np.isfinite(array), axis=1))
    if bad.size:
        raise InvalidInputError(
            f"{fit}: point {int(bad[0])} has a non-finite coordinate {array[bad[0]].tolist()!r}"
        )
    if array.shape[0] < min_points:
        raise InvalidInputError(f"{fit} needs at least {min_points} points, got {array.shape[0]}")
    return array, system


def directions(values: DirectionsLike, *, fit: str, count: int) -> tuple[Array, System | None]:
    """An (N, 3) array of unit vectors; zero or non-finite vectors are refused."""
    system: System | None = None
    if isinstance(values, Sequence) and any(isinstance(d, BaseModel) for d in values):
        if not all(isinstance(d, Direction) for d in values):
            raise InvalidInputError(
                f"{fit}: give only Directions (one system) or only bare vectors, not a mix"
            )
        typed = [d for d in values if isinstance(d, Direction)]
        for other in typed[1:]:
            common_state(typed[0], other, f"fit ({fit}) together")
        system = typed[0].system
        array = np.array([d.xyz for d in typed])
    else:
        array = np.asarray(values, dtype=float)
    if array.shape != (count, 3):
        raise InvalidInputError(
            f"{fit}: expected {count} directions as a ({count}, 3) array, got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{fit}: a direction has a non-finite component")
    norms = np.linalg.norm(array, axis=1)
    if np.any(norms == 0.0):
        raise DegenerateGeometryError(f"{fit}: direction {int(np.argmin(norms))} is the zero vector")
    unit: Array = array / norms[:, None]
    return unit, system


def spread_mm(points: Array) -> Array:
    """Singular values of the centred points: how far they spread along their principal directions."""
    values: Array = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return values


def rank_deficient(singular_values: Array, needed: int, relative: float = 1e-9) -> bool:
    """True when fewer than ``needed`` principal directions carry a non-negligible spread."""
    if singular_values.size < needed or singular_values[0] == 0.0:
        return True
    return bool(singular_values[needed - 1] <= relative * singular_values[0])
