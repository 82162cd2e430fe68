"""D2: linearity of the chamber + electrometer charge with delivered dose over the clinical range.

Procedure: charge mode at the operating bias, let the bias settle, null the electrometer; then ``repeats``
cycles over the dose levels (level-major inside a cycle, so a slow drift becomes scatter, not curvature).
Each delivery: reset, start a free-running integration, ``pre_s`` later the beam on at a fixed dose rate
for the level's beam time, beam off, ``post_s`` later hold and read. The integration brackets the whole
beam, so what the beam delivers at switch-on and switch-off is in the charge (a constant charge per
delivery: the intercept of the fit, or, through the origin, a nonlinearity at low dose).

Metric (docs/sequences/electrometer-linearity.md): a weighted least-squares line Q = a + b·D (or b·D) through
the level means; the relative deviation of each mean from the line, d_i = 100·(Q̄_i − Q̂_i)/Q̂_i, and the
largest |d_i|. Weights 1/σ_i² with σ_i from the readings' pooled relative scatter (Σ(n_i − 1) dof) and the
display step. The residuals' covariance is (I − H)Σ(I − H)ᵀ; U of max|d_i| is the p-quantile of max|ε_i| for
ε ~ N(0, Cov d) (GUM Supplement 1), widened by t(ν)/2 for the estimated scatter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.messages import (
    Beam,
    Checkpoint,
    ConfigureDosimeter,
    Dwell,
    HoldIntegration,
    ReadDosimeter,
    ResetIntegration,
    StartIntegration,
    ZeroDosimeter,
)
from controller.results import Measurement, SequenceResult, Tolerance, decide
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from sequences.base import DeviceNeed, GyPerMu, Plan, Sequence, SequenceContext, require_known_profile
from sequences.electrometer_leakage_reproducibility import display_resolution
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import COVERAGE_P, max_abs_halfwidth_mc, t_coverage_factor

FitKind = Literal["intercept", "origin"]


class LinearityProfile(ToleranceProfile):
    """Limit for D2 (values in sequences/tolerances.py)."""

    linearity: Tolerance


PROFILES: dict[str, LinearityProfile] = profiles_for("electrometer-linearity", LinearityProfile)


class DeliveryParams(BaseModel):
    """What every gated-delivery sequence shares: the electrometer, its bias and the beam."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dosimeter: str = Field(default="electrometer_6517b", description="rig device name of the electrometer")
    bias_voltage_v: float = Field(default=300.0, description="signed chamber bias (the sign is the polarity)")
    range: str = Field(default="auto", description="the instrument's range name (one range for all levels)")
    settle_s: float = Field(
        default=600.0, ge=0, description="wait after applying bias: the chamber's response settles"
    )
    charge_resolution_c: float = Field(default=1e-13, gt=0, description="charge resolution of the range")
    dose_rate_gy_per_min: float = Field(default=6.0, gt=0, le=100, description="dose rate at the chamber")
    pre_s: float = Field(default=1.0, ge=0, le=60, description="integration runs this long before beam on")
    post_s: float = Field(default=1.0, ge=0, le=60, description="and this long after beam off")
    beam: str = Field(default="", description="which beam the operator sets up, stated in every beam prompt")
    gy_per_mu: GyPerMu = 0.01

    @model_validator(mode="after")
    def _biased(self) -> DeliveryParams:
        if self.bias_voltage_v == 0:
            raise ValueError("bias_voltage_v = 0 collects no ionisation; give the chamber's bias")
        return self

    def dose_gy(self, beam_time_s: float) -> float:
        """Nominal dose at the chamber for one delivery of ``beam_time_s``."""
        return self.dose_rate_gy_per_min * beam_time_s / 60.0


