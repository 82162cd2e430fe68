"""The tracker model: tracked-body truth, measurement volume, missing tools, frames, noise statistics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from geometry.rotations import invert_rigid, rot_x, rot_y, rot_z
from simulators.clock import VirtualClock
from simulators.hexapod import Hexapod, HexapodConfig, HexapodMounting, add_hexapod
from simulators.stage import StageConfig
from simulators.tracker import (
    BoxVolume,
    OpticalTracker,
    Placement,
    PyramidVolume,
    ToolMount,
    TrackedTool,
    TrackedToolConfig,
    TrackerConfig,
    TrackerMounting,
    add_tracker,
    check_tracker_wiring,
    fit_rigid_markers,
    matrix_from_quaternion,
    quaternion_from_matrix,
    transform_points,
)
from simulators.water_tank import ScannerAxisConfig, WaterTankConfig, WaterTankScanner, add_water_tank
from simulators.world import World
from tests.simulators.helpers import home, move

#: A tracker at the room origin with its own axes = room axes: tracker coordinates are room coordinates.
AT_ORIGIN = TrackerMounting(position_mm=(0.0, 0.0, 0.0), look_at_mm=None)
FRAME = 1.0 / 60.0


def room_tool(x: float, y: float, z: float, rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Any:
    return TrackedToolConfig(
        mount=ToolMount(kind="room"), pose=Placement(translation_mm=(x, y, z), rotation_deg=rotation)
    )


def make_tracker(world: World, tools: dict[str, TrackedToolConfig], **fields: Any) -> OpticalTracker:
    fields.setdefault("mounting", AT_ORIGIN)
    return add_tracker(world, "tracker", TrackerConfig(tools=tools, **fields))


def rotation_vector(r: np.ndarray) -> np.ndarray:
    """Small-angle rotation vector (rad) of a 3×3 rotation."""
    skew = 0.5 * (r - r.T)
    return np.array([skew[2, 1], skew[0, 2], skew[1, 0]])


# ============================================================================================== pose algebra
def test_quaternion_round_trip_covers_every_branch() -> None:
    rng = np.random.default_rng(7)
    rotations = [np.eye(3), rot_x(180.0), rot_y(180.0), rot_z(180.0), rot_x(179.0) @ rot_y(2.0)]
    rotations += [rot_z(a) @ rot_y(b) @ rot_x(c) for a, b, c in rng.uniform(-180, 180, (50, 3))]
    for r in rotations:
        q = quaternion_from_matrix(r)
        assert q[0] >= 0.0 and math.isclose(float(np.linalg.norm(q)), 1.0)
        np.testing.assert_allclose(matrix_from_quaternion(q), r, atol=1e-12)
    assert quaternion_from_matrix(rot_z(90.0)) == pytest.approx((math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5)))


def test_kabsch_recovers_an_exact_pose() -> None:
    pose = np.eye(4)
    pose[:3, :3] = rot_z(30.0) @ rot_x(-20.0)
    pose[:3, 3] = (10.0, -20.0, -1500.0)
    markers = np.array([(0, 0, 0), (0, 50, 0), (45, 85, 0), (-40, 70, 0)], dtype=float)
    fitted, rms = fit_rigid_markers(markers, transform_points(pose, markers))
    np.testing.assert_allclose(fitted, pose, atol=1e-9)
    assert rms < 1e-9


def test_look_at_mounting_points_minus_z_at_the_target() -> None:
    mounting = TrackerMounting(position_mm=(0.0, -1600.0, 1200.0), look_at_mm=(0.0, 0.0, 0.0))
    m = mounting.room_from_tracker()
    np.testing.assert_allclose(
        transform_points(invert_rigid(m), [0.0, 0.0, 0.0]), [0.0, 0.0, -2000.0], atol=1e-9
    )
    np.testing.assert_allclose(m[:3, 0], [1.0, 0.0, 0.0], atol=1e-12)  # x to the right, facing the gantry
    assert m[2, 1] > 0  # tracker +y leans to room up
    np.testing.assert_allclose(np.linalg.det(m[:3, :3]), 1.0)
    rolled = TrackerMounting(position_mm=(0.0, -1600.0, 1200.0), roll_deg=90.0).room_from_tracker()
    np.testing.assert_allclose(rolled[:3, 2], m[:3, 2], atol=1e-12)
    np.testing.assert_allclose(rolled[:3, 0], m[:3, 1], atol=1e-12)
    down = TrackerMounting(position_mm=(0.0, 0.0, 2000.0)).room_from_tracker()  # straight down: +y = room +Y
    np.testing.assert_allclose(down[:3, 1], [0.0, 1.0, 0.0], atol=1e-12)
    fixed = TrackerMounting(position_mm=(1.0, 2.0, 3.0), look_at_mm=None, rotation_deg=(0.0, 0.0, 90.0))
    np.testing.assert_allclose(fixed.room_from_tracker()[:3, :3], rot_z(90.0), atol=1e-12)


# ============================================================================================ tracked bodies
def test_room_tool_is_where_the_config_says(world: World) -> None:
    tools = {"reference": room_tool(250.0, -250.0, 0.0, (0.0, 0.0, 30.0))}
    tracker = add_tracker(world, "tracker", TrackerConfig(tools=tools, marker_noise_rms_mm=0.0))
    body = world.get("reference", TrackedTool)
    np.testing.assert_allclose(
        body.room_pose(), Placement(translation_mm=(250, -250, 0), rotation_deg=(0, 0, 30)).matrix()
    )
    expected = invert_rigid(tracker.room_from_tracker()) @ body.room_pose()
    np.testing.assert_allclose(tracker.true_pose("reference"), expected, atol=1e-12)
    measured = tracker.measure_tool("reference")
    assert measured.status == "ok" and measured.markers_seen == 4
    np.testing.assert_allclose(measured.pose(), expected, atol=1e-9)
    np.testing.assert_allclose(tracker.true_markers("reference"), transform_points(expected, body.markers_mm))


def ready(hexapod: Hexapod, clock: VirtualClock) -> None:
    hexapod.set_servo(True)
    hexapod.reference()
    clock.advance_to(hexapod.busy_until())


def test_couch_tool_moves_exactly_as_the_hexapod_true_pose(world: World, clock: VirtualClock) -> None:
    """With scale, squareness and walkout errors and a rotated mounting, the tool rides the TRUE table top."""
    hexapod = add_hexapod(
        world,
        "couch",
        HexapodConfig(
            mounting=HexapodMounting(origin_mm=(5.0, -10.0, -2.0), rotation_deg=(0.0, 0.0, 1.0)),
            errors={"scale_error": {"X": 2e-3}, "squareness_xy_deg": 0.1, "walkout_mm": (0.4, -0.3)},
        ),
    )
    offset = Placement(translation_mm=(0.0, -300.0, 30.0), rotation_deg=(0.0, 0.0, 15.0))
    tool_config = TrackedToolConfig(mount=ToolMount(kind="hexapod", name="couch"), pose=offset)
    tracker = add_tracker(
        world, "tracker", TrackerConfig(tools={"couch_tool": tool_config}, marker_noise_rms_mm=0.0)
    )
    body = world.get("couch_tool", TrackedTool)
    ready(hexapod, clock)
    tracker_from_room = invert_rigid(tracker.room_from_tracker())
    seen = []
    for target in ({}, {"X": 30.0}, {"Y": -20.0, "W": 4.0}, {"U": 2.0, "V": -1.5, "Z": 10.0}):
        hexapod.move_to(target)
        clock.advance_to(hexapod.busy_until())
        clock.sleep(FRAME)  # a fresh tracker frame
        truth = hexapod.room_from_base @ hexapod.true_pose_matrix() @ offset.matrix()
        np.testing.assert_allclose(body.room_pose(), truth, atol=1e-12)
        offset_markers = transform_points(offset.matrix(), body.markers_mm)
        np.testing.assert_allclose(
            body.markers_in_room(), hexapod.table_top_to_room(offset_markers), atol=1e-9
        )
        measured = tracker.measure_tool("couch_tool")
        assert measured.status == "ok"
        np.testing.assert_allclose(measured.pose(), tracker_from_room @ truth, atol=1e-9)
        seen.append(measured.pose())
    # The tracker-measured motion between two poses IS the hexapod's true motion (errors included).
    x_move = tracker.room_from_tracker() @ (seen[1][:, 3] - seen[0][:, 3])
    assert x_move[:3] @ hexapod.room_from_base[:3, 0] == pytest.approx(30.0 * 1.002, abs=1e-9)


def test_tank_tool_shows_the_scanner_misalignment(world: World, clock: VirtualClock) -> None:
    for name in ("sx", "sy"):
        world.add_stage(name, StageConfig(travel_mm=(0.0, 300.0)))
    add_water_tank(
        world,
        "tank",
        WaterTankConfig(
            origin_mm=(-150.0, -150.0, -100.0),
            axes={
                "x": ScannerAxisConfig(stage="sx", direction="+X", tilt_deg=(0.3, -0.2)),
                "y": ScannerAxisConfig(stage="sy", direction="+Y"),
            },
        ),
    )
    tool = TrackedToolConfig(
        mount=ToolMount(kind="water_tank", name="tank"), pose=Placement(translation_mm=(0, 0, 50))
    )
    tracker = add_tracker(world, "tracker", TrackerConfig(tools={"tank_tool": tool}, marker_noise_rms_mm=0.0))
    stage = world.stage("sx")
    home(stage, clock)
    home(world.stage("sy"), clock)
    points = []
    for target in (20.0, 280.0):
        move(stage, clock, target)
        clock.sleep(FRAME)
        m = tracker.room_from_tracker() @ tracker.measure_tool("tank_tool").pose()
        points.append(m[:3, 3])
    delta = points[1] - points[0]
    assert math.degrees(math.atan(delta[1] / delta[0])) == pytest.approx(0.3, abs=1e-9)
    assert math.degrees(math.atan(delta[2] / delta[0])) == pytest.approx(-0.2, abs=1e-9)
    carriage = world.get("tank", WaterTankScanner).carriage_position_mm()
    np.testing.assert_allclose(points[1], carriage + np.array([0.0, 0.0, 50.0]), atol=1e-9)


# ============================================================================================ volume, missing
def test_statuses_follow_the_volume_and_the_field_of_view(world: World) -> None:
    """Pyramid 950–2400 mm deep (18°/15°), field of view 500–3000 mm (24°/21°); tracker frame = room frame."""
    standing = (90.0, 0.0, 0.0)  # tool y → −(−z): the markers spread 85 mm in depth
    tools = {
        "inside": room_tool(0.0, 0.0, -1500.0),
        "straddle": room_tool(0.0, 0.0, -2440.0, standing),  # marker 0 at 2440 mm, the others ≤ 2390 mm
        "beyond": room_tool(0.0, 0.0, -2700.0),  # seen, but outside the characterized volume
        "wide": room_tool(800.0, 0.0, -1500.0),  # 28° off axis: outside the field of view
        "behind": room_tool(0.0, 0.0, 500.0),
    }
    tracker = make_tracker(world, tools, marker_noise_rms_mm=0.0)
    frame = tracker.measure()
    status = {name: m.status for name, m in frame.tools.items()}
    assert status == {
        "inside": "ok",
        "straddle": "partially_out_of_volume",
        "beyond": "out_of_volume",
        "wide": "missing",
        "behind": "missing",
    }
    straddle = frame.tools["straddle"]
    assert (straddle.markers_seen, straddle.markers_in_volume) == (4, 3)
    assert frame.tools["beyond"].matrix is not None and frame.tools["wide"].matrix is None
    with pytest.raises(ValueError, match="missing"):
        _ = frame.tools["wide"].quaternion
    assert tracker.in_volume([[0, 0, -1000], [0, 0, -900]]).tolist() == [True, False]
    assert tracker.in_field_of_view([[0, 0, -900]]).tolist() == [True]


def test_box_volume(world: World) -> None:
    box = BoxVolume(min_mm=(-100.0, -100.0, -2000.0), max_mm=(100.0, 100.0, -1000.0))
    tools = {"in": room_tool(0.0, 0.0, -1500.0), "out": room_tool(0.0, -250.0, -1500.0)}
    tracker = make_tracker(world, tools, volume=box, field_of_view=box, marker_noise_rms_mm=0.0)
    assert {n: m.status for n, m in tracker.measure().tools.items()} == {"in": "ok", "out": "missing"}


def test_occlusion_needs_three_markers(world: World, clock: VirtualClock) -> None:
    tracker = make_tracker(world, {"t": room_tool(0.0, 0.0, -1500.0)})
    tracker.occlude("t", [2])
    m = tracker.measure_tool("t")
    assert m.status == "ok" and m.markers_seen == 3
    tracker.occlude("t", [0, 2])
    assert tracker.measure_tool("t").status == "missing"  # a cached frame is dropped on change
    tracker.occlude("t")
    assert tracker.measure_tool("t").markers_seen == 0
    tracker.clear_occlusion("t")
    assert tracker.measure_tool("t").status == "ok"
    tracker.occlude("t")
    tracker.clear_occlusion()
    assert tracker.measure_tool("t").status == "ok"
    with pytest.raises(IndexError):
        tracker.occlude("t", [4])
    with pytest.raises(KeyError, match="no tool"):
        tracker.occlude("nope")


def test_dropouts_are_seeded_flickers(world: World, clock: VirtualClock) -> None:
    tracker = make_tracker(world, {"t": room_tool(0.0, 0.0, -1500.0)}, dropout_probability=0.3)
    missing = []
    for _ in range(2000):
        missing.append(tracker.measure_tool("t").status == "missing")
        clock.sleep(FRAME)
    assert np.mean(missing) == pytest.approx(0.3, abs=0.03)


# ================================================================================================== frames
def test_frames_advance_with_the_clock_and_are_cached(world: World, clock: VirtualClock) -> None:
    tracker = make_tracker(world, {"t": room_tool(0.0, 0.0, -1500.0)}, initial_frame=0x4B)
    first = tracker.measure()
    assert first.frame == tracker.frame_number() == 0x4B
    clock.sleep(0.5 * FRAME)
    assert tracker.measure() is first  # polled faster than 60 Hz: the same frame
    clock.advance_to(tracker.frame_time(0x4B + 1))
    second = tracker.measure()
    assert second.frame == 0x4C and second.tools["t"].frame == 0x4C
    assert not np.allclose(second.tools["t"].pose(), first.tools["t"].pose())  # fresh noise
    clock.sleep(100 * FRAME)
    assert tracker.frame_number() == 0x4C + 100


def test_noise_depends_on_seed_and_frame_not_on_polling(clock: VirtualClock) -> None:
    def run(seed: int, poll_every: int) -> list[np.ndarray]:
        world = World(VirtualClock(), seed=seed)
        tracker = make_tracker(world, {"t": room_tool(0.0, 0.0, -1500.0)})
        out = []
        for k in range(12):
            world.clock.sleep(FRAME / poll_every)
            if k % poll_every == 0:
                out.append(tracker.measure_tool("t").pose())
        return out

    a, b = run(5, 1), run(5, 1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.allclose(run(6, 1)[0], a[0])


def test_set_error_and_set_mounting(world: World, clock: VirtualClock) -> None:
    tracker = make_tracker(world, {"t": room_tool(0.0, 0.0, -1500.0)})
    tracker.set_error(marker_noise_rms_mm=0.0)
    np.testing.assert_allclose(tracker.measure_tool("t").pose(), tracker.true_pose("t"), atol=1e-9)
    with pytest.raises(ValueError, match="cannot change"):
        tracker.set_error(frame_rate_hz=10.0)
    with pytest.raises(ValidationError):
        tracker.set_error(marker_noise_rms_mm=-1.0)
    moved = TrackerMounting(position_mm=(0.0, 0.0, 100.0), look_at_mm=None)
    tracker.set_mounting(moved)
    np.testing.assert_allclose(tracker.room_from_tracker()[:3, 3], [0.0, 0.0, 100.0])
    np.testing.assert_allclose(tracker.measure_tool("t").translation_mm, (0.0, 0.0, -1600.0), atol=1e-9)


# =========================================================================================== noise statistics
def test_noise_statistics_match_the_marker_noise(world: World, clock: VirtualClock) -> None:
    """σ = 0.1/√3 mm per axis on four markers: the marker centroid scatters by 0.1/√4 mm 3-D RMS, the fit
    residual by σ·√((3n−6)/n), and the rotation by σ²·J⁻¹ with J the markers' inertia tensor."""
    rms_mm = 0.1
    tracker = make_tracker(
        world, {"t": room_tool(30.0, -20.0, -1600.0, (10.0, -20.0, 35.0))}, marker_noise_rms_mm=rms_mm
    )
    truth = tracker.true_pose("t")
    markers = world.get("t", TrackedTool).markers_mm
    centroid = markers.mean(axis=0)
    n, sigma = len(markers), rms_mm / math.sqrt(3.0)
    centroid_errors, rotations, residuals = [], [], []
    for _ in range(3000):
        m = tracker.measure_tool("t")
        assert m.status == "ok" and m.matrix is not None
        centroid_errors.append(transform_points(m.matrix, centroid) - transform_points(truth, centroid))
        rotations.append(rotation_vector(m.matrix[:3, :3] @ truth[:3, :3].T))
        residuals.append(m.rms_error_mm)
        clock.sleep(FRAME)
    e = np.array(centroid_errors)
    assert math.sqrt(np.mean(np.sum(e * e, axis=1))) == pytest.approx(rms_mm / math.sqrt(n), rel=0.05)
    assert np.all(np.abs(e.mean(axis=0)) < 4 * sigma / math.sqrt(n) / math.sqrt(len(e)))  # unbiased
    assert math.sqrt(np.mean(np.square(residuals))) == pytest.approx(
        sigma * math.sqrt((3 * n - 6) / n), rel=0.05
    )
    c = transform_points(truth, markers) - transform_points(truth, centroid)
    inertia = sum(float(v @ v) * np.eye(3) - np.outer(v, v) for v in c)
    predicted = sigma**2 * np.linalg.inv(inertia)
    observed = np.cov(np.array(rotations).T)
    assert np.trace(observed) == pytest.approx(np.trace(predicted), rel=0.08)
    np.testing.assert_allclose(np.diag(observed), np.diag(predicted), rtol=0.15)


