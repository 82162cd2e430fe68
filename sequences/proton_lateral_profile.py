"""Proton pencil-beam lateral profiles: spot position and spot size (sigma) in water against baseline.

Procedure: the water tank carries a small chamber (read by an electrometer) to a depth on the spot axis;
there it scans across the spot along IEC X (Y at the nominal centre), then along IEC Y (X at the nominal
centre). Each point is one gated delivery: the tank moves to the point *while* the electrometer resets
(``Together``), the axis is read while the integration starts, the beam is on for ``beam_time_s``, the
integration is held and read. The step is ``core_step_mm`` within ``core_half_width_sigmas`` baseline
sigmas of the nominal centre, where the profile's slope carries the information on centre and width, and
``tail_step_mm`` out to ``scan_half_width_sigmas``.

Analysis (docs/sequences/proton-lateral-profile.md): per line, a Gaussian with a constant background,
Q(x) = A·exp(−(x − c)²/2s²) + B, fitted by weighted least squares with effective-variance weights
σᵢ² = (r·Q̂ᵢ)² + δ²/12 + (Q̂′ᵢ·u_x)² (r: reading noise, δ: display step, u_x: point-to-point positioning),
iterated with the fitted model. The covariance (JᵀWJ)⁻¹ is scaled by χ²/ν (the weights are known up to a
factor), so U carries Student-t(ν) with ν = n − 4. Spot position: c − nominal, with the tank's set-up
uncertainty added; spot size: s (less the detector's own lateral response, in quadrature) against the
baseline sigma at that depth, in %. The baseline sigma defaults to the commissioned beam model
σ_b(d)² = σ_air² + T₀·d³/3 (Fermi–Eyges with the Highland scattering power T₀ of the beam energy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, model_validator
from scipy import optimize

from controller.errors import PreflightError
from controller.messages import (
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
from drivers.roles.dosimeter import DosimeterSettings
from geometry import AxisMounting
from geometry.frames import Point
from sequences.base import DeviceNeed, GyPerMu, Plan, Sequence, SequenceContext, require_known_profile
from sequences.electrometer_leakage_reproducibility import display_resolution
from sequences.electrometer_linearity import DeliveryParams, gated_tail
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import t_coverage_factor, welch_satterthwaite

#: 80 %–20 % distance of a Gaussian in units of its sigma: √(2 ln 5) − √(2 ln 1.25).
PENUMBRA_80_20_PER_SIGMA = math.sqrt(2.0 * math.log(5.0)) - math.sqrt(2.0 * math.log(1.25))
PROTON_MASS_MEV = 938.272
#: Radiation length of water (cm), Particle Data Group, Atomic and Nuclear Properties of Materials.
WATER_RADIATION_LENGTH_CM = 36.08
SCAN_AXES = ("x", "y")


class LateralProfileProfile(ToleranceProfile):
    """Limits for spot position and size (values in sequences/tolerances.py)."""

    position: Tolerance
    size: Tolerance


PROFILES: dict[str, LateralProfileProfile] = profiles_for("proton-lateral-profile", LateralProfileProfile)


def highland_scattering_power(energy_mev: float) -> float:
    """T₀ = θ₀²/x (rad²/cm) after x = 1 cm of water, Highland's formula as given by the Particle Data Group
    (Review of Particle Physics, "Passage of particles through matter", multiple scattering)."""
    pc = math.sqrt(energy_mev * (energy_mev + 2.0 * PROTON_MASS_MEV))
    beta = pc / (energy_mev + PROTON_MASS_MEV)
    x = 1.0 / WATER_RADIATION_LENGTH_CM
    theta = 13.6 / (beta * pc) * math.sqrt(x) * (1.0 + 0.038 * math.log(x / beta**2))
    return theta**2


def commissioned_sigma_mm(energy_mev: float, in_air_sigma_mm: float, depth_mm: float) -> float:
    """σ_b(d)² = σ_air² + T₀·d³/3: the in-air spot widened by multiple scattering in water (Fermi–Eyges
    with a constant scattering power; Gottschalk, arXiv:0908.1413, compares scattering powers in water)."""
    d_cm = max(depth_mm, 0.0) / 10.0
    return math.sqrt(in_air_sigma_mm**2 + highland_scattering_power(energy_mev) * d_cm**3 / 3.0 * 100.0)


class LateralProfileParams(DeliveryParams):
    dosimeter: str = Field(default="electrometer_tank", description="electrometer of the carriage chamber")
    bias_voltage_v: float = Field(default=400.0, description="signed chamber bias (the sign is the polarity)")
    range: str = Field(default="LOW", description="the electrometer's range name (one range for the scan)")
    charge_resolution_c: float = Field(default=1e-14, gt=0, description="charge resolution of the range")
    beam: str = Field(default="proton pencil beam, one spot at the nominal position")
    gy_per_mu: GyPerMu = None
    x_axis: str = Field(default="phantom_x", description="tank axis moving the chamber along IEC X")
    y_axis: str = Field(default="phantom_y", description="tank axis moving the chamber along IEC Y")
    z_axis: str = Field(default="phantom_z", description="tank axis moving the chamber along IEC Z (depth)")
    water_surface_z_mm: float = Field(default=0.0, description="IEC f Z of the water surface")
    depths_mm: list[float] = Field(
        default=[20.0], min_length=1, max_length=4, description="depths in water of the profiles"
    )
    spot_position_mm: tuple[float, float] = Field(
        default=(0.0, 0.0), description="baseline (nominal) spot centre, IEC f X and Y on the isocentre plane"
    )
    energy_mev: float = Field(default=150.0, ge=70.0, le=250.0, description="beam energy (baseline model)")
    in_air_sigma_mm: float = Field(
        default=4.0, gt=0, le=30, description="commissioned in-air spot sigma (baseline model)"
    )
    baseline_sigma_mm: list[float] | None = Field(
        default=None,
        description="commissioned spot sigma at each depth; None: from the beam model σ_air² + T₀·d³/3",
    )
    beam_time_s: float = Field(default=2.0, gt=0, le=600, description="beam time of each point's delivery")
    core_step_mm: float = Field(default=1.0, gt=0, le=20, description="step within the core")
    tail_step_mm: float = Field(default=2.0, gt=0, le=20, description="step outside the core")
    core_half_width_sigmas: float = Field(
        default=2.0, ge=0, le=5, description="core: this many baseline sigmas either side of the centre"
    )
    scan_half_width_sigmas: float = Field(
        default=3.5, gt=0, le=6, description="scan: this many baseline sigmas either side of the centre"
    )
    reading_noise_rel: float = Field(
        default=1e-3, gt=0, le=0.1, description="relative noise of a reading (weights; χ²/ν rescales U)"
    )
    position_u_mm: float = Field(
        default=0.02, ge=0, le=1, description="point-to-point positioning standard uncertainty"
    )
    tank_setup_u_mm: float = Field(
        default=0.1, ge=0, le=2, description="standard uncertainty of the tank's zero in IEC f (set-up)"
    )
    axis_scale_u_pct: float = Field(
        default=0.1, ge=0, le=5, description="standard uncertainty of the tank axes' scale (W1)"
    )
    recombination_pct_per_na: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="general recombination, k_s − 1 in % per nA of chamber current (0: not corrected)",
    )
    detector_sigma_mm: float = Field(
        default=0.0, ge=0, le=5, description="lateral response sigma of the chamber, removed in quadrature"
    )
    profile: str = Field(default="tg224-annual")
    profile_override: LateralProfileProfile | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LateralProfileParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        if any(not 0 < d <= 400 for d in self.depths_mm):
            raise ValueError(f"depths_mm {self.depths_mm}: every depth must lie in (0, 400] mm")
        if len(set(self.depths_mm)) != len(self.depths_mm):
            raise ValueError(f"depths_mm {self.depths_mm}: a depth is named twice")
        if self.baseline_sigma_mm is not None:
            if len(self.baseline_sigma_mm) != len(self.depths_mm):
                raise ValueError(
                    f"baseline_sigma_mm has {len(self.baseline_sigma_mm)} values for "
                    f"{len(self.depths_mm)} depths; give one per depth (or none for the beam model)"
                )
            if any(not 0 < s <= 50 for s in self.baseline_sigma_mm):
                raise ValueError(f"baseline_sigma_mm {self.baseline_sigma_mm}: each must lie in (0, 50] mm")
        if self.core_half_width_sigmas > self.scan_half_width_sigmas:
            raise ValueError(
                f"core_half_width_sigmas {self.core_half_width_sigmas:g} exceeds scan_half_width_sigmas "
                f"{self.scan_half_width_sigmas:g}"
            )
        for depth, sigma in zip(self.depths_mm, self.baselines_mm(), strict=True):
            n = scan_offsets(self, sigma).size
            if n < 7:
                raise ValueError(
                    f"the profile at {depth:g} mm has {n} points; a Gaussian with background (4 parameters) "
                    "needs at least 7: widen the scan or shorten the steps"
                )
        return self

    def baselines_mm(self) -> list[float]:
        """The baseline sigma at each depth: given, or from the commissioned beam model."""
        if self.baseline_sigma_mm is not None:
            return list(self.baseline_sigma_mm)
        return [commissioned_sigma_mm(self.energy_mev, self.in_air_sigma_mm, d) for d in self.depths_mm]

    def tolerance_profile(self) -> LateralProfileProfile:
        return self.profile_override or PROFILES[self.profile]


def scan_offsets(params: LateralProfileParams, sigma_mm: float) -> np.ndarray:
    """Offsets from the nominal centre (mm): ``core_step`` inside the core, ``tail_step`` beyond it."""
    core = params.core_half_width_sigmas * sigma_mm
    half = params.scan_half_width_sigmas * sigma_mm
    n_core = math.floor(core / params.core_step_mm + 1e-9)
    inner = params.core_step_mm * np.arange(-n_core, n_core + 1)
    edge = n_core * params.core_step_mm
    n_tail = math.floor((half - edge) / params.tail_step_mm + 1e-9)
    tail = edge + params.tail_step_mm * np.arange(1, n_tail + 1)
    return np.concatenate([-tail[::-1], inner, tail])


def _mounting(context: SequenceContext, device: str) -> AxisMounting:
    mounting = context.axis_mounting(device)
    if mounting is None:
        raise PreflightError(
            f"{device}: the lateral profile places the chamber in IEC f through the axis mounting; "
            "the rig file gives none"
        )
    return mounting


def _stage_target(mounting: AxisMounting, point_mm: tuple[float, float, float]) -> float:
    return mounting.position_mm(Point.from_xyz("f", point_mm))


class ProtonLateralProfile(Sequence[LateralProfileParams]):
    name = "proton-lateral-profile"
    title = "Proton pencil-beam spot position and size from lateral profiles in water"
    params_model = LateralProfileParams

    def device_needs(self, params: LateralProfileParams) -> list[DeviceNeed]:
        return [
            DeviceNeed("dosimeter", params.dosimeter, "dosimeter"),
            DeviceNeed("x_axis", params.x_axis, "positioner"),
            DeviceNeed("y_axis", params.y_axis, "positioner"),
            DeviceNeed("z_axis", params.z_axis, "positioner"),
        ]

    def device_of(self, params: LateralProfileParams) -> str:
        return params.dosimeter

    def plan(self, params: LateralProfileParams, context: SequenceContext) -> Plan:
        axes = {"x": params.x_axis, "y": params.y_axis, "z": params.z_axis}
        mountings = {label: _mounting(context, device) for label, device in axes.items()}
        cx, cy = params.spot_position_mm
        lines = []
        for depth, sigma in zip(params.depths_mm, params.baselines_mm(), strict=True):
            z = params.water_surface_z_mm - depth
            for scan in SCAN_AXES:
                offsets = scan_offsets(params, sigma)
                points = [(cx + o, cy, z) if scan == "x" else (cx, cy + o, z) for o in offsets]
                targets = {
                    label: [_stage_target(mountings[label], p) for p in points] for label in ("x", "y", "z")
                }
                lines.append((depth, sigma, scan, points, targets))
        problems = []
        for label, device in axes.items():
            limits = context.axis_limits(device)
            wanted = [t for line in lines for t in line[4][label]]
            low, high = min(wanted), max(wanted)
            if low < limits.low_mm or high > limits.high_mm:
                problems.append(
                    f"{device}: the scan needs {low:.4g}…{high:.4g} mm, outside its travel "
                    f"{limits.low_mm:g}…{limits.high_mm:g} mm ({limits.source})"
                )
        if problems:
            raise PreflightError("proton-lateral-profile: " + "; ".join(problems))

        settings = DosimeterSettings(mode="charge", range=params.range, bias_voltage_v=params.bias_voltage_v)
        yield Beam(on=False)
        yield Together((Home(params.z_axis), ConfigureDosimeter(params.dosimeter, settings)))
        yield Home(params.x_axis)
        yield Home(params.y_axis)
        yield Dwell(params.settle_s)
        yield ZeroDosimeter(params.dosimeter)
        records: list[dict[str, Any]] = []
        for depth, sigma, scan, points, targets in lines:
            moving = axes[scan]
            fixed = [label for label in ("x", "y", "z") if label != scan]
            # park the fixed axes; approach the first point from below so every point is reached moving +
            for label in fixed:
                yield MoveTo(axes[label], targets[label][0])
            yield MoveTo(moving, max(context.axis_limits(moving).low_mm, targets[scan][0] - 1.0))
            fixed_readings = {}
            for label in fixed:
                reading = yield ReadAxis(axes[label])
                fixed_readings[label] = _measured_f(mountings[label], reading, label)
            rows = []
            for index, point in enumerate(points):
                yield Together((MoveTo(moving, targets[scan][index]), ResetIntegration(params.dosimeter)))
                axis_reading, _ = yield Together((ReadAxis(moving), StartIntegration(params.dosimeter)))
                yield from gated_tail(params, params.beam_time_s)
                charge = yield ReadDosimeter(params.dosimeter)
                rows.append(
                    {
                        "nominal_mm": float(point[0 if scan == "x" else 1]),
                        "target_mm": float(targets[scan][index]),
                        "position_mm": _measured_f(mountings[scan], axis_reading, scan),
                        "value": charge.value,
                        "unit": charge.unit,
                        "clock_s": charge.clock_s,
                    }
                )
                yield Checkpoint(f"{scan} profile at {depth:g} mm: point {index + 1}/{len(points)}")
            records.append(
                {
                    "depth_mm": depth,
                    "baseline_sigma_mm": sigma,
                    "axis": scan,
                    "fixed_f_mm": fixed_readings,
                    "points": rows,
                }
            )
        return {"lines": records, "water_surface_z_mm": params.water_surface_z_mm}

    def analyze(self, params: LateralProfileParams, data: Any) -> SequenceResult:
        return analyze_lateral_profile(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        return [lateral_profile_figure(result)]


def _measured_f(mounting: AxisMounting, reading: Any, label: str) -> float:
    """The IEC f coordinate (``label``) the carriage is at, from the encoder (readback if none)."""
    position = reading.encoder_mm if reading.encoder_mm is not None else reading.position_mm
    point = mounting.point_at(float(position))
    return float({"x": point.x_mm, "y": point.y_mm, "z": point.z_mm}[label])


# --------------------------------------------------------------------------------------------- estimator
@dataclass(frozen=True, slots=True)
class GaussianFit:
    """Q(x) = A·exp(−(x − c)²/2s²) + B with the covariance of (A, c, s, B) scaled by χ²/ν."""

    amplitude: float
    centre: float
    sigma: float
    background: float
    covariance: np.ndarray
    chi2: float
    dof: int
    weights_sigma: np.ndarray

    @property
    def birge_ratio(self) -> float:
        return math.sqrt(self.chi2 / self.dof)

    def u(self, index: int) -> float:
        return math.sqrt(float(self.covariance[index, index]))

    def model(self, x: Any) -> np.ndarray:
        return gaussian(np.asarray(x, dtype=float), self.amplitude, self.centre, self.sigma, self.background)


def gaussian(x: np.ndarray, amplitude: float, centre: float, sigma: float, background: float) -> np.ndarray:
    return amplitude * np.exp(-((x - centre) ** 2) / (2.0 * sigma**2)) + background


def _jacobian(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, c, s, _ = p
    e = np.exp(-((x - c) ** 2) / (2.0 * s**2))
    return np.column_stack([e, a * e * (x - c) / s**2, a * e * (x - c) ** 2 / s**3, np.ones_like(x)])


def fit_gaussian(
    x: Any, q: Any, rel_noise: float, abs_noise: float, position_u: float, iterations: int = 3
) -> GaussianFit:
    """Weighted least squares with effective-variance weights, re-evaluated at the fitted model."""
    xs = np.asarray(x, dtype=float)
    qs = np.asarray(q, dtype=float)
    if xs.size < 5:
        raise ValueError(f"a Gaussian with background needs at least 5 points, got {xs.size}")
    background = float(np.min(qs))
    above = np.clip(qs - background, 0.0, None)
    if not np.any(above > 0):
        raise ValueError("the profile is flat: no spot in the scanned range")
    centre = float(np.sum(above * xs) / np.sum(above))
    spread = math.sqrt(max(float(np.sum(above * (xs - centre) ** 2) / np.sum(above)), 1e-6))
    p = np.array([float(np.max(above)), centre, spread, background])
    sigma_i = np.sqrt((rel_noise * np.abs(qs)) ** 2 + abs_noise**2)
    for _ in range(iterations):
        weights = sigma_i

        def residuals(params: np.ndarray, w: np.ndarray = weights) -> np.ndarray:
            return np.asarray((qs - gaussian(xs, *params)) / w)

        def jac(params: np.ndarray, w: np.ndarray = weights) -> np.ndarray:
            return np.asarray(-_jacobian(xs, params) / w[:, None])

        solution = optimize.least_squares(residuals, p, jac=jac, method="lm", x_scale="jac")
        p = solution.x
        p[2] = abs(p[2])
        model = gaussian(xs, *p)
        slope = _jacobian(xs, p)[:, 1] * -1.0  # dQ/dx = −dQ/dc
        sigma_i = np.sqrt((rel_noise * np.abs(model)) ** 2 + abs_noise**2 + (slope * position_u) ** 2)
    j = _jacobian(xs, p) / sigma_i[:, None]
    r = (qs - gaussian(xs, *p)) / sigma_i
    dof = xs.size - 4
    chi2 = float(r @ r)
    cov = np.linalg.inv(j.T @ j) * (chi2 / dof if dof > 0 else math.inf)
    return GaussianFit(float(p[0]), float(p[1]), float(p[2]), float(p[3]), cov, chi2, dof, sigma_i)


def penumbra_80_20(positions: np.ndarray, values: np.ndarray, fit: GaussianFit) -> tuple[float, float]:
    """80–20 % distances on the low and high side, interpolated on the background-free readings
    normalised to the fitted amplitude (nan where the scan does not reach a level)."""
    y = (values - fit.background) / fit.amplitude
    order = np.argsort(positions)
    xs, ys = positions[order], y[order]
    peak = int(np.argmin(np.abs(xs - fit.centre)))

    def crossing(level: float, side: int) -> float:
        idx = range(peak, 0, -1) if side < 0 else range(peak, xs.size - 1)
        for i in idx:
            j = i - 1 if side < 0 else i + 1
            if (ys[i] - level) * (ys[j] - level) <= 0 and ys[i] != ys[j]:
                return float(xs[i] + (level - ys[i]) * (xs[j] - xs[i]) / (ys[j] - ys[i]))
        return math.nan

    low = crossing(0.8, -1) - crossing(0.2, -1)
    high = crossing(0.2, 1) - crossing(0.8, 1)
    return low, high


# --------------------------------------------------------------------------------------------- analysis
@dataclass(frozen=True, slots=True)
class LineResult:
    depth_mm: float
    axis: str
    fit: GaussianFit
    sigma_mm: float
    u_sigma_fit_mm: float
    u_sigma_scale_mm: float
    u_centre_fit_mm: float
    positions: np.ndarray
    charges: np.ndarray
    penumbra_measured: tuple[float, float]

    @property
    def u_sigma_mm(self) -> float:
        return math.hypot(self.u_sigma_fit_mm, self.u_sigma_scale_mm)


def recombination_corrected(charges: np.ndarray, beam_time_s: float, pct_per_na: float) -> np.ndarray:
    """M·k_s with k_s = 1 + κ·I, I = M/t_beam: general recombination in a continuous beam is linear in the
    dose rate (1/f = 1 + β·Ḋ/V²), so in the chamber current; uncorrected it flattens the profile's top."""
    current_na = np.abs(charges) / beam_time_s * 1e9
    return np.asarray(charges * (1.0 + pct_per_na / 100.0 * current_na))