class LinearityParams(DeliveryParams):
    beam_times_s: list[float] = Field(
        default=[5.0, 10.0, 20.0, 50.0, 100.0],
        min_length=3,
        max_length=20,
        description="beam time of each dose level (at 6 Gy/min: 0.5–10 Gy, 50–1000 MU at 1 cGy/MU)",
    )
    repeats: int = Field(default=3, ge=2, le=20, description="deliveries per dose level")
    fit: FitKind = Field(
        default="intercept",
        description="straight line with an intercept (a constant charge per delivery, such as an end "
        "effect, is not a nonlinearity) or through the origin (it is)",
    )
    profile: str = Field(default="tg142-annual")
    profile_override: LinearityProfile | None = None

    @model_validator(mode="after")
    def _known_profile(self) -> LinearityParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        if any(t <= 0 or t > 3600 for t in self.beam_times_s):
            raise ValueError("every beam time must lie in (0, 3600] s")
        if len(set(self.beam_times_s)) < 3:
            raise ValueError("a linearity fit needs at least 3 different dose levels")
        return self

    def tolerance_profile(self) -> LinearityProfile:
        return self.profile_override or PROFILES[self.profile]


def record(reading: DosimeterReading) -> dict[str, Any]:
    return {"value": reading.value, "unit": reading.unit, "clock_s": reading.clock_s}


def prepare(params: DeliveryParams) -> Plan:
    """Beam off, charge mode at the bias, settle, null the electrometer."""
    settings = DosimeterSettings(mode="charge", range=params.range, bias_voltage_v=params.bias_voltage_v)
    yield Beam(on=False)
    yield ConfigureDosimeter(params.dosimeter, settings)
    yield Dwell(params.settle_s)
    yield ZeroDosimeter(params.dosimeter)


def gated_tail(params: DeliveryParams, beam_time_s: float) -> Plan:
    """The integration already running: ``pre_s``, the beam for ``beam_time_s``, ``post_s``, hold."""
    yield Dwell(params.pre_s)
    yield Beam(
        on=True,
        dose_rate_gy_per_min=params.dose_rate_gy_per_min,
        duration_s=beam_time_s,
        beam=params.beam,
        gy_per_mu=params.gy_per_mu,
    )
    yield Dwell(beam_time_s)
    yield Beam(on=False)
    yield Dwell(params.post_s)
    yield HoldIntegration(params.dosimeter)


def deliveries(params: DeliveryParams, beam_times_s: Seq[float], gap_s: float = 0.0) -> Plan:
    """One integration over several beam-on intervals (gap_s of beam off between them): its reading."""
    device = params.dosimeter
    yield ResetIntegration(device)
    yield StartIntegration(device)
    yield Dwell(params.pre_s)
    for index, beam_time in enumerate(beam_times_s):
        if index and gap_s > 0:
            yield Dwell(gap_s)
        yield Beam(
            on=True,
            dose_rate_gy_per_min=params.dose_rate_gy_per_min,
            duration_s=beam_time,
            beam=params.beam,
            gy_per_mu=params.gy_per_mu,
        )
        yield Dwell(beam_time)
        yield Beam(on=False)
    yield Dwell(params.post_s)
    yield HoldIntegration(device)
    reading: DosimeterReading = yield ReadDosimeter(device)
    return record(reading)


