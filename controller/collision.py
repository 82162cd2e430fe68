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
_CHUNK: Final = 512  # samples per vectorised separation test (bounds the memory of one pass)
_PARALLEL: Final = 1e-9
#: The broad phase clears a sample only by this much more than needed (mm), so its rounding (the face
#: normals computed apart from the full test, about 1e-12 mm) can never pass what the full test would not.
_BROAD_SLACK: Final = 1e-6


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
def table_top_poses(parameters: Array) -> tuple[Array, Array]:
    """For rows of IEC parameters in ``COUCH_AXES`` order: rotations (n, 3, 3) and origins (n, 3) of t in f.

    The same chain as ``geometry.transform("t", "f", state)`` with Ls = θe = 0, vectorised over samples:
    ``Rz(θs)·Rx(ψ)·Ry(φ)`` multiplied out by hand (one array per entry), origin ``Rz(θs)·T``.
    """
    radians = np.radians(parameters[:, (0, 4, 5)])
    cos, sin = np.cos(radians), np.sin(radians)
    c, cp, cr = cos.T
    s, sp, sr = sin.T
    rotation = np.empty((len(parameters), 3, 3))
    rotation[:, 0, 0] = c * cr - s * sp * sr
    rotation[:, 0, 1] = -s * cp
    rotation[:, 0, 2] = c * sr + s * sp * cr
    rotation[:, 1, 0] = s * cr + c * sp * sr
    rotation[:, 1, 1] = c * cp
    rotation[:, 1, 2] = s * sr - c * sp * cr
    rotation[:, 2, 0] = -cp * sr
    rotation[:, 2, 1] = sp
    rotation[:, 2, 2] = cp * cr
    x, y = parameters[:, 1], parameters[:, 2]
    origin = np.empty((len(parameters), 3))
    origin[:, 0] = c * x - s * y
    origin[:, 1] = s * x + c * y
    origin[:, 2] = parameters[:, 3]
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
@dataclass(frozen=True)
class _Packed:
    """Every solid's separating-axis candidates laid out side by side, so one pass tests all of them.

    Columns per solid, contiguous: the envelope's 3 face normals, the solid's face normals, then each
    envelope edge crossed with each solid edge (the order of ``_gaps``' candidates, solid by solid).
    ``order`` picks them from ``[envelope axes (3), all normals, all crosses (3 × all edges)]``; ``vertices``
    holds, per column, its solid's vertices (padded by repeating one, which changes no min or max).
    """

    solids: tuple[Solid, ...]
    edges: Array  # (E, 3) every solid's edges
    normals: Array  # (N, 3) every solid's face normals
    order: NDArray[np.intp]  # (K,)
    vertices: Array  # (K, M, 3)
    starts: NDArray[np.intp]  # (S,) first column of each solid
    # The broad phase (``_face_gaps``): each solid's vertices and face normals, one segment per solid, and
    # each normal's projection of its own solid (constant: the normals do not move with the couch).
    all_vertices: Array  # (V, 3)
    vertex_starts: NDArray[np.intp]  # (S,)
    normal_starts: NDArray[np.intp]  # (S,)
    normal_low: Array  # (N,)
    normal_high: Array  # (N,)


_PACKED: dict[tuple[int, ...], _Packed] = {}


