"""Pylinac-style "iso size": the largest distance between any two marker positions (a diameter).

Why say "diameter": a fitted-circle radius and this pairwise diameter differ by 2× and both get called iso
size; the result names its convention so a report cannot mix them up.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from geometry.fits._base import floats
from geometry.fits._input import PointsLike, coordinates
from geometry.systems import System

PAIRWISE_DIAMETER = "pylinac pairwise diameter: max distance between any two positions"


class IsoSize(BaseModel):
    """Largest pairwise distance of a set of positions, and which pair gives it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: System | None
    n_points: int
    diameter_mm: float
    pair: tuple[int, int] = Field(description="indices of the two positions furthest apart")
    centroid_mm: tuple[float, ...]
    max_distance_from_centroid_mm: float
    convention: str = PAIRWISE_DIAMETER


def iso_size(points: PointsLike) -> IsoSize:
    """Pairwise iso size of (N, 2) or (N, 3) positions in mm (N ≥ 2)."""
    xyz, system = coordinates(points, fit="iso size", dims=(2, 3), min_points=2)
    distances = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=2)
    i, j = np.unravel_index(int(np.argmax(distances)), distances.shape)
    centroid = xyz.mean(axis=0)
    return IsoSize(
        system=system,
        n_points=len(xyz),
        diameter_mm=float(distances[i, j]),
        pair=(int(min(i, j)), int(max(i, j))),
        centroid_mm=floats(centroid),
        max_distance_from_centroid_mm=float(np.max(np.linalg.norm(xyz - centroid, axis=1))),
    )