class ElectrometerLinearity(Sequence[LinearityParams]):
    name = "electrometer-linearity"
    title = "Chamber and electrometer linearity with delivered dose (D2)"
    params_model = LinearityParams

    def device_needs(self, params: LinearityParams) -> list[DeviceNeed]:
        return [DeviceNeed("dosimeter", params.dosimeter, "dosimeter")]

    def device_of(self, params: LinearityParams) -> str:
        return params.dosimeter

    def plan(self, params: LinearityParams, context: SequenceContext) -> Plan:
        yield from prepare(params)
        rows: list[dict[str, Any]] = []
        for repeat in range(params.repeats):
            for level, beam_time in enumerate(params.beam_times_s):
                reading = yield from deliveries(params, [beam_time])
                rows.append(
                    {
                        "level": level,
                        "repeat": repeat,
                        "beam_time_s": beam_time,
                        "dose_gy": params.dose_gy(beam_time),
                        **reading,
                    }
                )
                yield Checkpoint(f"repeat {repeat + 1}/{params.repeats}, level {level + 1}")
        return {"deliveries": rows}

    def analyze(self, params: LinearityParams, data: Any) -> SequenceResult:
        return analyze_linearity(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        return [linearity_figure(result)]


# --------------------------------------------------------------------------------------------- estimator
@dataclass(frozen=True, slots=True)
class LineFit:
    """A weighted straight line through (D_i, Q_i) and the relative deviations of the points from it."""

    coefficients: np.ndarray  # [a, b] (intercept) or [b] (origin)
    covariance: np.ndarray  # of the coefficients, from the stated σ_i
    fitted: np.ndarray
    deviation_pct: np.ndarray  # 100·(Q_i − Q̂_i)/Q̂_i
    deviation_cov: np.ndarray  # covariance of deviation_pct, (I − H)Σ(I − H)ᵀ scaled

    @property
    def slope(self) -> float:
        return float(self.coefficients[-1])

    @property
    def intercept(self) -> float:
        return float(self.coefficients[0]) if self.coefficients.size == 2 else 0.0

    @property
    def max_index(self) -> int:
        return int(np.argmax(np.abs(self.deviation_pct)))


def fit_line(doses: Any, charges: Any, sigmas: Any, fit: FitKind = "intercept") -> LineFit:
    """Weighted least squares (weights 1/σ²) of Q = a + b·D or Q = b·D; residual covariance exact."""
    d = np.asarray(doses, dtype=float)
    q = np.asarray(charges, dtype=float)
    s = np.asarray(sigmas, dtype=float)
    x = np.column_stack([np.ones_like(d), d]) if fit == "intercept" else d[:, None]
    if d.size <= x.shape[1]:
        raise ValueError(f"a fit with {x.shape[1]} coefficients needs more than {x.shape[1]} dose levels")
    w = 1.0 / s**2
    normal = x.T @ (w[:, None] * x)
    cov = np.linalg.inv(normal)
    beta = cov @ (x.T @ (w * q))
    fitted = x @ beta
    hat = x @ cov @ x.T * w[None, :]
    m = np.eye(d.size) - hat
    r_cov = m @ np.diag(s**2) @ m.T
    scale = 100.0 / fitted
    return LineFit(
        coefficients=beta,
        covariance=cov,
        fitted=fitted,
        deviation_pct=scale * (q - fitted),
        deviation_cov=r_cov * np.outer(scale, scale),
    )


@dataclass(frozen=True, slots=True)
class Levels:
    """Per dose level: dose, mean charge, readings, and the pooled relative scatter with its dof."""

    doses: np.ndarray
    means: np.ndarray
    counts: np.ndarray
    sd_rel: float
    dof: int


def level_means(rows: list[dict[str, Any]]) -> Levels:
    """Group the readings by dose level; pool the levels' relative variances (the noise scales with Q)."""
    by_level: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_level.setdefault(int(row["level"]), []).append(row)
    doses, means, counts, ss, dof = [], [], [], 0.0, 0
    for level in sorted(by_level):
        values = np.array([r["value"] for r in by_level[level]], dtype=float)
        mean = float(values.mean())
        doses.append(float(by_level[level][0]["dose_gy"]))
        means.append(mean)
        counts.append(values.size)
        if values.size > 1:
            ss += float(np.sum((values / mean - 1.0) ** 2))
            dof += values.size - 1
    if dof == 0:
        raise ValueError("at least one dose level needs repeated readings")
    return Levels(np.array(doses), np.array(means), np.array(counts), math.sqrt(ss / dof), dof)


def max_deviation(fit: LineFit, dof: float, p: float = COVERAGE_P) -> Measurement:
    """max|d_i| with U = the p-quantile of max|ε_i| (ε ~ N(0, Cov d)) widened by t(ν)/z for estimated σ."""
    k = t_coverage_factor(dof, p)
    expanded = max_abs_halfwidth_mc(fit.deviation_cov, p) * k / t_coverage_factor(math.inf, p)
    return Measurement(
        value=float(np.max(np.abs(fit.deviation_pct))),
        standard_uncertainty=expanded / k,
        unit="%",
        coverage_factor=k,
    )


# --------------------------------------------------------------------------------------------- analysis
def analyze_linearity(params: LinearityParams, data: dict[str, Any]) -> SequenceResult:
    rows = data["deliveries"]
    for row in rows:
        if row["unit"] != "C":
            raise ValueError(f"{params.dosimeter}: expected charge readings in C, got {row['unit']!r}")
    levels = level_means(rows)
    resolution = display_resolution([r["value"] for r in rows], params.charge_resolution_c)
    sigmas = np.sqrt(((levels.sd_rel * levels.means) ** 2 + resolution**2 / 12.0) / levels.counts)
    fit = fit_line(levels.doses, levels.means, sigmas, params.fit)
    measured = max_deviation(fit, levels.dof)
    profile = params.tolerance_profile()
    worst = fit.max_index
    line = "Q = a + b·D" if params.fit == "intercept" else "Q = b·D (through the origin)"
    verdict = decide(
        "linearity",
        f"largest relative deviation of a level's mean charge from the weighted line {line}, at "
        f"{levels.doses[worst]:.4g} Gy",
        measured,
        profile.linearity,
        profile.rule,
    )
    k = t_coverage_factor(levels.dof)
    slope_u = math.sqrt(float(fit.covariance[-1, -1]))
    informative = {
        "slope": Measurement(
            value=fit.slope * 1e9, standard_uncertainty=slope_u * 1e9, unit="nC/Gy", coverage_factor=k
        ),
        "reading_scatter": Measurement(
            value=100.0 * levels.sd_rel,
            standard_uncertainty=100.0 * levels.sd_rel / math.sqrt(2.0 * levels.dof),
            unit="%",
        ),
    }
    if params.fit == "intercept":
        informative["intercept"] = Measurement(
            value=fit.intercept * 1e12,
            standard_uncertainty=math.sqrt(float(fit.covariance[0, 0])) * 1e12,
            unit="pC",
            coverage_factor=k,
        )
    u_dev = np.sqrt(np.diag(fit.deviation_cov))
    return SequenceResult(
        sequence=ElectrometerLinearity.name,
        title=ElectrometerLinearity.title,
        device=params.dosimeter,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=[verdict],
        informative=informative,
        tables={
            "levels": [
                {
                    "dose_Gy": float(levels.doses[i]),
                    "readings": int(levels.counts[i]),
                    "mean_nC": float(levels.means[i]) * 1e9,
                    "fitted_nC": float(fit.fitted[i]) * 1e9,
                    "deviation_pct": float(fit.deviation_pct[i]),
                    "u_deviation_pct": float(u_dev[i]),
                }
                for i in range(levels.doses.size)
            ]
        },
        frame="not geometric: charges in coulomb against nominal dose at the chamber",
        notes=[
            f"bias {params.bias_voltage_v:g} V, settle {params.settle_s:g} s; {levels.doses.size} dose "
            f"levels × {params.repeats} at {params.dose_rate_gy_per_min:g} Gy/min, each integrated from "
            f"{params.pre_s:g} s before beam on to {params.post_s:g} s after beam off",
            f"weighted least squares {line}; weights from the pooled relative scatter of the readings "
            f"({100 * levels.sd_rel:.3g} %, {levels.dof} dof) and the display step {resolution:.3g} C",
            "U of the largest deviation: 95.45 % quantile of the largest of the correlated residuals "
            f"(GUM Supplement 1, Monte Carlo), times t({levels.dof})/2 = {k / 2:.3g}",
            "leakage is not subtracted: over a delivery it is a constant plus a part proportional to the "
            "beam time, which the fit with intercept absorbs",
        ],
    )


def linearity_figure(result: SequenceResult) -> Any:
    from sequences.plots import _pyplot, _verdict, verdict_limits

    plt = _pyplot()
    rows = result.tables["levels"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ax.errorbar(
        [r["dose_Gy"] for r in rows],
        [r["deviation_pct"] for r in rows],
        yerr=[2 * r["u_deviation_pct"] for r in rows],
        fmt="ko",
        capsize=3,
        label="level mean − line (± 2u)",
    )
    ax.axhline(0, color="grey", linewidth=0.8)
    verdict_limits(ax, _verdict(result, "linearity"), symmetric=True)
    ax.set_xscale("log")
    ax.set_xlabel("nominal dose at the chamber (Gy)")
    ax.set_ylabel("deviation from the fitted line (%)")
    ax.set_title(f"{result.device}: charge linearity with dose (D2)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
