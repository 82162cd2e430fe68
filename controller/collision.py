"""Motion safety for couch moves: soft limits and keep-out volumes checked along the whole path.

Pure geometry, no I/O. A couch move is refused *before any byte is sent* if, anywhere on its path, an
IEC couch parameter leaves its limits or the couch-and-patient envelope (a box riding on the table top)
comes closer than a volume's clearance to a keep-out volume: the gantry head, a proton nozzle, imaging
panels (boxes and cylinders placed in the gantry system g, so they turn with the gantry angle) or fixed
room furniture (placed in f).

**Why the check is sound between samples.** The path is sampled finely enough that no point of the
envelope travels more than ``max_step_mm`` between two samples; the bound is computed from the motion
itself (translation, plus each rotation times the largest lever arm it can act on). Every sample must then
keep the volume's clearance *plus half a step*, so no point between samples can reach the clearance.
Distances are measured with the separating-axis test over face normals and edge cross products, which
never overstates a gap: a cylinder is replaced by the 16-sided prism around it (at most 2 % of the
radius larger). The checker can therefore refuse a move that would just have fitted; it cannot pass one
that does not.

Frames and transforms come from ``geometry``: volumes in g are placed with ``geometry.transform`` at the
rig's gantry angle, and the table-top pose follows IEC 61217 (``Rz(θs)·T·Rx(ψ)·Ry(φ)``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Final, Literal, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.errors import HilcalError
from drivers.errors import LimitViolation
from drivers.roles.couch import COUCH_AXES, CouchSetpoint
from geometry import DEFAULT_MODEL, MachineModel, MachineState, System, transform

Array = NDArray[np.float64]
Vec3 = tuple[float, float, float]

#: Sides of the prism that stands in for a cylinder (circumscribed: it contains the cylinder).
PRISM_SIDES: Final = 16
#: Most samples one path may need (a start right at a volume's clearance needs ever finer steps).
MAX_SAMPLES: Final = 20_000
_CHUNK: Final = 2048  # samples per vectorised separation test (bounds the memory of one einsum)
_PARALLEL: Final = 1e-9


# -- configuration -------------------------------------------------------------------------------------
class _Volume(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1)
    system: Literal["g", "f"] = Field("g", description="g turns with the gantry; f is fixed in the room")
    margin_mm: float = Field(10.0, ge=0.0, description="clearance the couch envelope must keep from it")


class KeepOutBox(_Volume):
    """A box with its edges along the axes of ``system`` (gantry head, imaging panel, floor slab)."""

    kind: Literal["box"] = "box"
    centre_mm: Vec3
    half_size_mm: Vec3

    @model_validator(mode="after")
    def _positive(self) -> Self:
        if min(self.half_size_mm) <= 0:
            raise ValueError(f"{self.name}: half sizes must be positive, got {self.half_size_mm}")
        return self


class KeepOutCylinder(_Volume):
    """A solid cylinder from ``base_mm`` along ``axis`` for ``length_mm`` (nozzle, snout, X-ray tube)."""

    kind: Literal["cylinder"] = "cylinder"
    base_mm: Vec3 = Field(description="centre of one end face")
    axis: Vec3 = Field(description="direction from that end face to the other (normalised here)")
    length_mm: float = Field(gt=0.0)
    radius_mm: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _nonzero_axis(self) -> Self:
        if math.hypot(*self.axis) < 1e-9:
            raise ValueError(f"{self.name}: axis must be a non-zero vector")
        return self


KeepOutVolume = Annotated[KeepOutBox | KeepOutCylinder, Field(discriminator="kind")]


class CouchEnvelope(BaseModel):
    """The couch top with the patient on it: a box in table-top coordinates t (mm)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = "couch and patient"
    centre_mm: Vec3
    half_size_mm: Vec3

    @model_validator(mode="after")
    def _positive(self) -> Self:
        if min(self.half_size_mm) <= 0:
            raise ValueError(f"{self.name}: half sizes must be positive, got {self.half_size_mm}")
        return self


