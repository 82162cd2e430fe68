"""Pose helpers: quaternion ↔ rotation, ToolPose → 4×4, tool A in tool B's frame; hypothesis round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.ndi.poses import (
    homogeneous,
    invert,
    pose_matrix,
    quaternion_to_rotation,
    relative_pose,
    rotation_to_quaternion,
    transform_point,
)
from drivers.roles.tracker import ToolPose, ToolStatus

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

components = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
translations = st.tuples(*[st.floats(min_value=-3000.0, max_value=3000.0, allow_nan=False)] * 3)


@st.composite
def unit_quaternions(draw: st.DrawFn) -> tuple[float, float, float, float]:
    q = np.array([draw(components) for _ in range(4)])
    norm = float(np.linalg.norm(q))
    if norm < 0.1:  # too short to normalise reliably: take a fixed rotation instead
        return (0.5, 0.5, 0.5, 0.5)
    w, x, y, z = (float(v) for v in q / norm)
    return w, x, y, z


def pose(
    q: tuple[float, float, float, float], t: tuple[float, float, float], status: ToolStatus = "ok"
) -> ToolPose:
    return ToolPose("tool", status, q, t, 0.1, 1)


def same_rotation(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """q and −q are the same rotation."""
    return bool(np.allclose(a, b, atol=1e-9) or np.allclose(a, np.negative(b), atol=1e-9))


# -- known values ----------------------------------------------------------------------------------------
def test_known_rotations() -> None:
    assert np.allclose(quaternion_to_rotation((1.0, 0.0, 0.0, 0.0)), np.eye(3))
    half = math.sqrt(0.5)
    about_z = quaternion_to_rotation((half, 0.0, 0.0, half))  # +90° about z: x → y
    assert np.allclose(about_z @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    about_x = quaternion_to_rotation((0.0, 1.0, 0.0, 0.0))  # 180° about x
    assert np.allclose(about_x, np.diag([1.0, -1.0, -1.0]))


def test_verified_frame_as_a_matrix() -> None:
    matrix = pose_matrix(pose((1.0, 0.0, 0.0, 0.0), (10.0, -20.0, -1500.0)))
    assert np.allclose(matrix, homogeneous(np.eye(3), (10.0, -20.0, -1500.0)))
    assert np.allclose(transform_point(matrix, (1.0, 2.0, 3.0)), (11.0, -18.0, -1497.0))


def test_tx_resolution_quaternion_is_normalised() -> None:
    rotation = quaternion_to_rotation((0.7071, 0.0, 0.7071, 0.0))  # 4 decimals, norm 0.99999
    assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)


def test_tool_in_a_reference_frame() -> None:
    half = math.sqrt(0.5)
    reference = pose((half, 0.0, 0.0, half), (100.0, 0.0, -1500.0))  # rotated +90° about z
    couch = pose((half, 0.0, 0.0, half), (100.0, 50.0, -1500.0))
    relative = relative_pose(couch, reference)
    assert np.allclose(relative[:3, :3], np.eye(3))
    assert np.allclose(relative[:3, 3], (50.0, 0.0, 0.0))  # +y in the tracker is +x of the reference


# -- refusals --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "q", [(0.0, 0.0, 0.0, 0.0), (2.0, 0.0, 0.0, 0.0), (math.nan, 0.0, 0.0, 1.0), (1.0, 0.0, 0.0)]
)
def test_bad_quaternions(q: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        quaternion_to_rotation(q)


def test_poses_without_a_measurement_are_refused() -> None:
    nan4 = (math.nan,) * 4
    with pytest.raises(ValueError, match="is missing, not ok"):
        pose_matrix(ToolPose("couch", "missing", nan4, (math.nan,) * 3, math.nan, 3))
    degraded = pose((1.0, 0.0, 0.0, 0.0), (1.0, 2.0, 3.0), "partially_out_of_volume")
    with pytest.raises(ValueError, match="partially_out_of_volume"):
        pose_matrix(degraded)
    assert pose_matrix(degraded, require_ok=False)[2, 3] == 3.0
    with pytest.raises(ValueError, match="carries no transform"):
        pose_matrix(ToolPose("c", "missing", nan4, (0.0,) * 3, 0.0, 0), require_ok=False)
    with pytest.raises(ValueError):
        rotation_to_quaternion(np.eye(4))


# -- round trips -----------------------------------------------------------------------------------------
@FAST
@given(unit_quaternions())
def test_rotation_is_proper_and_orthonormal(q: tuple[float, float, float, float]) -> None:
    rotation = quaternion_to_rotation(q)
    assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-12)


@FAST
@given(unit_quaternions())
def test_quaternion_rotation_round_trip(q: tuple[float, float, float, float]) -> None:
    back = rotation_to_quaternion(quaternion_to_rotation(q))
    assert back[0] >= 0
    assert same_rotation(back, q)
    assert np.allclose(quaternion_to_rotation(back), quaternion_to_rotation(q), atol=1e-12)


@FAST
@given(unit_quaternions(), translations)
def test_inverse_undoes_a_pose(q: tuple[float, float, float, float], t: tuple[float, float, float]) -> None:
    matrix = pose_matrix(pose(q, t))
    assert np.allclose(invert(matrix) @ matrix, np.eye(4), atol=1e-9)
    assert np.allclose(invert(matrix), np.linalg.inv(matrix), atol=1e-9)


@FAST
@given(unit_quaternions(), translations, unit_quaternions(), translations)
def test_relative_pose_composes_back(
    qa: tuple[float, float, float, float],
    ta: tuple[float, float, float],
    qb: tuple[float, float, float, float],
    tb: tuple[float, float, float],
) -> None:
    a, b = pose(qa, ta), pose(qb, tb)
    a_in_b = relative_pose(a, b)
    assert np.allclose(pose_matrix(b) @ a_in_b, pose_matrix(a), atol=1e-6)
    assert np.allclose(relative_pose(a, a), np.eye(4), atol=1e-9)
    assert np.allclose(relative_pose(b, a), invert(a_in_b), atol=1e-6)


@FAST
@given(unit_quaternions(), translations, unit_quaternions(), translations, unit_quaternions(), translations)
def test_relative_pose_ignores_camera_motion(
    qa: tuple[float, float, float, float],
    ta: tuple[float, float, float],
    qb: tuple[float, float, float, float],
    tb: tuple[float, float, float],
    qc: tuple[float, float, float, float],
    tc: tuple[float, float, float],
) -> None:
    """Moving the camera (the same rigid motion applied to both tools) leaves A in B's frame unchanged."""
    camera = pose_matrix(pose(qc, tc))

    def moved(p: ToolPose) -> ToolPose:
        m = camera @ pose_matrix(p)
        return pose(rotation_to_quaternion(m[:3, :3]), (float(m[0, 3]), float(m[1, 3]), float(m[2, 3])))

    a, b = pose(qa, ta), pose(qb, tb)
    assert np.allclose(relative_pose(moved(a), moved(b)), relative_pose(a, b), atol=1e-6)