def analyze_line(params: LateralProfileParams, line: dict[str, Any]) -> LineResult:
    rows = line["points"]
    for row in rows:
        if row["unit"] != "C":
            raise ValueError(f"{params.dosimeter}: expected charge readings in C, got {row['unit']!r}")
    sign = 1.0 if params.bias_voltage_v > 0 else -1.0
    x = np.array([r["position_mm"] for r in rows], dtype=float)
    q = recombination_corrected(
        sign * np.array([r["value"] for r in rows], dtype=float),
        params.beam_time_s,
        params.recombination_pct_per_na,
    )
    step = display_resolution(q, params.charge_resolution_c)
    fit = fit_gaussian(x, q, params.reading_noise_rel, step / math.sqrt(12.0), params.position_u_mm)
    measured = fit.sigma
    if measured <= params.detector_sigma_mm:
        raise ValueError(
            f"fitted sigma {measured:.4g} mm is not wider than the detector's {params.detector_sigma_mm:g} mm"
        )
    sigma = math.sqrt(measured**2 - params.detector_sigma_mm**2)
    u_fit = fit.u(2) * measured / sigma
    u_scale = sigma * params.axis_scale_u_pct / 100.0
    return LineResult(
        depth_mm=float(line["depth_mm"]),
        axis=str(line["axis"]),
        fit=fit,
        sigma_mm=sigma,
        u_sigma_fit_mm=u_fit,
        u_sigma_scale_mm=u_scale,
        u_centre_fit_mm=fit.u(1),
        positions=x,
        charges=q,
        penumbra_measured=penumbra_80_20(x, q, fit),
    )


