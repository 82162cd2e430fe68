"""Angle helpers in degrees: one wrap for each display range, and exact quarter turns.

Every scale conversion and comparison goes through these so that 360° and 0° are never two answers.
"""

from __future__ import annotations

import math


def wrap360(angle_deg: float) -> float:
    """The angle in [0, 360) degrees, as IEC 61217 displays it."""
    wrapped = math.fmod(angle_deg, 360.0)
    if wrapped < 0.0:
        wrapped += 360.0
    # fmod of a tiny negative number plus 360 rounds to 360.0 exactly; that is 0 on the circle.
    return 0.0 if wrapped >= 360.0 else wrapped


def wrap180(angle_deg: float) -> float:
    """The angle in (-180, 180] degrees, the "bipolar" display some vendors use."""
    wrapped = wrap360(angle_deg)
    return wrapped - 360.0 if wrapped > 180.0 else wrapped


def angle_difference_deg(a_deg: float, b_deg: float) -> float:
    """The signed shortest rotation from ``b`` to ``a`` in (-180, 180] degrees."""
    return wrap180(a_deg - b_deg)


def cos_sin_deg(angle_deg: float) -> tuple[float, float]:
    """(cos, sin) of an angle in degrees; exact at multiples of 90°, so quarter turns leave no 6e-17 dust."""
    wrapped = wrap360(angle_deg)
    quarter, remainder = divmod(wrapped, 90.0)
    if remainder == 0.0:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(quarter)]
    radians = math.radians(wrapped)
    return math.cos(radians), math.sin(radians)
