"""Proton range check: a water-tank depth scan along the beam axis, R90 and R80 against their baselines.

Procedure (docs/sequences/proton-range-check.md): charge mode at the operating bias, settle, null; home the
tank axes and put the chamber on the spot axis (``phantom_x``/``phantom_y``). Then a *coarse* pass over
``coarse_depths_mm`` and a *fine* pass at ``fine_step_mm`` from the coarse pass's peak to beyond its R20,
each approached from the same side (the carriage's backlash is then the same at every point). Each point:
the tank moves while the electrometer is reset (one ``Together`` step), the axis encoder is read while the
integration starts, then a gated delivery (``pre_s``, beam for ``beam_time_s``, ``post_s``), hold, read.
Last, ``noise_repeats`` deliveries at the fine pass's highest point give the readings' relative scatter.

Analysis: readings normalised to the peak (a least-squares parabola through the readings within
``peak_fit_halfwidth_mm`` of the highest); R90, R80 and R20 on the distal fall-off by linear interpolation
between the two readings that bracket the level; ΔR = R − baseline. Uncertainty (GUM): the readings'
scatter and the depth readback propagated through the whole estimator (numerical sensitivity coefficients,
so the peak's and the bracketing points' correlations are kept), the depth zero's reproducibility, the
baseline's own uncertainty and the linear interpolation's error bound h²·|f''|/8 (rectangular);
Welch–Satterthwaite dof, Student-t k.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from controller.errors import PreflightError
from controller.messages import (
    AxisReading,
    Beam,
    Checkpoint,
    ConfigureDosimeter,
    Dwell,
    Home,
    MoveTo,
    ReadAxis,
    ReadDosimeter,
    ResetIntegration,
    StartIntegration,
    Together,
    ZeroDosimeter,
)
from controller.results import Measurement, SequenceResult, Tolerance, decide
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from geometry import AxisMounting, Point
from sequences.base import DeviceNeed, GyPerMu, Plan, Sequence, SequenceContext, require_known_profile
from sequences.electrometer_leakage_reproducibility import display_resolution
from sequences.electrometer_linearity import DeliveryParams, gated_tail
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import t_coverage_factor, welch_satterthwaite

#: Central-axis R90 and R80 (mm) of the built-in simulated rig's nominal 150 MeV spot (σ 4 mm in air, point
#: chamber on the spot axis): computed from its depth-dose model (PSTAR range, Bortfeld curve, Fermi–Eyges
#: spot growth) on a 1 µm grid; the test suite recomputes them. A site sets its own commissioned values.
SIMULATED_RIG_R90_MM = 156.75
SIMULATED_RIG_R80_MM = 157.62
LEVELS = (0.9, 0.8, 0.2)


class RangeCheckProfile(ToleranceProfile):
    """Limits on |R90 − baseline| and |R80 − baseline| (values in sequences/tolerances.py)."""

    r90: Tolerance
    r80: Tolerance


PROFILES: dict[str, RangeCheckProfile] = profiles_for("proton-range-check", RangeCheckProfile)


class TankChamberParams(DeliveryParams):
    """A chamber on the water tank's carriage in the proton pencil beam: where the tank and the beam are."""

    dosimeter: str = Field(default="electrometer_tank", description="electrometer of the carriage's chamber")
    bias_voltage_v: float = Field(default=400.0, description="signed chamber bias (the sign is the polarity)")
    range: str = Field(default="LOW", description="the electrometer's range (one range for every reading)")
    settle_s: float = Field(default=60.0, ge=0, description="wait after applying bias")
    charge_resolution_c: float = Field(default=1e-14, gt=0, description="charge resolution of the range")
    dose_rate_gy_per_min: float = Field(
        default=2.0,
        gt=0,
        le=100,
        description="dose rate asked of the beam, at the reference point (reference depth on the spot axis)",
    )
    pre_s: float = Field(default=0.5, ge=0, le=60, description="integration runs this long before beam on")
    post_s: float = Field(default=0.5, ge=0, le=60, description="and this long after beam off")
    beam: str = Field(default="150 MeV single spot, gantry 0°", description="the beam set up at the console")
    gy_per_mu: GyPerMu = None
    depth_axis: str = Field(
        default="phantom_z", description="tank axis along the beam (its mounting is used)"
    )
    x_axis: str = Field(default="phantom_x", description="tank axis along IEC X f")
    y_axis: str = Field(default="phantom_y", description="tank axis along IEC Y f")
    spot_axis_mm: tuple[float, float] = Field(
        default=(0.0, 0.0), description="IEC 61217 f (x, y) of the spot axis the chamber is put on"
    )
    water_surface_z_mm: float = Field(
        default=0.0, description="IEC f z of the water surface (depth = surface z − chamber z)"
    )
    approach_mm: float = Field(
        default=1.0, ge=0, le=20, description="each pass starts this far shallower: same approach side"
    )

    def axes(self) -> list[DeviceNeed]:
        return [
            DeviceNeed("depth_axis", self.depth_axis, "positioner"),
            DeviceNeed("x_axis", self.x_axis, "positioner"),
            DeviceNeed("y_axis", self.y_axis, "positioner"),
        ]


