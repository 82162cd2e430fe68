"""An optical position tracker (NDI Polaris-class) looking at marker tools fixed to things in the world.

Two parts, kept apart like the hexapod keeps its poses apart:

* **Tracked tools** (``TrackedTool``): a rigid marker set fixed to something, with its TRUE pose in the room
  (IEC 61217 fixed system f, mm) evaluated at ``clock.now()``::

      room ← tool = room ← mount · mount ← tool
      mount "room":        room ← mount = I                 (a fixed reference tool, the registration phantom)
      mount "hexapod":     room ← mount = room_from_base · true_pose_matrix()   (the couch table top)
      mount "water_tank":  room ← mount = Tr(p), p = scanner carriage position   (phantom stage / tank)

  ``mount ← tool`` is the tool's fixed ``pose`` on its mount; the marker positions are given in tool
  coordinates.

* **The tracker** (``OpticalTracker``): its own pose in the room (``room ← tracker``, e.g. on the ceiling
  ~2 m from the isocentre looking at it), a characterized measurement volume and a wider field of view in
  tracker coordinates, a frame counter at ``frame_rate_hz`` and marker noise. It reports poses in its OWN
  frame, ``tracker ← tool``, as the real device does; relating that frame to IEC f is the registration
  sequence's job, never an assumed identity.

Measurement of tool T in frame k (``measure``)::

    P_i   = tracker ← room · room ← tool · m_i            true marker positions, tracker frame
    seen  = P_i inside the field of view and not occluded
    P̃_i  = P_i + ε_i,  ε_i ~ N(0, σ² I₃), σ = marker_noise_rms_mm / √3   (3-D RMS per marker)
    R, t  = argmin Σ_seen |R m_i + t − P̃_i|²     (Kabsch); rms_error = √(mean residual²)
    status: missing if fewer than min_markers are seen (or a dropout/occlusion hides it);
            ok if every seen marker is inside the characterized volume, out_of_volume if none is,
            partially_out_of_volume otherwise

So orientation noise follows from the marker geometry (a small tool is noisier in angle), and the fit
residual is what NDI calls the tool's RMS error (expected ``σ·√((3n − 6)/n)`` for n markers).

Frames: ``frame = initial_frame + ⌊now · frame_rate_hz⌋``. A frame is measured once, at the first request
in it, and cached: polling faster than the frame rate returns the same frame (as a real tracker does), so
a caller that averages N samples must let 1/frame_rate pass between them (free on a ``VirtualClock``). The
noise of frame k is drawn from a generator seeded with (tracker key, k, tool name), so it does not depend
on how often anyone polls.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from geometry.rotations import invert_rigid, rigid, rot_x, rot_y, rot_z
from simulators.clock import Clock
from simulators.hexapod import Hexapod, HexapodConfig
from simulators.water_tank import WaterTankConfig, WaterTankScanner
from simulators.world import World

Vector = NDArray[np.float64]
Matrix = NDArray[np.float64]
Point3 = tuple[float, float, float]
ToolStatus = Literal["ok", "partially_out_of_volume", "out_of_volume", "missing"]

#: A generic asymmetric four-marker passive tool (tool origin at the first marker), mm.
DEFAULT_MARKERS_MM: tuple[Point3, ...] = (
    (0.0, 0.0, 0.0),
    (0.0, 50.0, 0.0),
    (45.0, 85.0, 0.0),
    (-40.0, 70.0, 0.0),
)
_FRAME_EPS = 1e-6


# ============================================================================================== pose algebra
def quaternion_from_matrix(matrix: ArrayLike) -> tuple[float, float, float, float]:
    """Unit quaternion (q0, qx, qy, qz) of the rotation part of a 3×3 or 4×4 matrix, with q0 ≥ 0."""
    r = np.asarray(matrix, dtype=float)[:3, :3]
    trace = float(r[0, 0] + r[1, 1] + r[2, 2])
    if trace > 0.0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = (0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s)
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 0.0))
        q = ((r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s)
    elif r[1, 1] > r[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + r[1, 1] - r[0, 0] - r[2, 2], 0.0))
        q = ((r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s)
    else:
        s = 2.0 * math.sqrt(max(1.0 + r[2, 2] - r[0, 0] - r[1, 1], 0.0))
        q = ((r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s)
    arr = np.array(q, dtype=float)
    arr /= np.linalg.norm(arr)
    if arr[0] < 0.0:
        arr = -arr
    return (float(arr[0]), float(arr[1]), float(arr[2]), float(arr[3]))


def matrix_from_quaternion(q: ArrayLike) -> Matrix:
    """3×3 rotation of a (not necessarily normalised) quaternion (q0, qx, qy, qz)."""
    w, x, y, z = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def fit_rigid_markers(nominal: ArrayLike, measured: ArrayLike) -> tuple[Matrix, float]:
    """Kabsch: the 4×4 ``T`` minimising Σ|T·nominal_i − measured_i|², and the RMS residual (mm)."""
    a = np.asarray(nominal, dtype=float)
    b = np.asarray(measured, dtype=float)
    n = a.shape[0]
    # The same arithmetic as ``mean``, ``det`` and ``diag`` spelled out (a frame of six tools is fitted
    # per tracker request): sum / n is how ``mean`` computes; the reflection test needs only the sign of
    # det(Vᵀ·Uᵀ) = det(V)·det(U) = ±1; multiplying by diag(1, 1, ±1) negates V's last column or nothing.
    ca, cb = a.sum(axis=0) / n, b.sum(axis=0) / n
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    v = vt.T
    if _det3(v) * _det3(u) < 0.0:
        v = v.copy()
        v[:, 2] = -v[:, 2]
    rotation = v @ u.T
    translation = cb - rotation @ ca
    residual = a @ rotation.T + translation - b
    return rigid(rotation, translation), math.sqrt(float(np.sum(np.sum(residual * residual, axis=1))) / n)


def _det3(m: Matrix) -> float:
    """Determinant of a 3×3 orthogonal matrix (±1): only its sign is used."""
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    return float(a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g))


def transform_points(matrix: ArrayLike, points: ArrayLike) -> NDArray[np.float64]:
    m = np.asarray(matrix, dtype=float)
    return np.asarray(np.asarray(points, dtype=float) @ m[:3, :3].T + m[:3, 3], dtype=float)


# =========================================================================================== configuration
class Placement(BaseModel):
    """A rigid pose ``parent ← child = Tr(translation_mm) · Rx(rx) · Ry(ry) · Rz(rz)`` (degrees).

    The same composition as ``HexapodMounting`` (rotations about the moving axes, X first).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    translation_mm: Point3 = (0.0, 0.0, 0.0)
    rotation_deg: Point3 = (0.0, 0.0, 0.0)

    def matrix(self) -> Matrix:
        rx, ry, rz = self.rotation_deg
        return rigid(rot_x(rx) @ rot_y(ry) @ rot_z(rz), self.translation_mm)


