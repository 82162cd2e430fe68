"""Unit conversions between millimetres and the integers a Zaber device speaks.

Zaber positions are integers: microsteps for stepper stages, encoder counts for servo stages, and the
size of one step in micrometres comes from the product's spec sheet (``microstep_size_um``). Keeping the
conversions as plain named functions lets the axis, the simulator team and the tests share one
definition of rounding instead of three.
"""

from __future__ import annotations

import math

#: Scale between µsteps/s and the ``maxspeed`` setting's data value (recalled from the Zaber ASCII protocol
#: manual's physical-units section, *unverified*).
MAXSPEED_DATA_PER_MICROSTEP_PER_S = 1.6384
#: Scale between µsteps/s² and the ``accel`` setting's data value (same manual section, *unverified*).
ACCEL_DATA_PER_MICROSTEP_PER_S2 = 1.6384 / 10000.0


def _check_size(size_um: float, what: str) -> None:
    if not (size_um > 0 and math.isfinite(size_um)):
        raise ValueError(f"{what} must be a positive finite number of micrometres, got {size_um!r}")


def mm_to_microsteps(mm: float, microstep_size_um: float) -> int:
    """Nearest whole microstep to ``mm``.

    Uses Python's ``round`` (ties to even). A tie means the target sits exactly half a microstep from two
    reachable positions, so either is within the device's resolution; the error never exceeds half a step.
    """
    _check_size(microstep_size_um, "microstep_size_um")
    return round(mm * 1000.0 / microstep_size_um)


def microsteps_to_mm(steps: int, microstep_size_um: float) -> float:
    _check_size(microstep_size_um, "microstep_size_um")
    return steps * microstep_size_um / 1000.0


def encoder_counts_to_mm(counts: int, encoder_count_size_um: float) -> float:
    _check_size(encoder_count_size_um, "encoder_count_size_um")
    return counts * encoder_count_size_um / 1000.0


def mm_to_encoder_counts(mm: float, encoder_count_size_um: float) -> int:
    _check_size(encoder_count_size_um, "encoder_count_size_um")
    return round(mm * 1000.0 / encoder_count_size_um)


def maxspeed_data_from_microsteps_per_s(microsteps_per_s: float) -> int:
    """The ``maxspeed`` setting value for a speed in µsteps/s (scale *unverified*, see above)."""
    return round(microsteps_per_s * MAXSPEED_DATA_PER_MICROSTEP_PER_S)


def microsteps_per_s_from_maxspeed_data(data: int) -> float:
    return data / MAXSPEED_DATA_PER_MICROSTEP_PER_S


def accel_data_from_microsteps_per_s2(microsteps_per_s2: float) -> int:
    """The ``accel`` setting value for an acceleration in µsteps/s² (scale *unverified*, see above)."""
    return round(microsteps_per_s2 * ACCEL_DATA_PER_MICROSTEP_PER_S2)


def microsteps_per_s2_from_accel_data(data: int) -> float:
    return data / ACCEL_DATA_PER_MICROSTEP_PER_S2


def maxspeed_data_from_mm_per_s(mm_per_s: float, microstep_size_um: float) -> int:
    _check_size(microstep_size_um, "microstep_size_um")
    return maxspeed_data_from_microsteps_per_s(mm_per_s * 1000.0 / microstep_size_um)


def mm_per_s_from_maxspeed_data(data: int, microstep_size_um: float) -> float:
    _check_size(microstep_size_um, "microstep_size_um")
    return microsteps_per_s_from_maxspeed_data(data) * microstep_size_um / 1000.0


def accel_data_from_mm_per_s2(mm_per_s2: float, microstep_size_um: float) -> int:
    _check_size(microstep_size_um, "microstep_size_um")
    return accel_data_from_microsteps_per_s2(mm_per_s2 * 1000.0 / microstep_size_um)


def mm_per_s2_from_accel_data(data: int, microstep_size_um: float) -> float:
    _check_size(microstep_size_um, "microstep_size_um")
    return microsteps_per_s2_from_accel_data(data) * microstep_size_um / 1000.0
