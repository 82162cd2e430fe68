"""W2: water-tank (phantom stage) axis orthogonality and alignment to the IEC 61217 fixed axes.

Procedure (research qa-tests.md §4 W2): with every axis at its reference (mid-travel), drive one axis at a
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

from controller.errors import PreflightError
from controller.messages import Checkpoint, Dwell, Home, MoveTo, ReadAxis, ReadTracker, to_record
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from geometry.fits import angle_between_deg, fit_line, fit_straight_line
from sequences.base import Plan, Sequence, SequenceContext, require_known_profile
from sequences.tracking import TrackerRegistrationConfig, register, tool_point_in_iec

_W2 = "suggested limit, qa-tests.md W2; TG-106 asks for levelling and CAX alignment without a number [R S5]"


class TankAxesProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    orthogonality: Tolerance
    level: Tolerance
    beam_axis: Tolerance
    rule: DecisionRule = DecisionRule.SIMPLE


PROFILES: dict[str, TankAxesProfile] = {
    "tg106-suggested": TankAxesProfile(
        name="tg106-suggested",
        orthogonality=Tolerance(limit=0.2, unit="deg", source=f"≤ 0.2° orthogonality, {_W2}"),
        level=Tolerance(limit=0.1, unit="deg", source=f"≤ 0.1° level, {_W2}"),
        beam_axis=Tolerance(limit=0.19, unit="deg", source=f"≤ 1 mm centre shift over 30 cm (0.19°), {_W2}"),
    ),
}


class TankAxesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    axes: dict[str, str] = Field(
        default_factory=lambda: {"x": "phantom_x", "y": "phantom_y", "z": "phantom_z"},
        description="tank axis label → rig device; 'z' is the vertical (beam) axis",
    )
    tool: str = Field(default="tank_tool", description="tracker tool on the carriage")
    positions: int = Field(default=7, ge=3, le=50, description="stops per axis")
    margin_mm: float = Field(default=10.0, ge=0, description="kept clear of each end of travel")
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


def analyze_tank_axes(params: TankAxesParams, data: dict[str, Any]) -> SequenceResult:
    config = TrackerRegistrationConfig.model_validate(data["registration"])
    registration = register(data["registration_frames"], config)
    directions: dict[str, np.ndarray] = {}
    direction_u: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    informative: dict[str, Measurement] = {
        "registration_rms_residual": Measurement(
            value=registration.rms_residual_mm,
            standard_uncertainty=registration.standard_uncertainty_mm,
            unit="mm",
        )
    }
    for label, stops in data["sweeps"].items():
        points, uncertainties = [], []
        for stop in stops:
            point, u = tool_point_in_iec(stop["frames"], params.tool, registration)
            points.append(point)
            uncertainties.append(u)
        xyz = np.array(points)
        line = fit_line(xyz)
        direction = np.array(line.direction)
        commanded = np.array([s["commanded_mm"] for s in stops])
        if float((xyz[-1] - xyz[0]) @ direction) * float(commanded[-1] - commanded[0]) < 0:
            direction = -direction
        directions[label] = direction
        # direction uncertainty: the fit's own (residual scatter) or, with few stops, the point uncertainty
        span = float(np.ptp(np.array(line.along_mm)))
        u_points = math.degrees(
            float(np.mean(uncertainties)) * math.sqrt(12.0 / len(stops)) / max(span, 1e-9)
        )
        direction_u[label] = math.hypot(line.direction_uncertainty_deg or 0.0, u_points)
        along = (xyz - xyz[0]) @ direction
        scale = fit_straight_line(commanded - commanded[0], along)
        declared = np.array(_declared(data, label))
        informative[f"scale_error_{label}"] = Measurement(
            value=(scale.slope - 1.0) * 1e6,
            standard_uncertainty=(scale.slope_uncertainty or 0.0) * 1e6,
            unit="µm/m",
        )
        informative[f"angle_from_declared_{label}"] = Measurement(
            value=angle_between_deg(direction, declared), standard_uncertainty=direction_u[label], unit="deg"
        )
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
    orthogonality = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            error = angle_between_deg(directions[a], directions[b]) - 90.0
            orthogonality.append((abs(error), math.hypot(direction_u[a], direction_u[b]), f"{a}{b}", error))
            informative[f"orthogonality_{a}{b}"] = Measurement(
                value=error, standard_uncertainty=math.hypot(direction_u[a], direction_u[b]), unit="deg"
            )
    worst = max(orthogonality)
    profile = params.tolerance_profile()
    rotation_u = math.degrees(registration.standard_uncertainty_mm / 150.0)  # registration tilt over ~150 mm
    verdicts = [
        decide(
            "orthogonality",
            f"largest |angle − 90°| between tank axes (pair {worst[2]})",
            Measurement(value=worst[0], standard_uncertainty=worst[1], unit="deg"),
            profile.orthogonality,
            profile.rule,
        )
    ]
    horizontal = [label for label in labels if label != "z"]
    if horizontal:
        tilts = [
            (
                abs(math.degrees(math.asin(float(np.clip(directions[h][2], -1, 1))))),
                math.hypot(direction_u[h], rotation_u),
                h,
            )
            for h in horizontal
        ]
        tilt = max(tilts)
        verdicts.append(
            decide(
                "level",
                f"largest tilt of a horizontal axis from the horizontal plane (axis {tilt[2]})",
                Measurement(value=tilt[0], standard_uncertainty=tilt[1], unit="deg"),
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
                Measurement(
                    value=beam_angle,
                    standard_uncertainty=math.hypot(direction_u["z"], rotation_u),
                    unit="deg",
                ),
                profile.beam_axis,
                profile.rule,
            )
        )
    return SequenceResult(
        sequence=WaterTankAxes.name,
        title=WaterTankAxes.title,
        device="+".join(params.axes.values()),
        profile=profile.name,
        verdicts=verdicts,
        informative=informative,
        tables={"axes": rows},
        frame="IEC 61217 fixed system f, through the tracker registered on the registration phantom",
        notes=[
            f"{len(labels)} axes × {params.positions} stops, {params.samples} tracker frames per stop, "
            f"registration from {registration.fiducials} fiducials "
            f"(RMS residual {registration.rms_residual_mm:.3f} mm)",
            "direction uncertainty from the line-fit scatter and the point uncertainty; k = 2",
        ],
    )


def _declared(data: dict[str, Any], label: str) -> list[float]:
    direction = data["mountings"][label]["direction"]
    return [float(direction["x"]), float(direction["y"]), float(direction["z"])]
