"""Angle wrapping, elementary rotations and the IEC table-top decomposition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry import GimbalLockError, InvalidInputError, angle_difference_deg, wrap180, wrap360
from geometry.rotations import decompose_table_top_rotation, rot_x, rot_y, rot_z, table_top_rotation
from tests.geometry.strategies import FAST, angles_deg


@FAST
@given(angle=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_wrap_ranges(angle: float) -> None:
    assert 0.0 <= wrap360(angle) < 360.0
    assert -180.0 < wrap180(angle) <= 180.0
    assert angle_difference_deg(wrap360(angle), angle) == pytest.approx(0.0, abs=1e-6)


def test_wrap_edge_cases() -> None:
    assert wrap360(-1e-17) == 0.0
    assert wrap360(360.0) == 0.0
    assert wrap180(180.0) == 180.0
    assert wrap180(-180.0) == 180.0
    assert angle_difference_deg(10.0, 350.0) == pytest.approx(20.0)


def test_right_hand_rule() -> None:
    np.testing.assert_allclose(rot_z(90.0) @ [1, 0, 0], [0, 1, 0], atol=0)
    np.testing.assert_allclose(rot_x(90.0) @ [0, 1, 0], [0, 0, 1], atol=0)
    np.testing.assert_allclose(rot_y(90.0) @ [0, 0, 1], [1, 0, 0], atol=0)


@FAST
@given(
    yaw=angles_deg,
    pitch=st.floats(min_value=-89.0, max_value=89.0),
    roll=st.floats(min_value=-179.0, max_value=179.0),
)
def test_decomposition_round_trips(yaw: float, pitch: float, roll: float) -> None:
    got = decompose_table_top_rotation(table_top_rotation(yaw, pitch, roll))
    assert angle_difference_deg(got[0], yaw) == pytest.approx(0.0, abs=1e-8)
    assert got[1] == pytest.approx(pitch, abs=1e-8)
    assert angle_difference_deg(got[2], roll) == pytest.approx(0.0, abs=1e-8)


def test_decomposition_refuses_gimbal_lock_and_non_rotations() -> None:
    with pytest.raises(GimbalLockError, match="±90°"):
        decompose_table_top_rotation(table_top_rotation(10.0, 90.0, 5.0))
    with pytest.raises(InvalidInputError, match="proper 3×3 rotation"):
        decompose_table_top_rotation(np.diag([1.0, 1.0, -1.0]))