# ================================================================================================== config
def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="collinear"):
        TrackedToolConfig(mount=ToolMount(kind="room"), markers_mm=((0, 0, 0), (0, 10, 0), (0, 20, 0)))
    with pytest.raises(ValidationError, match="3 to 20"):
        TrackedToolConfig(mount=ToolMount(kind="room"), markers_mm=((0, 0, 0), (0, 10, 0)))
    with pytest.raises(ValidationError, match="takes no name"):
        ToolMount(kind="room", name="x")
    with pytest.raises(ValidationError, match="needs the name"):
        ToolMount(kind="hexapod")
    with pytest.raises(ValidationError, match="near_mm"):
        PyramidVolume(near_mm=3000.0)
    with pytest.raises(ValidationError, match="min_mm"):
        BoxVolume(min_mm=(0, 0, 0), max_mm=(1, -1, 1))
    with pytest.raises(ValidationError, match="differ"):
        TrackerMounting(position_mm=(1.0, 2.0, 3.0), look_at_mm=(1.0, 2.0, 3.0))
    with pytest.raises(ValidationError, match="roll_deg"):
        TrackerMounting(look_at_mm=None, roll_deg=5.0)
    with pytest.raises(ValidationError, match="extra"):
        TrackerConfig.model_validate({"noise": 1.0})
    volume = TrackerConfig.model_validate(
        {"volume": {"shape": "box", "min_mm": [0, 0, -2], "max_mm": [1, 1, -1]}}
    )
    assert isinstance(volume.volume, BoxVolume)
    pyramid = TrackerConfig.model_validate(
        {"volume": {"near_mm": 800.0}, "field_of_view": {"shape": "pyramid"}}
    )
    assert isinstance(pyramid.volume, PyramidVolume) and pyramid.volume.near_mm == 800.0  # shape defaults
    with pytest.raises(ValidationError):
        TrackerConfig.model_validate({"volume": {"shape": "sphere"}})
    assert TrackerConfig.model_validate(volume.model_dump()) == volume
    on = {"couch": {"mount": {"kind": "hexapod", "name": "couch"}}}
    with pytest.raises(ValueError, match="unknown hexapod"):
        check_tracker_wiring({}, {}, {"t": TrackerConfig.model_validate({"tools": on})})
    tank = {"tt": {"mount": {"kind": "water_tank", "name": "tank"}}}
    with pytest.raises(ValueError, match="unknown water tank"):
        check_tracker_wiring({}, {}, {"t": TrackerConfig.model_validate({"tools": tank})})
    check_tracker_wiring({"couch": HexapodConfig()}, {}, {"t": TrackerConfig.model_validate({"tools": on})})
    twice = TrackerConfig.model_validate({"tools": {"r": {"mount": {"kind": "room"}}}})
    with pytest.raises(ValueError, match="two trackers"):
        check_tracker_wiring({}, {}, {"a": twice, "b": twice})


