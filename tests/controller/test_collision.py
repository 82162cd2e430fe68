"""Motion safety: keep-out volumes placed by gantry angle, whole-path checks, and the property that no
command outside the limits or into a volume ever reaches the hexapod's transport."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from controller.collision import (
    CollisionError,
    CollisionGuard,
    CouchEnvelope,
    KeepOutBox,
    KeepOutCylinder,
    MotionSafety,
    Solid,
    _all_gaps,
    _face_gaps,
    _pack,
    check_path,
    check_waypoints,
    envelope_vertices,
    place_volumes,
    table_top_poses,
)
from drivers.errors import LimitViolation
from drivers.pi_gcs import (
    GcsConnection,
    HexapodController,
    HexapodCouch,
    HexapodMounting,
    hexapod_to_setpoint,
)
from drivers.pi_gcs.iec import setpoint_to_hexapod
from drivers.roles.couch import COUCH_AXES, CouchSetpoint
from drivers.transport.base import BufferedTransport
from geometry import MachineState, transform

ENVELOPE = CouchEnvelope(centre_mm=(0.0, -800.0, 50.0), half_size_mm=(300.0, 1000.0, 150.0))
HEAD = KeepOutBox(name="gantry head", centre_mm=(0.0, 0.0, 900.0), half_size_mm=(400.0, 400.0, 150.0))
NOZZLE = KeepOutCylinder(
    name="nozzle",
    base_mm=(0.0, 0.0, 750.0),
    axis=(0.0, 0.0, -1.0),
    length_mm=350.0,
    radius_mm=150.0,
    margin_mm=10.0,
)
PANEL = KeepOutBox(name="imaging panel", centre_mm=(0.0, 0.0, -550.0), half_size_mm=(250.0, 250.0, 30.0))
FLOOR = KeepOutBox(
    name="floor", system="f", centre_mm=(0.0, 0.0, -1300.0), half_size_mm=(3000.0, 3000.0, 50.0)
)
VOLUMES = (HEAD, NOZZLE, PANEL, FLOOR)
TRAVEL = {
    "X": (-300.0, 300.0),
    "Y": (-300.0, 300.0),
    "Z": (-300.0, 300.0),
    "U": (-10.0, 10.0),
    "V": (-10.0, 10.0),
    "W": (-30.0, 30.0),
}
SOFT = {
    "lateral_mm": (-250.0, 250.0),
    "vertical_mm": (-280.0, 280.0),
    "pitch_deg": (-5.0, 5.0),
    "roll_deg": (-5.0, 5.0),
}
NO_LIMITS: dict[str, tuple[float, float]] = {}
MOUNTINGS = (
    HexapodMounting(),
    HexapodMounting(pivot_mm=(0.0, 400.0, -300.0)),  # pivot off the isocentre: θs needs X and Y
    HexapodMounting(x_axis=(0.0, 1.0, 0.0), y_axis=(-1.0, 0.0, 0.0), uvw_convention="fixed_axes"),
)


def solids(gantry_deg: float = 0.0) -> tuple:  # type: ignore[type-arg]
    return place_volumes(VOLUMES, gantry_deg)


# -- the model ----------------------------------------------------------------------------------------
def test_volumes_turn_with_the_gantry_through_the_geometry_core() -> None:
    (nozzle,) = place_volumes([NOZZLE], 90.0)
    # At φg = 90° the source (and the nozzle) is on +Xf: the nozzle axis points along −Xf, its tip at x = 400.
    np.testing.assert_allclose(nozzle.normals[0], [-1.0, 0.0, 0.0], atol=1e-12)
    assert nozzle.vertices[:, 0].min() == pytest.approx(400.0)
    # the 16-sided prism circumscribes the 150 mm radius: its corners sit at 150 / cos(11.25°)
    assert np.hypot(nozzle.vertices[:, 1], nozzle.vertices[:, 2]).max() == pytest.approx(
        150.0 / math.cos(math.pi / 16)
    )
    (floor,) = place_volumes([FLOOR], 90.0)  # room-fixed volumes do not turn
    assert floor.vertices[:, 2].max() == pytest.approx(-1250.0)


def test_envelope_follows_the_geometry_core_table_top_transform() -> None:
    setpoint = CouchSetpoint(
        lateral_mm=12, longitudinal_mm=-40, vertical_mm=7, couch_rotation_deg=25, pitch_deg=2, roll_deg=-3
    )
    state = MachineState(
        couch_rotation_deg=25,
        table_lateral_mm=12,
        table_longitudinal_mm=-40,
        table_vertical_mm=7,
        table_pitch_deg=2,
        table_roll_deg=-3,
    )
    m = transform("t", "f", state)
    corners_t = np.array(ENVELOPE.centre_mm) + np.array(ENVELOPE.half_size_mm) * np.array(
        [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    )
    np.testing.assert_allclose(
        envelope_vertices(ENVELOPE, setpoint), corners_t @ m[:3, :3].T + m[:3, 3], atol=1e-9
    )
    rotation, origin = table_top_poses(np.array([[25, 12, -40, 7, 2, -3]], dtype=float))
    np.testing.assert_allclose(rotation[0], m[:3, :3], atol=1e-12)
    np.testing.assert_allclose(origin[0], m[:3, 3], atol=1e-9)


@pytest.mark.parametrize(
    ("volume", "match"),
    [
        ({"kind": "box", "name": "b", "centre_mm": [0, 0, 0], "half_size_mm": [1, 0, 1]}, "positive"),
        (
            {
                "kind": "cylinder",
                "name": "c",
                "base_mm": [0, 0, 0],
                "axis": [0, 0, 0],
                "length_mm": 1,
                "radius_mm": 1,
            },
            "non-zero",
        ),
        ({"kind": "cone", "name": "c"}, "does not match any of the expected tags"),
        (
            {"kind": "box", "name": "b", "centre_mm": [0, 0, 0], "half_size_mm": [1, 1, 1], "colour": "red"},
            "Extra",
        ),
        (
            {"kind": "box", "name": "b", "system": "t", "centre_mm": [0, 0, 0], "half_size_mm": [1, 1, 1]},
            "'g' or 'f'",
        ),
    ],
)
def test_bad_volumes_are_refused(volume: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        MotionSafety.model_validate({"envelope": ENVELOPE.model_dump(), "volumes": [volume]})


# -- check_path -----------------------------------------------------------------------------------------
def test_clear_path_passes_and_reports_its_samples() -> None:
    start, end = CouchSetpoint(), CouchSetpoint(lateral_mm=100.0)
    assert check_path(start, end, solids(), SOFT, envelope=ENVELOPE, max_step_mm=2.0) == 51


def test_rising_into_the_nozzle_is_refused_naming_it_and_by_how_much() -> None:
    # Envelope top at z = 200 + Tz; nozzle tip at 400 with 10 mm clearance: Tz = 250 is 60 mm too high.
    with pytest.raises(CollisionError) as caught:
        check_path(CouchSetpoint(), CouchSetpoint(vertical_mm=250.0), solids(), NO_LIMITS, envelope=ENVELOPE)
    err = caught.value
    assert err.volume == "nozzle" and err.device == "couch"
    assert err.gap_mm == pytest.approx(-50.0, abs=1e-6) and err.fraction == 1.0
    assert err.shortfall_mm == pytest.approx(60.0 + err.required_mm - 10.0, abs=1e-6)
    assert re.search(
        r"couch and patient enters keep-out volume 'nozzle' by 50.0 mm at 100% of the path", str(err)
    )
    assert "nothing was sent" in str(err)


def test_a_path_that_crosses_a_thin_volume_between_end_points_is_refused() -> None:
    """Both ends are clear; the middle of the path sweeps the couch through a 4 mm wall."""
    wall = KeepOutBox(
        name="wall", system="f", centre_mm=(0.0, 300.0, 0.0), half_size_mm=(2.0, 100.0, 100.0), margin_mm=0.0
    )
    start = CouchSetpoint(lateral_mm=-400.0, longitudinal_mm=0.0)
    end = CouchSetpoint(lateral_mm=400.0, longitudinal_mm=0.0)
    envelope = CouchEnvelope(centre_mm=(0.0, 0.0, 0.0), half_size_mm=(50.0, 350.0, 50.0))
    place = place_volumes([wall], 0.0)
    with pytest.raises(CollisionError, match="'wall'"):
        check_path(start, end, place, NO_LIMITS, steps=2, envelope=envelope, max_step_mm=1000.0)


def test_sampling_adds_half_a_step_of_allowance_so_a_near_miss_between_samples_cannot_hide() -> None:
    """A pillar 1 mm from the swept corner: the allowance makes the check refuse it whatever the step."""
    envelope = CouchEnvelope(centre_mm=(0.0, 0.0, 0.0), half_size_mm=(100.0, 100.0, 50.0))
    pillar = KeepOutBox(
        name="pillar", system="f", centre_mm=(0.0, 152.0, 0.0), half_size_mm=(1.0, 1.0, 100.0), margin_mm=0.0
    )
    start, end = CouchSetpoint(lateral_mm=-300.0), CouchSetpoint(lateral_mm=300.0)
    # The envelope passes 51 mm below the pillar: clear with margin 0.
    check_path(start, end, place_volumes([pillar], 0.0), NO_LIMITS, envelope=envelope, max_step_mm=2.0)
    tight = pillar.model_copy(update={"centre_mm": (0.0, 101.5, 0.0)})  # 0.5 mm gap < 1 mm allowance
    with pytest.raises(CollisionError, match="comes within 0.5 mm"):
        check_path(start, end, place_volumes([tight], 0.0), NO_LIMITS, envelope=envelope, max_step_mm=2.0)


def test_isocentric_rotation_sweeps_the_far_end_of_the_couch() -> None:
    """θs turns the couch foot on a 1.8 m lever: a post beside the foot is hit half way, not at the ends."""
    post = KeepOutBox(
        name="post",
        system="f",
        centre_mm=(260.0, -1477.0, 0.0),  # on the arc the couch foot sweeps at θs = 10°
        half_size_mm=(20.0, 20.0, 500.0),
        margin_mm=5.0,
    )
    start, end, placed = (
        CouchSetpoint(couch_rotation_deg=-20.0),
        CouchSetpoint(couch_rotation_deg=40.0),
        place_volumes([post], 0.0),
    )
    check_path(start, start, placed, NO_LIMITS, envelope=ENVELOPE)  # both ends are clear ...
    check_path(end, end, placed, NO_LIMITS, envelope=ENVELOPE)
    with pytest.raises(CollisionError, match="'post'") as caught:  # ... the sweep between them is not
        check_path(start, end, placed, NO_LIMITS, envelope=ENVELOPE)
    assert 0.3 < caught.value.fraction < 0.7


def test_a_couch_parked_just_outside_the_clearance_can_still_move_away() -> None:
    """Parked 0.2 mm outside the nozzle's clearance: a long move away is sampled finer, not refused."""
    parked = CouchSetpoint(vertical_mm=189.8)  # envelope top 389.8 mm, nozzle tip 400 mm, clearance 10 mm
    away = CouchSetpoint(vertical_mm=-200.0, lateral_mm=200.0)
    samples = check_path(parked, away, solids(), NO_LIMITS, envelope=ENVELOPE, max_step_mm=2.0)
    assert samples > 1000  # 0.2 mm of slack: steps of 0.4 mm instead of 2 mm over the 438 mm path
    with pytest.raises(CollisionError, match="at the start"):
        check_path(CouchSetpoint(vertical_mm=190.0), away, solids(), NO_LIMITS, envelope=ENVELOPE)