class ToolMount(BaseModel):
    """What a tool is fixed to: the room itself, a hexapod's table top or a water-tank carriage (by name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["room", "hexapod", "water_tank"]
    #: World name of the hexapod or water tank; must be empty for ``room``.
    name: str | None = None

    @model_validator(mode="after")
    def _named(self) -> ToolMount:
        if self.kind == "room" and self.name is not None:
            raise ValueError("a room mount takes no name")
        if self.kind != "room" and not self.name:
            raise ValueError(f"a {self.kind} mount needs the name of the {self.kind}")
        return self


class TrackedToolConfig(BaseModel):
    """A rigid marker tool: where it is fixed (``mount``), its pose there, its markers in tool coordinates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mount: ToolMount
    #: ``mount ← tool``: for a room tool this is its known IEC f pose.
    pose: Placement = Field(default_factory=Placement)
    markers_mm: tuple[Point3, ...] = DEFAULT_MARKERS_MM

    @field_validator("markers_mm")
    @classmethod
    def _rigid_body(cls, value: tuple[Point3, ...]) -> tuple[Point3, ...]:
        if not 3 <= len(value) <= 20:
            raise ValueError(f"a tool needs 3 to 20 markers, got {len(value)}")
        pts = np.asarray(value, dtype=float)
        singular = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False)
        if singular[1] < 1.0:
            raise ValueError("the markers are (nearly) collinear: a tool needs a plane's worth of spread")
        return value


