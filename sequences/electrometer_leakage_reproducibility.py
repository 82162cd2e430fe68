"""D1 + D3: electrometer leakage (dark current) and short-term reproducibility of a chamber reading.

Procedure (research qa-tests.md §5): configure charge mode at the operating bias and let the bias settle;
null the electrometer; integrate with the beam off for ``leakage_time_s`` (leakage *before*); then
``readings`` times: reset, start, beam on for ``beam_time_s``, beam off, hold, read; then leakage *after*.

Metrics: I_leak = ΔQ/Δt with the beam off (before and after, averaged); leakage as a percentage of the
signal = 100·|I_leak|·t_signal / Q̄; reproducibility CoV% = 100·s/Q̄ (n − 1) of the leakage-corrected
readings.
"""

from __future__ import annotations

import math
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
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from dosimetry import TG51_REFERENCE, TRS398_REFERENCE, TRS398_REFERENCE_22C, k_tp
from drivers.environment import EnvironmentReading
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from sequences.base import Plan, Sequence, SequenceContext, require_known_profile

ReferenceName = Literal["TRS-398", "TRS-398-22C", "TG-51"]


class LeakageReproducibilityProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    leakage: Tolerance
    reproducibility: Tolerance
    rule: DecisionRule = DecisionRule.SIMPLE


PROFILES: dict[str, LeakageReproducibilityProfile] = {
    "reference-class": LeakageReproducibilityProfile(
        name="reference-class",
        leakage=Tolerance(
            limit=0.1,
            unit="%",
            source="TG-51 addendum (McEwen et al., Med. Phys. 41:041501, 2014) Table II, reference class",
            confidence="[R S3-addendum]",
        ),
        reproducibility=Tolerance(
            limit=0.5,
            unit="%",
            source="dose-monitor reproducibility CoV, IEC 60976 test structure (qa-tests.md D3)",
            confidence="[R]",
        ),
    ),
}


class LeakageReproducibilityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dosimeter: str = Field(default="electrometer", description="rig device name of the electrometer")
    bias_voltage_v: float = Field(default=300.0, description="signed chamber bias (the sign is the polarity)")
    range: str = Field(default="auto", description="the instrument's range name")
    settle_s: float = Field(default=600.0, ge=0, description="wait after applying bias (several minutes)")
    charge_resolution_c: float = Field(
        default=1e-13,
        gt=0,
        description="charge resolution of the range used (enters the leakage uncertainty)",
    )
    leakage_time_s: float = Field(
        default=120.0, ge=10, le=3600, description="beam-off integration (D1: 60–600 s)"
    )
    readings: int = Field(default=10, ge=3, le=100, description="repeated beam readings (D3: 10)")
    beam_time_s: float = Field(default=30.0, gt=0, le=3600, description="beam-on time per reading")
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


