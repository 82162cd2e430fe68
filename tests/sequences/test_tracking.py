"""Registration of the tracker to IEC f from fiducials at known positions, on synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geometry.rotations import rot_x, rot_y, rot_z
from sequences.tracking import (
    TrackerRegistrationConfig,
    quaternion_matrix,
    register,
    tool_in_frame,
    tool_point_in_iec,
)

KNOWN = {
    "reg_1": (0.0, 0.0, 0.0),
    "reg_2": (150.0, 0.0, 0.0),
    "reg_3": (0.0, 150.0, 0.0),
    "reg_4": (0.0, 0.0, 120.0),
}


def quaternion(m: np.ndarray) -> tuple[float, float, float, float]:
    """Shepperd's method: divide by the largest of the four candidates, so 180° turns are safe."""
    candidates = [
        1 + np.trace(m),
        1 + m[0, 0] - m[1, 1] - m[2, 2],
        1 - m[0, 0] + m[1, 1] - m[2, 2],
        1 - m[0, 0] - m[1, 1] + m[2, 2],
    ]
    k = int(np.argmax(candidates))
    s = 2 * np.sqrt(candidates[k])
    if k == 0:
        q = (s / 4, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    elif k == 1:
        q = ((m[2, 1] - m[1, 2]) / s, s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s)
    elif k == 2:
        q = ((m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s)
    else:
        q = ((m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4)
    return tuple(float(v) for v in q)  # type: ignore[return-value]


def frame_from(tracker_from_f: np.ndarray, tools: dict[str, tuple[float, float, float]], noise=0.0, rng=None):
    poses = []
    for name, position in tools.items():
        p = tracker_from_f[:3, :3] @ np.array(position) + tracker_from_f[:3, 3]
        if noise:
            p = p + rng.normal(0, noise, 3)
        poses.append(
            {
                "tool": name,
                "status": "ok",
                "rotation": quaternion(tracker_from_f[:3, :3]),
                "translation_mm": list(p),
                "rms_error_mm": 0.1,
                "frame_number": 1,
            }
        )
    return {"device": "vega", "tools": poses, "clock_s": 0.0, "frame": "tracker"}


def tracker_pose(yaw: float, pitch: float, roll: float, t: tuple[float, float, float]) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rot_z(yaw) @ rot_x(pitch) @ rot_y(roll)
    m[:3, 3] = t
    return m


@settings(max_examples=40, deadline=None)
@given(
    st.floats(-180, 180),
    st.floats(-80, 80),
    st.floats(-180, 180),
    st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000), st.floats(-3000, 0)),
)
def test_registration_recovers_the_tracker_placement_exactly(yaw, pitch, roll, t):
    tracker_from_f = tracker_pose(yaw, pitch, roll, t)
    frame = frame_from(tracker_from_f, {**KNOWN, "couch_tool": (10.0, -20.0, 5.0)})
    registration = register([frame], TrackerRegistrationConfig(tracker="vega", points_mm=KNOWN))
    np.testing.assert_allclose(np.array(registration.matrix), np.linalg.inv(tracker_from_f), atol=1e-6)
    assert registration.rms_residual_mm < 1e-6
    point, _ = tool_point_in_iec([frame], "couch_tool", registration)
    np.testing.assert_allclose(point, (10.0, -20.0, 5.0), atol=1e-6)


def test_noisy_fiducials_give_a_residual_and_a_point_within_uncertainty():
    rng = np.random.default_rng(11)
    tracker_from_f = tracker_pose(30, 10, -5, (100.0, 200.0, -2000.0))
    config = TrackerRegistrationConfig(tracker="vega", points_mm=KNOWN, placement_uncertainty_mm=0.0)
    frames = [frame_from(tracker_from_f, {**KNOWN, "tool": (5.0, 5.0, 5.0)}, 0.1, rng) for _ in range(20)]
    registration = register(frames, config)
    assert 0.0 < registration.rms_residual_mm < 0.1
    point, u = tool_point_in_iec(frames, "tool", registration)
    assert np.all(np.abs(point - (5.0, 5.0, 5.0)) <= 3 * max(u, 0.02))


def test_missing_tool_is_named():
    frame = frame_from(np.eye(4), KNOWN)
    frame["tools"][0]["status"] = "missing"
    with pytest.raises(ValueError, match="tool 'reg_1' was missing"):
        tool_in_frame(frame, "reg_1")
    with pytest.raises(ValueError, match="no tool 'couch'"):
        tool_in_frame(frame, "couch")


def test_quaternion_matrix_is_a_rotation_and_refuses_zero():
    m = quaternion_matrix((0.9, 0.1, -0.3, 0.2))
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
    with pytest.raises(ValueError, match="not a rotation quaternion"):
        quaternion_matrix((0, 0, 0, 0))


def test_a_tool_missing_from_some_frames_is_averaged_over_the_rest():
    from sequences.tracking import mean_tool_position, seen_poses

    frames = [frame_from(np.eye(4), {**KNOWN, "tool": (1.0, 2.0, 3.0)}) for _ in range(3)]
    frames[1]["tools"][-1]["status"] = "missing"
    frames[1]["tools"][-1]["translation_mm"] = [float("nan")] * 3
    mean, _ = mean_tool_position(frames, "tool")
    np.testing.assert_allclose(mean, (1.0, 2.0, 3.0))
    assert len(seen_poses(frames, "tool")) == 2
    for frame in frames:
        frame["tools"][-1]["status"] = "out_of_volume"
    expected = r"tool 'tool' was not tracked in any of 3 frames \(out_of_volume×3\)"
    with pytest.raises(ValueError, match=expected):
        mean_tool_position(frames, "tool")
