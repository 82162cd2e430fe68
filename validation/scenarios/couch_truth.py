"""The validation campaigns' own model of a couch hexapod with calibration errors, in IEC 61217 terms.

Written from the documented error model of a six-axis couch top (per-axis scale, backlash play, axis
squareness, a displaced isocentric axis, load sag), independently of ``simulators`` (the import contract
forbids it): a misreading on either side shows as a coverage miss. Only the *deterministic* part of the
couch's behaviour is modelled; the couch's random positioning scatter is a population property (an SD),
and scenarios state which truth it enters.

Mapping (default mounting: hexapod origin at the isocentre, axes along IEC f, table-top origin at the
platform origin, pivot at the table-top origin)::

    IEC set point → hexapod pose: R = Rz(θs)·Rx(ψ)·Ry(φ) = Rx(U)·Ry(V)·Rz(W), (X, Y, Z) = Rz(θs)·(Tx, Ty, Tz)
    true pose:   q* = q ⊙ (1 + k) − L          L: play per axis, L ← clamp(L + Δq ⊙ (1 + k), 0, B) per move
                 t* = M·(x*, y*, z*) − (0, 0, sag),   sag = m·(c0 + c1·max(0, a + y*)/1000 m) µm
                 f ← t = Tr(t*) · Rx(u*)·Ry(v*) · Tr(d)·R_axis(w*)·Tr(−d)   (d: walkout, R_axis: tilted axis)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from geometry.rotations import rot_x, rot_y, rot_z, table_top_rotation

Matrix = NDArray[np.float64]
AXES = ("X", "Y", "Z", "U", "V", "W")
SETPOINT_KEYS = (
    "lateral_mm",
    "longitudinal_mm",
    "vertical_mm",
    "couch_rotation_deg",
    "pitch_deg",
    "roll_deg",
)


def setpoint(**values: float) -> dict[str, float]:
    """An IEC couch set point with every axis (missing ones 0)."""
    return {key: float(values.get(key, 0.0)) for key in SETPOINT_KEYS}


def hexapod_pose(sp: Mapping[str, float]) -> NDArray[np.float64]:
    """X Y Z U V W of the hexapod for an IEC set point (default mounting, pivot at the table-top origin)."""
    r = table_top_rotation(sp["couch_rotation_deg"], sp["pitch_deg"], sp["roll_deg"])
    v = math.degrees(math.asin(max(-1.0, min(1.0, r[0, 2]))))
    u = math.degrees(math.atan2(-r[1, 2], r[2, 2]))
    w = math.degrees(math.atan2(-r[0, 1], r[0, 0]))
    xyz = rot_z(sp["couch_rotation_deg"]) @ np.array(
        [sp["lateral_mm"], sp["longitudinal_mm"], sp["vertical_mm"]]
    )
    return np.round(np.array([*xyz, u, v, w]), 6)  # what goes on the wire (GCS, 6 decimals)


def axis_angle(axis: Iterable[float], angle_deg: float) -> Matrix:
    a = np.asarray(list(axis), dtype=float)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = math.radians(angle_deg)
    m: Matrix = np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)
    return m


@dataclass(frozen=True)
class CouchErrorModel:
    """The injected errors, in the units of the rig file's ``errors`` section."""

    scale: Mapping[str, float] = field(default_factory=dict)
    backlash: Mapping[str, float] = field(default_factory=dict)
    squareness_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # xy, xz, yz
    walkout_mm: tuple[float, float] = (0.0, 0.0)
    axis_tilt_deg: tuple[float, float] = (0.0, 0.0)  # the W axis leans toward +X, +Y
    load_tilt_deg_per_kg: tuple[float, float] = (0.0, 0.0)  # about X, about Y
    sag_um_per_kg: float = 0.0
    sag_um_per_kg_m: float = 0.0
    sag_lever_arm_mm: float = 0.0

    def scale_vector(self) -> NDArray[np.float64]:
        return 1.0 + np.array([self.scale.get(a, 0.0) for a in AXES])

    def backlash_vector(self) -> NDArray[np.float64]:
        return np.array([self.backlash.get(a, 0.0) for a in AXES])

    def squareness(self) -> Matrix:
        a, b, c = (math.radians(x) for x in self.squareness_deg)
        ez = np.array([math.sin(b), math.sin(c), 0.0])
        ez[2] = math.sqrt(max(0.0, 1.0 - ez[0] ** 2 - ez[1] ** 2))
        return np.column_stack([[1.0, 0.0, 0.0], [math.sin(a), math.cos(a), 0.0], ez])

    def true_pose(self, q: NDArray[np.float64], play: NDArray[np.float64], payload_kg: float) -> Matrix:
        """f ← t for the hexapod at commanded pose ``q`` with play ``play`` and a payload."""
        qs = q * self.scale_vector() - play
        xyz = self.squareness() @ qs[:3]
        extension_m = max(0.0, self.sag_lever_arm_mm + qs[1]) / 1000.0
        xyz[2] -= payload_kg * (self.sag_um_per_kg + self.sag_um_per_kg_m * extension_m) / 1000.0
        u, v = qs[3], qs[4]
        tilt_x, tilt_y = (math.radians(t) for t in self.axis_tilt_deg)
        axis = (
            math.sin(tilt_x),
            math.sin(tilt_y),
            math.sqrt(max(0.0, 1 - math.sin(tilt_x) ** 2 - math.sin(tilt_y) ** 2)),
        )
        turn = axis_angle(axis, qs[5]) if qs[5] != 0 else np.eye(3)
        d = np.array([*self.walkout_mm, 0.0])
        rxy = rot_x(u) @ rot_y(v)
        rotation = rxy @ turn
        translation = xyz + rxy @ (d - turn @ d)
        # a load turns the whole table top about the pivot (here the table-top origin, now at xyz)
        load = rot_x(payload_kg * self.load_tilt_deg_per_kg[0]) @ rot_y(
            payload_kg * self.load_tilt_deg_per_kg[1]
        )
        m = np.eye(4)
        m[:3, :3] = load @ rotation
        m[:3, 3] = xyz + load @ (translation - xyz)
        return m