def test_limits_are_checked_at_the_end_and_along_the_path() -> None:
    with pytest.raises(
        LimitViolation, match=r"couch: target lateral 260 mm is outside the travel \[-250, 250\] mm by 10"
    ):
        check_path(CouchSetpoint(), CouchSetpoint(lateral_mm=260.0), (), SOFT, envelope=ENVELOPE)
    # a couch left just outside may move back in ...
    check_path(CouchSetpoint(lateral_mm=251.0), CouchSetpoint(lateral_mm=0.0), (), SOFT, envelope=ENVELOPE)
    # ... also along the positioner's own interpolation, whose first waypoints are still outside ...
    check_waypoints(
        [CouchSetpoint(pitch_deg=3.5), CouchSetpoint(pitch_deg=3.2), CouchSetpoint(pitch_deg=0.0)],
        (),
        {"pitch_deg": (-3.0, 3.0)},
        envelope=ENVELOPE,
    )
    with pytest.raises(LimitViolation, match=r"pitch at \d+% of the path 3\.\d+ deg is outside"):
        check_waypoints(  # ... but never further out than it already was
            [CouchSetpoint(pitch_deg=3.5), CouchSetpoint(pitch_deg=3.8), CouchSetpoint(pitch_deg=0.0)],
            (),
            {"pitch_deg": (-3.0, 3.0)},
            envelope=ENVELOPE,
        )
    # ... but a path through waypoints may not bulge further out on the way
    with pytest.raises(LimitViolation, match=r"pitch at \d+% of the path|target pitch"):
        check_waypoints(
            [CouchSetpoint(), CouchSetpoint(pitch_deg=6.0), CouchSetpoint()], (), SOFT, envelope=ENVELOPE
        )