def _environment_record(reading: EnvironmentReading) -> dict[str, Any]:
    return {
        "temperature_c": reading.temperature_c,
        "pressure_kpa": reading.pressure_kpa,
        "provenance": reading.provenance,
        "operator": reading.operator,
        "clock_s": reading.clock_s,
    }


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

    def device_of(self, params: LeakageReproducibilityParams) -> str:
        return params.dosimeter

    def _leakage(self, params: LeakageReproducibilityParams, phase: str, out: list[dict[str, Any]]) -> Plan:
        device = params.dosimeter
        yield ResetIntegration(device)
        yield StartIntegration(device)
        start: DosimeterReading = yield ReadDosimeter(device)
        yield Dwell(params.leakage_time_s)
        end: DosimeterReading = yield ReadDosimeter(device)
        yield HoldIntegration(device)
        out.append({"phase": phase, "start": _record(start), "end": _record(end)})

    def plan(self, params: LeakageReproducibilityParams, context: SequenceContext) -> Plan:
        device = params.dosimeter
        settings = DosimeterSettings(mode="charge", range=params.range, bias_voltage_v=params.bias_voltage_v)
        leakage: list[dict[str, Any]] = []
        signal: list[dict[str, Any]] = []
        environment: list[dict[str, Any]] = []
        if params.environment is not None:
            environment.append(_environment_record((yield ReadEnvironment(params.environment))))
        yield Beam(on=False)
        yield ConfigureDosimeter(device, settings)
        yield Dwell(params.settle_s)
        yield ZeroDosimeter(device)
        yield from self._leakage(params, "before", leakage)
        yield Checkpoint("leakage before")
        for index in range(params.readings):
            yield ResetIntegration(device)
            yield StartIntegration(device)
            yield Beam(on=True, dose_rate_gy_per_min=params.dose_rate_gy_per_min)
            yield Dwell(params.beam_time_s)
            yield Beam(on=False)
            yield Dwell(1.0)
            yield HoldIntegration(device)
            reading: DosimeterReading = yield ReadDosimeter(device)
            signal.append({"index": index, **_record(reading)})
            yield Checkpoint(f"reading {index + 1}/{params.readings}")
        yield from self._leakage(params, "after", leakage)
        if params.environment is not None:
            environment.append(_environment_record((yield ReadEnvironment(params.environment))))
        return {"leakage": leakage, "signal": signal, "environment": environment}

    def analyze(self, params: LeakageReproducibilityParams, data: Any) -> SequenceResult:
        return analyze_leakage_reproducibility(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import reproducibility_figure

        return [reproducibility_figure(result)]


def analyze_leakage_reproducibility(
    params: LeakageReproducibilityParams, data: dict[str, Any]
) -> SequenceResult:
    for record in [*data["signal"], *(p[k] for p in data["leakage"] for k in ("start", "end"))]:
        if record["unit"] != "C":
            raise ValueError(f"{params.dosimeter}: expected charge readings in C, got {record['unit']!r}")
    currents = {
        phase["phase"]: (phase["end"]["value"] - phase["start"]["value"])
        / (phase["end"]["clock_s"] - phase["start"]["clock_s"])
        for phase in data["leakage"]
    }
    i_leak = float(np.mean(list(currents.values())))
    # Before/after disagreement is the honest spread of the leakage estimate (rectangular, half-width);
    # each window's ΔQ also carries the resolution of two readings.
    u_spread = abs(currents.get("before", i_leak) - currents.get("after", i_leak)) / (2 * math.sqrt(3))
    u_resolution = (
        params.charge_resolution_c / math.sqrt(6.0) / params.leakage_time_s / math.sqrt(len(currents))
    )
    u_leak = math.hypot(u_spread, u_resolution)
    signal_time = params.beam_time_s + 1.0
    charges = np.array([r["value"] for r in data["signal"]]) - i_leak * signal_time
    n = len(charges)
    mean_q = float(np.mean(charges))
    sd_q = float(np.std(charges, ddof=1))
    leakage_pct = 100.0 * abs(i_leak) * signal_time / abs(mean_q)
    u_leakage_pct = 100.0 * u_leak * signal_time / abs(mean_q)
    cov = 100.0 * sd_q / abs(mean_q)
    u_cov = cov / math.sqrt(2 * (n - 1))
    profile = params.tolerance_profile()
    verdicts = [
        decide(
            "leakage",
            "leakage charge over one signal integration, % of the signal",
            Measurement(value=leakage_pct, standard_uncertainty=u_leakage_pct, unit="%"),
            profile.leakage,
            profile.rule,
        ),
        decide(
            "CoV",
            f"reproducibility of {n} leakage-corrected readings (n − 1)",
            Measurement(value=cov, standard_uncertainty=u_cov, unit="%"),
            profile.reproducibility,
            profile.rule,
        ),
    ]
    informative = {
        "leakage_current": Measurement(value=i_leak * 1e15, standard_uncertainty=u_leak * 1e15, unit="fA"),
        "mean_charge": Measurement(
            value=mean_q * 1e9, standard_uncertainty=sd_q / math.sqrt(n) * 1e9, unit="nC"
        ),
    }
    for phase, current in currents.items():
        informative[f"leakage_current_{phase}"] = Measurement(
            value=current * 1e15, standard_uncertainty=0, unit="fA"
        )
    notes = _air_correction(params, data.get("environment") or [], mean_q, sd_q, n, informative)
    return SequenceResult(
        sequence=ElectrometerLeakageReproducibility.name,
        title=ElectrometerLeakageReproducibility.title,
        device=params.dosimeter,
        profile=profile.name,
        verdicts=verdicts,
        informative=informative,
        tables={
            "signal": [{"index": i, "charge_nC": float(q) * 1e9} for i, q in enumerate(charges)],
            "leakage": data["leakage"],
        },
        frame="not geometric: charges in coulomb at the electrometer input",
        notes=[
            *notes,
            f"bias {params.bias_voltage_v:g} V, settle {params.settle_s:g} s, leakage windows "
            f"{params.leakage_time_s:g} s, {n} readings of {params.beam_time_s:g} s at "
            f"{params.dose_rate_gy_per_min:g} Gy/min",
            "readings corrected for the mean leakage current over the integration time",
            "uncertainties: type A (scatter of readings; before/after leakage disagreement) and the charge "
            "resolution; k = 2",
        ],
    )


def _air_correction(
    params: LeakageReproducibilityParams,
    environment: list[dict[str, Any]],
    mean_q: float,
    sd_q: float,
    n: int,
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
    corrected = mean_q * ktp * 1e9
    u_corrected = abs(corrected) * math.hypot(u_rel, sd_q / math.sqrt(n) / abs(mean_q))
    informative["mean_charge_k_TP_corrected"] = Measurement(
        value=corrected, standard_uncertainty=u_corrected, unit="nC"
    )
    sources = sorted(
        {e["provenance"] + (f" by {e['operator']}" if e.get("operator") else "") for e in environment}
    )
    return [
        f"air {temperature:.2f} °C, {pressure:.3f} kPa from {'; '.join(sources)}; k_TP to the "
        f"{reference.label} reference {reference.temperature_c:g} °C / {reference.pressure_kpa:g} kPa"
    ]