def _pack(volumes: Sequence[Solid]) -> _Packed:
    """The constants of ``volumes`` (placed once per gantry angle) laid out for ``_all_gaps``; kept."""
    key = tuple(id(solid) for solid in volumes)
    packed = _PACKED.get(key)
    if packed is not None and all(a is b for a, b in zip(packed.solids, volumes, strict=True)):
        return packed
    normals = np.vstack([solid.normals for solid in volumes])
    edges = np.vstack([solid.edges for solid in volumes])
    widest = max(len(solid.vertices) for solid in volumes)
    order: list[int] = []
    vertices: list[Array] = []
    starts: list[int] = []
    n_total, e_total = len(normals), len(edges)
    n_off = e_off = 0
    for solid in volumes:
        starts.append(len(order))
        columns = [0, 1, 2]
        columns += [3 + n_off + f for f in range(len(solid.normals))]
        columns += [3 + n_total + i * e_total + e_off + e for i in range(3) for e in range(len(solid.edges))]
        order += columns
        padded = np.vstack([solid.vertices, np.repeat(solid.vertices[:1], widest - len(solid.vertices), 0)])
        vertices += [padded] * len(columns)
        n_off += len(solid.normals)
        e_off += len(solid.edges)
    packed = _Packed(
        tuple(volumes),
        edges,
        normals,
        np.array(order, dtype=np.intp),
        np.stack(vertices),
        np.array(starts, dtype=np.intp),
        np.vstack([solid.vertices for solid in volumes]),
        np.cumsum([0] + [len(solid.vertices) for solid in volumes[:-1]]).astype(np.intp),
        np.cumsum([0] + [len(solid.normals) for solid in volumes[:-1]]).astype(np.intp),
        np.concatenate([(solid.vertices @ solid.normals.T).min(axis=0) for solid in volumes]),
        np.concatenate([(solid.vertices @ solid.normals.T).max(axis=0) for solid in volumes]),
    )
    if len(_PACKED) >= 64:  # a guard re-places its volumes when the gantry turns; keep the latest few
        _PACKED.clear()
    _PACKED[key] = packed
    return packed


def _face_gaps(envelope: CouchEnvelope, rotation: Array, origin: Array, packed: _Packed) -> Array:
    """The broad phase: per sample and solid, the largest gap over the face normals alone (the envelope's
    three and the solid's), (n, S). A lower bound of ``_all_gaps``, which takes the largest gap over these
    axes and the edge crosses: where it already clears a volume, the sample is clear of it."""
    half = np.asarray(envelope.half_size_mm, dtype=float)
    centre = origin + rotation @ np.asarray(envelope.centre_mm, dtype=float)  # (n, 3)
    on_box_axes = packed.all_vertices @ rotation  # (n, V, 3): each vertex · each envelope axis
    low = np.minimum.reduceat(on_box_axes, packed.vertex_starts, axis=1)  # (n, S, 3)
    high = np.maximum.reduceat(on_box_axes, packed.vertex_starts, axis=1)
    middle = centre[:, None, :] @ rotation  # (n, 1, 3)
    box_gap = np.maximum(low - (middle + half), (middle - half) - high).max(axis=2)  # (n, S)
    middle_n = centre @ packed.normals.T  # (n, N)
    radius_n = np.abs(packed.normals @ rotation) @ half  # (n, N)
    normal_gap = np.maximum(
        packed.normal_low - (middle_n + radius_n), (middle_n - radius_n) - packed.normal_high
    )
    result: Array = np.maximum(box_gap, np.maximum.reduceat(normal_gap, packed.normal_starts, axis=1))
    return result