class PyramidVolume(BaseModel):
    """A frustum with its apex at the sensor, opening along −z (tracker frame): the Polaris/Vega layout.

    A point (x, y, z) is inside when ``near ≤ −z ≤ far`` and ``|x| ≤ −z·tan(hx)``, ``|y| ≤ −z·tan(hy)``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: Literal["pyramid"] = "pyramid"
    near_mm: float = Field(950.0, ge=0)
    far_mm: float = Field(2400.0, gt=0)
    half_angle_x_deg: float = Field(18.0, gt=0, lt=80)
    half_angle_y_deg: float = Field(15.0, gt=0, lt=80)

    @model_validator(mode="after")
    def _ordered(self) -> PyramidVolume:
        if not self.near_mm < self.far_mm:
            raise ValueError("near_mm must be below far_mm")
        return self

    def contains(self, points: ArrayLike) -> NDArray[np.bool_]:
        p = np.atleast_2d(np.asarray(points, dtype=float))
        depth = -p[:, 2]
        tx, ty = math.tan(math.radians(self.half_angle_x_deg)), math.tan(math.radians(self.half_angle_y_deg))
        inside = (depth >= self.near_mm) & (depth <= self.far_mm)
        inside &= (np.abs(p[:, 0]) <= depth * tx) & (np.abs(p[:, 1]) <= depth * ty)
        return np.asarray(inside, dtype=bool)


class BoxVolume(BaseModel):
    """An axis-aligned box in tracker coordinates (mm)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: Literal["box"] = "box"
    min_mm: Point3
    max_mm: Point3

    @model_validator(mode="after")
    def _ordered(self) -> BoxVolume:
        if not all(lo < hi for lo, hi in zip(self.min_mm, self.max_mm, strict=True)):
            raise ValueError("min_mm must be below max_mm on every axis")
        return self

    def contains(self, points: ArrayLike) -> NDArray[np.bool_]:
        p = np.atleast_2d(np.asarray(points, dtype=float))
        inside = np.all((p >= np.array(self.min_mm)) & (p <= np.array(self.max_mm)), axis=1)
        return np.asarray(inside, dtype=bool)


def _volume_shape(value: Any) -> str:
    """The union tag: ``shape`` of a dict or model, a pyramid when not given."""
    shape = value.get("shape", "pyramid") if isinstance(value, dict) else getattr(value, "shape", "pyramid")
    return str(shape)


Volume = Annotated[
    Annotated[PyramidVolume, Tag("pyramid")] | Annotated[BoxVolume, Tag("box")], Discriminator(_volume_shape)
]


def _default_field_of_view() -> PyramidVolume:
    return PyramidVolume(near_mm=500.0, far_mm=3000.0, half_angle_x_deg=24.0, half_angle_y_deg=21.0)


class TrackerMounting(BaseModel):
    """Where the tracker sits in the room (``room ← tracker``).

    With ``look_at_mm`` the sensor looks from ``position_mm`` at that point: tracker −z along the line of
    sight, tracker +y as close to room +Z (up) as possible, then ``roll_deg`` about the line of sight.
    Without it, ``rotation_deg`` gives the orientation as in ``Placement``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    position_mm: Point3 = (0.0, -1600.0, 1200.0)
    look_at_mm: Point3 | None = (0.0, 0.0, 0.0)
    roll_deg: float = 0.0
    rotation_deg: Point3 = (0.0, 0.0, 0.0)

    @model_validator(mode="after")
    def _sight(self) -> TrackerMounting:
        if self.look_at_mm is not None and np.allclose(self.look_at_mm, self.position_mm):
            raise ValueError("look_at_mm must differ from position_mm")
        if self.look_at_mm is None and self.roll_deg:
            raise ValueError("roll_deg applies only with look_at_mm; use rotation_deg")
        return self

    def room_from_tracker(self) -> Matrix:
        if self.look_at_mm is None:
            return Placement(translation_mm=self.position_mm, rotation_deg=self.rotation_deg).matrix()
        sight = np.subtract(self.look_at_mm, self.position_mm).astype(float)
        z = -sight / np.linalg.norm(sight)
        up = np.array([0.0, 0.0, 1.0])
        if abs(float(up @ z)) > 0.999:  # looking straight up or down: let room +Y be "up" on the sensor
            up = np.array([0.0, 1.0, 0.0])
        y = up - (up @ z) * z
        y /= np.linalg.norm(y)
        x = np.cross(y, z)
        return rigid(np.column_stack([x, y, z]) @ rot_z(self.roll_deg), self.position_mm)


class TrackerConfig(BaseModel):
    """An optical tracker and the tools it can see. Lengths in mm, angles in degrees.

    Defaults are Polaris Vega-like engineering values chosen for the simulator: a pyramid 0.95–2.4 m deep,
    60 Hz, 0.1 mm RMS per marker (NDI quotes 0.12 mm RMS volumetric accuracy in its Polaris Vega technical
    specifications, also tabulated in Research Square preprint doi:10.21203/rs.3.rs-1673938/v1).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mounting: TrackerMounting = Field(default_factory=TrackerMounting)
    #: The characterized measurement volume (tracker frame): inside it a tool is "ok".
    volume: Volume = Field(default_factory=PyramidVolume)
    #: Where a marker can be seen at all; outside the volume but inside this, a tool is out of volume.
    field_of_view: Volume = Field(default_factory=_default_field_of_view)
    frame_rate_hz: float = Field(60.0, gt=0)
    initial_frame: int = Field(0, ge=0, lt=2**31)
    #: 3-D RMS of each measured marker position (σ per axis = value/√3).
    marker_noise_rms_mm: float = Field(0.1, ge=0)
    #: Probability that a tool is reported missing in any one frame (a flicker), independent per frame.
    dropout_probability: float = Field(0.0, ge=0, le=1)
    #: Fewest seen markers from which a pose is computed.
    min_markers: int = Field(3, ge=3)
    tools: dict[str, TrackedToolConfig] = Field(default_factory=dict)