class RangeCheckParams(TankChamberParams):
    beam_time_s: float = Field(default=2.0, gt=0, le=600, description="beam time of each point's delivery")
    coarse_start_depth_mm: float = Field(
        default=120.0, ge=0, description="shallowest depth of the coarse pass"
    )
    coarse_end_depth_mm: float = Field(default=175.0, gt=0, description="deepest depth of the coarse pass")
    coarse_step_mm: float = Field(default=2.5, gt=0, le=50, description="step of the coarse pass")
    fine_step_mm: float = Field(default=0.5, gt=0, le=5, description="step of the fine pass (distal edge)")
    fine_margin_mm: float = Field(
        default=2.0,
        ge=0,
        le=20,
        description="the fine pass runs from this far before the coarse peak to this far beyond its R20",
    )
    peak_fit_halfwidth_mm: float = Field(
        default=1.0, gt=0, le=10, description="readings within this of the highest make the peak's parabola"
    )
    noise_repeats: int = Field(
        default=5, ge=3, le=50, description="deliveries at the peak for the readings' relative scatter"
    )
    baseline_r90_mm: float = Field(
        default=SIMULATED_RIG_R90_MM,
        gt=0,
        description="commissioned distal R90 (default: the built-in simulated rig's nominal beam)",
    )
    baseline_r80_mm: float = Field(
        default=SIMULATED_RIG_R80_MM,
        gt=0,
        description="commissioned distal R80 (default: the built-in simulated rig's nominal beam)",
    )
    baseline_uncertainty_mm: float = Field(
        default=0.0, ge=0, le=5, description="standard uncertainty of the baselines (0: taken as exact)"
    )
    depth_zero_uncertainty_mm: float = Field(
        default=0.1,
        ge=0,
        le=5,
        description="standard uncertainty of the depth zero (water surface against the carriage) between "
        "the baseline and this run",
    )
    position_uncertainty_mm: float = Field(
        default=0.005, ge=0, le=1, description="standard uncertainty of one depth readback (encoder)"
    )
    profile: str = Field(default="tg224-daily")
    profile_override: RangeCheckProfile | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RangeCheckParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        if self.coarse_end_depth_mm <= self.coarse_start_depth_mm:
            raise ValueError(
                f"coarse_end_depth_mm ({self.coarse_end_depth_mm:g}) must be deeper than "
                f"coarse_start_depth_mm ({self.coarse_start_depth_mm:g})"
            )
        span = self.coarse_end_depth_mm - self.coarse_start_depth_mm
        if span / self.coarse_step_mm < 4:
            raise ValueError(f"coarse_step_mm {self.coarse_step_mm:g} leaves fewer than 5 coarse points")
        if span / self.coarse_step_mm > 400:
            raise ValueError(f"coarse_step_mm {self.coarse_step_mm:g} makes more than 400 coarse points")
        if self.fine_step_mm >= self.coarse_step_mm:
            raise ValueError(
                f"fine_step_mm ({self.fine_step_mm:g}) must be finer than coarse_step_mm "
                f"({self.coarse_step_mm:g})"
            )
        if not self.coarse_start_depth_mm < self.baseline_r90_mm < self.baseline_r80_mm:
            raise ValueError(
                f"baselines must satisfy coarse_start_depth_mm < R90 < R80, got "
                f"{self.coarse_start_depth_mm:g}, {self.baseline_r90_mm:g}, {self.baseline_r80_mm:g} mm"
            )
        if self.baseline_r80_mm >= self.coarse_end_depth_mm:
            raise ValueError(
                f"baseline_r80_mm ({self.baseline_r80_mm:g}) lies beyond the scan's end "
                f"({self.coarse_end_depth_mm:g} mm): the distal fall-off would not be scanned"
            )
        return self

    def tolerance_profile(self) -> RangeCheckProfile:
        return self.profile_override or PROFILES[self.profile]

    def coarse_depths(self) -> list[float]:
        count = math.floor((self.coarse_end_depth_mm - self.coarse_start_depth_mm) / self.coarse_step_mm)
        depths = [self.coarse_start_depth_mm + i * self.coarse_step_mm for i in range(count + 1)]
        if self.coarse_end_depth_mm - depths[-1] > 1e-9:
            depths.append(self.coarse_end_depth_mm)
        return depths