def test_start_already_too_close_is_reported_as_such() -> None:
    with pytest.raises(CollisionError, match="enters keep-out volume 'nozzle' by 50.0 mm at the start"):
        check_path(
            CouchSetpoint(vertical_mm=250.0),
            CouchSetpoint(vertical_mm=0.0),
            solids(),
            NO_LIMITS,
            envelope=ENVELOPE,
        )


def test_non_finite_or_bad_arguments() -> None:
    with pytest.raises(ValueError):
        check_path(CouchSetpoint(), CouchSetpoint(lateral_mm=math.nan), (), {}, envelope=ENVELOPE)
    with pytest.raises(ValueError):
        check_path(CouchSetpoint(), CouchSetpoint(), (), {}, envelope=ENVELOPE, max_step_mm=0.0)
    with pytest.raises(ValueError, match="two waypoints"):
        check_waypoints([CouchSetpoint()], (), {}, envelope=ENVELOPE)


def test_guard_reads_the_gantry_angle_at_each_check() -> None:
    gantry = {"deg": 0.0}
    guard = CollisionGuard(VOLUMES, ENVELOPE, SOFT, gantry_deg=lambda: gantry["deg"])
    lateral = [CouchSetpoint(), CouchSetpoint(lateral_mm=240.0)]
    guard(lateral)  # at gantry 0 the nozzle is above: a lateral move is clear
    gantry["deg"] = 90.0  # the nozzle now comes from +X with its tip at x = 400; the couch side reaches 540
    with pytest.raises(CollisionError, match="'nozzle'"):
        guard(lateral)
    assert guard.checks == 1


