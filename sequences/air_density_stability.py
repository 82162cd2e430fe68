"""k_TP over a session: the room sensor's air temperature and pressure read at intervals, their drift flagged.

A vented chamber's reading follows the air density, which is why every chamber reading is corrected by
k_TP = ((273.2 + T)/(273.2 + T₀))·(P₀/P) with T and P taken at the time of the measurement (TG-51, section
on P_TP; TRS-398, section on k_TP). A session that reads the air once and then measures for an hour carries
whatever the air did meanwhile. This sequence measures it: ``samples`` air readings, ``interval_s`` apart.

Metrics (docs/sequences/air-density-stability.md): k_TP of every reading (``dosimetry.k_tp``, never
re-implemented); a least-squares line k_TP(t) = a + b·t; the verdict is the change of k_TP over the
measurement, 100·|b|·(t_last − t_first)/k̄ in %, with its type-A uncertainty from the line's residuals
(n − 2 dof, Student t). Informative: the drift rate in %/h, the range (max − min) of k_TP in %, the
temperature and pressure drift rates. A sensor's constant calibration offset shifts every k_TP alike and
does not enter the drift; its resolution and noise are in the residuals.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.messages import Checkpoint, Dwell, ReadEnvironment
from controller.results import Measurement, SequenceResult, Tolerance, decide
from dosimetry import TG51_REFERENCE, TRS398_REFERENCE, TRS398_REFERENCE_22C, ReferenceConditions, k_tp
from sequences.base import (
    DeviceNeed,
    Plan,
    Sequence,
    SequenceContext,
    environment_record,
    require_known_profile,
)
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import t_coverage_factor

ReferenceName = Literal["TRS-398", "TRS-398-22C", "TG-51"]
REFERENCES: dict[str, ReferenceConditions] = {
    "TRS-398": TRS398_REFERENCE,
    "TRS-398-22C": TRS398_REFERENCE_22C,
    "TG-51": TG51_REFERENCE,
}


class AirDensityProfile(ToleranceProfile):
    """Limit on the drift of k_TP (value and reasoning in sequences/tolerances.py)."""

    drift: Tolerance


PROFILES: dict[str, AirDensityProfile] = profiles_for("air-density-stability", AirDensityProfile)


class AirDensityParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    environment: str = Field(
        default="room_sensor", description="environment device (sensor or operator entry)"
    )
    interval_s: float = Field(default=60.0, gt=0, le=3600, description="time between air readings")
    duration_s: float = Field(
        default=1800.0, gt=0, le=86400, description="how long to watch the air (a session's measuring time)"
    )
    reference_conditions: ReferenceName = Field(
        default="TRS-398", description="reference air conditions of the chambers' calibration certificates"
    )
    profile: str = Field(default="engineering")
    profile_override: AirDensityProfile | None = None

    @model_validator(mode="after")
    def _check(self) -> AirDensityParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        if self.samples < 3:
            raise ValueError(
                f"duration_s {self.duration_s:g} s at interval_s {self.interval_s:g} s gives fewer than 3 "
                "readings; a drift needs at least 3"
            )
        return self

    @property
    def samples(self) -> int:
        """Readings at 0, interval, 2·interval … up to the duration."""
        return math.floor(self.duration_s / self.interval_s + 1e-9) + 1

    def tolerance_profile(self) -> AirDensityProfile:
        return self.profile_override or PROFILES[self.profile]


class AirDensityStability(Sequence[AirDensityParams]):
    name = "air-density-stability"
    title = "Air density (k_TP) over a session"
    params_model = AirDensityParams

    def device_needs(self, params: AirDensityParams) -> list[DeviceNeed]:
        return [DeviceNeed("environment", params.environment, "environment")]

    def device_of(self, params: AirDensityParams) -> str:
        return params.environment

    def plan(self, params: AirDensityParams, context: SequenceContext) -> Plan:
        readings: list[dict[str, Any]] = []
        for index in range(params.samples):
            if index:
                yield Dwell(params.interval_s)
            readings.append(environment_record((yield ReadEnvironment(params.environment))))
            yield Checkpoint(f"air reading {index + 1}/{params.samples}")
        return {"readings": readings}

    def analyze(self, params: AirDensityParams, data: Any) -> SequenceResult:
        return analyze_air_density(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        return [air_density_figure(result)]


def fit_drift(times_s: Any, values: Any) -> tuple[float, float, float, int]:
    """Least-squares line through (t, y): (intercept, slope, u of the slope, dof = n − 2)."""
    t = np.asarray(times_s, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.size < 3:
        raise ValueError("a drift needs at least 3 readings")
    x = t - t.mean()
    sxx = float(np.sum(x**2))
    if sxx <= 0:
        raise ValueError("the readings were all taken at one time")
    slope = float(np.sum(x * (y - y.mean())) / sxx)
    intercept = float(y.mean() - slope * t.mean())
    residuals = y - (intercept + slope * t)
    dof = t.size - 2
    s2 = float(np.sum(residuals**2)) / dof
    return intercept, slope, math.sqrt(s2 / sxx), dof


def analyze_air_density(params: AirDensityParams, data: dict[str, Any]) -> SequenceResult:
    readings = data["readings"]
    reference = REFERENCES[params.reference_conditions]
    times = np.array([r["clock_s"] for r in readings], dtype=float)
    temperature = np.array([r["temperature_c"] for r in readings], dtype=float)
    pressure = np.array([r["pressure_kpa"] for r in readings], dtype=float)
    ktp = np.array([k_tp(t, p, reference=reference).k_tp for t, p in zip(temperature, pressure, strict=True)])
    mean = float(ktp.mean())
    span = float(times[-1] - times[0])
    _, slope, u_slope, dof = fit_drift(times, ktp)
    k = t_coverage_factor(dof)
    drift_pct = 100.0 * slope * span / mean
    u_drift = 100.0 * u_slope * span / mean
    _, t_slope, t_u, _ = fit_drift(times, temperature)
    _, p_slope, p_u, _ = fit_drift(times, pressure)
    profile = params.tolerance_profile()
    verdict = decide(
        "k_TP_drift",
        f"change of k_TP over the {span:g} s measurement, from a line fitted to {len(readings)} air readings "
        f"({drift_pct:+.3g} %)",
        Measurement(value=abs(drift_pct), standard_uncertainty=u_drift, unit="%", coverage_factor=k),
        profile.drift,
        profile.rule,
    )
    per_hour = 3600.0
    informative = {
        "k_TP_mean": Measurement(
            value=mean, standard_uncertainty=float(ktp.std(ddof=1)) / math.sqrt(ktp.size), unit="1"
        ),
        "k_TP_drift_rate": Measurement(
            value=100.0 * slope * per_hour / mean,
            standard_uncertainty=100.0 * u_slope * per_hour / mean,
            unit="%/h",
            coverage_factor=k,
        ),
        "k_TP_range": Measurement(
            value=100.0 * float(ktp.max() - ktp.min()) / mean, standard_uncertainty=0.0, unit="%"
        ),
        "temperature_drift_rate": Measurement(
            value=t_slope * per_hour, standard_uncertainty=t_u * per_hour, unit="°C/h", coverage_factor=k
        ),
        "pressure_drift_rate": Measurement(
            value=p_slope * per_hour, standard_uncertainty=p_u * per_hour, unit="kPa/h", coverage_factor=k
        ),
    }
    sources = sorted(
        {r["provenance"] + (f" by {r['operator']}" if r.get("operator") else "") for r in readings}
    )
    return SequenceResult(
        sequence=AirDensityStability.name,
        title=AirDensityStability.title,
        device=params.environment,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=[verdict],
        informative=informative,
        tables={
            "readings": [
                {
                    "clock_s": float(t),
                    "temperature_c": float(tc),
                    "pressure_kpa": float(p),
                    "k_TP": float(kv),
                }
                for t, tc, p, kv in zip(times, temperature, pressure, ktp, strict=True)
            ]
        },
        frame="not geometric: air temperature (°C), pressure (kPa) and k_TP against the rig clock (s)",
        notes=[
            f"{len(readings)} air readings every {params.interval_s:g} s from {'; '.join(sources)}; "
            "k_TP to the "
            f"{reference.label} reference {reference.temperature_c:g} °C / {reference.pressure_kpa:g} kPa",
            f"drift: least-squares line through k_TP(t), type-A u of its slope ({dof} dof), Student-t "
            f"k = {k:.3g}; the verdict is |slope| × {span:g} s relative to the mean k_TP",
            "a constant sensor offset does not change the drift; it is checked with the sensor's calibration",
        ],
    )


def air_density_figure(result: SequenceResult) -> Any:
    from sequences.plots import _pyplot, mark_limit

    plt = _pyplot()
    rows = result.tables["readings"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    minutes = np.array([r["clock_s"] / 60.0 for r in rows], dtype=float)
    values = np.array([r["k_TP"] for r in rows], dtype=float)
    ax.plot(minutes, values, "ko-", markersize=3, label="k_TP")
    verdict = next((v for v in result.verdicts if v.metric == "k_TP_drift"), None)
    if verdict is not None and minutes.size >= 3 and minutes[-1] > minutes[0]:
        # The verdict is the fitted line's change over the span relative to the mean k_TP: the limits are the
        # steepest lines through the readings' centroid that the tolerance (and action level) allow.
        intercept, slope, _, _ = fit_drift(minutes, values)
        ax.plot(minutes, intercept + slope * minutes, color="0.4", lw=1.0, label="fitted drift")
        mean, centre, span = float(values.mean()), float(minutes.mean()), float(minutes[-1] - minutes[0])
        limits = [(verdict.tolerance.limit, False, "--", "tolerance")]
        action = getattr(verdict.tolerance, "action_limit", None)
        if action is not None:
            limits.append((action, True, "-.", "action level"))
        for limit, is_action, style, name in limits:
            steepest = limit / 100.0 * mean / span
            for sign in (1.0, -1.0):
                line = ax.plot(
                    minutes,
                    mean + sign * steepest * (minutes - centre),
                    color="black",
                    lw=1.3,
                    ls=style,
                    label=f"drift {name} ±{limit:g} % over the span" if sign > 0 else None,
                )[0]
                mark_limit(line, action=is_action)
    ax.set_xlabel("rig clock (min)")
    ax.set_ylabel("k_TP")
    ax.set_title(f"{result.device}: air density over the session", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
