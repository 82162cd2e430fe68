"""Shared parts of the tracker-based couch sequences (C1–C6): plan steps and the couch tool in IEC f.

Why one module: every couch sequence registers the tracker, visits set points (move, dwell, read the couch's
own readback, read several tracker frames) and turns the couch tool's frames into positions and orientations
in IEC f with an uncertainty budget. Doing that once keeps the four analyses comparable, and keeps all the
maths in ``analyze`` (plans only record frames), so a journal replay reproduces every number.

Uncertainty budget of a tool reading (standard, k = 1), used by every couch analysis:

* tracker noise: the within-reading scatter of the frames, pooled over all readings of the run, over √n;
* registration: f ← tracker from the fiducials (``sequences.tracking.register``); its translation cancels
  in displacements, its rotation enters as u_rot·|displacement|;
* tracker systematic, type B, not visible in the scatter: ``tracker_systematic_mm`` on every tracked
  displacement (local distortion over the few cm of a couch test), and ``tracker_relative_systematic``, the
  same distortion as a scale: it bounds slopes (scale errors, axis directions) and measured rotations
  (markers of a turning tool move by lever × angle, so their error scales with the angle);
* couch readout resolution q/√12 for readback comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import optimize, stats

from controller.errors import PreflightError
from controller.messages import CouchReading, Dwell, Home, MoveCouch, ReadCouch, ReadTracker, to_record
from controller.results import Measurement
from drivers.roles.couch import CouchSetpoint
from geometry import MachineState, transform
from sequences.base import DeviceNeed, Plan, SequenceContext
from sequences.tracking import (
    Registration,
    TrackerRegistrationConfig,
    register,
    seen_poses,
    tool_matrix,
)
from sequences.uncertainty import COVERAGE_P, max_abs_halfwidth, t_coverage_factor

Vector = NDArray[np.float64]
Matrix = NDArray[np.float64]

TRANSLATION_AXES = ("lateral_mm", "longitudinal_mm", "vertical_mm")
IEC_AXIS_NAMES = {"lateral_mm": "X", "longitudinal_mm": "Y", "vertical_mm": "Z"}
FRAME = (
    "IEC 61217 fixed system f (through the tracker registered on the registration phantom); expected "
    "positions of the table-top point from the set point by geometry.transform('t', 'f')"
)


class TrackedCouchParams(BaseModel):
    """Parameters every tracker-based couch sequence shares (the rig side: device, tool, sampling)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    couch: str = Field(default="couch", description="rig device name of the couch")
    couch_tool: str = Field(default="couch_tool", description="tracker tool fixed to the table top")
    tool_offset_mm: tuple[float, float, float] = Field(
        default=(0.0, 0.0, 0.0), description="origin of the couch tool in IEC t (table-top) coordinates"
    )
    samples: int = Field(default=5, ge=2, le=200, description="tracker frames averaged per reading")
    registration_samples: int = Field(default=20, ge=1, le=1000, description="frames for the registration")
    dwell_s: float = Field(default=2.0, ge=0, le=600, description="wait after 'in position' (C1: ≥ 2 s)")
    tracker_systematic_mm: float = Field(
        default=0.05,
        ge=0,
        description="type-B standard uncertainty of a tracked displacement of a few cm (local distortion; "
        "the 0.12 mm RMS volumetric accuracy NDI specifies for the Polaris Vega bounds it over the whole "
        "volume; an engineering value)",
    )
    tracker_relative_systematic: float = Field(
        default=0.0025,
        ge=0,
        description="type-B relative (scale-like) uncertainty of tracked displacements and rotations: "
        "0.05 mm over 20 mm (an engineering value)",
    )
    readout_resolution_mm: float = Field(default=0.001, gt=0, description="couch readback resolution")
    readout_resolution_deg: float = Field(default=0.001, gt=0, description="couch readback resolution")


def tracked_couch_needs(params: TrackedCouchParams) -> list[DeviceNeed]:
    """The couch under test (the tracker is the rig's registration tracker)."""
    return [DeviceNeed("couch", params.couch, "couch")]


# ------------------------------------------------------------------------------------------ plan steps
def require_registration(context: SequenceContext, sequence: str) -> TrackerRegistrationConfig:
    """The rig's registration phantom; a geometric couch test without it measures nothing in IEC terms."""
    registration = context.tracker_registration()
    if registration is None:
        raise PreflightError(
            f"{sequence} needs the rig file's tracker_registration (tracker device and fiducial tools at "
            "known IEC f positions) to express the couch tool in IEC 61217 f"
        )
    return registration


def read_frames(tracker: str, count: int) -> Plan:
    """``count`` consecutive tracker frames, recorded as data (the sequence averages them, not the engine)."""
    frames: list[dict[str, Any]] = []
    for _ in range(count):
        frame = yield ReadTracker(tracker)
        frames.append(to_record(frame))
    return frames