def test_guard_from_config() -> None:
    safety = MotionSafety.model_validate(
        {"envelope": ENVELOPE.model_dump(), "volumes": [v.model_dump() for v in VOLUMES], "max_step_mm": 5.0}
    )
    guard = CollisionGuard.from_config(safety, None, gantry_deg=180.0)
    assert guard.max_step_mm == 5.0 and len(guard.solids()) == 4
    guard([CouchSetpoint(), CouchSetpoint(vertical_mm=-280.0)])  # envelope bottom 20 mm above the tip
    with pytest.raises(CollisionError, match="'nozzle'"):  # at 180° the nozzle points up from below
        guard([CouchSetpoint(), CouchSetpoint(vertical_mm=-320.0)])


def test_waypoints_follow_the_hexapod_path_closely_enough() -> None:
    """IEC interpolation between the couch's waypoints stays within 0.05 mm of the hexapod's straight path."""
    mounting = HexapodMounting(pivot_mm=(0.0, 400.0, -300.0))
    a = setpoint_to_hexapod(CouchSetpoint(couch_rotation_deg=-15.0, pitch_deg=3.0), mounting)
    b = setpoint_to_hexapod(CouchSetpoint(couch_rotation_deg=15.0, lateral_mm=100.0, roll_deg=-3.0), mounting)
    segment = 0.5 / 30.0  # the couch's waypoint spacing: 0.5° of the 30° W change
    worst = 0.0
    for f0 in np.arange(0.0, 1.0, segment):
        p = {k: a[k] + (b[k] - a[k]) * f0 for k in a}
        q = {k: a[k] + (b[k] - a[k]) * (f0 + segment) for k in a}
        mid_hex = hexapod_to_setpoint({k: (p[k] + q[k]) / 2 for k in a}, mounting)
        sp, sq = hexapod_to_setpoint(p, mounting), hexapod_to_setpoint(q, mounting)
        mid_iec = CouchSetpoint(**{axis: (getattr(sp, axis) + getattr(sq, axis)) / 2 for axis in COUCH_AXES})
        worst = max(
            worst,
            float(np.abs(envelope_vertices(ENVELOPE, mid_hex) - envelope_vertices(ENVELOPE, mid_iec)).max()),
        )
    assert worst < 0.05