class MotionSafety(BaseModel):
    """The rig-file form of the collision model (``volumes`` are placed at the rig's gantry angle)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    envelope: CouchEnvelope
    volumes: list[KeepOutVolume] = Field(default_factory=list)
    max_step_mm: float = Field(2.0, gt=0.0, le=50.0, description="largest envelope travel between samples")


# -- errors --------------------------------------------------------------------------------------------
class CollisionError(HilcalError):
    """A path that brings the couch envelope closer to a keep-out volume than its clearance."""

    def __init__(
        self,
        device: str,
        volume: str,
        envelope: str,
        gap_mm: float,
        required_mm: float,
        fraction: float,
        setpoint: CouchSetpoint,
    ) -> None:
        shortfall = required_mm - gap_mm
        where = "at the start" if fraction == 0.0 else f"at {fraction:.0%} of the path"
        if gap_mm < 0:
            what = f"the {envelope} enters keep-out volume {volume!r} by {-gap_mm:.1f} mm"
        else:
            what = f"the {envelope} comes within {gap_mm:.1f} mm of keep-out volume {volume!r}"
        pose = ", ".join(f"{axis}={value:.2f}" for axis, value in setpoint.as_dict().items())
        super().__init__(
            f"{device}: {what} {where} ({pose}); it must keep {required_mm:.1f} mm, {shortfall:.1f} mm more; "
            "nothing was sent"
        )
        self.device = device
        self.volume = volume
        self.gap_mm = gap_mm
        self.required_mm = required_mm
        self.shortfall_mm = shortfall
        self.fraction = fraction
        self.setpoint = setpoint


# -- solids --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Solid:
    """A convex polyhedron in IEC f: its vertices, face normals and edge directions (unit rows)."""

    name: str
    vertices: Array  # (M, 3)
    normals: Array  # (F, 3)
    edges: Array  # (E, 3)
    margin_mm: float


_CORNERS: Final = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)


def _box_solid(name: str, centre: Array, axes: Array, half: Array, margin: float) -> Solid:
    vertices = centre + (_CORNERS * half) @ axes.T
    return Solid(name, vertices, axes.T.copy(), axes.T.copy(), margin)


def _prism_solid(volume: KeepOutCylinder, placement: Array) -> Solid:
    rotation, shift = placement[:3, :3], placement[:3, 3]
    axis = rotation @ (np.asarray(volume.axis, dtype=float) / math.hypot(*volume.axis))
    base = rotation @ np.asarray(volume.base_mm, dtype=float) + shift
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    p = np.cross(axis, helper)
    p /= np.linalg.norm(p)
    q = np.cross(axis, p)
    n = PRISM_SIDES
    side_angles = 2 * math.pi * np.arange(n) / n
    vertex_angles = side_angles + math.pi / n
    reach = volume.radius_mm / math.cos(math.pi / n)  # circumscribed: every side touches the circle
    ring = reach * (np.outer(np.cos(vertex_angles), p) + np.outer(np.sin(vertex_angles), q))
    vertices = np.vstack([base + ring, base + volume.length_mm * axis + ring])
    side_normals = np.outer(np.cos(side_angles), p) + np.outer(np.sin(side_angles), q)
    rim_edges = -np.outer(np.sin(side_angles), p) + np.outer(np.cos(side_angles), q)
    return Solid(
        volume.name,
        vertices,
        np.vstack([axis, side_normals]),
        np.vstack([axis, rim_edges]),
        volume.margin_mm,
    )


def place_volumes(
    volumes: Sequence[KeepOutBox | KeepOutCylinder],
    gantry_deg: float,
    model: MachineModel = DEFAULT_MODEL,
) -> tuple[Solid, ...]:
    """Each volume as a solid in IEC f, volumes in g turned to ``gantry_deg`` with ``geometry.transform``."""
    room_from_gantry = transform(System.GANTRY, System.FIXED, MachineState(gantry_deg=gantry_deg), model)
    solids = []
    for volume in volumes:
        placement = room_from_gantry if volume.system == "g" else np.eye(4)
        if isinstance(volume, KeepOutBox):
            centre = placement[:3, :3] @ np.asarray(volume.centre_mm, dtype=float) + placement[:3, 3]
            half = np.asarray(volume.half_size_mm, dtype=float)
            solids.append(_box_solid(volume.name, centre, placement[:3, :3], half, volume.margin_mm))
        else:
            solids.append(_prism_solid(volume, placement))
    return tuple(solids)


# -- table-top poses, many at once ---------------------------------------------------------------------
def _rotations(axis: int, angles_deg: Array) -> Array:
    """(n, 3, 3) right-handed rotations about X (0), Y (1) or Z (2)."""
    c, s = np.cos(np.radians(angles_deg)), np.sin(np.radians(angles_deg))
    out = np.zeros((len(angles_deg), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[:, axis, axis] = 1.0
    out[:, i, i] = c
    out[:, j, j] = c
    out[:, i, j] = -s
    out[:, j, i] = s
    return out


def table_top_poses(parameters: Array) -> tuple[Array, Array]:
    """For rows of IEC parameters in ``COUCH_AXES`` order: rotations (n, 3, 3) and origins (n, 3) of t in f.

    The same chain as ``geometry.transform("t", "f", state)`` with Ls = θe = 0, vectorised over samples.
    """
    theta, lateral, longitudinal, vertical, pitch, roll = parameters.T
    yaw = _rotations(2, theta)
    rotation = yaw @ _rotations(0, pitch) @ _rotations(1, roll)
    origin = np.einsum("nij,nj->ni", yaw, np.stack([lateral, longitudinal, vertical], axis=1))
    return rotation, origin


def _parameters(setpoint: CouchSetpoint) -> Array:
    return np.array([float(getattr(setpoint, axis)) for axis in COUCH_AXES])


def _setpoint(row: Array) -> CouchSetpoint:
    theta, lateral, longitudinal, vertical, pitch, roll = (float(value) for value in row)
    return CouchSetpoint(
        lateral_mm=lateral,
        longitudinal_mm=longitudinal,
        vertical_mm=vertical,
        couch_rotation_deg=theta,
        pitch_deg=pitch,
        roll_deg=roll,
    )


# -- separation ----------------------------------------------------------------------------------------
def _gaps(envelope: CouchEnvelope, rotation: Array, origin: Array, solid: Solid) -> Array:
    """Per sample, the largest separating-axis gap between the envelope box and ``solid`` (mm, < 0 = overlap).

    Candidate axes: the envelope's three face normals, the solid's face normals, and every cross product of
    an envelope edge with a solid edge; degenerate (parallel) crosses are skipped.
    """
    half = np.asarray(envelope.half_size_mm, dtype=float)
    centre = origin + rotation @ np.asarray(envelope.centre_mm, dtype=float)  # (n, 3)
    box_axes = np.swapaxes(rotation, 1, 2)  # (n, 3 axes, 3 coords)
    n = len(origin)
    crosses = np.cross(box_axes[:, :, None, :], solid.edges[None, None, :, :]).reshape(n, -1, 3)
    candidates = np.concatenate(
        [box_axes, np.broadcast_to(solid.normals, (n, *solid.normals.shape)), crosses], 1
    )
    lengths = np.linalg.norm(candidates, axis=2)
    usable = lengths > _PARALLEL
    candidates = candidates / np.where(usable, lengths, 1.0)[:, :, None]
    projected = np.einsum("mj,nkj->nkm", solid.vertices, candidates)
    solid_low, solid_high = projected.min(axis=2), projected.max(axis=2)
    middle = np.einsum("nj,nkj->nk", centre, candidates)
    radius = np.einsum("i,nki->nk", half, np.abs(np.einsum("nij,nkj->nki", box_axes, candidates)))
    gap = np.maximum(solid_low - (middle + radius), (middle - radius) - solid_high)
    gap = np.where(usable, gap, -np.inf)
    result: Array = gap.max(axis=1)
    return result


def envelope_vertices(envelope: CouchEnvelope, setpoint: CouchSetpoint) -> Array:
    """The 8 corners of the envelope in IEC f at ``setpoint`` (for reports and independent checks)."""
    rotation, origin = table_top_poses(_parameters(setpoint)[None, :])
    local = np.asarray(envelope.centre_mm) + _CORNERS * np.asarray(envelope.half_size_mm)
    corners: Array = origin[0] + local @ rotation[0].T
    return corners


# -- checks --------------------------------------------------------------------------------------------
def _path_length_bound(start: Array, end: Array, envelope: CouchEnvelope) -> float:
    """An upper bound on how far any envelope point travels on the straight IEC-parameter path."""
    lever = float(
        np.max(np.linalg.norm(np.asarray(envelope.centre_mm) + _CORNERS * envelope.half_size_mm, axis=1))
    )
    delta = end - start
    translation = float(np.linalg.norm(delta[1:4]))
    reach = max(float(np.linalg.norm(start[1:4])), float(np.linalg.norm(end[1:4]))) + lever
    turn = math.radians(abs(delta[0])) * reach
    tilt = math.radians(abs(delta[4]) + abs(delta[5])) * lever
    return translation + turn + tilt


def check_path(
    start: CouchSetpoint,
    end: CouchSetpoint,
    volumes: Sequence[Solid],
    limits: Mapping[str, tuple[float, float]],
    steps: int | None = None,
    *,
    envelope: CouchEnvelope,
    max_step_mm: float = 2.0,
    device: str = "couch",
    end_inside: bool = True,
) -> int:
    """Check the straight path in IEC parameters from ``start`` to ``end``; returns the samples checked.

    ``volumes`` are placed solids (``place_volumes``). ``limits`` maps IEC couch axes to (low, high); the
    end must lie inside, and no sample may lie further outside a limit than the start already does (so a
    couch left just outside can always move back in). ``steps`` is a minimum; more are used when needed to
    keep every envelope point's travel between samples under ``max_step_mm``, and finer still when the
    start sits closer to a volume than its clearance plus half a step (so a couch parked near a volume can
    always be moved away). ``end_inside=False`` is for an intermediate leg of a longer path: its end may
    still lie outside a limit, no further than its start (the final leg's end must be inside). Raises
    ``LimitViolation`` or ``CollisionError``, each naming the limit or volume and by how much.
    """
    if not (max_step_mm > 0 and math.isfinite(max_step_mm)):
        raise ValueError(f"max_step_mm must be positive and finite, got {max_step_mm!r}")
    first, last = _parameters(start), _parameters(end)
    if not (np.all(np.isfinite(first)) and np.all(np.isfinite(last))):
        raise ValueError("couch set points must be finite")
    length = _path_length_bound(first, last, envelope)
    count = max(steps or 1, math.ceil(length / max_step_mm), 1)
    count = _refine_near_start(first, start, length, count, volumes, envelope, device)
    fractions = np.linspace(0.0, 1.0, count + 1)
    samples = first + np.outer(fractions, last - first)
    samples[-1] = last  # the end is the commanded pose itself, not first + 1.0·(last − first) ± rounding
    _check_limits(samples, fractions, limits, device, end_inside=end_inside)
    if not volumes:
        return count + 1
    allowance = length / count / 2.0
    for solid in volumes:
        gaps = np.concatenate(
            [
                _gaps(envelope, *table_top_poses(samples[i : i + _CHUNK]), solid)
                for i in range(0, len(samples), _CHUNK)
            ]
        )
        required = solid.margin_mm + allowance
        bad = np.flatnonzero(gaps < required)
        if bad.size:
            k = int(bad[np.argmin(gaps[bad])])  # report the worst point of the path
            raise CollisionError(
                device,
                solid.name,
                envelope.name,
                float(gaps[k]),
                required,
                float(fractions[k]),
                _setpoint(samples[k]),
            )
    return count + 1


def _refine_near_start(
    first: Array,
    start: CouchSetpoint,
    length: float,
    count: int,
    volumes: Sequence[Solid],
    envelope: CouchEnvelope,
    device: str,
) -> int:
    """More samples when the start's clearance is too thin to cover half a step; refuse if none suffice."""
    if not volumes or length == 0.0:
        return count
    rotation, origin = table_top_poses(first[None, :])
    for solid in volumes:
        gap = float(_gaps(envelope, rotation, origin, solid)[0])
        slack = gap - solid.margin_mm
        if length / count / 2.0 <= slack:
            continue
        needed = math.ceil(length / (2.0 * slack)) if slack > 0 else MAX_SAMPLES + 1
        if needed > MAX_SAMPLES:
            required = solid.margin_mm + length / MAX_SAMPLES / 2.0
            raise CollisionError(device, solid.name, envelope.name, gap, required, 0.0, start)
        count = needed
    return count


def _check_limits(
    samples: Array,
    fractions: Array,
    limits: Mapping[str, tuple[float, float]],
    device: str,
    *,
    end_inside: bool = True,
) -> None:
    for index, axis in enumerate(COUCH_AXES):
        if axis not in limits:
            continue
        low, high = limits[axis]
        values = samples[:, index]
        quantity, _, unit = axis.rpartition("_")
        quantity = quantity.replace("_", " ")
        end = float(values[-1])
        if end_inside and not low <= end <= high:
            raise LimitViolation(device, f"target {quantity}", end, low, high, unit)
        excess = np.maximum(values - high, low - values)
        allowed = max(float(excess[0]), 0.0)
        over = np.flatnonzero(excess > allowed)
        if over.size:
            k = int(over[0])
            raise LimitViolation(
                device, f"{quantity} at {fractions[k]:.0%} of the path", float(values[k]), low, high, unit
            )


def check_waypoints(
    waypoints: Sequence[CouchSetpoint],
    volumes: Sequence[Solid],
    limits: Mapping[str, tuple[float, float]],
    *,
    envelope: CouchEnvelope,
    max_step_mm: float = 2.0,
    device: str = "couch",
) -> int:
    """``check_path`` on each leg between consecutive waypoints; returns the samples checked."""
    if len(waypoints) < 2:
        raise ValueError("a path needs at least two waypoints")
    checked = 0
    legs = list(itertools.pairwise(waypoints))
    for index, (a, b) in enumerate(legs):
        checked += check_path(
            a,
            b,
            volumes,
            limits,
            envelope=envelope,
            max_step_mm=max_step_mm,
            device=device,
            end_inside=index == len(legs) - 1,
        )
    return checked


class CollisionGuard:
    """A ``drivers.pi_gcs.PathGuard``: refuses couch paths that break limits or enter keep-out volumes.

    It checks both the straight IEC-parameter path from the first to the last waypoint and the path through
    the waypoints (the positioner's own interpolation), so either way the couch really moves is covered.
    ``gantry_deg`` is a number or a callable read at every check (the rig state's current gantry angle);
    placements are cached per angle.
    """

    def __init__(
        self,
        volumes: Sequence[KeepOutBox | KeepOutCylinder],
        envelope: CouchEnvelope,
        limits: Mapping[str, tuple[float, float]] | None = None,
        *,
        gantry_deg: float | Callable[[], float] = 0.0,
        model: MachineModel = DEFAULT_MODEL,
        max_step_mm: float = 2.0,
        device: str = "couch",
    ) -> None:
        self.volumes = tuple(volumes)
        self.envelope = envelope
        self.limits = dict(limits or {})
        self.model = model
        self.max_step_mm = max_step_mm
        self.device = device
        self._gantry = gantry_deg
        self._placed: tuple[float, tuple[Solid, ...]] | None = None
        self.checks = 0

    @classmethod
    def from_config(
        cls,
        safety: MotionSafety,
        limits: Mapping[str, tuple[float, float]] | None = None,
        *,
        gantry_deg: float | Callable[[], float] = 0.0,
        model: MachineModel = DEFAULT_MODEL,
        device: str = "couch",
    ) -> CollisionGuard:
        """A guard from the rig file's ``MotionSafety`` section."""
        return cls(
            safety.volumes,
            safety.envelope,
            limits,
            gantry_deg=gantry_deg,
            model=model,
            max_step_mm=safety.max_step_mm,
            device=device,
        )

    def solids(self) -> tuple[Solid, ...]:
        angle = float(self._gantry() if callable(self._gantry) else self._gantry)
        if self._placed is None or self._placed[0] != angle:
            self._placed = (angle, place_volumes(self.volumes, angle, self.model))
        return self._placed[1]

    def __call__(self, waypoints: Sequence[CouchSetpoint]) -> None:
        solids = self.solids()
        envelope, step, device = self.envelope, self.max_step_mm, self.device
        check_path(
            waypoints[0],
            waypoints[-1],
            solids,
            self.limits,
            envelope=envelope,
            max_step_mm=step,
            device=device,
        )
        if len(waypoints) > 2:
            check_waypoints(
                waypoints, solids, self.limits, envelope=envelope, max_step_mm=step, device=device
            )
        self.checks += 1
