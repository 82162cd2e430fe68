"""D5 + D6: chamber polarity effect P_pol and ion recombination P_ion (two- and three-voltage, Jaffé check).

Procedure (one electrometer, the beam at a fixed rate): seven bias settings, each followed by a wait of
``settle_s`` for the chamber to re-stabilise, then ``readings`` timed integrations with the beam on:

    +V_H, −V_H, +V_H  (polarity)      +V_L, +V_M, +V_L, +V_H  (recombination)

The order is symmetric in time, so a linear drift of the beam output cancels: the reference-polarity
mean of steps 1 and 3 falls at the time of step 2; V_H of steps 3 and 7 and V_L of steps 4 and 6 at step 5.

Metrics (docs/sequences/chamber-polarity-recombination.md), all from ``dosimetry`` (never re-implemented):

* P_pol = (|M₊| + |M₋|)/(2|M_ref|) (TG-51; TRS-398 k_pol is the same number); verdict |P_pol − 1|.
* P_ion at V_H by TG-51's two-voltage formula (pulsed or continuous), verdict P_ion − 1.
* TRS-398 k_s from the same readings (pulsed: tabulated a₀, a₁, a₂ for V_H/V_L), verdict |P_ion − k_s|.
* Jaffé check: 1/M against 1/V (pulsed) or 1/V² (continuous) must be a straight line; the verdict is
  |P_ion(V_H, V_L) − P_ion(V_H, V_M)|, which is zero for any straight line; the least-squares line
  through all three points and its residuals are reported.

Uncertainty: each voltage's mean reading has type-A u = s/√n (n − 1 dof) and the display step (type B);
it is propagated through the dosimetry functions by central differences; the two-voltage formula's own
approximation of Boag's pulsed expression (it reads low by ≈ (V_H/V_L)/3·(P_ion − 1)²) enters as a type-B
standard uncertainty of that size.
Welch–Satterthwaite dof and a Student-t coverage factor (JCGM 100:2008 G.3, G.4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
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
    ReadEnvironment,
    ResetIntegration,
    StartIntegration,
    ZeroDosimeter,
)
from controller.results import Measurement, SequenceResult, Tolerance, decide
from dosimetry import TRS398_KS_PULSED, TRS398_REFERENCE, k_s_trs398, k_tp, p_ion_tg51, p_pol
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from sequences.base import (
    DeviceNeed,
    GyPerMu,
    Plan,
    Sequence,
    SequenceContext,
    chamber_needs,
    environment_record,
    require_known_profile,
)
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import t_coverage_factor, welch_satterthwaite

BeamKind = Literal["pulsed", "continuous"]
#: (step label, which voltage, polarity sign relative to the reference polarity)
STEPS: tuple[tuple[str, str, int], ...] = (
    ("ref-1", "high", 1),
    ("opposite", "high", -1),
    ("ref-2", "high", 1),
    ("low-1", "low", 1),
    ("mid", "mid", 1),
    ("low-2", "low", 1),
    ("ref-3", "high", 1),
)
#: Which steps' readings form each mean (the symmetric order cancels a linear output drift).
GROUPS: Mapping[str, tuple[str, ...]] = {
    "M_ref_pol": ("ref-1", "ref-2"),
    "M_opp": ("opposite",),
    "M_H": ("ref-2", "ref-3"),
    "M_L": ("low-1", "low-2"),
    "M_M": ("mid",),
}


class PolarityRecombinationProfile(ToleranceProfile):
    """Limits for D5 + D6 (values and sources in sequences/tolerances.py)."""

    polarity: Tolerance
    recombination: Tolerance
    linearity: Tolerance
    methods: Tolerance


PROFILES: dict[str, PolarityRecombinationProfile] = profiles_for(
    "chamber-polarity-recombination", PolarityRecombinationProfile
)


class PolarityRecombinationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dosimeter: str = Field(default="electrometer_6517b", description="rig device name of the electrometer")
    range: str = Field(default="auto", description="the instrument's range name")
    voltage_high_v: float = Field(
        default=300.0, description="signed operating bias V_H; its sign is the reference polarity"
    )
    voltage_low_v: float = Field(
        default=100.0,
        gt=0,
        description="reduced voltage V_L (magnitude; TRS-398 recommends V_H/V_L ≥ 3, and a pulsed beam's "
        "k_s needs a tabulated ratio: 2, 2.5, 3, 3.5, 4 or 5)",
    )
    voltage_mid_v: float = Field(
        default=150.0, gt=0, description="third voltage V_M of the Jaffé check, between V_L and V_H"
    )
    beam_time_structure: BeamKind = Field(
        default="pulsed", description="pulsed (linac) or continuous (⁶⁰Co, cyclotron): selects the formulas"
    )
    settle_s: float = Field(
        default=600.0, ge=0, description="wait after every bias change for the chamber to re-stabilise"
    )
    readings: int = Field(default=3, ge=2, le=50, description="timed readings per bias setting")
    beam_time_s: float = Field(default=10.0, gt=0, le=3600, description="integration per reading")
    beam_settle_s: float = Field(default=5.0, ge=0, le=120, description="beam on before each integration")
    beam: str = Field(default="", description="which beam the operator sets up, stated in every beam prompt")
    gy_per_mu: GyPerMu = 0.01
    dose_rate_gy_per_min: float = Field(default=6.0, gt=0, le=100, description="dose rate at the chamber")
    charge_resolution_c: float = Field(default=1e-13, gt=0, description="display step of the range used")
    environment: str | None = Field(
        default="room_sensor",
        description="environment device read before and after every bias setting: each reading is "
        "corrected by k_TP interpolated to its time, so air drifting over the hour-long run does not "
        "enter the ratios (None: no correction)",
    )
    air_repeatability_c: float = Field(
        default=0.02,
        ge=0,
        le=1.0,
        description="the thermometer's repeatability (1 s, °C; its data sheet): enters each step's k_TP",
    )
    air_repeatability_hpa: float = Field(
        default=0.03,
        ge=0,
        le=5.0,
        description="the barometer's repeatability (1 s, hPa; its data sheet): enters each step's k_TP",
    )
    profile: str = Field(default="reference-class")
    profile_override: PolarityRecombinationProfile | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PolarityRecombinationParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        high = abs(self.voltage_high_v)
        if not self.voltage_low_v < self.voltage_mid_v < high:
            raise ValueError(
                f"voltages must satisfy V_L < V_M < |V_H|; got {self.voltage_low_v:g}, "
                f"{self.voltage_mid_v:g}, {high:g} V"
            )
        ratio = high / self.voltage_low_v
        if self.beam_time_structure == "pulsed" and not any(
            abs(k - ratio) <= 1e-6 * k for k in TRS398_KS_PULSED
        ):
            raise ValueError(
                f"V_H/V_L = {ratio:g} has no TRS-398 k_s coefficients for pulsed beams; use one of "
                f"{', '.join(f'{k:g}' for k in TRS398_KS_PULSED)}"
            )
        return self

    def tolerance_profile(self) -> PolarityRecombinationProfile:
        return self.profile_override or PROFILES[self.profile]

    def bias(self, voltage: str, sign: int) -> float:
        magnitude = {"high": abs(self.voltage_high_v), "low": self.voltage_low_v, "mid": self.voltage_mid_v}
        return math.copysign(magnitude[voltage], self.voltage_high_v) * sign


class ChamberPolarityRecombination(Sequence[PolarityRecombinationParams]):
    name = "chamber-polarity-recombination"
    title = "Chamber polarity effect and ion recombination (D5 + D6, two- and three-voltage)"
    params_model = PolarityRecombinationParams

    def device_needs(self, params: PolarityRecombinationParams) -> list[DeviceNeed]:
        return chamber_needs(params.dosimeter, params.environment)

    def device_of(self, params: PolarityRecombinationParams) -> str:
        return params.dosimeter

    def plan(self, params: PolarityRecombinationParams, context: SequenceContext) -> Plan:
        device = params.dosimeter
        steps: list[dict[str, Any]] = []
        yield Beam(on=False)
        for number, (label, voltage, sign) in enumerate(STEPS):
            bias = params.bias(voltage, sign)
            settings = DosimeterSettings(
                mode="charge", range=params.range, bias_voltage_v=bias, integration_time_s=params.beam_time_s
            )
            if number:
                yield ResetIntegration(device)  # the last reading is held; configure needs an idle integrator
                # Bias off between settings: a 6517B cannot move its V-source to a lower range while the
                # level is above it, and a chamber is not switched straight from one polarity to the other.
                yield ConfigureDosimeter(device, replace(settings, bias_voltage_v=0.0))
            yield ConfigureDosimeter(device, settings)
            yield Dwell(params.settle_s)  # the chamber re-stabilises after every bias change
            if number == 0:
                yield ZeroDosimeter(device)
            readings: list[dict[str, Any]] = []
            air: list[dict[str, Any]] = []
            if params.environment is not None:
                air.append(environment_record((yield ReadEnvironment(params.environment))))
            for _ in range(params.readings):
                yield ResetIntegration(device)
                yield Beam(
                    on=True,
                    dose_rate_gy_per_min=params.dose_rate_gy_per_min,
                    duration_s=params.beam_settle_s + params.beam_time_s,
                    beam=params.beam,
                    gy_per_mu=params.gy_per_mu,
                )
                yield Dwell(params.beam_settle_s)
                yield StartIntegration(device)  # timed by the instrument
                yield Dwell(params.beam_time_s)
                yield HoldIntegration(device)
                reading: DosimeterReading = yield ReadDosimeter(device)
                yield Beam(on=False)
                readings.append({"value": reading.value, "unit": reading.unit, "clock_s": reading.clock_s})
            if params.environment is not None:
                air.append(environment_record((yield ReadEnvironment(params.environment))))
            steps.append({"step": label, "bias_v": bias, "readings": readings, "air": air})
            yield Checkpoint(f"bias {bias:g} V ({label})")
        return {"steps": steps}

    def analyze(self, params: PolarityRecombinationParams, data: Any) -> SequenceResult:
        return analyze_polarity_recombination(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import verdict_figure

        return [jaffe_figure(result), verdict_figure(result, f"{result.device}: polarity and recombination")]


# --------------------------------------------------------------------------------------------- estimators
def air_corrected(
    step: Mapping[str, Any], repeatability_c: float = 0.0, repeatability_hpa: float = 0.0
) -> tuple[list[float], float]:
    """The step's charges × k_TP interpolated in time between the air readings before and after it, and
    the relative standard uncertainty of that correction: the interpolation (half the k_TP change,
    rectangular) and the sensor's repeatability. Each step's k_TP comes from its own two noisy air
    readings, so their noise does not cancel between steps (a calibration offset of the sensor does).

    k_TP's reference does not matter here: every metric is a ratio of charges.
    """
    charges = [float(r["value"]) for r in step["readings"]]
    air = step.get("air") or []
    if not air:
        return charges, 0.0
    times = [a["clock_s"] for a in air]
    factors = [k_tp(a["temperature_c"], a["pressure_kpa"], reference=TRS398_REFERENCE).k_tp for a in air]
    at = np.interp([r["clock_s"] for r in step["readings"]], times, factors)
    change = (max(factors) - min(factors)) / float(np.mean(factors))
    temperature_k = 273.15 + float(np.mean([a["temperature_c"] for a in air]))
    pressure_hpa = 10.0 * float(np.mean([a["pressure_kpa"] for a in air]))
    # the step's readings sit between its readings of the air: on average each weighs 1/2, variance σ²/2
    sensor = math.hypot(repeatability_c / temperature_k, repeatability_hpa / pressure_hpa)
    sensor /= math.sqrt(len(air))
    interpolation = change / 2.0 / math.sqrt(3.0)
    return [q * float(k) for q, k in zip(charges, at, strict=True)], math.hypot(interpolation, sensor)


@dataclass(frozen=True, slots=True)
class Mean:
    """A mean reading, its standard uncertainty and degrees of freedom."""

    value: float
    u: float
    dof: float


def group_mean(values: list[float], resolution_c: float, air_u_rel: float = 0.0) -> Mean:
    """Type A s/√n (n − 1 dof), the display step (rectangular, GUM F.2.2.1) and the air correction's
    interpolation (relative, type B)."""
    q = np.asarray(values, dtype=float)
    mean = float(np.mean(q))
    type_a = float(np.std(q, ddof=1)) / math.sqrt(q.size)
    type_b = math.hypot(resolution_c / math.sqrt(12.0), air_u_rel * abs(mean))
    u = math.hypot(type_a, type_b)
    dof = welch_satterthwaite([type_a, type_b], [q.size - 1, math.inf]) if u > 0 else math.inf
    return Mean(mean, u, dof)


@dataclass(frozen=True, slots=True)
class Propagated:
    value: float
    u: float
    dof: float
    k: float
    components: dict[str, tuple[float, float]]

    def measurement(
        self, scale: float, unit: str, offset: float = 0.0, absolute: bool = False
    ) -> Measurement:
        value = (self.value - offset) * scale
        return Measurement(
            value=abs(value) if absolute else value,
            standard_uncertainty=self.u * abs(scale),
            unit=unit,
            coverage_factor=self.k,
        )


def propagate(
    fn: Callable[[Mapping[str, float]], float],
    inputs: Mapping[str, Mean],
    extra: Mapping[str, tuple[float, float]] | None = None,
) -> Propagated:
    """fn at the means, and its u by central differences (step u/10 of each input); ``extra`` adds terms."""
    centre = {name: m.value for name, m in inputs.items()}
    value = fn(centre)
    components: dict[str, tuple[float, float]] = {}
    for name, m in inputs.items():
        h = m.u / 10.0 if m.u > 0 else 1e-9 * abs(m.value)
        up = fn({**centre, name: m.value + h})
        down = fn({**centre, name: m.value - h})
        components[name] = (abs(up - down) / (2 * h) * m.u, m.dof)
    components.update(extra or {})
    us = [u for u, _ in components.values()]
    u = math.sqrt(sum(x * x for x in us))
    dof = welch_satterthwaite(us, [nu for _, nu in components.values()]) if u > 0 else math.inf
    return Propagated(value, u, dof, t_coverage_factor(dof), components)


def jaffe_fit(voltages: list[float], charges: list[float], power: int) -> dict[str, Any]:
    """Least-squares line 1/M = a + b/Vᵖ through the points; P_ion at the first voltage = 1 + b/(a·V₁ᵖ)."""
    x = np.array([1.0 / abs(v) ** power for v in voltages])
    y = np.array([1.0 / abs(m) for m in charges])
    b, a = np.polyfit(x, y, 1)
    residuals = y - (a + b * x)
    return {
        "intercept": float(a),
        "slope": float(b),
        "p_ion": float(1.0 + b * x[0] / a),
        "residual_percent": [float(100.0 * r / yi) for r, yi in zip(residuals, y, strict=True)],
    }


# --------------------------------------------------------------------------------------------- analysis
def analyze_polarity_recombination(
    params: PolarityRecombinationParams, data: Mapping[str, Any]
) -> SequenceResult:
    steps = {s["step"]: s for s in data["steps"]}
    for step in steps.values():
        for r in step["readings"]:
            if r["unit"] != "C":
                raise ValueError(f"{params.dosimeter}: expected charge readings in C, got {r['unit']!r}")
    corrected = {
        label: air_corrected(step, params.air_repeatability_c, params.air_repeatability_hpa)
        for label, step in steps.items()
    }
    means = {
        name: group_mean(
            [q for label in labels for q in corrected[label][0]],
            params.charge_resolution_c,
            max(corrected[label][1] for label in labels),
        )
        for name, labels in GROUPS.items()
    }
    v_h, v_l, v_m = abs(params.voltage_high_v), params.voltage_low_v, params.voltage_mid_v
    beam = params.beam_time_structure

    def pol(m: Mapping[str, float]) -> float:
        return p_pol(m["M_ref_pol"], m["M_opp"], bounds=None).factor

    def tg51(low_v: float, low: str) -> Callable[[Mapping[str, float]], float]:
        return lambda m: (
            p_ion_tg51(
                voltage_high_v=v_h, voltage_low_v=low_v, m_high=m["M_H"], m_low=m[low], beam=beam, bounds=None
            ).factor
        )

    def trs398(m: Mapping[str, float]) -> float:
        return k_s_trs398(
            voltage_1_v=v_h, voltage_2_v=v_l, m_1=m["M_H"], m_2=m["M_L"], beam=beam, bounds=None
        ).factor

    polarity = propagate(pol, {k: means[k] for k in ("M_ref_pol", "M_opp")})
    two_v = {k: means[k] for k in ("M_H", "M_L")}
    p_ion_value = tg51(v_l, "M_L")({k: m.value for k, m in two_v.items()})
    # Boag's pulsed expression f = ln(1 + u)/u is not linear in 1/V: against it the two-voltage formula reads
    # low by ≈ (V_H/V_L)/3 · (P_ion − 1)² (to second order in u). Not corrected — the protocol's number is the
    # result — but carried as a standard uncertainty of that size; 0 for a continuous beam (exact there).
    ratio = v_h / v_l
    bias = ratio / 3.0 * (p_ion_value - 1.0) ** 2 if beam == "pulsed" else 0.0
    approximation = {"two-voltage approximation": (bias, math.inf)}
    p_ion = propagate(tg51(v_l, "M_L"), two_v, approximation)
    k_s = propagate(trs398, two_v, approximation)
    methods = propagate(lambda m: tg51(v_l, "M_L")(m) - trs398(m), two_v)
    three = {k: means[k] for k in ("M_H", "M_L", "M_M")}
    spread = propagate(lambda m: tg51(v_l, "M_L")(m) - tg51(v_m, "M_M")(m), three)
    power = 1 if beam == "pulsed" else 2
    fit = jaffe_fit([v_h, v_m, v_l], [means["M_H"].value, means["M_M"].value, means["M_L"].value], power)

    profile = params.tolerance_profile()
    verdicts = [
        decide(
            "P_pol",
            f"polarity effect |P_pol − 1| at ±{v_h:g} V (TG-51 P_pol = TRS-398 k_pol = {polarity.value:.5f})",
            polarity.measurement(100.0, "%", offset=1.0, absolute=True),
            profile.polarity,
            profile.rule,
        ),
        decide(
            "P_ion",
            f"TG-51 two-voltage P_ion − 1 at {v_h:g} V ({beam}, V_L = {v_l:g} V; P_ion = {p_ion.value:.5f})",
            p_ion.measurement(100.0, "%", offset=1.0),
            profile.recombination,
            profile.rule,
        ),
        decide(
            "Jaffé",
            f"linearity of 1/M in 1/V{'²' if power == 2 else ''}: |P_ion(V_L = {v_l:g} V) − "
            f"P_ion(V_M = {v_m:g} V)|",
            spread.measurement(100.0, "%", absolute=True),
            profile.linearity,
            profile.rule,
        ),
        decide(
            "methods",
            f"|TG-51 P_ion − TRS-398 k_s| from the same readings (k_s = {k_s.value:.5f})",
            methods.measurement(100.0, "%", absolute=True),
            profile.methods,
            profile.rule,
        ),
    ]
    informative = {
        "P_pol": polarity.measurement(1.0, "1"),
        "P_ion_TG51": p_ion.measurement(1.0, "1"),
        "k_s_TRS398": k_s.measurement(1.0, "1"),
        "P_ion_Jaffe_fit": Measurement(value=fit["p_ion"], standard_uncertainty=spread.u, unit="1"),
    }
    for name, m in means.items():
        informative[name] = Measurement(value=m.value * 1e9, standard_uncertainty=m.u * 1e9, unit="nC")
    jaffe_rows = [
        {
            "voltage_v": v,
            "inverse_voltage": 1.0 / v**power,
            "inverse_charge_per_nC": 1e-9 / abs(m.value),
            "residual_percent": r,
        }
        for v, m, r in zip(
            (v_h, v_m, v_l), (means["M_H"], means["M_M"], means["M_L"]), fit["residual_percent"], strict=True
        )
    ]
    order = ", ".join(f"{s['bias_v']:g} V" for s in data["steps"])
    return SequenceResult(
        sequence=ChamberPolarityRecombination.name,
        title=ChamberPolarityRecombination.title,
        device=params.dosimeter,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={
            "steps": [
                {
                    "step": s["step"],
                    "bias_v": s["bias_v"],
                    "readings": len(s["readings"]),
                    "mean_nC": 1e9 * float(np.mean([r["value"] for r in s["readings"]])),
                }
                for s in data["steps"]
            ],
            "jaffe": jaffe_rows,
            "P_ion_budget": [{"component": n, "u": u, "dof": nu} for n, (u, nu) in p_ion.components.items()],
        },
        frame="not geometric: charges in coulomb at the electrometer input",
        notes=[
            f"bias order {order}, {params.settle_s:g} s "
            f"settle after each change, {params.readings} readings of {params.beam_time_s:g} s each at "
            f"{params.dose_rate_gy_per_min:g} Gy/min; the symmetric order cancels a linear output drift",
            f"readings corrected by k_TP from {params.environment}, read before and after each setting and "
            "interpolated to each reading"
            if params.environment is not None
            else "no air readings: a drift of the room air during the run enters the ratios",
            f"{beam} beam: TG-51 P_ion and TRS-398 k_s (V_H/V_L = {v_h / v_l:g}) from dosimetry; Jaffé "
            f"line 1/M = a + b/V{'²' if power == 2 else ''} fitted through {v_h:g}, {v_m:g}, {v_l:g} V",
            "u by central-difference propagation of each mean's type A (s/√n) and display step; the "
            "two-voltage approximation (pulsed) as a standard uncertainty of (V_H/V_L)/3·(P_ion − 1)²; "
            "Welch–Satterthwaite "
            f"ν_eff = {p_ion.dof:.3g}, k = {p_ion.k:.3g} for P_ion (JCGM 100:2008 G.3, G.4)",
        ],
    )


# --------------------------------------------------------------------------------------------- figure
def jaffe_figure(result: SequenceResult) -> Any:
    """Jaffé plot: 1/M against 1/V (1/V² for a continuous beam) with the least-squares line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.tables["jaffe"]
    x = [r["inverse_voltage"] for r in rows]
    y = [r["inverse_charge_per_nC"] for r in rows]
    slope, intercept = np.polyfit(x, y, 1)
    grid = np.linspace(0.0, max(x) * 1.1, 50)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(x, y, "ko", ms=5, label="1/M at V_H, V_M, V_L")
    ax.plot(grid, intercept + slope * grid, "k:", label="least-squares line (intercept: 1/M_sat)")
    ax.set_xlabel("1/V, or 1/V² for a continuous beam")
    ax.set_ylabel("1/M (1/nC)")
    ax.set_title(f"{result.device}: Jaffé plot", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