# --------------------------------------------------------------------------------------------- geometry
@dataclass(frozen=True, slots=True)
class TankGeometry:
    """Stage positions of the carriage's chamber for a depth on the spot axis, from the rig's mountings."""

    depth: AxisMounting
    x: AxisMounting
    y: AxisMounting
    surface_z_mm: float
    spot_mm: tuple[float, float]

    def point(self, depth_mm: float) -> Point:
        return Point.from_xyz("f", (self.spot_mm[0], self.spot_mm[1], self.surface_z_mm - depth_mm))

    def depth_stage_mm(self, depth_mm: float) -> float:
        return self.depth.position_mm(self.point(depth_mm))

    def depth_of_stage(self, stage_mm: float) -> float:
        return self.surface_z_mm - float(self.depth.point_at(stage_mm).xyz_mm[2])

    def lateral_stage_mm(self) -> tuple[float, float]:
        point = self.point(0.0)
        return self.x.position_mm(point), self.y.position_mm(point)


def tank_geometry(params: TankChamberParams, context: SequenceContext) -> TankGeometry:
    """The three mountings (each must be in the rig file); the depth axis must run along Z f."""
    mountings = {}
    for need in params.axes():
        mounting = context.axis_mounting(need.device)
        if mounting is None:
            raise PreflightError(
                f"{need.parameter} = {need.device!r}: the rig file gives this axis no mounting; the "
                "chamber's place in the beam is computed from it"
            )
        mountings[need.parameter] = mounting
    depth = mountings["depth_axis"]
    if abs(float(depth.direction.xyz[2])) < 0.99:
        raise PreflightError(
            f"depth_axis = {params.depth_axis!r} runs along {depth.direction.xyz.round(3).tolist()} in IEC "
            "f; a depth scan needs an axis along Z f (the beam axis at gantry 0°)"
        )
    return TankGeometry(
        depth, mountings["x_axis"], mountings["y_axis"], params.water_surface_z_mm, params.spot_axis_mm
    )


def within_travel(context: SequenceContext, device: str, what: str, stage_mm: float) -> float:
    """A stage target inside the axis's soft limits, or a ``PreflightError`` naming what asked for it."""
    limits = context.axis_limits(device)
    if not limits.low_mm <= stage_mm <= limits.high_mm:
        raise PreflightError(
            f"{device}: {what} needs the stage at {stage_mm:.4g} mm, outside its travel "
            f"{limits.low_mm:g}–{limits.high_mm:g} mm ({limits.source})"
        )
    return stage_mm


def place_on_spot_axis(params: TankChamberParams, geometry: TankGeometry, context: SequenceContext) -> Plan:
    """Home the three axes (the depth axis while the electrometer is configured) and centre the chamber."""
    settings = DosimeterSettings(mode="charge", range=params.range, bias_voltage_v=params.bias_voltage_v)
    x_mm, y_mm = geometry.lateral_stage_mm()
    spot = f"spot axis ({params.spot_axis_mm[0]:g}, {params.spot_axis_mm[1]:g}) mm"
    x_mm = within_travel(context, params.x_axis, spot, x_mm)
    y_mm = within_travel(context, params.y_axis, spot, y_mm)
    yield Beam(on=False)
    yield Together((Home(params.depth_axis), ConfigureDosimeter(params.dosimeter, settings)))
    yield Home(params.x_axis)
    yield Home(params.y_axis)
    yield MoveTo(params.x_axis, x_mm)
    yield MoveTo(params.y_axis, y_mm)
    yield Dwell(params.settle_s)
    yield ZeroDosimeter(params.dosimeter)