#: Fields ``OpticalTracker.set_error`` may change.
ERROR_FIELDS = frozenset({"marker_noise_rms_mm", "dropout_probability"})


# ============================================================================================ tracked tools
class TrackedTool:
    """A marker tool in the world: its TRUE pose in the room, now (a world model, read-only)."""

    def __init__(self, name: str, config: TrackedToolConfig, world: World) -> None:
        self._name = name
        self._config = config
        self._offset = config.pose.matrix()
        self._markers = np.asarray(config.markers_mm, dtype=float)
        mount = config.mount
        self._hexapod: Hexapod | None = None
        self._tank: WaterTankScanner | None = None
        if mount.kind == "hexapod":
            assert mount.name is not None
            self._hexapod = world.get(mount.name, Hexapod)
        elif mount.kind == "water_tank":
            assert mount.name is not None
            self._tank = world.get(mount.name, WaterTankScanner)

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> TrackedToolConfig:
        return self._config

    @property
    def markers_mm(self) -> NDArray[np.float64]:
        """Marker positions in tool coordinates (n×3)."""
        return self._markers.copy()

    def room_from_mount(self) -> Matrix:
        if self._hexapod is not None:
            return self._hexapod.room_from_base @ self._hexapod.true_pose_matrix()
        if self._tank is not None:
            return self._tank.room_from_carriage()
        return np.eye(4)

    def room_pose(self) -> Matrix:
        """TRUE 4×4 ``room ← tool`` now."""
        return self.room_from_mount() @ self._offset

    def markers_in_room(self) -> NDArray[np.float64]:
        """TRUE marker positions in the room now (n×3)."""
        return transform_points(self.room_pose(), self._markers)

    def __repr__(self) -> str:
        mount = self._config.mount
        return f"TrackedTool({self._name!r}, on={mount.kind}{':' + mount.name if mount.name else ''})"


# ============================================================================================= measurement
@dataclass(frozen=True, slots=True)
class ToolMeasurement:
    """One tool in one frame, in tracker coordinates. ``matrix`` is None when the tool is missing."""

    tool: str
    frame: int
    t: float
    status: ToolStatus
    matrix: Matrix | None
    rms_error_mm: float
    markers_seen: int
    markers_in_volume: int

    @property
    def visible(self) -> bool:
        return self.matrix is not None

    def pose(self) -> Matrix:
        """The measured 4×4 ``tracker ← tool``; ``ValueError`` when the tool is missing."""
        if self.matrix is None:
            raise ValueError(f"tool {self.tool!r} is missing in frame {self.frame}")
        return self.matrix

    @property
    def quaternion(self) -> tuple[float, float, float, float]:
        return quaternion_from_matrix(self.pose())

    @property
    def translation_mm(self) -> Point3:
        x, y, z = (float(v) for v in self.pose()[:3, 3])
        return (x, y, z)