def start(params: TrackedCouchParams, registration: TrackerRegistrationConfig) -> Plan:
    """Reference the couch, then record the registration frames and the registration config."""
    yield Home(params.couch)
    frames = yield from read_frames(registration.tracker, params.registration_samples)
    return {"registration": registration.model_dump(mode="json"), "registration_frames": frames}


def visit(params: TrackedCouchParams, tracker: str, setpoint: CouchSetpoint, **labels: Any) -> Plan:
    """Move, dwell, read the couch's readback and ``samples`` tracker frames; one raw record."""
    yield MoveCouch(params.couch, setpoint)
    if params.dwell_s:
        yield Dwell(params.dwell_s)
    reading: CouchReading = yield ReadCouch(params.couch)
    frames = yield from read_frames(tracker, params.samples)
    return {
        **labels,
        "cmd": setpoint.as_dict(),
        "rb": reading.setpoint.as_dict(),
        "clock_s": reading.clock_s,
        "frames": frames,
    }


# ------------------------------------------------------------------------------------ IEC expectations
def machine_state(setpoint: Mapping[str, float]) -> MachineState:
    return MachineState(
        couch_rotation_deg=setpoint["couch_rotation_deg"],
        table_lateral_mm=setpoint["lateral_mm"],
        table_longitudinal_mm=setpoint["longitudinal_mm"],
        table_vertical_mm=setpoint["vertical_mm"],
        table_pitch_deg=setpoint["pitch_deg"],
        table_roll_deg=setpoint["roll_deg"],
    )


def table_top_pose(setpoint: Mapping[str, float]) -> Matrix:
    """f ← t (4×4) for an IEC couch set point."""
    pose: Matrix = transform("t", "f", machine_state(setpoint))
    return pose


def expected_point(setpoint: Mapping[str, float], point_t: Sequence[float]) -> Vector:
    """Where a table-top point (in t) should be in f for this set point."""
    point: Vector = (table_top_pose(setpoint) @ np.append(np.asarray(point_t, dtype=float), 1.0))[:3]
    return point


# ------------------------------------------------------------------------------------------ rotations
def project_rotation(m: Matrix) -> Matrix:
    """Nearest proper rotation (SVD), e.g. of an average of rotation matrices."""
    u, _, vt = np.linalg.svd(m)
    rotation: Matrix = u @ np.diag([1.0, 1.0, float(np.sign(np.linalg.det(u @ vt)) or 1.0)]) @ vt
    return rotation


def rotation_vector(r: Matrix) -> Vector:
    """Axis × angle (rad) of a rotation matrix (log map); exact for any angle below 180°."""
    cos_angle = float(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))
    angle = math.acos(cos_angle)
    vee = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / 2.0
    if angle < 1e-12:
        return vee
    scaled: Vector = vee * (angle / math.sin(angle))
    return scaled