def analyze_lateral_profile(params: LateralProfileParams, data: dict[str, Any]) -> SequenceResult:
    profile = params.tolerance_profile()
    baselines = dict(zip(params.depths_mm, params.baselines_mm(), strict=True))
    verdicts = []
    informative: dict[str, Measurement] = {}
    table: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    for line in data["lines"]:
        res = analyze_line(params, line)
        depth, axis = res.depth_mm, res.axis
        tag = f"{axis}@{depth:g}mm"
        nominal = params.spot_position_mm[0 if axis == "x" else 1]
        baseline = baselines.get(depth, float(line["baseline_sigma_mm"]))
        # spot position: fit (Student t, ν = n − 4) and the tank's set-up (type B, ν = ∞)
        u_pos = math.hypot(res.u_centre_fit_mm, params.tank_setup_u_mm)
        nu_pos = welch_satterthwaite([res.u_centre_fit_mm, params.tank_setup_u_mm], [res.fit.dof, math.inf])
        deviation = res.fit.centre - nominal
        verdicts.append(
            decide(
                f"Δ{tag}",
                f"|spot centre − baseline| along IEC {axis.upper()} at {depth:g} mm depth: centre "
                f"{res.fit.centre:+.3f} mm against {nominal:+.3g} mm, from a weighted Gaussian fit of "
                f"{res.positions.size} points",
                Measurement(
                    value=abs(deviation),
                    standard_uncertainty=u_pos,
                    unit="mm",
                    coverage_factor=t_coverage_factor(nu_pos),
                ),
                profile.position,
                profile.rule,
            )
        )
        # spot size against the baseline sigma, in % of the baseline
        nu_size = welch_satterthwaite([res.u_sigma_fit_mm, res.u_sigma_scale_mm], [res.fit.dof, math.inf])
        size_dev = 100.0 * (res.sigma_mm - baseline) / baseline
        verdicts.append(
            decide(
                f"Δσ{tag}",
                f"|spot sigma − baseline| / baseline along IEC {axis.upper()} at {depth:g} mm depth: "
                f"σ = {res.sigma_mm:.3f} mm against the baseline {baseline:.4g} mm",
                Measurement(
                    value=abs(size_dev),
                    standard_uncertainty=100.0 * res.u_sigma_mm / baseline,
                    unit="%",
                    coverage_factor=t_coverage_factor(nu_size),
                ),
                profile.size,
                profile.rule,
            )
        )
        k_fit = t_coverage_factor(res.fit.dof)
        informative[f"centre_{tag}"] = Measurement(
            value=res.fit.centre,
            standard_uncertainty=u_pos,
            unit="mm",
            coverage_factor=t_coverage_factor(nu_pos),
        )
        informative[f"sigma_{tag}"] = Measurement(
            value=res.sigma_mm,
            standard_uncertainty=res.u_sigma_mm,
            unit="mm",
            coverage_factor=t_coverage_factor(nu_size),
        )
        informative[f"penumbra_80_20_{tag}"] = Measurement(
            value=PENUMBRA_80_20_PER_SIGMA * res.sigma_mm,
            standard_uncertainty=PENUMBRA_80_20_PER_SIGMA * res.u_sigma_mm,
            unit="mm",
            coverage_factor=t_coverage_factor(nu_size),
        )
        informative[f"birge_ratio_{tag}"] = Measurement(
            value=res.fit.birge_ratio,
            standard_uncertainty=res.fit.birge_ratio / math.sqrt(2.0 * res.fit.dof),
            unit="1",
            coverage_factor=k_fit,
        )
        table.append(
            {
                "depth_mm": depth,
                "axis": axis,
                "points": int(res.positions.size),
                "centre_mm": res.fit.centre,
                "deviation_mm": deviation,
                "u_centre_fit_mm": res.u_centre_fit_mm,
                "sigma_mm": res.sigma_mm,
                "baseline_sigma_mm": baseline,
                "sigma_deviation_pct": size_dev,
                "u_sigma_mm": res.u_sigma_mm,
                "penumbra_80_20_fit_mm": PENUMBRA_80_20_PER_SIGMA * res.sigma_mm,
                "penumbra_80_20_low_side_mm": res.penumbra_measured[0],
                "penumbra_80_20_high_side_mm": res.penumbra_measured[1],
                "amplitude_pC": res.fit.amplitude * 1e12,
                "background_pC": res.fit.background * 1e12,
                "birge_ratio": res.fit.birge_ratio,
                "fixed_f_mm": line.get("fixed_f_mm", {}),
            }
        )
        fitted = res.fit.model(res.positions)
        points.extend(
            {
                "depth_mm": depth,
                "axis": axis,
                "position_mm": float(xp),
                "charge_pC": float(qp) * 1e12,
                "fitted_pC": float(fp) * 1e12,
                "u_pC": float(up) * 1e12,
            }
            for xp, qp, fp, up in zip(res.positions, res.charges, fitted, res.fit.weights_sigma, strict=True)
        )
    return SequenceResult(
        sequence=ProtonLateralProfile.name,
        title=ProtonLateralProfile.title,
        device=params.dosimeter,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={"lines": table, "points": points},
        frame="IEC 61217 fixed system f: X, Y on planes of constant depth below the water surface",
        notes=[
            f"{params.beam}: {params.dose_rate_gy_per_min:g} Gy/min for {params.beam_time_s:g} s per point, "
            f"integrated from {params.pre_s:g} s before beam on to {params.post_s:g} s after beam off; bias "
            f"{params.bias_voltage_v:g} V, settle {params.settle_s:g} s",
            f"scan: {params.core_step_mm:g} mm steps within ±{params.core_half_width_sigmas:g} baseline σ of "
            f"the nominal centre, {params.tail_step_mm:g} mm out to ±{params.scan_half_width_sigmas:g} σ; "
            "each point approached moving +; positions from the axis encoder through the rig's axis mounting",
            "fit: Q = A·exp(−(x − c)²/2s²) + B, weighted least squares with effective-variance weights "
            f"σᵢ² = (r·Q̂ᵢ)² + δ²/12 + (Q̂′ᵢ·u_x)², r = {params.reading_noise_rel:g}, u_x = "
            f"{params.position_u_mm:g} mm, iterated at the fitted model; covariance scaled by χ²/ν, "
            "Student-t(ν = n − 4) coverage",
            f"U of the spot position adds the tank's set-up uncertainty {params.tank_setup_u_mm:g} mm "
            f"(type B); U of the spot size adds the axis scale {params.axis_scale_u_pct:g} % (type B); "
            f"detector response σ_det = {params.detector_sigma_mm:g} mm removed in quadrature",
            "general recombination: readings × (1 + κ·M/t_beam), "
            f"κ = {params.recombination_pct_per_na:g} % per nA"
            + (" (not corrected)" if params.recombination_pct_per_na == 0 else ""),
            "baseline sigma: "
            + (
                "as given"
                if params.baseline_sigma_mm is not None
                else "commissioned beam model σ_b(d)² = σ_air² + T₀·d³/3, "
                f"σ_air = {params.in_air_sigma_mm:g} mm, "
                f"T₀ = {highland_scattering_power(params.energy_mev):.4g} rad²/cm (Highland, "
                f"{params.energy_mev:g} MeV)"
            )
            + "; "
            + ", ".join(f"{b:.4g} mm at {d:g} mm" for d, b in baselines.items()),
            f"80–20 % penumbra of a Gaussian spot profile: {PENUMBRA_80_20_PER_SIGMA:.4f}·σ (informative); "
            "the table also gives it interpolated on the readings, each side",
        ],
    )