@dataclass(frozen=True, slots=True)
class TrackerFrame:
    """Every tool of one tracker in one frame."""

    frame: int
    t: float
    tools: dict[str, ToolMeasurement]


class OpticalTracker:
    """One simulated optical tracker; thread-safe, evaluated lazily at ``clock.now()`` (a world model)."""

    def __init__(
        self,
        name: str,
        config: TrackerConfig,
        tools: Mapping[str, TrackedTool],
        *,
        clock: Clock,
        rng: np.random.Generator,
    ) -> None:
        missing = sorted(set(config.tools) - set(tools))
        if missing:
            raise KeyError(f"tracker {name!r}: no tracked tool objects for {missing}")
        self._name = name
        self._config = config
        self._tools = {tool: tools[tool] for tool in config.tools}
        self._clock = clock
        self._key = int(rng.integers(0, 2**63 - 1))
        self._lock = threading.RLock()
        self._room_from_tracker = config.mounting.room_from_tracker()
        self._tracker_from_room = invert_rigid(self._room_from_tracker)
        self._occluded: dict[str, frozenset[int] | None] = {}
        self._cache: TrackerFrame | None = None

    # ----------------------------------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> TrackerConfig:
        return self._config

    @property
    def tools(self) -> dict[str, TrackedTool]:
        return dict(self._tools)

    def __repr__(self) -> str:
        return f"OpticalTracker({self._name!r}, tools={list(self._tools)})"

    # ----------------------------------------------------------------------------------------- settings
    def set_error(self, **changes: Any) -> None:
        """Change ``marker_noise_rms_mm`` and/or ``dropout_probability`` (validated); drops the cache."""
        unknown = set(changes) - ERROR_FIELDS
        if unknown:
            raise ValueError(
                f"cannot change {sorted(unknown)} with set_error (allowed: {sorted(ERROR_FIELDS)})"
            )
        with self._lock:
            self._config = TrackerConfig.model_validate({**self._config.model_dump(), **changes})
            self._cache = None

    def set_mounting(self, mounting: TrackerMounting) -> None:
        """Move the tracker (e.g. a blind registration test draws its pose)."""
        with self._lock:
            self._config = self._config.model_copy(update={"mounting": mounting})
            self._room_from_tracker = mounting.room_from_tracker()
            self._tracker_from_room = invert_rigid(self._room_from_tracker)
            self._cache = None

    def occlude(self, tool: str, markers: Iterable[int] | None = None) -> None:
        """Hide all markers of ``tool`` (None) or the given marker indices until ``clear_occlusion``."""
        self._check_tool(tool)
        hidden = None if markers is None else frozenset(int(i) for i in markers)
        if hidden is not None and any(not 0 <= i < len(self._tools[tool].markers_mm) for i in hidden):
            raise IndexError(f"tool {tool!r} has {len(self._tools[tool].markers_mm)} markers")
        with self._lock:
            self._occluded[tool] = hidden
            self._cache = None

    def clear_occlusion(self, tool: str | None = None) -> None:
        with self._lock:
            if tool is None:
                self._occluded.clear()
            else:
                self._occluded.pop(tool, None)
            self._cache = None

    def _check_tool(self, tool: str) -> None:
        if tool not in self._tools:
            raise KeyError(f"tracker {self._name!r} has no tool {tool!r} (has {list(self._tools)})")

    # ----------------------------------------------------------------------------------------- truth
    def room_from_tracker(self) -> Matrix:
        """TRUE 4×4 ``room ← tracker`` (what registration has to find)."""
        with self._lock:
            return self._room_from_tracker.copy()

    def true_pose(self, tool: str) -> Matrix:
        """TRUE 4×4 ``tracker ← tool`` now, without noise."""
        self._check_tool(tool)
        with self._lock:
            return self._tracker_from_room @ self._tools[tool].room_pose()

    def true_markers(self, tool: str) -> NDArray[np.float64]:
        """TRUE marker positions of ``tool`` in tracker coordinates now (n×3)."""
        return transform_points(self.true_pose(tool), self._tools[tool].markers_mm)

    def in_volume(self, points_tracker_mm: ArrayLike) -> NDArray[np.bool_]:
        return self._config.volume.contains(points_tracker_mm)

    def in_field_of_view(self, points_tracker_mm: ArrayLike) -> NDArray[np.bool_]:
        return self._config.field_of_view.contains(points_tracker_mm)

    # ----------------------------------------------------------------------------------------- frames
    def frame_number(self) -> int:
        """The frame being reported now (advances at ``frame_rate_hz`` with the clock)."""
        return self._config.initial_frame + math.floor(
            self._clock.now() * self._config.frame_rate_hz + _FRAME_EPS
        )

    def frame_time(self, frame: int) -> float:
        """Clock time at which ``frame`` starts."""
        return (frame - self._config.initial_frame) / self._config.frame_rate_hz

    def measure(self) -> TrackerFrame:
        """The current frame (measured at the first call within it, then cached)."""
        with self._lock:
            now = self._clock.now()
            frame = self._config.initial_frame + math.floor(now * self._config.frame_rate_hz + _FRAME_EPS)
            cached = self._cache
            if cached is not None and cached.frame == frame:
                return cached
            tools = {tool: self._measure_tool(tool, frame, now) for tool in self._tools}
            self._cache = TrackerFrame(frame, now, tools)
            return self._cache

    def measure_tool(self, tool: str) -> ToolMeasurement:
        self._check_tool(tool)
        return self.measure().tools[tool]

    def _measure_tool(self, tool: str, frame: int, now: float) -> ToolMeasurement:
        config = self._config
        body = self._tools[tool]
        nominal = body.markers_mm
        n = len(nominal)
        rng = np.random.default_rng([self._key, frame, zlib.crc32(tool.encode("utf-8"))])
        # Always draw the same numbers in the same order, whatever is hidden, so streams stay aligned.
        dropout = float(rng.random()) < config.dropout_probability
        noise = rng.standard_normal((n, 3)) * (config.marker_noise_rms_mm / math.sqrt(3.0))
        truth = transform_points(self._tracker_from_room @ body.room_pose(), nominal)
        seen = config.field_of_view.contains(truth)
        if tool in self._occluded:
            hidden = self._occluded[tool]
            seen[list(range(n)) if hidden is None else sorted(hidden)] = False
        inside = config.volume.contains(truth) & seen
        n_seen, n_in = int(seen.sum()), int(inside.sum())
        if dropout or n_seen < config.min_markers:
            return ToolMeasurement(tool, frame, now, "missing", None, 0.0, n_seen, n_in)
        matrix, rms = fit_rigid_markers(nominal[seen], truth[seen] + noise[seen])
        status: ToolStatus = (
            "ok" if n_in == n_seen else "out_of_volume" if n_in == 0 else "partially_out_of_volume"
        )
        return ToolMeasurement(tool, frame, now, status, matrix, rms, n_seen, n_in)