# -- the fused separation test against the one-solid-at-a-time form it replaced --------------------------
def _reference_gaps(rotation: np.ndarray, origin: np.ndarray, solid: Solid) -> np.ndarray:
    """The separating-axis gap of one solid, every candidate axis built and projected in full (the form
    ``controller.collision`` used before it tested all solids in one pass with a face-normal broad phase)."""
    half = np.asarray(ENVELOPE.half_size_mm, dtype=float)
    centre = origin + rotation @ np.asarray(ENVELOPE.centre_mm, dtype=float)
    box_axes = np.swapaxes(rotation, 1, 2)
    n = len(origin)
    crosses = np.cross(box_axes[:, :, None, :], solid.edges[None, None, :, :]).reshape(n, -1, 3)
    candidates = np.concatenate(
        [box_axes, np.broadcast_to(solid.normals, (n, *solid.normals.shape)), crosses], 1
    )
    lengths = np.linalg.norm(candidates, axis=2)
    usable = lengths > 1e-9
    candidates = candidates / np.where(usable, lengths, 1.0)[:, :, None]
    projected = np.einsum("mj,nkj->nkm", solid.vertices, candidates)
    middle = np.einsum("nj,nkj->nk", centre, candidates)
    radius = np.einsum("i,nki->nk", half, np.abs(np.einsum("nij,nkj->nki", box_axes, candidates)))
    gap = np.maximum(projected.min(axis=2) - (middle + radius), (middle - radius) - projected.max(axis=2))
    return np.where(usable, gap, -np.inf).max(axis=1)


@pytest.mark.parametrize("gantry_deg", [0.0, 45.0, 90.0, 270.0])
def test_all_solids_in_one_pass_match_one_at_a_time_and_the_broad_phase_never_overstates(
    gantry_deg: float,
) -> None:
    rng = np.random.default_rng(int(gantry_deg))
    placed = solids(gantry_deg)
    parameters = rng.uniform(-1.0, 1.0, (600, 6)) * [30.0, 400.0, 400.0, 400.0, 8.0, 8.0]
    parameters[:50, (0, 4, 5)] = 0.0  # table top square to the room: parallel edges, skipped crosses
    rotation, origin = table_top_poses(parameters)
    packed = _pack(placed)
    full = _all_gaps(ENVELOPE, rotation, origin, packed)
    broad = _face_gaps(ENVELOPE, rotation, origin, packed)
    expected = np.stack([_reference_gaps(rotation, origin, solid) for solid in placed], axis=1)
    np.testing.assert_allclose(full, expected, rtol=0, atol=1e-9)
    assert np.all(broad <= full + 1e-9)  # a lower bound: what it clears, the full test clears
    assert np.any(broad < full - 1.0)  # and not the full test itself: edge crosses do find more


