"""D1 + D3: electrometer leakage (dark current) and short-term reproducibility of a chamber reading.

Procedure: configure charge mode at the operating bias and let the bias settle; null the electrometer;
integrate with the beam off for ``leakage_time_s``, reading the charge ``leakage_readings`` times (leakage
*before*); then ``readings`` times: beam on, wait ``beam_settle_s``, a *timed* integration of
``beam_time_s`` (the electrometer's own timer: UNIDOS ``IT``/``INT``; the 6517B driver's timer), hold,
read, beam off; then leakage *after*. The beam is on before the integration starts and stays on until it
has been held, so when the operator switched the beam on or off — a keystroke at the console — does not
enter the charge; only the instrument's timer does.

Metrics and their uncertainty (docs/sequences/electrometer-leakage-reproducibility.md):

* I_leak: least-squares slope of the charge readings of each beam-off window, its type-A uncertainty
  from the readings' scatter (heteroscedasticity-consistent, HC3), the two windows averaged; the display
  resolution, a stated zero offset and any before/after drift beyond the noise enter as type-B terms;
  Welch–Satterthwaite effective dof and a Student-t coverage factor (JCGM 100:2008 G.3, G.4).
* leakage as a percentage of the signal = 100·|I_leak|·t_signal / Q̄ (same budget, plus Q̄).
* reproducibility CoV% = 100·s/Q̄ (n − 1) of the leakage-corrected readings; the verdict states the
  chi-square interval for a standard deviation as midpoint ± half-width, so a guarded PASS means the
  upper confidence bound is within the limit.
"""

from __future__ import annotations

import math
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
    ReadEnvironment,
    ResetIntegration,
    StartIntegration,
    ZeroDosimeter,
)
from controller.results import Measurement, SequenceResult, Tolerance, decide
from dosimetry import TG51_REFERENCE, TRS398_REFERENCE, TRS398_REFERENCE_22C, k_tp
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
from sequences.uncertainty import COVERAGE_P, sd_interval, t_coverage_factor, welch_satterthwaite

ReferenceName = Literal["TRS-398", "TRS-398-22C", "TG-51"]


class LeakageReproducibilityProfile(ToleranceProfile):
    """Limits for D1 + D3 (values in sequences/tolerances.py).

    Guarded rule: a CoV from 10 readings is uncertain by tens of percent of itself, so a simple "value ≤
    limit" accepts a true CoV above the limit far too often; guarded PASS = upper bound ≤ limit.
    """

    leakage: Tolerance
    reproducibility: Tolerance


PROFILES: dict[str, LeakageReproducibilityProfile] = profiles_for(
    "electrometer-leakage-reproducibility", LeakageReproducibilityProfile
)


class LeakageReproducibilityParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dosimeter: str = Field(
        default="electrometer_6517b",
        description="rig device name of the electrometer (the built-in rig's 6517B, which has an auto range)",
    )
    bias_voltage_v: float = Field(default=300.0, description="signed chamber bias (the sign is the polarity)")
    range: str = Field(default="auto", description="the instrument's range name")
    settle_s: float = Field(default=600.0, ge=0, description="wait after applying bias (several minutes)")
    charge_resolution_c: float = Field(
        default=1e-13,
        gt=0,
        description="charge resolution of the range used (smallest display step; a coarser last displayed "
        "digit found in the readings is used instead)",
    )
    offset_current_uncertainty_a: float = Field(
        default=0.0,
        ge=0,
        description="standard uncertainty of the input offset left after the zero (type B, from the "
        "electrometer's specification; 0: the zero is taken as exact)",
    )
    leakage_time_s: float = Field(
        default=120.0, ge=10, le=3600, description="beam-off integration (D1: 60–600 s)"
    )
    leakage_readings: int = Field(
        default=13, ge=3, le=200, description="charge readings per beam-off window, evenly spaced (slope fit)"
    )
    readings: int = Field(
        default=20,
        ge=3,
        le=100,
        description="repeated beam readings (D3 protocols use 10; with 10 a guarded CoV PASS needs s below "
        "0.44 × the limit, with 20 below 0.6 ×)",
    )
    cov_coverage: float = Field(
        default=0.99,
        ge=COVERAGE_P,
        lt=1.0,
        description="coverage probability of the CoV's chi-square interval; the guarded decision's "
        "false-accept risk at a CoV equal to the limit is (1 − p)/2",
    )
    beam_time_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="integration time per reading, timed by the electrometer while the beam is on (whole "
        "seconds on a UNIDOS)",
    )
    beam_settle_s: float = Field(
        default=5.0,
        ge=0,
        le=120,
        description="beam on before each timed integration starts: the dose rate settles, and a beam that "
        "comes on up to this long after the operator's confirmation does not change the reading",
    )
    beam: str = Field(
        default="",
        description="which beam the operator sets up (energy, modality, field), stated in every beam prompt",
    )
    gy_per_mu: GyPerMu = 0.01
    dose_rate_gy_per_min: float = Field(default=2.0, gt=0, le=100, description="dose rate at the chamber")
    environment: str | None = Field(
        default=None,
        description="environment device (sensor or operator entry) for the k_TP-corrected charge",
    )
    reference_conditions: ReferenceName = Field(
        default="TRS-398", description="reference air conditions of the chamber's calibration certificate"
    )
    temperature_uncertainty_c: float = Field(default=0.1, ge=0, description="standard uncertainty of T")
    pressure_uncertainty_kpa: float = Field(default=0.05, ge=0, description="standard uncertainty of P")
    profile: str = Field(default="reference-class")
    profile_override: LeakageReproducibilityProfile | None = None

    @model_validator(mode="after")
    def _known_profile(self) -> LeakageReproducibilityParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        if self.bias_voltage_v == 0:
            raise ValueError(
                "bias_voltage_v = 0 collects no ionisation; give the chamber's operating voltage"
            )
        return self

    def tolerance_profile(self) -> LeakageReproducibilityProfile:
        return self.profile_override or PROFILES[self.profile]

    @property
    def signal_time_s(self) -> float:
        """One reading's integration, as the electrometer times it (the beam is on throughout)."""
        return self.beam_time_s

    @property
    def beam_on_s(self) -> float:
        """How long the beam must stay on for one reading: the settle time and the timed integration."""
        return self.beam_settle_s + self.beam_time_s


REFERENCES = {"TRS-398": TRS398_REFERENCE, "TRS-398-22C": TRS398_REFERENCE_22C, "TG-51": TG51_REFERENCE}


def _record(reading: DosimeterReading) -> dict[str, Any]:
    return {
        "value": reading.value,
        "unit": reading.unit,
        "clock_s": reading.clock_s,
        "status": list(reading.status),
    }