# ------------------------------------------------------------------------------------- tracker in IEC f
@dataclass(frozen=True)
class Observation:
    """One reading of the couch tool in f: mean position and orientation, and the per-frame scatter."""

    position: Vector  # tool origin in f (mm)
    rotation: Matrix  # f ← tool
    positions: NDArray[np.float64]  # (n, 3) per frame
    rotvecs: NDArray[np.float64]  # (n, 3) per frame: rotation from the mean, rad, in f

    @property
    def n(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class Noise:
    """Pooled per-frame tracker scatter of the couch tool (one standard deviation per coordinate)."""

    position_mm: float
    rotation_rad: float
    dof: int
    #: the same per coordinate of f (a tool origin off the marker centroid is noisier out of the tool plane)
    position_components: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_components: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def position_of_mean(self, n: int) -> float:
        return self.position_mm / math.sqrt(n)

    def rotation_of_mean(self, n: int) -> float:
        return self.rotation_rad / math.sqrt(n)


class TrackerView:
    """The tracker registered to IEC f from the recorded registration frames; observes the couch tool."""

    def __init__(self, data: Mapping[str, Any], tool: str) -> None:
        self.config = TrackerRegistrationConfig.model_validate(data["registration"])
        frames = data["registration_frames"]
        noise = _fiducial_noise(frames, self.config)
        self.registration: Registration = register(frames, self.config, tool_noise_mm=noise)
        self.tool = tool
        known = np.array([self.config.points_mm[n] for n in sorted(self.config.points_mm)], dtype=float)
        self.fiducial_centroid = known.mean(axis=0)
        count = len(known)
        sigma = self.registration.standard_uncertainty_mm * math.sqrt(count)
        if count > 2:  # the fit residual, when it is worse than the noise predicts, is the better estimate
            per_coordinate = self.registration.rms_residual_mm / math.sqrt(3.0)
            sigma = max(sigma, per_coordinate * math.sqrt(count / (count - 2.0)))
        self.fiducial_sigma_mm = sigma
        centred = known - self.fiducial_centroid
        inertia = sum(float(r @ r) * np.eye(3) - np.outer(r, r) for r in centred)
        smallest = float(np.min(np.linalg.eigvalsh(inertia)))
        #: standard uncertainty of the registration's rotation about its worst-determined axis (rad)
        self.rotation_uncertainty_rad = sigma / math.sqrt(max(smallest, 1e-9))

    def translation_uncertainty_at(self, point_f: Vector) -> float:
        """Per-coordinate standard uncertainty of an absolute position in f due to the registration."""
        lever = float(np.linalg.norm(np.asarray(point_f) - self.fiducial_centroid))
        return math.hypot(
            self.fiducial_sigma_mm / math.sqrt(len(self.config.points_mm)),
            self.rotation_uncertainty_rad * lever,
        )

    def observe(self, frames: Sequence[Mapping[str, Any]]) -> Observation:
        rotation_f = self.registration.rotation()
        matrix = np.array(self.registration.matrix)
        positions, rotations = [], []
        for pose in seen_poses(frames, self.tool):
            m = tool_matrix(pose)
            positions.append(matrix[:3, :3] @ m[:3, 3] + matrix[:3, 3])
            rotations.append(rotation_f @ m[:3, :3])
        if not positions:
            raise ValueError(f"a reading of tool {self.tool!r} has no tracker frames")
        mean_rotation = project_rotation(np.mean(rotations, axis=0))
        rotvecs = np.array([rotation_vector(r @ mean_rotation.T) for r in rotations])
        points = np.array(positions)
        return Observation(points.mean(axis=0), mean_rotation, points, rotvecs)

    def registration_measurement(self) -> Measurement:
        """The registration's RMS residual, reported with every geometric couch result."""
        dof = max(3 * self.registration.fiducials - 6, 1)
        return Measurement(
            value=self.registration.rms_residual_mm,
            standard_uncertainty=self.registration.rms_residual_mm / math.sqrt(2 * dof),
            unit="mm",
        )


def pooled_noise(observations: Sequence[Observation]) -> Noise:
    """Within-reading scatter pooled over readings: far better determined than any one reading's."""
    pos_ss, rot_ss = np.zeros(3), np.zeros(3)
    dof = 0
    for obs in observations:
        if obs.n < 2:
            continue
        pos_ss += np.sum((obs.positions - obs.position) ** 2, axis=0)
        centred = obs.rotvecs - obs.rotvecs.mean(axis=0)
        rot_ss += np.sum(centred**2, axis=0)
        dof += obs.n - 1
    if dof == 0:
        return Noise(0.0, 0.0, 0)
    pos, rot = np.sqrt(pos_ss / dof), np.sqrt(rot_ss / dof)
    return Noise(
        math.sqrt(float(np.mean(pos**2))),
        math.sqrt(float(np.mean(rot**2))),
        3 * dof,
        (float(pos[0]), float(pos[1]), float(pos[2])),
        (float(rot[0]), float(rot[1]), float(rot[2])),
    )


@dataclass(frozen=True)
class CouchReadings:
    """A couch sequence's raw data seen through the registered tracker: one observation per stop."""

    view: TrackerView
    rows: list[dict[str, Any]]
    observations: list[Observation]
    noise: Noise

    def positions(self, tool_offset_mm: Sequence[float]) -> tuple[Vector, Vector, Vector]:
        """Measured, commanded and read-back positions in f of the tool point, one row per stop."""
        measured = np.array([o.position for o in self.observations])
        commanded = np.array([expected_point(r["cmd"], tool_offset_mm) for r in self.rows])
        readback = np.array([expected_point(r["rb"], tool_offset_mm) for r in self.rows])
        return measured, commanded, readback


def read_couch_data(data: Mapping[str, Any], couch_tool: str) -> CouchReadings:
    """Register the tracker from the recorded frames and observe the couch tool at every stop."""
    view = TrackerView(data, couch_tool)
    rows: list[dict[str, Any]] = data["points"]
    observations = [view.observe(r["frames"]) for r in rows]
    return CouchReadings(view, rows, observations, pooled_noise(observations))


def _fiducial_noise(frames: Sequence[Mapping[str, Any]], config: TrackerRegistrationConfig) -> float:
    """Per-coordinate frame-to-frame scatter of the fiducials (the default 0.1 mm with a single frame)."""
    if len(frames) < 2:
        return 0.1
    variances = []
    for name in config.points_mm:
        points = np.array([tool_matrix(pose)[:3, 3] for pose in seen_poses(frames, name)])
        variances.append(float(np.mean(np.var(points, axis=0, ddof=1))))
    return math.sqrt(float(np.mean(variances)))


# --------------------------------------------------------------------------------------- statistics
def max_norm_halfwidth(sigmas: Any, dim: int = 3, dof: float = math.inf, draws: int = 10000) -> float:
    """Expanded uncertainty of a maximum (or any order statistic) of vector norms, valid for ANY truth.

    For estimates x̂ᵢ = xᵢ + εᵢ of vectors xᵢ, ``|max|x̂ᵢ| − max|xᵢ|| ≤ maxᵢ|εᵢ|`` (triangle inequality), and
    the same holds for every order statistic (hence a percentile, a linear mix of two). So the p-quantile
    of maxᵢ|εᵢ| is a coverage-interval half-width whatever the true values, zero included (JCGM 101:2008
    §7.7: the coverage interval from the distribution of the output quantity). ``sigmas`` is one standard
    uncertainty per point (isotropic, ``dim`` coordinates) or a (points, dim) array per coordinate; the
    points are independent, so ``Πᵢ Fᵢ(q) = p`` with Fᵢ the CDF of |εᵢ| (χ_dim for isotropic points, Monte
    Carlo with a fixed seed otherwise). Sigmas estimated with ``dof`` degrees of freedom widen q by the
    Student-t to normal quantile ratio (GUM G.3).
    """
    s = np.asarray(sigmas, dtype=float)
    if s.ndim == 1:
        s = s[s > 0]
        if s.size == 0:
            return 0.0
        if dim == 1:
            q = max_abs_halfwidth(s.tolist())
        else:
            top = float(s.max())

            def excess(value: float) -> float:
                cdf = np.clip(stats.chi.cdf(value / s, dim), 1e-300, 1.0)
                return float(np.sum(np.log(cdf))) - math.log(COVERAGE_P)

            q = float(optimize.brentq(excess, 1e-9 * top, 50.0 * top, xtol=1e-9 * top))
    else:
        s = s[np.any(s > 0, axis=1)]
        if s.size == 0:
            return 0.0
        z = np.random.default_rng(0).standard_normal((draws, s.shape[1]))
        norms = np.linalg.norm(z[None, :, :] * s[:, None, :], axis=2)
        top = float(norms.max())

        def excess(value: float) -> float:
            counts = np.count_nonzero(norms <= value, axis=1) / draws
            return float(np.sum(np.log(np.clip(counts, 1e-300, 1.0)))) - math.log(COVERAGE_P)

        q = float(optimize.brentq(excess, 1e-9 * top, top, xtol=1e-6 * top))
    return q * t_coverage_factor(dof) / t_coverage_factor(math.inf)


def extreme_measurement(value: float, halfwidth: float, unit: str) -> Measurement:
    """A max/percentile statistic with U the 95.45 % quantile of the extreme noise: u = U/2, k = 2."""
    return Measurement(value=value, standard_uncertainty=halfwidth / 2.0, coverage_factor=2.0, unit=unit)


def pooled_scatter(groups: Sequence[NDArray[np.float64]]) -> tuple[NDArray[np.float64], int]:
    """Per-coordinate SD of single values about their group mean, pooled over groups, and its dof.

    Each group holds repeated readings (rows) of the same set point: the spread is the couch's own
    positioning scatter plus the tracker noise of a reading, which is what a group mean is uncertain by.
    Per coordinate, because a tracked point's noise is not isotropic (the tool origin off the marker
    centroid carries the orientation noise × lever arm, mostly out of the tool plane).
    """
    ss: NDArray[np.float64] | None = None
    dof = 0
    for group in groups:
        g = np.atleast_2d(np.asarray(group, dtype=float))
        if len(g) < 2:
            continue
        part = np.sum((g - g.mean(axis=0)) ** 2, axis=0)
        ss = part if ss is None else ss + part
        dof += len(g) - 1
    if ss is None or dof == 0:
        width = np.atleast_2d(np.asarray(groups[0])).shape[1] if groups else 3
        return np.zeros(width), 0
    sd: NDArray[np.float64] = np.sqrt(ss / dof)
    return sd, dof


def norm_uncertainty(vector: Vector, covariance: Matrix) -> float:
    """Standard uncertainty of |v| from the covariance of v (the isotropic value when v ≈ 0)."""
    length = float(np.linalg.norm(vector))
    if length < 1e-12:
        return math.sqrt(float(np.trace(covariance)) / len(vector))
    unit = vector / length
    return math.sqrt(max(float(unit @ covariance @ unit), 0.0))


def floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).reshape(-1)]
