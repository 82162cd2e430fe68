"""W1: positional accuracy and backlash of a phantom-stage axis, ISO 230-2 bidirectional method.

Procedure: reference the axis; for each of ``runs`` cycles, visit every target going up (each approached
from below after an explicit overshoot) and then every target going down (approached from above); dwell
for the water surface to settle; read the axis readback and the reference (the stage's linear encoder).

Metrics (ISO 230-2:2014 as summarised in research qa-tests.md §1), deviation x = reference − target:
  x̄↑ᵢ, x̄↓ᵢ and s↑ᵢ, s↓ᵢ per target; reversal Bᵢ = x̄↑ᵢ − x̄↓ᵢ, axis B = max|Bᵢ|;
  Rᵢ = max(2s↑ᵢ + 2s↓ᵢ + |Bᵢ|, 4s↑ᵢ, 4s↓ᵢ), axis R = max Rᵢ;
  A = max(x̄ + 2s) − min(x̄ − 2s) over all targets and both directions.
Informative: mean reversal B̄, scale (pitch) error from a straight-line fit of the bidirectional mean
deviation against target, max |deviation|, readback-vs-reference difference.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.errors import PreflightError
from controller.messages import AxisReading, Checkpoint, Dwell, Home, MoveTo, ReadAxis
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from geometry import AxisMounting
from sequences.base import Plan, Sequence, SequenceContext, require_known_profile

_TG106 = "AAPM TG-106 (Das et al., Med. Phys. 35:4186, 2008) asks for verification, gives no number [R S5]"


class Iso230Profile(BaseModel):
    """A named set of limits for W1; a site overrides it with a tolerance file of the same shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    accuracy: Tolerance
    repeatability: Tolerance
    backlash: Tolerance
    rule: DecisionRule = DecisionRule.SIMPLE


PROFILES: dict[str, Iso230Profile] = {
    "clinical-suggested": Iso230Profile(
        name="clinical-suggested",
        accuracy=Tolerance(
            limit=0.5, unit="mm", source=f"suggested clinical limit over travel, qa-tests.md W1; {_TG106}"
        ),
        repeatability=Tolerance(
            limit=0.2, unit="mm", source="vendor specification class ±0.1 mm reproducibility, qa-tests.md W1"
        ),
        backlash=Tolerance(
            limit=0.2, unit="mm", source=f"suggested backlash limit, qa-tests.md W1; {_TG106}"
        ),
    ),
    "vendor-spec-class": Iso230Profile(
        name="vendor-spec-class",
        accuracy=Tolerance(limit=0.2, unit="mm", source="vendor specification class ±0.1 mm, qa-tests.md W1"),
        repeatability=Tolerance(
            limit=0.2, unit="mm", source="vendor specification class ±0.1 mm reproducibility, qa-tests.md W1"
        ),
        backlash=Tolerance(limit=0.1, unit="mm", source="half the clinical backlash limit, qa-tests.md W1"),
        rule=DecisionRule.GUARDED,
    ),
}