def gated_reading(params: DeliveryParams, beam_time_s: float) -> Plan:
    """Integration already reset: start, beam for ``beam_time_s`` between pre and post, hold, read (C)."""
    yield StartIntegration(params.dosimeter)
    yield from gated_tail(params, beam_time_s)
    reading: DosimeterReading = yield ReadDosimeter(params.dosimeter)
    return {"value": reading.value, "unit": reading.unit, "clock_s": reading.clock_s}


def depth_point(params: RangeCheckParams, geometry: TankGeometry, stage_mm: float) -> Plan:
    """Move while the electrometer resets; read the encoder while the integration starts; deliver; read."""
    yield Together((MoveTo(params.depth_axis, stage_mm), ResetIntegration(params.dosimeter)))
    axis, _ = yield Together((ReadAxis(params.depth_axis), StartIntegration(params.dosimeter)))
    assert isinstance(axis, AxisReading)
    yield from gated_tail(params, params.beam_time_s)
    reading: DosimeterReading = yield ReadDosimeter(params.dosimeter)
    measured = axis.encoder_mm if axis.encoder_mm is not None else axis.position_mm
    return {
        "stage_mm": stage_mm,
        "readback_mm": measured,
        "depth_mm": geometry.depth_of_stage(measured),
        "value": reading.value,
        "unit": reading.unit,
        "clock_s": reading.clock_s,
    }