def lateral_profile_figure(result: SequenceResult) -> Any:
    from sequences.plots import _pyplot, limit_line

    plt = _pyplot()
    lines = result.tables["lines"]
    fig, axes = plt.subplots(
        1, max(len(lines), 1), figsize=(4 * max(len(lines), 1), 3.6), dpi=100, squeeze=False
    )
    for ax, line in zip(axes[0], lines, strict=False):
        pts = [
            p
            for p in result.tables["points"]
            if p["depth_mm"] == line["depth_mm"] and p["axis"] == line["axis"]
        ]
        xs = np.array([p["position_mm"] for p in pts])
        ax.errorbar(xs, [p["charge_pC"] for p in pts], yerr=[2 * p["u_pC"] for p in pts], fmt="ko", ms=3,
                    capsize=2, label="readings (± 2σᵢ of the weights)")  # fmt: skip
        grid = np.linspace(float(xs.min()), float(xs.max()), 200)
        amp, bg = line["amplitude_pC"], line["background_pC"]
        sigma = line["sigma_mm"]
        ax.plot(grid, amp * np.exp(-((grid - line["centre_mm"]) ** 2) / (2 * sigma**2)) + bg, "b-", lw=1,
                label=f"fit: c = {line['centre_mm']:+.2f} mm, σ = {sigma:.2f} mm")  # fmt: skip
        baseline = line["centre_mm"] - line["deviation_mm"]
        ax.axvline(baseline, color="grey", ls=":", lw=0.8, label="baseline")
        metric = f"Δ{line['axis']}@{line['depth_mm']:g}mm"
        verdict = next((v for v in result.verdicts if v.metric == metric), None)
        if verdict is not None:  # the spot-position limits either side of the baseline centre
            limit_line(ax, verdict.tolerance.limit, f"position tolerance ±{verdict.tolerance.limit:g} mm",
                       vertical=True, symmetric=True, centre=baseline)  # fmt: skip
            action = getattr(verdict.tolerance, "action_limit", None)
            if action is not None:
                limit_line(ax, action, f"action level ±{action:g} mm", action=True, vertical=True,
                           symmetric=True, centre=baseline)  # fmt: skip
        ax.set_xlabel(f"IEC f {line['axis'].upper()} (mm)")
        ax.set_ylabel("charge (pC)")
        ax.set_title(f"{line['axis'].upper()} profile at {line['depth_mm']:g} mm", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
