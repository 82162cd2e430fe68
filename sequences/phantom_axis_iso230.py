"""W1: positional accuracy and backlash of a phantom-stage axis, ISO 230-2 bidirectional method.

Procedure: reference the axis; for each of ``runs`` cycles, visit every target going up (each approached
from below after an explicit overshoot) and then every target going down (approached from above); dwell
for the water surface to settle; read the axis readback and the reference (the stage's linear encoder).

Metrics (ISO 230-2:2014), deviation x = reference − target:
  x̄↑ᵢ, x̄↓ᵢ and s↑ᵢ, s↓ᵢ per target; reversal Bᵢ = x̄↑ᵢ − x̄↓ᵢ, axis B = max|Bᵢ|;
  Rᵢ = max(2s↑ᵢ + 2s↓ᵢ + |Bᵢ|, 4s↑ᵢ, 4s↓ᵢ), axis R = max Rᵢ;
  A = max(x̄ + 2s) − min(x̄ − 2s) over all targets and both directions.
Informative: mean reversal B̄, scale (pitch) error from a straight-line fit of the bidirectional mean
deviation against target, max |deviation|, readback-vs-reference difference.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.errors import PreflightError
from controller.messages import AxisReading, Checkpoint, Dwell, Home, MoveTo, ReadAxis
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from geometry import AxisMounting
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext, require_known_profile
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import COVERAGE_P, t_coverage_factor, welch_satterthwaite


class Iso230Profile(ToleranceProfile):
    """A named set of limits for W1 (values in sequences/tolerances.py); a site overrides it in full here."""

    accuracy: Tolerance
    repeatability: Tolerance
    backlash: Tolerance
    rule: DecisionRule = DecisionRule.SIMPLE


PROFILES: dict[str, Iso230Profile] = profiles_for("phantom-axis-iso230", Iso230Profile)


class Iso230Params(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    axis: str = Field(default="phantom_x", description="rig device name of the axis under test")
    targets_mm: list[float] | None = Field(
        default=None,
        description="explicit targets; default: irregular targets about step_mm apart across the travel",
    )
    step_mm: float = Field(
        default=50.0, gt=0, description="largest nominal target interval when targets_mm is not given"
    )
    runs: int = Field(default=5, ge=2, le=50, description="bidirectional runs (ISO 230-2 asks for 5)")
    overshoot_mm: float = Field(default=2.0, gt=0, le=50, description="approach overshoot before each target")
    dwell_s: float = Field(default=1.0, ge=0, le=600, description="settling time before each reading")
    reference_resolution_mm: float = Field(
        default=0.00016,
        gt=0,
        description="bound of one reference reading's quantization error; the default covers 0.1 µm "
        "encoder counts reported as 0.15625 µm microsteps (Zaber encoder.pos): ±(0.05 + 0.078) µm",
    )
    reference_scale_uncertainty_um_per_m: float = Field(
        default=5.0, ge=0, description="standard uncertainty of the reference's scale (glass scale class)"
    )
    profile: str = Field(default="clinical-suggested", description="tolerance profile name")
    profile_override: Iso230Profile | None = Field(default=None, description="site tolerance profile")

    @model_validator(mode="after")
    def _check(self) -> Iso230Params:
        if self.targets_mm is not None:
            if len(self.targets_mm) < 2:
                raise ValueError(
                    f"targets_mm has {len(self.targets_mm)} target(s); ISO 230-2 needs at least 2"
                )
            if len(set(self.targets_mm)) != len(self.targets_mm):
                raise ValueError("targets_mm repeats a target")
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> Iso230Profile:
        return self.profile_override or PROFILES[self.profile]


#: Golden-ratio conjugate: the fractional parts of i·φ are spread as evenly as a short sequence can be.
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
#: Largest target offset from the uniform grid, as a fraction of the nominal interval.
TARGET_OFFSET_FRACTION = 0.3
#: ISO 230-2 asks for at least five target positions (and five per metre).
MIN_TARGETS = 5


def default_targets(low: float, high: float, step: float) -> list[float]:
    """Irregularly spaced targets over [low, high] (ISO 230-2:2014 clause 5, Pᵢ = (i − 1)p + r).

    Nominal interval p: the travel divided evenly into at least ``MIN_TARGETS`` targets no more than
    ``step`` apart. The end targets sit on the ends of the travel; interior target i moves by
    r = 0.3·(2·frac(i·φ) − 1)·p (φ the golden-ratio conjugate), rounded to 1 µm. The offsets are
    deterministic (a rerun measures the same targets) yet not multiples of any common screw lead, so a
    periodic error whose period divides the nominal interval is sampled at different phases instead of
    being aliased to a constant (ISO 230-2:2014 Annex C).
    """
    count = max(math.ceil((high - low) / step - 1e-9) + 1, MIN_TARGETS)
    pitch = (high - low) / (count - 1)
    interior = [
        round(low + (i + TARGET_OFFSET_FRACTION * (2.0 * ((i * _GOLDEN) % 1.0) - 1.0)) * pitch, 3)
        for i in range(1, count - 1)
    ]
    return [low, *interior, high]


class PhantomAxisIso230(Sequence[Iso230Params]):
    name = "phantom-axis-iso230"
    title = "Phantom axis positional accuracy and backlash (ISO 230-2 bidirectional)"
    params_model = Iso230Params

    def device_needs(self, params: Iso230Params) -> list[DeviceNeed]:
        return [DeviceNeed("axis", params.axis, "positioner")]

    def targets(self, params: Iso230Params, context: SequenceContext) -> list[float]:
        limits = context.axis_limits(params.axis)
        if params.targets_mm is not None:
            low, high = limits.low_mm + params.overshoot_mm, limits.high_mm - params.overshoot_mm
            for index, target in enumerate(params.targets_mm):
                if not low <= target <= high:
                    raise PreflightError(
                        f"{params.axis}: targets_mm[{index}] = {target:g} mm: expected a target in "
                        f"[{low:g}, {high:g}] mm (travel {limits.low_mm:g}–{limits.high_mm:g} mm from "
                        f"{limits.source}, inset by the {params.overshoot_mm:g} mm approach overshoot)"
                    )
            return sorted(params.targets_mm)
        low = limits.low_mm + params.overshoot_mm
        high = limits.high_mm - params.overshoot_mm
        if not high > low:
            raise ValueError(f"{params.axis}: travel {limits.low_mm}–{limits.high_mm} mm is too short")
        return default_targets(low, high, params.step_mm)

    def plan(self, params: Iso230Params, context: SequenceContext) -> Plan:
        axis = params.axis
        targets = self.targets(params, context)
        mounting = context.axis_mounting(axis)
        data: list[dict[str, Any]] = []
        yield Home(axis)
        for run in range(params.runs):
            for direction, order, sign in (("up", targets, -1.0), ("down", targets[::-1], 1.0)):
                for target in order:
                    yield MoveTo(axis, target + sign * params.overshoot_mm)
                    yield MoveTo(axis, target)
                    if params.dwell_s:
                        yield Dwell(params.dwell_s)
                    reading: AxisReading = yield ReadAxis(axis)
                    data.append(
                        {
                            "run": run,
                            "direction": direction,
                            "target_mm": target,
                            "position_mm": reading.position_mm,
                            "encoder_mm": reading.encoder_mm,
                            "clock_s": reading.clock_s,
                        }
                    )
            yield Checkpoint(f"run {run + 1}/{params.runs} done")
        return {"mounting": None if mounting is None else mounting.model_dump(mode="json"), "points": data}

    def analyze(self, params: Iso230Params, data: Any) -> SequenceResult:
        return analyze_iso230(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import iso230_deviation_figure

        return [iso230_deviation_figure(result)]


def analyze_iso230(params: Iso230Params, raw: dict[str, Any] | list[dict[str, Any]]) -> SequenceResult:
    """ISO 230-2 metrics from the plan's raw data (``{"mounting": ..., "points": [...]}`` or bare points)."""
    data: list[dict[str, Any]] = raw["points"] if isinstance(raw, dict) else raw
    mounting_record = raw.get("mounting") if isinstance(raw, dict) else None
    mounting = AxisMounting.model_validate(mounting_record) if mounting_record else None
    if any(row["encoder_mm"] is None for row in data):
        raise ValueError(f"{params.axis}: the axis has no encoder reading; W1 needs an independent reference")
    targets = sorted({row["target_mm"] for row in data})
    runs = 1 + max(row["run"] for row in data)
    cells = {
        (direction, target): [r for r in data if r["direction"] == direction and r["target_mm"] == target]
        for direction in ("up", "down")
        for target in targets
    }
    for (direction, target), rows_in_cell in cells.items():
        if len(rows_in_cell) < 2:
            raise ValueError(
                f"{params.axis}: target {target:g} mm approached {direction} {len(rows_in_cell)} time(s); "
                "ISO 230-2 needs at least 2 approaches per direction for a standard deviation"
            )
    deviation = {key: np.array([r["encoder_mm"] - r["target_mm"] for r in rs]) for key, rs in cells.items()}
    readback = {key: np.array([r["position_mm"] - r["encoder_mm"] for r in rs]) for key, rs in cells.items()}
    mean = {key: float(np.mean(v)) for key, v in deviation.items()}
    sd = {key: float(np.std(v, ddof=1)) for key, v in deviation.items()}
    count = {key: len(v) for key, v in deviation.items()}

    # ISO 230-2 statistics, exactly as the standard defines them (per-target s, max over targets)
    rows: list[dict[str, Any]] = []
    reversals: list[float] = []
    repeatabilities: list[float] = []
    for target in targets:
        up, dn = ("up", target), ("down", target)
        reversal = mean[up] - mean[dn]
        r_i = max(2 * sd[up] + 2 * sd[dn] + abs(reversal), 4 * sd[up], 4 * sd[dn])
        reversals.append(reversal)
        repeatabilities.append(r_i)
        iec: dict[str, float] = {}
        if mounting is not None:
            point = mounting.point_at(target)
            iec = {"iec_x_mm": point.x_mm, "iec_y_mm": point.y_mm, "iec_z_mm": point.z_mm}
        rows.append(
            {
                "target_mm": target,
                **iec,
                "mean_up_mm": mean[up],
                "sd_up_mm": sd[up],
                "mean_down_mm": mean[dn],
                "sd_down_mm": sd[dn],
                "reversal_mm": reversal,
                "repeatability_mm": r_i,
                "n_up": count[up],
                "n_down": count[dn],
            }
        )
    a_value = max(mean[k] + 2 * sd[k] for k in mean) - min(mean[k] - 2 * sd[k] for k in mean)
    b_value = max(abs(b) for b in reversals)
    r_value = max(repeatabilities)
    b_bar = float(np.mean(reversals))

    # Uncertainty: one pooled run-to-run SD (GUM 4.2.8 / H.3) and extreme-value factors by JCGM 101 MC
    dof_pooled = sum(n - 1 for n in count.values())
    s_pooled = math.sqrt(sum((count[k] - 1) * sd[k] ** 2 for k in sd) / dof_pooled)
    factors = extreme_value_factors(
        tuple(count[("up", t)] for t in targets), tuple(count[("down", t)] for t in targets)
    )
    q = params.reference_resolution_mm
    span_m = (targets[-1] - targets[0]) / 1000.0
    u_scale_mm = params.reference_scale_uncertainty_um_per_m * span_m / 1000.0

    def extreme(value: float, factor: float, cells: int, *type_b: float) -> Measurement:
        """U: the 95.45 % quantile of the statistic's random error (factor × pooled SD), type B standard
        uncertainties in quadrature (k = 2), plus the reading quantization's bound (``cells`` × q) added
        linearly, because at low noise it does not average out."""
        random_part = math.sqrt((factor * s_pooled) ** 2 + sum((2 * u) ** 2 for u in type_b))
        expanded = random_part + cells * q
        return Measurement(value=value, standard_uncertainty=expanded / 2, coverage_factor=2.0, unit="mm")

    accuracy = extreme(a_value, factors.accuracy, 2, u_scale_mm)
    repeatability = extreme(r_value, factors.repeatability, 2)
    backlash = extreme(b_value, factors.reversal, 2)
    max_abs_deviation = extreme(max(abs(v) for v in mean.values()), factors.mean, 1, u_scale_mm)
    readback_means = [float(np.mean(v)) for v in readback.values()]
    readback_max = extreme(max(abs(v) for v in readback_means), factors.mean, 1, u_scale_mm)

    # mean reversal value B̄ (ISO 230-2): a plain mean, so Student t on the pooled dof (GUM G.3)
    u_b_bar_a = s_pooled * math.sqrt(sum(1 / count[("up", t)] + 1 / count[("down", t)] for t in targets))
    u_b_bar_a /= len(targets)
    u_b_bar_q = 2 * q / math.sqrt(3.0)  # two readings' quantization, rectangular, not averaged down
    u_b_bar = math.hypot(u_b_bar_a, u_b_bar_q)
    dof_b_bar = welch_satterthwaite([u_b_bar_a, u_b_bar_q], [dof_pooled, math.inf])
    mean_reversal = Measurement(
        value=abs(b_bar),
        standard_uncertainty=u_b_bar,
        coverage_factor=t_coverage_factor(dof_b_bar),
        unit="mm",
    )
    scale_error, scale_residual = _scale_error(rows, params, s_pooled, dof_pooled)

    profile = params.tolerance_profile()
    verdicts = [
        decide("A", "bidirectional positioning accuracy", accuracy, profile.accuracy, profile.rule),
        decide("R", "bidirectional repeatability", repeatability, profile.repeatability, profile.rule),
        decide("B", "reversal value (backlash), max over targets", backlash, profile.backlash, profile.rule),
    ]
    informative = {
        "mean_reversal": mean_reversal,
        "scale_error": scale_error,
        "max_abs_deviation": max_abs_deviation,
        "readback_minus_reference_max": readback_max,
    }
    return SequenceResult(
        sequence=PhantomAxisIso230.name,
        title=PhantomAxisIso230.title,
        device=params.axis,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={"targets": rows, "points": list(data)},
        frame=_frame_statement(params.axis, mounting),
        notes=[
            f"{runs} bidirectional runs over {len(targets)} targets, overshoot {params.overshoot_mm} mm, "
            f"dwell {params.dwell_s} s; reference: the axis's linear encoder",
            f"straight-line fit of mean deviation: intercept {scale_error_intercept(rows) * 1000:.2f} µm, "
            f"RMS residual {scale_residual * 1000:.2f} µm (periodic and non-linear error about the line)",
            f"pooled run-to-run SD {s_pooled * 1000:.2f} µm ({dof_pooled} dof); U of A, R, B and the max "
            "deviations: 95.45 % quantile of the extreme statistic's error (JCGM 101 Monte Carlo), "
            "mean reversal and scale error: Student t (GUM G.3, G.4)",
        ],
    )