def test_tracker_needs_its_tool_objects(world: World) -> None:
    config = TrackerConfig(tools={"t": room_tool(0.0, 0.0, -1500.0)})
    with pytest.raises(KeyError, match="no tracked tool objects"):
        OpticalTracker("tr", config, {}, clock=world.clock, rng=world.rng_for("tr"))


def _kabsch_as_written(nominal: np.ndarray, measured: np.ndarray) -> tuple[np.ndarray, float]:
    """The textbook Kabsch fit with ``mean``, ``det`` and ``diag``, as the simulator first wrote it."""
    ca, cb = nominal.mean(axis=0), measured.mean(axis=0)
    u, _, vt = np.linalg.svd((nominal - ca).T @ (measured - cb))
    d = 1.0 if np.linalg.det(vt.T @ u.T) >= 0.0 else -1.0
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    translation = cb - rotation @ ca
    residual = nominal @ rotation.T + translation - measured
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, translation
    return matrix, float(math.sqrt(np.mean(np.sum(residual * residual, axis=1))))


def test_the_marker_fit_is_the_textbook_kabsch_bit_for_bit():
    """``fit_rigid_markers`` spells out mean, det and diag for speed; every bit must stay the same, so a
    seeded rig measures what it measured before. Random tools, poses, noise and mirror images (which make
    the reflection branch run)."""
    rng = np.random.default_rng(20261203)
    reflections = 0
    for _ in range(400):
        n = int(rng.integers(3, 8))
        nominal = rng.normal(0.0, 60.0, (n, 3))
        pose = rot_z(rng.uniform(-180, 180)) @ rot_x(rng.uniform(-180, 180)) @ rot_y(rng.uniform(-90, 90))
        measured = nominal @ pose.T + rng.normal(0.0, 500.0, 3) + rng.normal(0.0, 0.2, (n, 3))
        if rng.random() < 0.3:
            measured[:, 0] = -measured[:, 0]  # a mirror image: no rotation fits, the fit must reflect back
            reflections += 1
        expected, expected_rms = _kabsch_as_written(nominal, measured)
        matrix, rms = fit_rigid_markers(nominal, measured)
        assert np.array_equal(matrix, expected) and rms == expected_rms
    assert reflections > 50