@dataclass
class CouchRun:
    """Replays a plan's couch commands through the error model; one true pose per visit."""

    errors: CouchErrorModel
    q: NDArray[np.float64] = field(default_factory=lambda: np.zeros(6))
    play: NDArray[np.float64] = field(default_factory=lambda: np.zeros(6))
    payload_kg: float = 0.0

    def home(self) -> None:
        self.q = np.zeros(6)
        self.play = np.zeros(6)  # the reference run ends with a defined approach

    def move(self, sp: Mapping[str, float]) -> Matrix:
        target = hexapod_pose(sp)
        delta = (target - self.q) * self.errors.scale_vector()
        self.play = np.clip(self.play + delta, 0.0, self.errors.backlash_vector())
        self.q = target
        return self.pose()

    def pose(self) -> Matrix:
        return self.errors.true_pose(self.q, self.play, self.payload_kg)


def point(pose: Matrix, p_t: Sequence[float] = (0.0, 0.0, 0.0)) -> NDArray[np.float64]:
    out: NDArray[np.float64] = (pose @ np.append(np.asarray(p_t, dtype=float), 1.0))[:3]
    return out


def commanded_pose(sp: Mapping[str, float]) -> Matrix:
    """The error-free f ← t of a set point: Rz(θs)·T(Tx, Ty, Tz)·Rx(ψ)·Ry(φ) (IEC 61217)."""
    m = np.eye(4)
    m[:3, :3] = table_top_rotation(sp["couch_rotation_deg"], sp["pitch_deg"], sp["roll_deg"])
    m[:3, 3] = rot_z(sp["couch_rotation_deg"]) @ np.array(
        [sp["lateral_mm"], sp["longitudinal_mm"], sp["vertical_mm"]]
    )
    return m


def errors_from(injection: Mapping[str, float]) -> CouchErrorModel:
    """The error model of a scenario injection (flat keys, see ``rig_errors``)."""
    return CouchErrorModel(
        scale={a: injection.get(f"scale_{a}", 0.0) for a in AXES},
        backlash={a: injection.get(f"backlash_{a}", 0.0) for a in AXES},
        squareness_deg=(
            injection.get("squareness_xy_deg", 0.0),
            injection.get("squareness_xz_deg", 0.0),
            injection.get("squareness_yz_deg", 0.0),
        ),
        walkout_mm=(injection.get("walkout_x_mm", 0.0), injection.get("walkout_y_mm", 0.0)),
        axis_tilt_deg=(injection.get("axis_tilt_x_deg", 0.0), injection.get("axis_tilt_y_deg", 0.0)),
        load_tilt_deg_per_kg=(
            injection.get("load_tilt_x_deg_per_kg", 0.0),
            injection.get("load_tilt_y_deg_per_kg", 0.0),
        ),
        sag_um_per_kg=injection.get("sag_um_per_kg", 0.0),
        sag_um_per_kg_m=injection.get("sag_um_per_kg_m", 0.0),
        sag_lever_arm_mm=injection.get("sag_lever_arm_mm", 0.0),
    )


def rig_errors(injection: Mapping[str, float]) -> dict[str, object]:
    """The ``errors`` section of the couch hexapod for an injection (only non-zero knobs are written)."""
    out: dict[str, object] = {}
    scale = {a: injection[f"scale_{a}"] for a in AXES if injection.get(f"scale_{a}")}
    if scale:
        out["scale_error"] = scale
    play = {a: injection[f"backlash_{a}"] for a in AXES if injection.get(f"backlash_{a}")}
    if play:
        out["backlash"] = play
    for key in (
        "squareness_xy_deg",
        "squareness_xz_deg",
        "squareness_yz_deg",
        "sag_um_per_kg",
        "sag_um_per_kg_m",
        "sag_lever_arm_mm",
        "true_noise_mm",
        "true_noise_deg",
        "readback_noise_mm",
        "readback_noise_deg",
    ):
        if key in injection:
            out[key] = injection[key]
    if injection.get("walkout_x_mm") or injection.get("walkout_y_mm"):
        out["walkout_mm"] = [injection.get("walkout_x_mm", 0.0), injection.get("walkout_y_mm", 0.0)]
    if "axis_tilt_x_deg" in injection:
        out["rotation_axis_tilt_deg"] = [injection["axis_tilt_x_deg"], injection["axis_tilt_y_deg"]]
    if "load_tilt_x_deg_per_kg" in injection:
        out["load_tilt_deg_per_kg"] = [
            injection["load_tilt_x_deg_per_kg"],
            injection["load_tilt_y_deg_per_kg"],
        ]
    return out


def apply_couch(raw_rig: dict[str, object], injection: Mapping[str, float]) -> None:
    """Write the couch errors and the tracker noise of an injection into a rig file's data."""
    sim = raw_rig["simulation"]
    assert isinstance(sim, dict)
    hexapod = sim["hexapods"]["couch_hexapod"]
    hexapod["errors"] = {**hexapod.get("errors", {}), **rig_errors(injection)}
    if "marker_noise_rms_mm" in injection:
        sim["trackers"]["tracker"]["marker_noise_rms_mm"] = injection["marker_noise_rms_mm"]