class ExtremeValueFactors(BaseModel):
    """Multipliers of the pooled SD giving the 95.45 % bound on the error of each extreme statistic."""

    model_config = ConfigDict(frozen=True)

    accuracy: float
    repeatability: float
    reversal: float
    mean: float


@functools.lru_cache(maxsize=64)
def extreme_value_factors(
    n_up: tuple[int, ...], n_down: tuple[int, ...], p: float = COVERAGE_P, draws: int = 40000
) -> ExtremeValueFactors:
    """Pivotal Monte Carlo (JCGM 101:2008 §7) of the ISO 230-2 extreme statistics' errors.

    Model: every reading is its cell's true mean plus N(0, σ²), one σ for the axis. Then for any true
    means and backlash the errors are bounded (|max âᵢ − max aᵢ| ≤ maxᵢ |âᵢ − aᵢ|) by statistics of
    (Zᵢ, Wᵢ) ~ (N(0, 1), χ²(nᵢ − 1)) times σ alone; dividing by the pooled SD (built from the same Wᵢ)
    makes the ratio free of σ, so its p-quantile times the measured pooled SD is an exact coverage bound:

    * B: maxᵢ |δx̄↑ᵢ − δx̄↓ᵢ|;
    * A: max |δx̄ + 2δs| + max |δx̄ − 2δs| over targets and directions;
    * R: maxᵢ of max(2δs↑ + 2δs↓ + |δBᵢ|, 4δs↑, 4δs↓, |δBᵢ| − 2δs↑ − 2δs↓) (Rᵢ is 4σ + |Bᵢ| when
      both directions share σ, and R̂ᵢ − Rᵢ lies between the lower and upper of those);
    * the largest |mean deviation|: max |δx̄|.
    """
    n = np.array([n_up, n_down], dtype=float).T  # (targets, 2)
    nu = n - 1.0
    rng = np.random.default_rng(230)
    z = rng.standard_normal((draws, *n.shape))
    w = rng.chisquare(np.broadcast_to(nu, (draws, *n.shape)))
    d_mean = z / np.sqrt(n)
    d_sd = np.sqrt(w / nu) - 1.0
    pooled = np.sqrt(w.sum(axis=(1, 2)) / nu.sum())
    d_rev = np.abs(d_mean[..., 0] - d_mean[..., 1])
    e_b = d_rev.max(axis=1)
    top = np.abs(d_mean + 2 * d_sd).max(axis=(1, 2))
    bottom = np.abs(d_mean - 2 * d_sd).max(axis=(1, 2))
    s_sum = 2 * d_sd[..., 0] + 2 * d_sd[..., 1]
    e_r_cell = np.maximum.reduce([s_sum + d_rev, 4 * d_sd[..., 0], 4 * d_sd[..., 1], d_rev - s_sum])
    e_r = e_r_cell.max(axis=1)
    e_m = np.abs(d_mean).max(axis=(1, 2))

    def q(errors: np.ndarray) -> float:
        return float(np.quantile(errors / pooled, p))

    return ExtremeValueFactors(accuracy=q(top + bottom), repeatability=q(e_r), reversal=q(e_b), mean=q(e_m))