# ================================================================================================= wiring
def check_tracker_wiring(
    hexapods: Mapping[str, HexapodConfig],
    water_tanks: Mapping[str, WaterTankConfig],
    trackers: Mapping[str, TrackerConfig],
) -> None:
    """Every tool mount names a configured hexapod or water tank; tool names are unique across trackers."""
    owners: dict[str, str] = {}
    for tracker_name, tracker in trackers.items():
        for tool_name, tool in tracker.tools.items():
            where = f"tracker {tracker_name!r} tool {tool_name!r}"
            mount = tool.mount
            if mount.kind == "hexapod" and mount.name not in hexapods:
                raise ValueError(f"{where} is mounted on unknown hexapod {mount.name!r}")
            if mount.kind == "water_tank" and mount.name not in water_tanks:
                raise ValueError(f"{where} is mounted on unknown water tank {mount.name!r}")
            if tool_name in owners:
                raise ValueError(
                    f"tool name {tool_name!r} is used by two trackers ({owners[tool_name]}, {where})"
                )
            owners[tool_name] = where


def add_tracker(world: World, name: str, config: TrackerConfig) -> OpticalTracker:
    """Register the tracker's tools and the tracker itself in ``world`` (mounts must already be there)."""
    tools = {
        tool: world.add(TrackedTool(tool, tool_config, world)) for tool, tool_config in config.tools.items()
    }
    return world.add(OpticalTracker(name, config, tools, clock=world.clock, rng=world.rng_for(name)))


def build_trackers(world: World, trackers: Mapping[str, TrackerConfig]) -> dict[str, OpticalTracker]:
    return {name: add_tracker(world, name, config) for name, config in trackers.items()}