class ElectrometerLeakageReproducibility(Sequence[LeakageReproducibilityParams]):
    name = "electrometer-leakage-reproducibility"
    title = "Electrometer leakage and reading reproducibility (D1 + D3)"
    params_model = LeakageReproducibilityParams

    def device_needs(self, params: LeakageReproducibilityParams) -> list[DeviceNeed]:
        return chamber_needs(params.dosimeter, params.environment)

    def device_of(self, params: LeakageReproducibilityParams) -> str:
        return params.dosimeter

    def _leakage(self, params: LeakageReproducibilityParams, phase: str, out: list[dict[str, Any]]) -> Plan:
        """One beam-off window read ``leakage_readings`` times: the slope of Q(t) is the dark current."""
        device = params.dosimeter
        step = params.leakage_time_s / (params.leakage_readings - 1)
        readings: list[dict[str, Any]] = []
        yield ResetIntegration(device)
        yield StartIntegration(device)
        for index in range(params.leakage_readings):
            if index:
                yield Dwell(step)
            reading: DosimeterReading = yield ReadDosimeter(device)
            readings.append(_record(reading))
        yield HoldIntegration(device)
        out.append({"phase": phase, "readings": readings})

    def plan(self, params: LeakageReproducibilityParams, context: SequenceContext) -> Plan:
        device = params.dosimeter
        settings = DosimeterSettings(mode="charge", range=params.range, bias_voltage_v=params.bias_voltage_v)
        # The same bias and range with the instrument's timer: the signal readings end on the instrument.
        timed = DosimeterSettings(
            mode="charge",
            range=params.range,
            bias_voltage_v=params.bias_voltage_v,
            integration_time_s=params.signal_time_s,
        )
        leakage: list[dict[str, Any]] = []
        signal: list[dict[str, Any]] = []
        environment: list[dict[str, Any]] = []
        if params.environment is not None:
            environment.append(environment_record((yield ReadEnvironment(params.environment))))
        yield Beam(on=False)
        yield ConfigureDosimeter(device, settings)
        yield Dwell(params.settle_s)
        yield ZeroDosimeter(device)
        yield from self._leakage(params, "before", leakage)
        yield Checkpoint("leakage before")
        yield ResetIntegration(device)
        yield ConfigureDosimeter(device, timed)
        for index in range(params.readings):
            yield ResetIntegration(device)
            yield Beam(
                on=True,
                dose_rate_gy_per_min=params.dose_rate_gy_per_min,
                duration_s=params.beam_on_s,
                beam=params.beam,
                gy_per_mu=params.gy_per_mu,
            )
            yield Dwell(params.beam_settle_s)
            yield StartIntegration(device)  # timed: the instrument ends it after signal_time_s
            yield Dwell(params.signal_time_s)
            yield HoldIntegration(device)
            reading: DosimeterReading = yield ReadDosimeter(device)
            yield Beam(on=False)
            signal.append({"index": index, **_record(reading)})
            yield Checkpoint(f"reading {index + 1}/{params.readings}")
        yield ResetIntegration(device)
        yield ConfigureDosimeter(device, settings)
        yield from self._leakage(params, "after", leakage)
        if params.environment is not None:
            environment.append(environment_record((yield ReadEnvironment(params.environment))))
        return {"leakage": leakage, "signal": signal, "environment": environment}

    def analyze(self, params: LeakageReproducibilityParams, data: Any) -> SequenceResult:
        return analyze_leakage_reproducibility(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import reproducibility_figure

        return [reproducibility_figure(result)]


# --------------------------------------------------------------------------------------------- estimators
@dataclass(frozen=True, slots=True)
class SlopeFit:
    """Least-squares slope of Q(t) in one window: value, type-A u (HC3), dof, and Σ(t − t̄)²."""

    slope: float
    u: float
    dof: int
    sxx: float


def fit_slope(times: Any, charges: Any) -> SlopeFit:
    """Straight line through (t, Q): slope and its heteroscedasticity-consistent standard error.

    The readings' noise grows with the accumulated charge (a relative part), so the ordinary
    residual-variance formula understates the slope's uncertainty; HC3 (MacKinnon & White, J.
    Econometrics 29:305, 1985) weights each squared residual by its leverage and holds for unequal variances.
    """
    t = np.asarray(times, dtype=float)
    q = np.asarray(charges, dtype=float)
    if t.size < 3:
        raise ValueError("a slope with an uncertainty needs at least 3 readings")
    x = t - t.mean()
    sxx = float(x @ x)
    if sxx <= 0:
        raise ValueError("the readings of a leakage window must be at different times")
    slope = float(x @ q) / sxx
    residuals = q - q.mean() - slope * x
    leverage = 1.0 / t.size + x * x / sxx
    weights = x / sxx
    u = math.sqrt(float(np.sum(weights**2 * residuals**2 / (1.0 - leverage) ** 2)))
    return SlopeFit(slope=slope, u=u, dof=t.size - 2, sxx=sxx)


def display_resolution(values: Any, floor: float) -> float:
    """The charge step of the readings: the largest decade every reading is a multiple of (the last
    displayed digit), or ``floor`` (the declared range resolution) if that is coarser."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[v > 0]
    if v.size == 0:
        return floor
    top = math.floor(math.log10(float(v.max())))
    bottom = math.floor(math.log10(floor))
    for exponent in range(top, bottom, -1):
        step = 10.0**exponent
        ratio = v / step
        if np.all(np.abs(ratio - np.round(ratio)) <= 1e-6 * np.maximum(1.0, ratio)):
            return max(step, floor)
    return floor


@dataclass(frozen=True, slots=True)
class Budget:
    """A combined standard uncertainty, its Welch–Satterthwaite dof and the Student-t coverage factor."""

    value: float
    u: float
    dof: float
    k: float
    #: name → (standard uncertainty, degrees of freedom)
    components: dict[str, tuple[float, float]]

    def measurement(self, scale: float, unit: str) -> Measurement:
        return Measurement(
            value=self.value * scale,
            standard_uncertainty=self.u * abs(scale),
            unit=unit,
            coverage_factor=self.k,
        )


def _budget(value: float, components: dict[str, tuple[float, float]]) -> Budget:
    us = [u for u, _ in components.values()]
    dofs = [nu for _, nu in components.values()]
    u = math.sqrt(sum(x * x for x in us))
    dof = welch_satterthwaite(us, dofs) if u > 0 else math.inf
    return Budget(value, u, dof, t_coverage_factor(dof), dict(components))


def leakage_current_budget(
    fits: dict[str, SlopeFit], resolution_c: float, offset_u_a: float
) -> tuple[Budget, dict[str, Budget]]:
    """Mean dark current of the windows and its budget; also each window's own budget.

    Type A: each window's slope u (n − 2 dof). Type B (infinite dof): the display resolution as a
    rectangular error of each reading (δ/√12 through the slope weights, GUM F.2.2.1), the stated residual
    offset, and — only if the windows disagree beyond their noise — a drift between them, rectangular with
    half-width half the excess disagreement (the dark current during the readings lies between the two).
    """
    m = len(fits)
    mean = sum(f.slope for f in fits.values()) / m
    quantum = resolution_c / math.sqrt(12.0)
    components: dict[str, tuple[float, float]] = {}
    per_window: dict[str, Budget] = {}
    for phase, f in fits.items():
        components[f"type A {phase}"] = (f.u / m, f.dof)
        components[f"resolution {phase}"] = (quantum / math.sqrt(f.sxx) / m, math.inf)
        per_window[phase] = _budget(
            f.slope,
            {
                "type A": (f.u, f.dof),
                "resolution": (quantum / math.sqrt(f.sxx), math.inf),
                "offset": (offset_u_a, math.inf),
            },
        )
    components["offset"] = (offset_u_a, math.inf)
    if m == 2:
        a, b = fits.values()
        excess = (a.slope - b.slope) ** 2 - (a.u**2 + b.u**2)
        components["drift"] = (math.sqrt(max(0.0, excess)) / 2.0 / math.sqrt(3.0), math.inf)
    return _budget(mean, components), per_window


@dataclass(frozen=True, slots=True)
class CovEstimate:
    """The sample CoV% and its chi-square interval [low, high] at coverage ``p``, stated symmetrically:
    ``value`` is the interval's midpoint and ``U`` its half-width (widened by the display step); ``u`` is
    the standard uncertainty of the sample CoV, ≈ CoV/√(2ν) (GUM E.4.3), with the step."""

    value: float
    sample: float
    low: float
    high: float
    U: float
    u: float
    dof: int
    p: float

    def measurement(self) -> Measurement:
        return Measurement(
            value=self.value, standard_uncertainty=self.u, unit="%", coverage_factor=self.U / self.u
        )


def cov_estimate(charges: Any, resolution_c: float, p: float = COVERAGE_P) -> CovEstimate:
    """CoV% = 100·s/|Q̄| (n − 1) and its coverage interval from the chi-square distribution of s².

    The interval is asymmetric about s (wider above), and a verdict carries one symmetric U. Stating the
    interval as midpoint ± half-width keeps it exact: the guarded rule then accepts only if the upper
    bound is within the limit (at a true CoV equal to the limit with probability (1 − p)/2) and rejects
    only if the lower bound is above it. (U = the upper half-width about s would make a FAIL need
    s > limit/(2 − high/s), out of reach with few readings.) The display step δ adds δ/|Q̄| in
    quadrature: a constant reading rounds to one value, or straddles two.
    """
    q = np.asarray(charges, dtype=float)
    n = q.size
    mean = float(np.mean(q))
    cov = 100.0 * float(np.std(q, ddof=1)) / abs(mean)
    low, high = sd_interval(cov, n - 1, p)
    step = 100.0 * resolution_c / abs(mean)
    return CovEstimate(
        value=(low + high) / 2.0,
        sample=cov,
        low=low,
        high=high,
        U=math.hypot((high - low) / 2.0, step),
        u=math.hypot(cov / math.sqrt(2.0 * (n - 1)), step / math.sqrt(3.0)),
        dof=n - 1,
        p=p,
    )


# --------------------------------------------------------------------------------------------- analysis
def analyze_leakage_reproducibility(
    params: LeakageReproducibilityParams, data: dict[str, Any]
) -> SequenceResult:
    windows = {phase["phase"]: phase["readings"] for phase in data["leakage"]}
    for record in [*data["signal"], *(r for readings in windows.values() for r in readings)]:
        if record["unit"] != "C":
            raise ValueError(f"{params.dosimeter}: expected charge readings in C, got {record['unit']!r}")
    leak_values = [r["value"] for readings in windows.values() for r in readings]
    leak_resolution = display_resolution(leak_values, params.charge_resolution_c)
    fits = {
        phase: fit_slope([r["clock_s"] for r in readings], [r["value"] for r in readings])
        for phase, readings in windows.items()
    }
    current, per_window = leakage_current_budget(fits, leak_resolution, params.offset_current_uncertainty_a)
    i_leak = current.value
    signal_time = params.signal_time_s
    raw = np.array([r["value"] for r in data["signal"]])
    charges = raw - i_leak * signal_time
    n = len(charges)
    mean_q = float(np.mean(charges))
    sd_q = float(np.std(charges, ddof=1))
    signal_resolution = display_resolution(raw, params.charge_resolution_c)
    # Leakage % = 100·|I|·t/|Q̄|: the current's budget scaled, plus Q̄'s type-A part (n − 1 dof).
    scale = 100.0 * signal_time / abs(mean_q)
    leakage_pct = scale * abs(i_leak)
    leak_components = {name: (c * scale, nu) for name, (c, nu) in current.components.items()}
    leak_components["mean charge"] = (leakage_pct * sd_q / math.sqrt(n) / abs(mean_q), n - 1)
    leakage = _budget(leakage_pct, leak_components)
    cov = cov_estimate(charges, signal_resolution, params.cov_coverage)
    profile = params.tolerance_profile()
    verdicts = [
        decide(
            "leakage",
            "leakage charge over one signal integration, % of the signal",
            leakage.measurement(1.0, "%"),
            profile.leakage,
            profile.rule,
        ),
        decide(
            "CoV",
            f"reproducibility of {n} leakage-corrected readings: sample CoV {cov.sample:.3g} % (n − 1), "
            f"stated as the midpoint ± half-width of its {100 * cov.p:g} % chi-square interval "
            f"[{cov.low:.3g}, {cov.high:.3g}] %",
            cov.measurement(),
            profile.reproducibility,
            profile.rule,
        ),
    ]
    # Q̄: type A s/√n (n − 1 dof) and the display step of the readings (rectangular, GUM F.2.2.1).
    mean_charge = _budget(
        mean_q,
        {
            "type A": (sd_q / math.sqrt(n), n - 1),
            "resolution": (signal_resolution / math.sqrt(12.0), math.inf),
        },
    )
    informative = {
        "leakage_current": current.measurement(1e15, "fA"),
        "mean_charge": mean_charge.measurement(1e9, "nC"),
        "CoV_sample": Measurement(value=cov.sample, standard_uncertainty=cov.u, unit="%"),
        "CoV_upper_bound": Measurement(value=cov.high, standard_uncertainty=0.0, unit="%"),
    }
    for phase, budget in per_window.items():
        informative[f"leakage_current_{phase}"] = budget.measurement(1e15, "fA")
    notes = _air_correction(params, data.get("environment") or [], mean_charge, informative)
    return SequenceResult(
        sequence=ElectrometerLeakageReproducibility.name,
        title=ElectrometerLeakageReproducibility.title,
        device=params.dosimeter,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={
            "signal": [{"index": i, "charge_nC": float(q) * 1e9} for i, q in enumerate(charges)],
            "leakage": [
                {
                    "phase": phase,
                    "readings": len(windows[phase]),
                    "slope_fA": f.slope * 1e15,
                    "u_typeA_fA": f.u * 1e15,
                    "dof": f.dof,
                }
                for phase, f in fits.items()
            ],
            "leakage_budget": [
                {"component": name, "u_fA": u * 1e15, "dof": nu}
                for name, (u, nu) in current.components.items()
            ],
        },
        frame="not geometric: charges in coulomb at the electrometer input",
        notes=[
            *notes,
            f"bias {params.bias_voltage_v:g} V, settle {params.settle_s:g} s, leakage windows "
            f"{params.leakage_time_s:g} s × {params.leakage_readings} readings, {n} readings of "
            f"{params.beam_time_s:g} s timed by the electrometer, the beam on at "
            f"{params.dose_rate_gy_per_min:g} Gy/min from {params.beam_settle_s:g} s before each until it "
            "was held",
            "readings corrected for the mean leakage current over the integration time",
            f"leakage current: least-squares slope per window, HC3 type-A u; resolution "
            f"{leak_resolution:.3g} C and offset as type B; Welch–Satterthwaite ν_eff = "
            f"{current.dof:.3g}, Student-t k = {current.k:.3g} (JCGM 100:2008 G.3, G.4)",
            f"CoV: chi-square interval for a standard deviation ({n - 1} dof, p = {cov.p:g}) stated as "
            f"midpoint ± half-width, widened by the display step {signal_resolution:.3g} C; the guarded "
            "rule accepts only if its upper bound is within the limit",
        ],
    )


def _air_correction(
    params: LeakageReproducibilityParams,
    environment: list[dict[str, Any]],
    mean_charge: Budget,
    informative: dict[str, Measurement],
) -> list[str]:
    """k_TP from the run's air readings (start and end), and the k_TP-corrected mean charge."""
    if not environment:
        return ["no air readings: the charge is not corrected to reference air conditions"]
    temperature = float(np.mean([e["temperature_c"] for e in environment]))
    pressure = float(np.mean([e["pressure_kpa"] for e in environment]))
    reference = REFERENCES[params.reference_conditions]
    ktp = k_tp(temperature, pressure, reference=reference).k_tp
    drift_t = abs(environment[0]["temperature_c"] - environment[-1]["temperature_c"]) / (2 * math.sqrt(3))
    drift_p = abs(environment[0]["pressure_kpa"] - environment[-1]["pressure_kpa"]) / (2 * math.sqrt(3))
    u_rel = math.hypot(
        math.hypot(params.temperature_uncertainty_c, drift_t) / (273.2 + temperature),
        math.hypot(params.pressure_uncertainty_kpa, drift_p) / pressure,
    )
    informative["k_TP"] = Measurement(value=ktp, standard_uncertainty=ktp * u_rel, unit="1")
    corrected = mean_charge.value * ktp * 1e9
    u_mean_rel = mean_charge.u / abs(mean_charge.value)
    u_corrected = abs(corrected) * math.hypot(u_rel, u_mean_rel)
    k = t_coverage_factor(welch_satterthwaite([u_rel, u_mean_rel], [math.inf, mean_charge.dof]))
    informative["mean_charge_k_TP_corrected"] = Measurement(
        value=corrected, standard_uncertainty=u_corrected, unit="nC", coverage_factor=k
    )
    sources = sorted(
        {e["provenance"] + (f" by {e['operator']}" if e.get("operator") else "") for e in environment}
    )
    return [
        f"air {temperature:.2f} °C, {pressure:.3f} kPa from {'; '.join(sources)}; k_TP to the "
        f"{reference.label} reference {reference.temperature_c:g} °C / {reference.pressure_kpa:g} kPa"
    ]