def _frame_statement(axis: str, mounting: AxisMounting | None) -> str:
    if mounting is None:
        return f"axis scale of {axis} (mm from its home datum); no IEC 61217 mounting in the rig file"
    o, d = mounting.origin, mounting.direction
    return (
        f"IEC 61217 system {o.system.value}: {axis} reads 0 mm at ({o.x_mm:g}, {o.y_mm:g}, {o.z_mm:g}) mm "
        f"and travels along ({d.x:.4f}, {d.y:.4f}, {d.z:.4f}); deviations are along that direction"
    )


def scale_error_intercept(rows: list[dict[str, Any]]) -> float:
    x = np.array([r["target_mm"] for r in rows])
    y = np.array([(r["mean_up_mm"] + r["mean_down_mm"]) / 2 for r in rows])
    return float(np.polyfit(x, y, 1)[1])


def _scale_error(
    rows: list[dict[str, Any]], params: Iso230Params, s_pooled: float, dof_pooled: int
) -> tuple[Measurement, float]:
    """OLS slope (µm/m) of the bidirectional mean deviation against target, and the fit's RMS residual (mm).

    The measurand is the slope of the least-squares line through the axis's true bidirectional mean
    deviations at the measured targets: the linear (pitch) error a compensation table would take, including
    whatever linear share a sampled periodic error has at these targets. Its uncertainty is therefore the
    run-to-run noise propagated through the fit (pooled SD, its dof; each bidirectional mean averages
    2·runs readings), the reference's scale and the reading quantization (rectangular) — Student t on the
    Welch–Satterthwaite dof (GUM G.3, G.4). The residual about the line (periodic error, non-linearity)
    is reported beside it, not folded into U: it is not an error of this slope.
    """
    x = np.array([r["target_mm"] for r in rows])
    y = np.array([(r["mean_up_mm"] + r["mean_down_mm"]) / 2 for r in rows])
    n = np.array([r["n_up"] + r["n_down"] for r in rows], dtype=float)
    sxx = float(np.sum((x - x.mean()) ** 2))
    slope = float(np.sum((x - x.mean()) * (y - y.mean()))) / sxx
    residual = y - y.mean() - slope * (x - x.mean())
    # var(slope) = Σ ((xᵢ − x̄)/Sxx)² · var(ȳᵢ), var(ȳᵢ) = s²/nᵢ with nᵢ readings in the bidirectional mean
    u_noise = s_pooled * math.sqrt(float(np.sum((x - x.mean()) ** 2 / n))) / sxx
    u_quant = params.reference_resolution_mm / math.sqrt(3.0 * sxx)
    u_ref = params.reference_scale_uncertainty_um_per_m * 1e-6
    components = [u_noise, u_quant, u_ref]
    u_c = math.sqrt(sum(u * u for u in components))
    dof = welch_satterthwaite(components, [float(dof_pooled), math.inf, math.inf])
    k = t_coverage_factor(dof) if u_c > 0 else 2.0
    rms_residual = float(np.sqrt(np.mean(residual**2)))
    return Measurement(
        value=slope * 1e6, standard_uncertainty=u_c * 1e6, coverage_factor=k, unit="µm/m"
    ), rms_residual


DirectionName = Literal["up", "down"]