def test_a_pose_only_an_edge_cross_clears_passes_and_a_closer_one_is_refused_with_the_full_gap() -> None:
    """A tilted table top beside a block off its corner: the face normals show 4.4 mm, under the 10 mm
    clearance; an edge cross shows 17.2 mm. The pose passes (the full test decides), and with a 20 mm
    clearance it is refused naming the full test's gap, not the broad phase's."""
    pose = CouchSetpoint(couch_rotation_deg=28.0, pitch_deg=-6.0, roll_deg=-6.0)
    rotation, origin = table_top_poses(np.array([[28.0, 0.0, 0.0, 0.0, -6.0, -6.0]]))
    block = {
        "name": "block",
        "system": "f",
        "centre_mm": (469.0, -165.0, 340.0),
        "half_size_mm": (50.0, 50.0, 50.0),
    }
    placed = place_volumes([KeepOutBox(**block, margin_mm=10.0)], 0.0)
    broad = float(_face_gaps(ENVELOPE, rotation, origin, _pack(placed))[0, 0])
    full = float(_all_gaps(ENVELOPE, rotation, origin, _pack(placed))[0, 0])
    assert broad < 10.0 < full
    assert full == pytest.approx(float(_reference_gaps(rotation, origin, placed[0])[0]), abs=1e-9)
    assert check_path(pose, pose, placed, NO_LIMITS, envelope=ENVELOPE) == 2
    wider = place_volumes([KeepOutBox(**block, margin_mm=20.0)], 0.0)
    with pytest.raises(CollisionError) as caught:
        check_path(pose, pose, wider, NO_LIMITS, envelope=ENVELOPE)
    assert caught.value.gap_mm == pytest.approx(full, abs=1e-9)


# -- the property: nothing unsafe reaches the transport ---------------------------------------------------
class FakeHexapod(BufferedTransport):
    """A GCS 2.0 responder that arrives instantly and records every write. A test double, not a simulator."""

    def __init__(self) -> None:
        super().__init__("fake-hexapod", timeout_s=1.0)  # replies are always there at once
        self.writes: list[bytes] = []
        self.pose = dict.fromkeys("XYZUVW", 0.0)
        self._out = bytearray()

    def _reply(self, values: dict[str, float]) -> None:
        self._out += (" \n".join(f"{k}={v:.6f}" for k, v in values.items()) + "\n").encode()

    def _write(self, data: bytes) -> None:
        self.writes.append(data)
        text = data.decode("cp1252").rstrip("\n")
        head, *args = text.split(" ") if len(data) > 1 else (text,)
        if data == b"\x05" or head == "ERR?":
            self._out += b"0\n"
        elif head == "*IDN?":
            self._out += b"Physik Instrumente (PI) GmbH & Co. KG, C-887.52, 1, 1\n"
        elif head == "CSV?":
            self._out += b"2.0\n"
        elif head == "SAI?":
            self._out += b"X \nY \nZ \nU \nV \nW\n"
        elif head in ("SVO?", "FRF?", "ONT?"):
            self._out += (" \n".join(f"{a}=1" for a in args) + "\n").encode()
        elif head in ("TMN?", "TMX?"):
            self._reply({a: TRAVEL[a][0 if head == "TMN?" else 1] for a in args})
        elif head in ("POS?", "MOV?"):
            self._reply({a: self.pose[a] for a in args})
        elif head == "VMO?":
            self._out += b"1\n"
        elif head == "MOV":
            for axis, value in zip(args[::2], args[1::2], strict=True):
                self.pose[axis] = float(value)
        else:
            raise AssertionError(f"unexpected command {data!r}")

    def _receive(self, wait_s: float) -> bytes:
        chunk = bytes(self._out)
        self._out.clear()
        return chunk

    def _close(self) -> None:
        pass


class StepClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def _inside_volume(points: np.ndarray, volume: KeepOutBox | KeepOutCylinder, gantry_deg: float) -> np.ndarray:
    """Exact point-in-solid for the real (not inflated, not prism) volume: the independent oracle."""
    m = transform("g", "f", MachineState(gantry_deg=gantry_deg)) if volume.system == "g" else np.eye(4)
    local = (points - m[:3, 3]) @ m[:3, :3]  # f → volume system
    if isinstance(volume, KeepOutBox):
        return np.all(np.abs(local - np.array(volume.centre_mm)) <= np.array(volume.half_size_mm), axis=1)
    axis = np.array(volume.axis) / np.linalg.norm(volume.axis)
    rel = local - np.array(volume.base_mm)
    along = rel @ axis
    radial = np.linalg.norm(rel - np.outer(along, axis), axis=1)
    return (along >= 0) & (along <= volume.length_mm) & (radial <= volume.radius_mm)


_GRID = np.array(
    [
        [x, y, z]
        for x in np.linspace(-1, 1, 7)
        for y in np.linspace(-1, 1, 21)
        for z in np.linspace(-1, 1, 5)
        if max(abs(x), abs(y), abs(z)) == 1.0
    ]
)


def _assert_path_clear(
    start: dict[str, float], end: dict[str, float], gantry_deg: float, mounting: HexapodMounting
) -> None:
    """Dense points of the envelope surface along the hexapod's straight path: none inside any volume."""
    surface = np.array(ENVELOPE.centre_mm) + _GRID * np.array(ENVELOPE.half_size_mm)
    for f in np.linspace(0.0, 1.0, 41):
        pose = {k: start[k] + (end[k] - start[k]) * f for k in start}
        setpoint = hexapod_to_setpoint(pose, mounting)
        rotation, origin = table_top_poses(np.array([[getattr(setpoint, a) for a in COUCH_AXES]]))
        points = origin[0] + surface @ rotation[0].T
        for volume in VOLUMES:
            assert not _inside_volume(points, volume, gantry_deg).any(), (volume.name, f, setpoint)


setpoints = st.builds(
    CouchSetpoint,
    lateral_mm=st.floats(-320.0, 320.0),
    longitudinal_mm=st.floats(-320.0, 320.0),
    vertical_mm=st.floats(-320.0, 320.0),
    couch_rotation_deg=st.floats(-35.0, 35.0),
    pitch_deg=st.floats(-8.0, 8.0),
    roll_deg=st.floats(-8.0, 8.0),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gantry_deg=st.sampled_from([0.0, 45.0, 90.0, 180.0, 270.0, 315.0]),
    mounting=st.sampled_from(MOUNTINGS),
    plan=st.lists(setpoints, min_size=1, max_size=4),
)
def test_no_command_outside_the_limits_or_into_a_volume_reaches_the_transport(
    gantry_deg: float, mounting: HexapodMounting, plan: Sequence[CouchSetpoint]
) -> None:
    """Random plans on random rigs: every refusal leaves the wire untouched, every MOV is inside the travel
    and the IEC limits, and the path it starts is clear of every volume by an independent point check."""
    transport = FakeHexapod()
    controller = HexapodController(GcsConnection(transport), name="couch", clock=StepClock())
    couch = HexapodCouch(controller, mounting=mounting, soft_limits=SOFT, pivot_tolerance_mm=None)  # no SPI?
    couch.connect()
    couch.path_guard = CollisionGuard(
        VOLUMES, ENVELOPE, couch.limits(), gantry_deg=gantry_deg, max_step_mm=5.0
    )
    for setpoint in plan:
        before = len(transport.writes)
        start = dict(transport.pose)
        try:
            couch.move_to(setpoint)
        except (LimitViolation, CollisionError):
            assert transport.writes[before:] == [], "a refused move wrote to the transport"
            continue
        moves = [w for w in transport.writes[before:] if w.startswith(b"MOV ")]
        assert len(moves) == 1
        target = dict(transport.pose)
        for axis, (low, high) in TRAVEL.items():
            assert low <= target[axis] <= high
        reached = hexapod_to_setpoint(target, mounting)
        for axis, (low, high) in couch.limits().items():
            assert low - 1e-6 <= getattr(reached, axis) <= high + 1e-6, axis
        _assert_path_clear(start, target, gantry_deg, mounting)
