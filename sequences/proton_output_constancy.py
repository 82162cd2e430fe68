"""Proton output constancy: the k_TP-corrected charge of a chamber at the reference depth on the spot axis,
over N deliveries, against its baseline.

Procedure (docs/sequences/proton-output-constancy.md): charge mode at the operating bias, settle, null; the
tank puts the chamber at ``reference_depth_mm`` on the spot axis (approached from the shallower side).
Each of ``deliveries``: the room air is read while the electrometer is reset (one ``Together`` step), then
a gated delivery of ``beam_time_s`` (integration from ``pre_s`` before beam on to ``post_s`` after beam
off), hold, read. Each charge is corrected to reference air with the k_TP of its own air reading.

Metric: output = 100·(Q̄ − Q_base)/Q_base with Q̄ the mean corrected charge; the verdict judges |output|.
U: the readings' scatter s/√N (N − 1 dof), k_TP (temperature and pressure standard uncertainties, common to
every delivery, and their drift over the run), the display step, the baseline's own uncertainty;
Welch–Satterthwaite dof, Student-t k (JCGM 100:2008 G.4).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from controller.messages import (
    AxisReading,
    Checkpoint,
    MoveTo,
    ReadAxis,
    ReadEnvironment,
    ResetIntegration,
    Together,
)
from controller.results import Measurement, SequenceResult, Tolerance, decide
from dosimetry import k_tp
from drivers.environment import EnvironmentReading
from sequences.base import (
    DeviceNeed,
    Plan,
    Sequence,
    SequenceContext,
    environment_record,
    require_known_profile,
)
from sequences.electrometer_leakage_reproducibility import REFERENCES, ReferenceName, display_resolution
from sequences.proton_range_check import (
    TankChamberParams,
    gated_reading,
    place_on_spot_axis,
    tank_geometry,
    within_travel,
)
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import t_coverage_factor, welch_satterthwaite

#: Charge (nC) of one default delivery on the built-in simulated rig, at reference air: 2e-9 C/Gy × 2 Gy/min
#: × (10 s − 0.1 s beam-on latency + 0.005 s beam-off latency) / 60, with the chamber's continuous-beam
#: collection efficiency 1/(1 + 5.4e3·(1/30)/400²) at 400 V, plus 1 fA of leakage over the 11 s
#: integration. A site sets its own commissioned value.
SIMULATED_RIG_CHARGE_NC = 0.65960


class OutputConstancyProfile(ToleranceProfile):
    """Limit on |output deviation| (values in sequences/tolerances.py)."""

    output: Tolerance


PROFILES: dict[str, OutputConstancyProfile] = profiles_for("proton-output-constancy", OutputConstancyProfile)


class OutputConstancyParams(TankChamberParams):
    environment: str = Field(
        default="room_sensor", description="environment device (sensor or operator entry) for k_TP"
    )
    reference_depth_mm: float = Field(default=20.0, ge=0, description="depth of the chamber on the spot axis")
    deliveries: int = Field(default=5, ge=2, le=50, description="N deliveries, each read once")
    beam_time_s: float = Field(default=10.0, gt=0, le=600, description="beam time of each delivery")
    baseline_charge_nc: float = Field(
        default=SIMULATED_RIG_CHARGE_NC,
        gt=0,
        description="commissioned k_TP-corrected charge of one delivery (default: the built-in "
        "simulated rig)",
    )
    baseline_uncertainty_pct: float = Field(
        default=0.0, ge=0, le=10, description="relative standard uncertainty of the baseline (0: exact)"
    )
    reference_conditions: ReferenceName = Field(
        default="TRS-398", description="reference air conditions of the chamber's calibration certificate"
    )
    temperature_uncertainty_c: float = Field(default=0.1, ge=0, description="standard uncertainty of T")
    pressure_uncertainty_kpa: float = Field(default=0.05, ge=0, description="standard uncertainty of P")
    profile: str = Field(default="tg224-daily")
    profile_override: OutputConstancyProfile | None = None

    @model_validator(mode="after")
    def _known_profile(self) -> OutputConstancyParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> OutputConstancyProfile:
        return self.profile_override or PROFILES[self.profile]


class ProtonOutputConstancy(Sequence[OutputConstancyParams]):
    name = "proton-output-constancy"
    title = "Proton output constancy at the reference depth, k_TP-corrected"
    params_model = OutputConstancyParams

    def device_needs(self, params: OutputConstancyParams) -> list[DeviceNeed]:
        return [
            DeviceNeed("dosimeter", params.dosimeter, "dosimeter"),
            DeviceNeed("environment", params.environment, "environment"),
            *params.axes(),
        ]

    def device_of(self, params: OutputConstancyParams) -> str:
        return params.dosimeter

    def plan(self, params: OutputConstancyParams, context: SequenceContext) -> Plan:
        geometry = tank_geometry(params, context)
        depth = params.reference_depth_mm
        approach = within_travel(
            context, params.depth_axis, "approach", geometry.depth_stage_mm(depth - params.approach_mm)
        )
        stage = within_travel(
            context, params.depth_axis, f"reference depth {depth:g} mm", geometry.depth_stage_mm(depth)
        )
        yield from place_on_spot_axis(params, geometry, context)
        yield MoveTo(params.depth_axis, approach)
        yield MoveTo(params.depth_axis, stage)
        axis: AxisReading = yield ReadAxis(params.depth_axis)
        measured = axis.encoder_mm if axis.encoder_mm is not None else axis.position_mm
        rows: list[dict[str, Any]] = []
        for index in range(params.deliveries):
            air, _ = yield Together((ReadEnvironment(params.environment), ResetIntegration(params.dosimeter)))
            assert isinstance(air, EnvironmentReading)
            reading = yield from gated_reading(params, params.beam_time_s)
            rows.append({"index": index, **environment_record(air), **reading})  # the charge's clock_s
            yield Checkpoint(f"delivery {index + 1}/{params.deliveries}")
        return {"deliveries": rows, "depth_mm": geometry.depth_of_stage(measured)}

    def analyze(self, params: OutputConstancyParams, data: Any) -> SequenceResult:
        return analyze_output_constancy(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        return [output_figure(result)]


def analyze_output_constancy(params: OutputConstancyParams, data: dict[str, Any]) -> SequenceResult:
    rows = data["deliveries"]
    for row in rows:
        if row["unit"] != "C":
            raise ValueError(f"{params.dosimeter}: expected charge readings in C, got {row['unit']!r}")
    if len(rows) < 2:
        raise ValueError("output constancy needs at least two deliveries")
    reference = REFERENCES[params.reference_conditions]
    raw = np.array([abs(r["value"]) for r in rows], dtype=float)
    temperatures = np.array([r["temperature_c"] for r in rows], dtype=float)
    pressures = np.array([r["pressure_kpa"] for r in rows], dtype=float)
    factors = np.array(
        [
            k_tp(float(t), float(p), reference=reference).k_tp
            for t, p in zip(temperatures, pressures, strict=True)
        ]
    )
    corrected = raw * factors
    n = corrected.size
    mean = float(np.mean(corrected))
    sd = float(np.std(corrected, ddof=1))
    resolution = display_resolution(raw, params.charge_resolution_c)
    baseline = params.baseline_charge_nc * 1e-9
    deviation = 100.0 * (mean / baseline - 1.0)
    t_mean, p_mean = float(np.mean(temperatures)), float(np.mean(pressures))
    # k_TP: the stated T and P uncertainties act on every delivery alike (not reduced by N)
    u_ktp_rel = math.hypot(
        params.temperature_uncertainty_c / (273.2 + t_mean), params.pressure_uncertainty_kpa / p_mean
    )
    scale = 100.0 * mean / baseline  # % per unit relative change of Q̄
    components: dict[str, tuple[float, float]] = {
        "readings' scatter": (scale * sd / math.sqrt(n) / mean, float(n - 1)),
        "k_TP (T, P)": (scale * u_ktp_rel, math.inf),
        "display step": (scale * resolution / math.sqrt(12.0 * n) / mean, math.inf),
        "baseline": (scale * params.baseline_uncertainty_pct / 100.0, math.inf),
    }
    us = [u for u, _ in components.values()]
    u = math.sqrt(sum(x * x for x in us))
    dof = welch_satterthwaite(us, [nu for _, nu in components.values()]) if u > 0 else math.inf
    k = t_coverage_factor(dof)
    profile = params.tolerance_profile()
    verdict = decide(
        "output",
        f"|Q̄ − baseline| / baseline: mean k_TP-corrected charge {mean * 1e9:.5g} nC of {n} deliveries at "
        f"{params.reference_depth_mm:g} mm depth against {params.baseline_charge_nc:.5g} nC "
        f"(deviation {deviation:+.3f} %)",
        Measurement(value=abs(deviation), standard_uncertainty=u, unit="%", coverage_factor=k),
        profile.output,
        profile.rule,
    )
    ktp_mean = float(np.mean(factors))
    informative = {
        "output_deviation": Measurement(value=deviation, standard_uncertainty=u, unit="%", coverage_factor=k),
        "charge_k_TP_corrected": Measurement(
            value=mean * 1e9,
            standard_uncertainty=mean * 1e9 * math.hypot(sd / math.sqrt(n) / mean, u_ktp_rel),
            unit="nC",
            coverage_factor=k,
        ),
        "k_TP": Measurement(value=ktp_mean, standard_uncertainty=ktp_mean * u_ktp_rel, unit="1"),
        "reading_scatter": Measurement(
            value=100.0 * sd / mean,
            standard_uncertainty=100.0 * sd / mean / math.sqrt(2.0 * (n - 1)),
            unit="%",
        ),
    }
    sources = sorted({r["provenance"] + (f" by {r['operator']}" if r.get("operator") else "") for r in rows})
    return SequenceResult(
        sequence=ProtonOutputConstancy.name,
        title=ProtonOutputConstancy.title,
        device=params.dosimeter,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=[verdict],
        informative=informative,
        tables={
            "deliveries": [
                {
                    "index": int(r["index"]),
                    "clock_s": float(r["clock_s"]),
                    "charge_nC": float(q) * 1e9,
                    "k_TP": float(f),
                    "corrected_nC": float(c) * 1e9,
                    "deviation_pct": 100.0 * (float(c) / baseline - 1.0),
                }
                for r, q, f, c in zip(rows, raw, factors, corrected, strict=True)
            ],
            "budget": [
                {"component": name, "u_pct": u_c, "dof": nu} for name, (u_c, nu) in components.items()
            ],
        },
        frame=f"chamber at {data.get('depth_mm', params.reference_depth_mm):.3f} mm depth on the spot axis "
        f"({params.spot_axis_mm[0]:g}, {params.spot_axis_mm[1]:g}) mm, IEC 61217 f",
        notes=[
            f"{n} deliveries of {params.beam_time_s:g} s at {params.dose_rate_gy_per_min:g} Gy/min, each "
            f"integrated from {params.pre_s:g} s before beam on to {params.post_s:g} s after beam off",
            f"air {t_mean:.2f} °C, {p_mean:.3f} kPa (mean) from {'; '.join(sources)}; each charge corrected "
            f"with its own k_TP to the {reference.label} reference {reference.temperature_c:g} °C / "
            f"{reference.pressure_kpa:g} kPa",
            f"U: readings' scatter ({n - 1} dof), k_TP from u(T) = {params.temperature_uncertainty_c:g} "
            f"°C and u(P) = {params.pressure_uncertainty_kpa:g} kPa, display step {resolution:.3g} C, "
            f"baseline {params.baseline_uncertainty_pct:g} %; Welch–Satterthwaite ν = {dof:.3g}, "
            f"Student-t k = {k:.3g}",
            "leakage is not subtracted (the baseline carries the same integration time)",
        ],
    )


def output_figure(result: SequenceResult) -> Any:
    from sequences.plots import _pyplot, _verdict, verdict_limits

    plt = _pyplot()
    rows = result.tables["deliveries"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ax.plot([r["index"] + 1 for r in rows], [r["deviation_pct"] for r in rows], "ko", label="delivery")
    mean = result.informative["output_deviation"]
    ax.axhline(
        mean.value,
        color="black",
        lw=1.0,
        label=f"mean {mean.value:+.2f} % ± {mean.expanded_uncertainty:.2f} %",
    )
    verdict_limits(ax, _verdict(result, "output"), symmetric=True)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("delivery")
    ax.set_ylabel("k_TP-corrected charge − baseline (%)")
    ax.set_title(f"{result.device}: proton output constancy", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