def _all_gaps(envelope: CouchEnvelope, rotation: Array, origin: Array, packed: _Packed) -> Array:
    """Per sample and solid, the largest separating-axis gap between the envelope box and the solid (mm,
    < 0 = overlap): (n, S), solids in ``packed`` order.

    Candidate axes: the envelope's three face normals, the solid's face normals, and every cross product of
    an envelope edge with a solid edge; degenerate (parallel) crosses are skipped.
    """
    half = np.asarray(envelope.half_size_mm, dtype=float)
    centre = origin + rotation @ np.asarray(envelope.centre_mm, dtype=float)  # (n, 3)
    box_axes = np.swapaxes(rotation, 1, 2)  # (n, 3 axes, 3 coords)
    n = len(origin)
    crosses = np.cross(box_axes[:, :, None, :], packed.edges[None, None, :, :]).reshape(n, -1, 3)
    basis = np.concatenate(
        [box_axes, np.broadcast_to(packed.normals, (n, *packed.normals.shape)), crosses], 1
    )
    candidates = basis[:, packed.order]  # (n, K, 3)
    lengths = np.sqrt(np.einsum("nkj,nkj->nk", candidates, candidates))
    usable = lengths > _PARALLEL
    candidates = candidates / np.where(usable, lengths, 1.0)[:, :, None]
    projected = (packed.vertices[None] @ candidates[:, :, :, None])[..., 0]  # (n, K, M)
    solid_low, solid_high = projected.min(axis=2), projected.max(axis=2)
    middle = (candidates @ centre[:, :, None])[..., 0]
    radius = np.abs(candidates @ rotation) @ half  # |box axis · candidate| weighted by the half sizes
    gap = np.maximum(solid_low - (middle + radius), (middle - radius) - solid_high)
    gap = np.where(usable, gap, -np.inf)
    result: Array = np.maximum.reduceat(gap, packed.starts, axis=1)
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
    packed = _pack(volumes) if volumes else None
    samples, fractions = _samples(first, last, count)
    broad = _path_gaps(envelope, samples, packed, _face_gaps) if packed is not None else None
    if packed is not None and broad is not None and length != 0.0:
        refined = _refine_near_start(broad[0], samples[:1], packed, start, length, count, envelope, device)
        if refined != count:
            count = refined
            samples, fractions = _samples(first, last, count)
            broad = _path_gaps(envelope, samples, packed, _face_gaps)
    _check_limits(samples, fractions, limits, device, end_inside=end_inside)
    if packed is None or broad is None:
        return count + 1
    allowance = length / count / 2.0
    required = np.array([solid.margin_mm for solid in volumes]) + allowance
    clear = broad - _BROAD_SLACK >= required  # (n, S): cleared on a face normal, no closer look needed
    if bool(np.all(clear)):
        return count + 1
    rows = np.flatnonzero(~np.all(clear, axis=1))
    gaps = broad.copy()
    gaps[rows] = _path_gaps(envelope, samples[rows], packed, _all_gaps)  # every candidate axis there
    for index, solid in enumerate(volumes):
        column = gaps[:, index]
        bad = np.flatnonzero(column < required[index])
        if bad.size:
            k = int(bad[np.argmin(column[bad])])  # report the worst point of the path
            raise CollisionError(
                device,
                solid.name,
                envelope.name,
                float(column[k]),
                float(required[index]),
                float(fractions[k]),
                _setpoint(samples[k]),
            )
    return count + 1


def _samples(first: Array, last: Array, count: int) -> tuple[Array, Array]:
    """``count + 1`` evenly spaced poses from ``first`` to ``last`` and their path fractions."""
    fractions = np.linspace(0.0, 1.0, count + 1)
    samples = first + np.outer(fractions, last - first)
    samples[-1] = last  # the end is the commanded pose itself, not first + 1.0·(last − first) ± rounding
    return samples, fractions


def _path_gaps(
    envelope: CouchEnvelope,
    samples: Array,
    packed: _Packed,
    gaps: Callable[[CouchEnvelope, Array, Array, _Packed], Array],
) -> Array:
    """``gaps`` (``_face_gaps`` or ``_all_gaps``) at every sample, a chunk at a time: (n, S)."""
    if len(samples) <= _CHUNK:
        return gaps(envelope, *table_top_poses(samples), packed)
    return np.concatenate(
        [
            gaps(envelope, *table_top_poses(samples[i : i + _CHUNK]), packed)
            for i in range(0, len(samples), _CHUNK)
        ]
    )


def _refine_near_start(
    broad_start: Array,
    first: Array,
    packed: _Packed,
    start: CouchSetpoint,
    length: float,
    count: int,
    envelope: CouchEnvelope,
    device: str,
) -> int:
    """More samples when the start's clearance is too thin to cover half a step; refuse if none suffice.

    ``broad_start`` is the start's broad-phase gap per solid (a lower bound); the exact gap over every
    candidate axis is computed only where the lower bound does not already cover half a step.
    """
    exact: Array | None = None
    for index, solid in enumerate(packed.solids):
        if length / count / 2.0 <= float(broad_start[index]) - _BROAD_SLACK - solid.margin_mm:
            continue  # the exact gap is at least as large
        if exact is None:
            exact = _all_gaps(envelope, *table_top_poses(first), packed)[0]
        gap = float(exact[index])
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
    checked = [index for index, axis in enumerate(COUCH_AXES) if axis in limits]
    if not checked:
        return
    bounds = np.array([limits[COUCH_AXES[index]] for index in checked], dtype=float)  # (A, 2)
    values = samples[:, checked]
    excess = np.maximum(values - bounds[:, 1], bounds[:, 0] - values)
    end_ok = not end_inside or bool(np.all(excess[-1] <= 0.0))
    if end_ok and not bool(np.any(excess > np.maximum(excess[0], 0.0))):
        return  # every axis clear; otherwise the loop below finds and names the first problem
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