class ProtonRangeCheck(Sequence[RangeCheckParams]):
    name = "proton-range-check"
    title = "Proton range: distal R90 and R80 from a water-tank depth scan"
    params_model = RangeCheckParams

    def device_needs(self, params: RangeCheckParams) -> list[DeviceNeed]:
        return [DeviceNeed("dosimeter", params.dosimeter, "dosimeter"), *params.axes()]

    def device_of(self, params: RangeCheckParams) -> str:
        return params.dosimeter

    def plan(self, params: RangeCheckParams, context: SequenceContext) -> Plan:
        geometry = tank_geometry(params, context)
        coarse = params.coarse_depths()
        for depth in (coarse[0] - params.approach_mm, coarse[-1]):
            within_travel(context, params.depth_axis, f"depth {depth:g} mm", geometry.depth_stage_mm(depth))
        yield from place_on_spot_axis(params, geometry, context)
        points: list[dict[str, Any]] = []
        yield from self._pass(params, geometry, context, "coarse", coarse, points)
        window = fine_window(params, [p for p in points if p["pass"] == "coarse"])
        fine = fine_depths(window, params.fine_step_mm)
        yield from self._pass(params, geometry, context, "fine", fine, points)
        fine_points = [p for p in points if p["pass"] == "fine"]
        top = max(fine_points, key=lambda p: abs(p["value"]))["depth_mm"] if fine_points else fine[0]
        top_depth = min(fine, key=lambda d: abs(d - top))
        yield from self._pass(params, geometry, context, "repeat", [top_depth] * params.noise_repeats, points)
        return {"points": points, "fine_window_mm": list(window)}

    def _pass(
        self,
        params: RangeCheckParams,
        geometry: TankGeometry,
        context: SequenceContext,
        label: str,
        depths: list[float],
        out: list[dict[str, Any]],
    ) -> Plan:
        """One pass, every point approached from the shallower side (the stage moving the same way)."""
        approach = geometry.depth_stage_mm(depths[0] - params.approach_mm)
        yield MoveTo(params.depth_axis, within_travel(context, params.depth_axis, "approach", approach))
        for index, depth in enumerate(depths):
            what = f"depth {depth:g} mm"
            stage = within_travel(context, params.depth_axis, what, geometry.depth_stage_mm(depth))
            record = yield from depth_point(params, geometry, stage)
            out.append({"pass": label, "index": index, "nominal_depth_mm": depth, **record})
            yield Checkpoint(f"{label} {index + 1}/{len(depths)} at {depth:g} mm")

    def analyze(self, params: RangeCheckParams, data: Any) -> SequenceResult:
        return analyze_range_check(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        return [range_figure(result)]


# --------------------------------------------------------------------------------------------- estimators
@dataclass(frozen=True, slots=True)
class DistalRanges:
    """Peak depth and value of the normalised curve, and the distal depths at each level (None: not found)."""

    peak_depth_mm: float
    peak_value: float
    ranges: dict[float, float | None]
    brackets: dict[float, int | None]  # index of the deeper bracketing point in the sorted curve


def peak(depths: np.ndarray, values: np.ndarray, halfwidth_mm: float) -> tuple[float, float]:
    """(depth, value) of the maximum: the vertex of a least-squares parabola through the readings within
    ``halfwidth_mm`` of the highest, or the highest reading when fewer than 3 lie there or the vertex
    falls outside them."""
    top = int(np.argmax(values))
    near = np.abs(depths - depths[top]) <= halfwidth_mm + 1e-9
    if np.count_nonzero(near) >= 3:
        x = depths[near] - depths[top]
        a, b, c = np.polyfit(x, values[near], 2)
        if a < 0:
            vertex = -b / (2.0 * a)
            if x.min() <= vertex <= x.max():
                return float(depths[top] + vertex), float(c - b * b / (4.0 * a))
    return float(depths[top]), float(values[top])


def distal_ranges(
    depths: np.ndarray, values: np.ndarray, halfwidth_mm: float, levels: tuple[float, ...] = LEVELS
) -> DistalRanges:
    """R_L for each level L: the first crossing of L·peak beyond the peak, linear between the two readings
    that bracket it. ``depths`` ascending."""
    peak_depth, peak_value = peak(depths, values, halfwidth_mm)
    start = int(np.searchsorted(depths, peak_depth))
    ranges: dict[float, float | None] = {}
    brackets: dict[float, int | None] = {}
    for level in levels:
        target = level * peak_value
        found: float | None = None
        bracket: int | None = None
        for j in range(max(start, 1), depths.size):
            if values[j] < target <= values[j - 1]:
                z0, z1, m0, m1 = depths[j - 1], depths[j], values[j - 1], values[j]
                found = float(z0 + (m0 - target) * (z1 - z0) / (m0 - m1))
                bracket = j
                break
        ranges[level], brackets[level] = found, bracket
    return DistalRanges(peak_depth, peak_value, ranges, brackets)


def fine_window(params: RangeCheckParams, coarse: list[dict[str, Any]]) -> tuple[float, float]:
    """From ``fine_margin_mm`` before the coarse peak to as far beyond its R20; around the baselines when
    the coarse pass shows no distal edge (a dry run's zero readings, a beam that never came)."""
    low_limit, high_limit = params.coarse_start_depth_mm, params.coarse_end_depth_mm
    found: tuple[float, float] | None = None
    if len(coarse) >= 3:
        depths = np.array([p["depth_mm"] for p in coarse], dtype=float)
        values = np.abs(np.array([p["value"] for p in coarse], dtype=float))
        order = np.argsort(depths)
        if float(values.max()) > 0:
            curve = distal_ranges(depths[order], values[order], params.coarse_step_mm / 2.0)
            r20 = curve.ranges[0.2]
            if r20 is not None:
                found = (curve.peak_depth_mm - params.fine_margin_mm, r20 + params.fine_margin_mm)
    if found is None:  # the peak lies some 2 mm before R90, R20 some 4–5 mm beyond R80
        margin = params.fine_margin_mm
        found = (params.baseline_r90_mm - 2.0 - margin, params.baseline_r80_mm + 4.5 + margin)
    low = min(max(found[0], low_limit), high_limit - params.fine_step_mm)
    high = max(min(found[1], high_limit), low + params.fine_step_mm)
    return float(low), float(high)


def fine_depths(window: tuple[float, float], step: float) -> list[float]:
    count = math.floor((window[1] - window[0]) / step + 1e-9)
    return [round(window[0] + i * step, 6) for i in range(count + 1)]


def relative_scatter(values: list[float]) -> tuple[float, int]:
    """Sample relative standard deviation of repeated readings, and its dof."""
    v = np.asarray(values, dtype=float)
    if v.size < 2 or float(np.mean(v)) == 0:
        raise ValueError("the readings' scatter needs at least two non-zero repeated readings")
    return float(np.std(v, ddof=1) / abs(float(np.mean(v)))), int(v.size - 1)


@dataclass(frozen=True, slots=True)
class RangeBudget:
    value: float
    components: dict[str, tuple[float, float]]  # name → (standard uncertainty mm, dof)

    @property
    def u(self) -> float:
        return math.sqrt(sum(u * u for u, _ in self.components.values()))

    @property
    def dof(self) -> float:
        us = [u for u, _ in self.components.values()]
        return welch_satterthwaite(us, [nu for _, nu in self.components.values()]) if self.u > 0 else math.inf

    def measurement(self, value: float | None = None) -> Measurement:
        return Measurement(
            value=self.value if value is None else value,
            standard_uncertainty=self.u,
            unit="mm",
            coverage_factor=t_coverage_factor(self.dof),
        )


def _sensitivity(fn: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """∂fn/∂x_i by central differences (the estimator is piecewise smooth in the readings)."""
    out = np.zeros(x.size)
    for i in range(x.size):
        if steps[i] == 0:
            continue
        up, down = x.copy(), x.copy()
        up[i] += steps[i]
        down[i] -= steps[i]
        out[i] = (fn(up) - fn(down)) / (2.0 * steps[i])
    return out


def range_budgets(
    params: RangeCheckParams, depths: np.ndarray, values: np.ndarray, s_rel: float, dof: int
) -> tuple[DistalRanges, dict[float, RangeBudget]]:
    """R_L and its budget for every level found (GUM 5.1.2 with numerical sensitivity coefficients)."""
    curve = distal_ranges(depths, values, params.peak_fit_halfwidth_mm)
    budgets: dict[float, RangeBudget] = {}
    u_values = s_rel * np.abs(values)
    for level, r in curve.ranges.items():
        if r is None:
            continue

        def of_values(v: np.ndarray, level: float = level) -> float:
            found = distal_ranges(depths, v, params.peak_fit_halfwidth_mm, (level,)).ranges[level]
            return math.nan if found is None else found

        def of_depths(z: np.ndarray, level: float = level) -> float:
            found = distal_ranges(z, values, params.peak_fit_halfwidth_mm, (level,)).ranges[level]
            return math.nan if found is None else found

        c_values = _sensitivity(of_values, values, 1e-4 * np.abs(values))
        c_depths = _sensitivity(of_depths, depths, np.full(depths.size, 1e-4))
        c_values, c_depths = np.nan_to_num(c_values), np.nan_to_num(c_depths)
        j = curve.brackets[level]
        assert j is not None
        components = {
            "readings' scatter": (float(np.sqrt(np.sum((c_values * u_values) ** 2))), float(dof)),
            "depth readback": (
                float(np.sqrt(np.sum((c_depths * params.position_uncertainty_mm) ** 2))),
                math.inf,
            ),
            "depth zero": (params.depth_zero_uncertainty_mm, math.inf),
            "baseline": (params.baseline_uncertainty_mm, math.inf),
            "interpolation": (interpolation_u(depths, values / curve.peak_value, j), math.inf),
        }
        budgets[level] = RangeBudget(r, components)
    return curve, budgets


def interpolation_u(depths: np.ndarray, normalised: np.ndarray, j: int) -> float:
    """Linear interpolation between points j−1 and j errs by at most h²·|f''|/8 in level (f'' from the
    neighbouring second differences); as depth, over the local slope; rectangular: /√3."""
    h = float(depths[j] - depths[j - 1])
    slope = float(normalised[j - 1] - normalised[j]) / h
    curvatures = []
    for k in (j - 1, j):
        if 1 <= k < depths.size - 1:
            h1, h2 = depths[k] - depths[k - 1], depths[k + 1] - depths[k]
            second = (
                2.0
                * ((normalised[k + 1] - normalised[k]) / h2 - (normalised[k] - normalised[k - 1]) / h1)
                / (h1 + h2)
            )
            curvatures.append(abs(float(second)))
    if not curvatures or slope <= 0:
        return 0.0
    return h * h * max(curvatures) / 8.0 / slope / math.sqrt(3.0)


def merged_curve(points: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The fine pass's readings, and the coarse pass's outside the fine window, sorted by depth (a coarse
    reading a few µm from a fine one would make a spurious curvature)."""
    fine = [p for p in points if p["pass"] == "fine"]
    low = min((p["depth_mm"] for p in fine), default=math.inf)
    high = max((p["depth_mm"] for p in fine), default=-math.inf)
    kept = fine + [p for p in points if p["pass"] == "coarse" and not low <= p["depth_mm"] <= high]
    kept.sort(key=lambda p: float(p["depth_mm"]))
    return (
        np.array([float(p["depth_mm"]) for p in kept]),
        np.array([abs(float(p["value"])) for p in kept]),
    )


# --------------------------------------------------------------------------------------------- analysis
def analyze_range_check(params: RangeCheckParams, data: dict[str, Any]) -> SequenceResult:
    points = data["points"]
    for p in points:
        if p["unit"] != "C":
            raise ValueError(f"{params.dosimeter}: expected charge readings in C, got {p['unit']!r}")
    scan = [p for p in points if p["pass"] in ("coarse", "fine")]
    repeats = [abs(p["value"]) for p in points if p["pass"] == "repeat"]
    s_rel, dof = relative_scatter(repeats)
    resolution = display_resolution([p["value"] for p in points], params.charge_resolution_c)
    step_rel = resolution / math.sqrt(12.0) / float(np.mean(repeats))
    s_rel = math.hypot(s_rel, step_rel)
    depths, values = merged_curve(scan)
    curve, budgets = range_budgets(params, depths, values, s_rel, dof)
    missing = [f"R{round(100 * lv)}" for lv in (0.9, 0.8) if lv not in budgets]
    if missing:
        raise ValueError(
            f"no distal {', '.join(missing)} crossing between {depths[0]:g} and {depths[-1]:g} mm: the "
            "scan does not reach beyond the Bragg peak's fall-off (check the beam's energy and the depths)"
        )
    r90, r80 = budgets[0.9], budgets[0.8]
    profile = params.tolerance_profile()
    verdicts = []
    for key, budget, baseline, level in (
        ("r90", r90, params.baseline_r90_mm, 90),
        ("r80", r80, params.baseline_r80_mm, 80),
    ):
        shift = budget.value - baseline
        verdicts.append(
            decide(
                f"ΔR{level}",
                f"|R{level} − baseline|: distal {level} % depth {budget.value:.3f} mm against the baseline "
                f"{baseline:.3f} mm (shift {shift:+.3f} mm)",
                budget.measurement(abs(shift)),
                profile.tolerance(key),
                profile.rule,
            )
        )
    informative = {
        "R90": r90.measurement(),
        "R80": r80.measurement(),
        "R90_shift": r90.measurement(r90.value - params.baseline_r90_mm),
        "R80_shift": r80.measurement(r80.value - params.baseline_r80_mm),
        "peak_depth": Measurement(
            value=curve.peak_depth_mm, standard_uncertainty=params.fine_step_mm / math.sqrt(12.0), unit="mm"
        ),
        "reading_scatter": Measurement(
            value=100.0 * s_rel, standard_uncertainty=100.0 * s_rel / math.sqrt(2.0 * dof), unit="%"
        ),
    }
    if 0.2 in budgets:
        r20 = budgets[0.2]
        width = r20.value - r80.value
        u_width = math.hypot(r20.components["readings' scatter"][0], r80.components["readings' scatter"][0])
        u_width = math.hypot(u_width, r20.components["interpolation"][0], r80.components["interpolation"][0])
        informative["R20"] = r20.measurement()
        informative["distal_falloff"] = Measurement(
            value=width, standard_uncertainty=u_width, unit="mm", coverage_factor=t_coverage_factor(dof)
        )
    window = data.get("fine_window_mm") or [float("nan")] * 2
    return SequenceResult(
        sequence=ProtonRangeCheck.name,
        title=ProtonRangeCheck.title,
        device=params.dosimeter,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={
            "curve": [
                {"depth_mm": float(d), "charge_nC": float(v) * 1e9, "relative": float(v / curve.peak_value)}
                for d, v in zip(depths, values, strict=True)
            ],
            "budget": [
                {"range": f"R{round(100 * level)}", "component": name, "u_mm": u, "dof": nu}
                for level, budget in budgets.items()
                for name, (u, nu) in budget.components.items()
            ],
            "baselines": [
                {"range": "R90", "baseline_mm": params.baseline_r90_mm},
                {"range": "R80", "baseline_mm": params.baseline_r80_mm},
            ],
        },
        frame="depth in water along the beam axis (IEC 61217 f: depth = "
        f"{params.water_surface_z_mm:g} mm − z), chamber on the spot axis "
        f"({params.spot_axis_mm[0]:g}, {params.spot_axis_mm[1]:g}) mm",
        notes=[
            f"coarse pass {params.coarse_start_depth_mm:g}–{params.coarse_end_depth_mm:g} mm every "
            f"{params.coarse_step_mm:g} mm; fine pass {window[0]:.2f}–{window[1]:.2f} mm every "
            f"{params.fine_step_mm:g} mm; {len(repeats)} repeated deliveries at the peak",
            f"each point: {params.beam_time_s:g} s of beam at {params.dose_rate_gy_per_min:g} Gy/min "
            f"(reference point), integrated from {params.pre_s:g} s before beam on to {params.post_s:g} s "
            f"after beam off; depth from the {params.depth_axis} encoder and its mounting",
            f"readings normalised to the peak: parabola through the readings within "
            f"±{params.peak_fit_halfwidth_mm:g} mm of the highest; R90, R80, R20 by linear interpolation "
            "between the two readings bracketing the level on the distal fall-off",
            f"readings' relative scatter {100 * s_rel:.3g} % ({dof} dof, with the display step "
            f"{resolution:.3g} C) propagated through the whole estimator with numerical sensitivity "
            f"coefficients; depth zero u = {params.depth_zero_uncertainty_mm:g} mm, depth readback u = "
            f"{params.position_uncertainty_mm:g} mm, baseline u = {params.baseline_uncertainty_mm:g} mm, "
            "interpolation h²|f''|/8 rectangular; Welch–Satterthwaite dof, Student-t k",
            "a single chamber: an output drift during the scan is not removed (no reference chamber)",
        ],
    )


def range_figure(result: SequenceResult) -> Any:
    from sequences.plots import _pyplot, _verdict, verdict_limits

    plt = _pyplot()
    rows = result.tables["curve"]
    fig, (ax, shifts) = plt.subplots(1, 2, figsize=(10, 4), dpi=100, gridspec_kw={"width_ratios": [3, 1]})
    ax.plot([r["depth_mm"] for r in rows], [100 * r["relative"] for r in rows], "k.-", lw=0.8, ms=4,
            label="readings / peak")  # fmt: skip
    for name, style in (("R90", "--"), ("R80", ":")):
        if name in result.informative:
            value = result.informative[name].value
            ax.axvline(value, color="black", ls=style, lw=1.0, label=f"{name} measured")
    for row in result.tables["baselines"]:
        ax.axvline(row["baseline_mm"], color="grey", ls="-", lw=0.8, alpha=0.7)
    ax.axhline(90, color="grey", lw=0.5)
    ax.axhline(80, color="grey", lw=0.5)
    ax.set_xlabel("depth in water (mm)")
    ax.set_ylabel("relative reading (%)")
    ax.set_title(f"{result.device}: depth scan (grey verticals: baselines)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(True, alpha=0.3)
    names = [n for n in ("R90_shift", "R80_shift") if n in result.informative]
    shifts.errorbar(
        range(len(names)),
        [result.informative[n].value for n in names],
        yerr=[result.informative[n].expanded_uncertainty for n in names],
        fmt="ko",
        capsize=3,
    )
    verdict_limits(shifts, _verdict(result, "ΔR90"), symmetric=True)
    shifts.axhline(0, color="grey", lw=0.6)
    shifts.set_xticks(range(len(names)), [n.replace("_shift", " − baseline") for n in names], fontsize=8)
    shifts.set_xlim(-0.5, len(names) - 0.5)
    shifts.set_ylabel("shift ± U (mm)")
    shifts.legend(fontsize=6, loc="upper right")
    shifts.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
