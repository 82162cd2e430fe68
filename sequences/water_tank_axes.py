"""W2: water-tank (phantom stage) axis orthogonality and alignment to the IEC 61217 fixed axes.

Procedure (W2): with every axis at its reference (mid-travel), drive one axis at a
time across its travel in ``positions`` steps while the others stay put; at each stop read the tracker tool
on the carriage (several frames) and the axis readback. The tracker is registered to IEC f from the
registration phantom at the start.

Metrics: each axis's measured direction in f (SVD line fit of the carriage points); pairwise angles and
their departure from 90° (orthogonality); the horizontal axes' tilt from the horizontal plane (levelling);
the vertical axis's angle from Zf (the beam axis at gantry 0, the W2 "detector travel follows the central
axis" check); the angle of each axis from its *declared* mounting direction (is the rig file right?);
per-axis scale error (carriage travel along the fitted line against commanded travel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import stats

from controller.errors import PreflightError
from controller.messages import Checkpoint, Dwell, Home, MoveTo, ReadAxis, ReadTracker, to_record
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from geometry.fits import angle_between_deg, fit_line, fit_straight_line
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext, ToolNeed, require_known_profile
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.tracking import (
    Registration,
    TrackerRegistrationConfig,
    register,
    seen_poses,
    tool_point_in_iec,
)
from sequences.uncertainty import COVERAGE_P, t_coverage_factor, welch_satterthwaite


class TankAxesProfile(ToleranceProfile):
    """Limits for W2 (values in sequences/tolerances.py)."""

    orthogonality: Tolerance
    level: Tolerance
    beam_axis: Tolerance
    rule: DecisionRule = DecisionRule.SIMPLE


PROFILES: dict[str, TankAxesProfile] = profiles_for("water-tank-axes", TankAxesProfile)


class TankAxesParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    axes: dict[str, str] = Field(
        default_factory=lambda: {"x": "phantom_x", "y": "phantom_y", "z": "phantom_z"},
        description="tank axis label → rig device; 'z' is the vertical (beam) axis",
    )
    tool: str = Field(default="tank_tool", description="tracker tool on the carriage")
    positions: int = Field(default=7, ge=3, le=50, description="stops per axis")
    margin_mm: float = Field(default=10.0, ge=0, description="kept clear of each end of travel")
    approach_mm: float = Field(
        default=2.0, ge=0, le=50, description="the first stop is approached from this far below it (backlash)"
    )
    tracker_scale_uncertainty_um_per_m: float = Field(
        default=0.0,
        ge=0,
        description="type-B standard uncertainty of the tracker's length scale (its certificate); 0: none",
    )
    samples: int = Field(default=5, ge=1, le=100, description="tracker frames per stop")
    registration_samples: int = Field(default=20, ge=1, le=500)
    dwell_s: float = Field(default=2.0, ge=0, le=60, description="settling before reading (water surface)")
    profile: str = Field(default="tg106-suggested")
    profile_override: TankAxesProfile | None = None

    @model_validator(mode="after")
    def _check(self) -> TankAxesParams:
        if len(self.axes) < 2:
            raise ValueError("axes needs at least two axes to check orthogonality")
        if len(set(self.axes.values())) != len(self.axes):
            raise ValueError("axes names the same device twice")
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> TankAxesProfile:
        return self.profile_override or PROFILES[self.profile]


def _frames(count: int, device: str) -> Plan:
    frames = []
    for _ in range(count):
        frames.append(to_record((yield ReadTracker(device))))
    return frames


class WaterTankAxes(Sequence[TankAxesParams]):
    name = "water-tank-axes"
    title = "Water-tank axis orthogonality and alignment to IEC 61217 (W2)"
    params_model = TankAxesParams

    uses_registration = True

    def device_needs(self, params: TankAxesParams) -> list[DeviceNeed]:
        return [DeviceNeed(f"axes.{label}", device, "positioner") for label, device in params.axes.items()]

    def tool_needs(self, params: TankAxesParams) -> list[ToolNeed]:
        return [ToolNeed("tool", params.tool)]

    def device_of(self, params: TankAxesParams) -> str:
        return "+".join(params.axes.values())

    def plan(self, params: TankAxesParams, context: SequenceContext) -> Plan:
        registration = context.tracker_registration()
        if registration is None:
            raise PreflightError(
                "water-tank-axes needs the rig's tracker_registration (registration phantom)"
            )
        tracker = registration.tracker
        limits = {label: context.axis_limits(device) for label, device in params.axes.items()}
        mountings = {}
        for label, device in params.axes.items():
            mounting = context.axis_mounting(device)
            if mounting is None:
                raise PreflightError(
                    f"{device}: W2 compares against the declared mounting; the rig file has none"
                )
            mountings[label] = mounting.model_dump(mode="json")
        reference = {label: (lim.low_mm + lim.high_mm) / 2 for label, lim in limits.items()}
        for device in params.axes.values():
            yield Home(device)
        for label, device in params.axes.items():
            yield MoveTo(device, reference[label])
        registration_frames = yield from _frames(params.registration_samples, tracker)
        sweeps: dict[str, list[dict[str, Any]]] = {}
        for label, device in params.axes.items():
            low = limits[label].low_mm + params.margin_mm
            high = limits[label].high_mm - params.margin_mm
            stops = []
            # every stop approached moving + (unidirectional, ISO 230-2 style): the first from below too,
            # so backlash shifts all stops alike and cannot tilt the scale fit
            yield MoveTo(device, max(limits[label].low_mm, low - params.approach_mm))
            for position in np.linspace(low, high, params.positions):
                yield MoveTo(device, float(position))
                if params.dwell_s:
                    yield Dwell(params.dwell_s)
                frames = yield from _frames(params.samples, tracker)
                reading = yield ReadAxis(device)
                stops.append(
                    {"commanded_mm": float(position), "readback_mm": reading.position_mm, "frames": frames}
                )
            yield MoveTo(device, reference[label])
            sweeps[label] = stops
            yield Checkpoint(f"axis {label} swept")
        return {
            "registration": registration.model_dump(mode="json"),
            "registration_frames": registration_frames,
            "mountings": mountings,
            "sweeps": sweeps,
        }

    def analyze(self, params: TankAxesParams, data: Any) -> SequenceResult:
        return analyze_tank_axes(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import tank_axes_figure

        return [tank_axes_figure(result)]


def registration_rotation_u_deg(
    frames: list[dict[str, Any]], config: TrackerRegistrationConfig, registration: Registration
) -> tuple[np.ndarray, float]:
    """Standard uncertainty (deg) of the registration's rotation about Xf, Yf, Zf, and its dof.

    Small-angle propagation through the unweighted rigid (Kabsch) fit: with rᵢ the fiducials about their
    centroid, M = Σᵢ (|rᵢ|² I − rᵢ rᵢᵀ) and Cᵢ the covariance (in f) of fiducial i's mean position —
    its frame scatter over √frames (tracker noise of a tool is anisotropic: the lever arm of its markers)
    plus the declared placement uncertainty on each coordinate — Σθ = M⁻¹ (Σᵢ [rᵢ]ₓ Cᵢ [rᵢ]ₓᵀ) M⁻¹.
    The frame scatter has (frames − 1) dof per fiducial and coordinate; Welch–Satterthwaite with the
    placement term (known, infinite dof) gives the dof.
    """
    names = sorted(config.points_mm)
    rotation = registration.rotation()
    known = np.array([config.points_mm[n] for n in names], dtype=float)
    r = known - known.mean(axis=0)
    normal = sum(float(v @ v) * np.eye(3) - np.outer(v, v) for v in r)
    inverse = np.linalg.inv(normal)
    noise_cov, placement_cov = np.zeros((3, 3)), np.zeros((3, 3))
    dof = 0
    for name, arm in zip(names, r, strict=True):
        positions = np.array([pose["translation_mm"] for pose in seen_poses(frames, name)]) @ rotation.T
        count = len(positions)
        scatter = np.cov(positions.T, ddof=1) / count if count > 1 else np.zeros((3, 3))
        cross = _cross_matrix(arm)
        noise_cov += cross @ scatter @ cross.T
        placement_cov += cross @ (config.placement_uncertainty_mm**2 * np.eye(3)) @ cross.T
        dof += max(count - 1, 0)
    u_noise = np.sqrt(np.diag(inverse @ noise_cov @ inverse))
    u_placement = np.sqrt(np.diag(inverse @ placement_cov @ inverse))
    u = np.hypot(u_noise, u_placement)
    dofs = [
        welch_satterthwaite([float(a), float(b)], [max(dof / len(names), 1.0), math.inf])
        for a, b in zip(u_noise, u_placement, strict=True)
    ]
    return np.degrees(u), min(dofs)


def _cross_matrix(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def _t(dof: float, p: float = COVERAGE_P) -> float:
    return t_coverage_factor(dof, p)


def _max_abs_expanded(components: list[tuple[float, float]]) -> float:
    """U for max|xᵢ| from independent estimates with (standard uncertainty, dof): Šidák-allocated Student t.

    Each |x̂ᵢ − xᵢ| ≤ t_νᵢ(p^(1/m))·uᵢ with probability p^(1/m), all together with p, and
    |max|x̂ᵢ| − max|xᵢ|| ≤ maxᵢ|x̂ᵢ − xᵢ| for any true values (JCGM 101:2008 §5.3, GUM G.3).
    """
    per = COVERAGE_P ** (1.0 / len(components))
    return max((_t(dof, per) * u for u, dof in components if u > 0), default=0.0)


def _norm2_expanded(u: float, dof: float) -> float:
    """U for the length of a 2-vector (an angle off an axis) from components with standard uncertainty u.

    |‖v̂‖ − ‖v‖| ≤ ‖v̂ − v‖ for any true v; with both components N(0, u²) estimated with ν dof,
    ‖v̂ − v‖²/(2u²) ~ F(2, ν), so U = u·√(2·F⁻¹(p; 2, ν)) (χ²₂ as ν → ∞): valid also at zero truth, where
    the length is biased upward (Rayleigh).
    """
    if u <= 0:
        return 0.0
    if math.isinf(dof):
        return u * math.sqrt(float(stats.chi2.ppf(COVERAGE_P, 2)))
    return u * math.sqrt(2.0 * float(stats.f.ppf(COVERAGE_P, 2, dof)))


def _expanded(value: float, expanded: float, unit: str = "deg") -> Measurement:
    """A Measurement whose U is a coverage quantile: stated as u = U/2 with k = 2 (see the doc page)."""
    return Measurement(value=value, standard_uncertainty=expanded / 2.0, coverage_factor=2.0, unit=unit)


def _combine(parts: list[tuple[float, float]]) -> tuple[float, float]:
    """Combined standard uncertainty and Welch–Satterthwaite dof (GUM G.4.1) of (u, dof) parts."""
    us = [u for u, _ in parts]
    return math.sqrt(sum(u * u for u in us)), welch_satterthwaite(us, [d for _, d in parts])


def analyze_tank_axes(params: TankAxesParams, data: dict[str, Any]) -> SequenceResult:
    config = TrackerRegistrationConfig.model_validate(data["registration"])
    registration = register(data["registration_frames"], config)
    rotation_u, rotation_dof = registration_rotation_u_deg(data["registration_frames"], config, registration)
    directions: dict[str, np.ndarray] = {}
    #: per axis and IEC coordinate across it: the fitted tilt's (standard uncertainty deg, dof)
    tilt_u: dict[str, dict[int, tuple[float, float]]] = {}
    rows: list[dict[str, Any]] = []
    informative: dict[str, Measurement] = {
        "registration_rms_residual": Measurement(
            value=registration.rms_residual_mm,
            standard_uncertainty=registration.standard_uncertainty_mm,
            unit="mm",
        )
    }
    for label, stops in data["sweeps"].items():
        points = [tool_point_in_iec(stop["frames"], params.tool, registration)[0] for stop in stops]
        xyz = np.array(points)
        line = fit_line(xyz)
        direction = np.array(line.direction)
        commanded = np.array([s["commanded_mm"] for s in stops])
        if float((xyz[-1] - xyz[0]) @ direction) * float(commanded[-1] - commanded[0]) < 0:
            direction = -direction
        directions[label] = direction
        span = float(np.ptp(np.array(line.along_mm)))
        tilt_u[label] = _tilt_uncertainties(xyz, np.array(line.along_mm), _nearest_iec_axis(direction))
        along = (xyz - xyz[0]) @ direction
        informative[f"scale_error_{label}"] = _scale_error(commanded - commanded[0], along, params)
        rows.append(
            {
                "axis": label,
                "device": params.axes[label],
                "direction_x": float(direction[0]),
                "direction_y": float(direction[1]),
                "direction_z": float(direction[2]),
                "line_rms_mm": line.rms_residual_mm,
                "span_mm": span,
                "points": [[float(v) for v in p] for p in xyz],
                "commanded_mm": [float(c) for c in commanded],
            }
        )
    labels = list(directions)

    def component(label: str, coordinate: int, rotated: bool = True) -> tuple[float, float]:
        """(u, dof) of axis ``label``'s direction component along IEC ``coordinate``: the line fit's tilt
        and, unless it cancels, the registration's rotation about the third IEC axis (δd = θ × d)."""
        index = _nearest_iec_axis(directions[label])
        parts = [tilt_u[label][coordinate]]
        if rotated:
            parts.append((float(rotation_u[3 - index - coordinate]), rotation_dof))
        return _combine(parts)

    def off_axis(label: str) -> float:
        """U of the angle of ``label`` from an IEC axis: the length of its two across components."""
        index = _nearest_iec_axis(directions[label])
        parts = [component(label, j) for j in range(3) if j != index]
        return _norm2_expanded(max(u for u, _ in parts), min(d for _, d in parts))

    for label in labels:
        declared = np.array(_declared(data, label))
        informative[f"angle_from_declared_{label}"] = _expanded(
            angle_between_deg(directions[label], declared), off_axis(label)
        )

    orthogonality = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            error = angle_between_deg(directions[a], directions[b]) - 90.0
            # d_a·d_b to first order: a's component along b's axis plus b's along a's; a rigid registration
            # rotation cancels in the angle between two measured directions
            index_a, index_b = _nearest_iec_axis(directions[a]), _nearest_iec_axis(directions[b])
            u, dof = _combine([component(a, index_b, False), component(b, index_a, False)])
            orthogonality.append((abs(error), (u, dof), f"{a}{b}"))
            informative[f"orthogonality_{a}{b}"] = Measurement(
                value=error, standard_uncertainty=u, coverage_factor=_t(dof), unit="deg"
            )
    worst = max(orthogonality)
    profile = params.tolerance_profile()
    verdicts = [
        decide(
            "orthogonality",
            f"largest |angle − 90°| between tank axes (pair {worst[2]})",
            _expanded(worst[0], _max_abs_expanded([parts for _, parts, _ in orthogonality])),
            profile.orthogonality,
            profile.rule,
        )
    ]
    horizontal = [label for label in labels if label != "z"]
    if horizontal:
        tilts = []
        for h in horizontal:
            tilts.append(
                (abs(math.degrees(math.asin(float(np.clip(directions[h][2], -1, 1))))), component(h, 2), h)
            )
        tilt = max(tilts)
        verdicts.append(
            decide(
                "level",
                f"largest tilt of a horizontal axis from the horizontal plane (axis {tilt[2]})",
                _expanded(tilt[0], _max_abs_expanded([parts for _, parts, _ in tilts])),
                profile.level,
                profile.rule,
            )
        )
    if "z" in directions:
        vertical = directions["z"]
        beam_angle = angle_between_deg(vertical, np.array([0.0, 0.0, 1.0]) * np.sign(vertical[2] or 1.0))
        verdicts.append(
            decide(
                "beam_axis",
                "angle of the vertical axis from IEC Zf (the beam axis at gantry 0)",
                _expanded(beam_angle, off_axis("z")),
                profile.beam_axis,
                profile.rule,
            )
        )
    return SequenceResult(
        sequence=WaterTankAxes.name,
        title=WaterTankAxes.title,
        device="+".join(params.axes.values()),
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={"axes": rows},
        frame="IEC 61217 fixed system f, through the tracker registered on the registration phantom",
        notes=[
            f"{len(labels)} axes × {params.positions} stops, {params.samples} tracker frames per stop, "
            f"registration from {registration.fiducials} fiducials "
            f"(RMS residual {registration.rms_residual_mm:.3f} mm)",
            "direction uncertainty: line-fit residual scatter (Student t on its dof) and the registration's "
            "rotation (level, beam axis, declared), Welch–Satterthwaite; max and angle-off-axis verdicts "
            "carry the coverage quantile of their extreme (Šidák) or vector-length (F) statistic; "
            "scale errors: Student t on the fit's dof",
        ],
    )