class Iso230Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    axis: str = Field(default="phantom_x", description="rig device name of the axis under test")
    targets_mm: list[float] | None = Field(
        default=None, description="explicit targets; default: every step_mm across the travel"
    )
    step_mm: float = Field(default=50.0, gt=0, description="target spacing when targets_mm is not given")
    runs: int = Field(default=5, ge=2, le=50, description="bidirectional runs (ISO 230-2 asks for 5)")
    overshoot_mm: float = Field(default=2.0, gt=0, le=50, description="approach overshoot before each target")
    dwell_s: float = Field(default=1.0, ge=0, le=600, description="settling time before each reading")
    reference_resolution_mm: float = Field(
        default=0.0001, gt=0, description="reference (encoder) resolution; random term q/√12 per reading"
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


class PhantomAxisIso230(Sequence[Iso230Params]):
    name = "phantom-axis-iso230"
    title = "Phantom axis positional accuracy and backlash (ISO 230-2 bidirectional)"
    params_model = Iso230Params

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
        count = math.floor((high - low) / params.step_mm + 1e-9) + 1
        if count < 2:
            raise ValueError(f"{params.axis}: travel {limits.low_mm}–{limits.high_mm} mm is too short")
        return [round(low + i * params.step_mm, 6) for i in range(count)]

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
    deviation = {
        (direction, target): np.array(
            [
                r["encoder_mm"] - r["target_mm"]
                for r in data
                if r["direction"] == direction and r["target_mm"] == target
            ]
        )
        for direction in ("up", "down")
        for target in targets
    }
    u_res = params.reference_resolution_mm / math.sqrt(12.0)

    def stats(direction: str, target: float) -> tuple[float, float, float]:
        values = deviation[(direction, target)]
        n = len(values)
        s = float(np.std(values, ddof=1)) if n > 1 else 0.0
        return float(np.mean(values)), s, n

    rows: list[dict[str, Any]] = []
    best_b: tuple[float, float] = (-1.0, 0.0)
    best_r: tuple[float, float] = (-1.0, 0.0)
    tops: list[tuple[float, float]] = []
    bottoms: list[tuple[float, float]] = []
    reversals = []
    for target in targets:
        mu_up, s_up, n_up = stats("up", target)
        mu_dn, s_dn, n_dn = stats("down", target)
        reversal = mu_up - mu_dn
        u_rev = math.sqrt((s_up**2 + u_res**2) / n_up + (s_dn**2 + u_res**2) / n_dn)
        u_s_up, u_s_dn = s_up / math.sqrt(2 * (n_up - 1)), s_dn / math.sqrt(2 * (n_dn - 1))
        candidates = [
            (2 * s_up + 2 * s_dn + abs(reversal), math.sqrt(4 * u_s_up**2 + 4 * u_s_dn**2 + u_rev**2)),
            (4 * s_up, 4 * u_s_up),
            (4 * s_dn, 4 * u_s_dn),
        ]
        r_i = max(candidates)
        if abs(reversal) > best_b[0]:
            best_b = (abs(reversal), u_rev)
        if r_i[0] > best_r[0]:
            best_r = r_i
        for mu, s, n, u_s in ((mu_up, s_up, n_up, u_s_up), (mu_dn, s_dn, n_dn, u_s_dn)):
            u_mean = math.sqrt((s**2 + u_res**2) / n)
            tops.append((mu + 2 * s, math.sqrt(u_mean**2 + 4 * u_s**2)))
            bottoms.append((mu - 2 * s, math.sqrt(u_mean**2 + 4 * u_s**2)))
        reversals.append((reversal, u_rev))
        iec: dict[str, float] = {}
        if mounting is not None:
            point = mounting.point_at(target)
            iec = {"iec_x_mm": point.x_mm, "iec_y_mm": point.y_mm, "iec_z_mm": point.z_mm}
        rows.append(
            {
                "target_mm": target,
                **iec,
                "mean_up_mm": mu_up,
                "sd_up_mm": s_up,
                "mean_down_mm": mu_dn,
                "sd_down_mm": s_dn,
                "reversal_mm": reversal,
                "repeatability_mm": r_i[0],
                "n_up": n_up,
                "n_down": n_dn,
            }
        )
    top = max(tops)
    bottom = min(bottoms)
    span_m = (targets[-1] - targets[0]) / 1000.0
    u_scale_mm = params.reference_scale_uncertainty_um_per_m * span_m / 1000.0
    accuracy = Measurement(
        value=top[0] - bottom[0],
        standard_uncertainty=math.sqrt(top[1] ** 2 + bottom[1] ** 2 + u_scale_mm**2),
        unit="mm",
    )
    backlash = Measurement(value=best_b[0], standard_uncertainty=best_b[1], unit="mm")
    repeatability = Measurement(value=best_r[0], standard_uncertainty=best_r[1], unit="mm")

    mean_reversal = float(np.mean([abs(b) for b, _ in reversals]))
    u_mean_reversal = math.sqrt(sum(u**2 for _, u in reversals)) / len(reversals)
    slope, u_slope, intercept = _scale_error(rows, u_res, runs)
    u_slope_total = math.hypot(u_slope, params.reference_scale_uncertainty_um_per_m * 1e-6)
    all_dev = np.concatenate(list(deviation.values()))
    readback = np.array([r["position_mm"] - r["encoder_mm"] for r in data])

    profile = params.tolerance_profile()
    verdicts = [
        decide("A", "bidirectional positioning accuracy", accuracy, profile.accuracy, profile.rule),
        decide("R", "bidirectional repeatability", repeatability, profile.repeatability, profile.rule),
        decide("B", "reversal value (backlash), max over targets", backlash, profile.backlash, profile.rule),
    ]
    informative = {
        "mean_reversal": Measurement(value=mean_reversal, standard_uncertainty=u_mean_reversal, unit="mm"),
        "scale_error": Measurement(value=slope * 1e6, standard_uncertainty=u_slope_total * 1e6, unit="µm/m"),
        "max_abs_deviation": Measurement(
            value=float(np.max(np.abs(all_dev))), standard_uncertainty=u_res, unit="mm"
        ),
        "readback_minus_reference_max": Measurement(
            value=float(np.max(np.abs(readback))), standard_uncertainty=u_res, unit="mm"
        ),
    }
    return SequenceResult(
        sequence=PhantomAxisIso230.name,
        title=PhantomAxisIso230.title,
        device=params.axis,
        profile=profile.name,
        verdicts=verdicts,
        informative=informative,
        tables={"targets": rows, "points": list(data)},
        frame=_frame_statement(params.axis, mounting),
        notes=[
            f"{runs} bidirectional runs over {len(targets)} targets, overshoot {params.overshoot_mm} mm, "
            f"dwell {params.dwell_s} s; reference: the axis's linear encoder",
            f"straight-line fit of mean deviation: intercept {intercept * 1000:.2f} µm",
            "uncertainties: type A from run-to-run scatter, reference resolution q/√12, "
            "reference scale; k = 2",
        ],
    )


def _frame_statement(axis: str, mounting: AxisMounting | None) -> str:
    if mounting is None:
        return f"axis scale of {axis} (mm from its home datum); no IEC 61217 mounting in the rig file"
    o, d = mounting.origin, mounting.direction
    return (
        f"IEC 61217 system {o.system.value}: {axis} reads 0 mm at ({o.x_mm:g}, {o.y_mm:g}, {o.z_mm:g}) mm "
        f"and travels along ({d.x:.4f}, {d.y:.4f}, {d.z:.4f}); deviations are along that direction"
    )


def _scale_error(rows: list[dict[str, Any]], u_res: float, runs: int) -> tuple[float, float, float]:
    """OLS slope (mm per mm) of the bidirectional mean deviation against target, with its uncertainty."""
    x = np.array([r["target_mm"] for r in rows])
    y = np.array([(r["mean_up_mm"] + r["mean_down_mm"]) / 2 for r in rows])
    design = np.vstack([np.ones_like(x), x]).T
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    dof = max(len(x) - 2, 1)
    sigma2 = max(float(residual @ residual) / dof, u_res**2 / (2 * runs))
    cov = sigma2 * np.linalg.inv(design.T @ design)
    return float(coef[1]), float(math.sqrt(cov[1, 1])), float(coef[0])


DirectionName = Literal["up", "down"]
