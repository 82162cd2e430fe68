"""mm ↔ microsteps/encoder counts, and the (unverified) speed and acceleration scales."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.zaber import units


def test_mm_to_microsteps_rounds_to_nearest() -> None:
    assert units.mm_to_microsteps(12.5, 0.1) == 125000
    assert units.mm_to_microsteps(12.34567, 0.1) == 123457
    assert units.mm_to_microsteps(-0.00004, 0.1) == 0
    assert units.microsteps_to_mm(7500, 0.1) == pytest.approx(0.75)


def test_encoder_counts() -> None:
    assert units.encoder_counts_to_mm(2000, 0.5) == pytest.approx(1.0)
    assert units.mm_to_encoder_counts(1.0, 0.5) == 2000


@pytest.mark.parametrize("size", [0.0, -0.1, math.nan, math.inf])
def test_bad_step_size_is_refused(size: float) -> None:
    with pytest.raises(ValueError, match="micrometres"):
        units.mm_to_microsteps(1.0, size)


def test_speed_and_accel_scales_as_in_research_notes() -> None:
    # As recalled from the Zaber ASCII manual (physical units), unverified on firmware:
    # maxspeed = µsteps/s × 1.6384; accel = µsteps/s² × 1.6384/1e4.
    assert units.maxspeed_data_from_microsteps_per_s(10000) == 16384
    assert units.microsteps_per_s_from_maxspeed_data(16384) == pytest.approx(10000)
    assert units.accel_data_from_microsteps_per_s2(1_000_000) == 164
    assert units.microsteps_per_s2_from_accel_data(16384) == pytest.approx(100_000_000)
    # 10 mm/s with 0.1 µm steps = 100 000 µsteps/s.
    assert units.maxspeed_data_from_mm_per_s(10.0, 0.1) == 163840
    assert units.mm_per_s_from_maxspeed_data(163840, 0.1) == pytest.approx(10.0)
    assert units.accel_data_from_mm_per_s2(100.0, 0.1) == 164
    assert units.mm_per_s2_from_accel_data(164, 0.1) == pytest.approx(100.0, rel=1e-3)


@given(
    mm=st.floats(min_value=-2000, max_value=2000, allow_nan=False),
    size_um=st.floats(min_value=0.01, max_value=50, allow_nan=False),
)
def test_mm_steps_mm_round_trip_within_half_a_microstep(mm: float, size_um: float) -> None:
    back = units.microsteps_to_mm(units.mm_to_microsteps(mm, size_um), size_um)
    assert abs(back - mm) <= size_um / 2000.0 * (1 + 1e-9)