def _nearest_iec_axis(direction: np.ndarray) -> int:
    return int(np.argmax(np.abs(direction)))


def _tilt_uncertainties(xyz: np.ndarray, along: np.ndarray, index: int) -> dict[int, tuple[float, float]]:
    """Per IEC coordinate across the axis: the standard uncertainty (deg) of the line's tilt toward it.

    Each across coordinate is regressed on the position along the line; the slope's uncertainty from that
    coordinate's own residual scatter (n − 2 dof). Per coordinate, not pooled: a tracked tool's noise is
    anisotropic (its markers' lever arm), so one pooled scatter would understate the noisier direction.
    """
    out = {}
    for j in range(3):
        if j == index:
            continue
        fit = fit_straight_line(along, xyz[:, j])
        out[j] = (math.degrees(math.atan(fit.slope_uncertainty or 0.0)), float(max(fit.dof, 1)))
    return out


def _scale_error(commanded: np.ndarray, along: np.ndarray, params: TankAxesParams) -> Measurement:
    """Carriage travel along the fitted line against commanded travel: (slope − 1) in µm/m.

    Type A: the OLS slope's standard uncertainty from the residual scatter, n − 2 dof (the tracker noise
    along the axis); type B: the tracker's length scale. Student t on the Welch–Satterthwaite dof (GUM G.3,
    G.4) — a coverage factor of 2 on 5 dof covers only about 90 %.
    """
    fit = fit_straight_line(commanded, along)
    u_fit = fit.slope_uncertainty or 0.0
    u_tracker = params.tracker_scale_uncertainty_um_per_m * 1e-6
    u, dof = _combine([(u_fit, float(max(fit.dof, 1))), (u_tracker, math.inf)])
    return Measurement(
        value=(fit.slope - 1.0) * 1e6,
        standard_uncertainty=u * 1e6,
        coverage_factor=_t(dof) if u > 0 else 2.0,
        unit="µm/m",
    )


def _declared(data: dict[str, Any], label: str) -> list[float]:
    direction = data["mountings"][label]["direction"]
    return [float(direction["x"]), float(direction["y"]), float(direction["z"])]
