"""D8: cross-calibration of a field chamber against a reference chamber, both read at once, positions swapped.

Procedure: both chambers in one phantom side by side, each on its own electrometer. Both electrometers are
configured, settled and nulled together. Then ``cycles`` cycles of two *blocks*, one per arrangement: the
chambers at their own positions (A: the reference chamber at position 1, the field chamber at position 2) and
swapped (B). The block order alternates (A B | B A | A B …), so a chamber swap (an operator action,
``SwapChambers``; a simulated rig moves its chambers) happens only where the arrangement changes, and a
linear drift of anything cancels between the arrangements. After each swap the run waits ``after_swap_s``
(thermal equilibrium in the phantom). A block is ``readings`` deliveries; in each, both electrometers reset,
start, hold and are read in ``Together`` groups, so they integrate the *same* delivery and the beam output's
fluctuations cancel in the ratio. The air is read before and after each block.

Metric (docs/sequences/chamber-cross-calibration.md; the cross-calibration practice of IAEA TRS-398 and
the TG-51 addendum): per delivery r = (M_ref·c_ref)/(M_field·c_field), c = k_TP·P_pol·P_ion of each
chamber. With D₁, D₂ the doses at the two positions, r_A = (S_ref·D₁)/(S_field·D₂) and
r_B = (S_ref·D₂)/(S_field·D₁), so the geometric mean R = √(r̄_A·r̄_B) = S_ref/S_field whatever the
field's non-uniformity, and √(r̄_A/r̄_B) = D₁/D₂ measures it. The field chamber's coefficient
N_field = N_ref·R·(k_Q,ref/k_Q,field) (the last factor 1 when the coefficient is wanted at the beam quality
of the measurement).

Uncertainty (relative, in quadrature, Welch–Satterthwaite dof): the reference certificate; the ratio's
reproducibility (type A from the block means, so a chamber not put back at the same place counts); a residual
of the non-uniformity the swap did not cancel (a stated fraction of the measured one, rectangular); the two
chambers' air temperatures differing (k_TP; the air pressure and a common temperature cancel in the ratio);
each chamber's P_pol and P_ion as stated; the quality-factor ratio as stated.

Verdicts: the reproducibility of the ratio (CoV of the deliveries within a block, chi-square interval as in
D3) and the change of the new coefficient from the previous one.
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
    SwapChambers,
    Together,
    ZeroDosimeter,
)
from controller.results import Measurement, SequenceResult, Tolerance, decide
from dosimetry import TG51_REFERENCE, TRS398_REFERENCE, TRS398_REFERENCE_22C, ReferenceConditions, k_tp
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from sequences.base import (
    DeviceNeed,
    GyPerMu,
    Plan,
    Sequence,
    SequenceContext,
    environment_record,
    require_known_profile,
)
from sequences.electrometer_leakage_reproducibility import display_resolution
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import COVERAGE_P, sd_interval, t_coverage_factor, welch_satterthwaite

ReferenceName = Literal["TRS-398", "TRS-398-22C", "TG-51"]
REFERENCES: dict[str, ReferenceConditions] = {
    "TRS-398": TRS398_REFERENCE,
    "TRS-398-22C": TRS398_REFERENCE_22C,
    "TG-51": TG51_REFERENCE,
}
#: Units a certificate may state N_D,w in, and the factor to Gy/C.
COEFFICIENT_UNITS: dict[str, float] = {"Gy/C": 1.0, "Gy/nC": 1e9, "cGy/nC": 1e7, "mGy/nC": 1e6}
#: The built-in simulated rig's chambers (chamber_a 2.0e-8 C/Gy, chamber_b 2.1e-8 C/Gy): the defaults of
#: the coefficients when neither the rig file's certificates nor the parameters state them.
BUILT_IN_REFERENCE_GY_PER_C = 5.0e7
BUILT_IN_PREVIOUS_GY_PER_C = 4.762e7


class CrossCalibrationProfile(ToleranceProfile):
    """Limits for D8 (values and sources in sequences/tolerances.py)."""

    reproducibility: Tolerance
    coefficient_change: Tolerance


PROFILES: dict[str, CrossCalibrationProfile] = profiles_for(
    "chamber-cross-calibration", CrossCalibrationProfile
)


class ChamberSetup(BaseModel):
    """One chamber of the pair: its electrometer, how it is read, and its own corrections (as stated)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dosimeter: str = Field(description="rig device name of the electrometer reading this chamber")
    range: str = Field(default="auto", description="the instrument's range name")
    bias_voltage_v: float = Field(default=300.0, description="signed chamber bias (the sign is the polarity)")
    charge_resolution_c: float = Field(default=1e-13, gt=0, description="charge resolution of the range")
    p_pol: float = Field(default=1.0, gt=0.9, lt=1.1, description="polarity correction applied (TG-51 P_pol)")
    p_pol_u_pct: float = Field(default=0.0, ge=0, description="its relative standard uncertainty, %")
    p_ion: float = Field(default=1.0, ge=1.0, le=1.05, description="recombination correction (P_ion, k_s)")
    p_ion_u_pct: float = Field(default=0.0, ge=0, description="its relative standard uncertainty, %")
    reference_conditions: ReferenceName = Field(
        default="TRS-398", description="reference air conditions of this chamber's coefficient"
    )

    @model_validator(mode="after")
    def _biased(self) -> ChamberSetup:
        if self.bias_voltage_v == 0:
            raise ValueError("bias_voltage_v = 0 collects no ionisation; give the chamber's bias")
        return self

    def settings(self) -> DosimeterSettings:
        return DosimeterSettings(mode="charge", range=self.range, bias_voltage_v=self.bias_voltage_v)


class CrossCalibrationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    reference: ChamberSetup = Field(
        default=ChamberSetup(dosimeter="electrometer_unidos", range="MEDIUM"),
        description="the reference chamber (calibrated by a standards laboratory) and its electrometer",
    )
    field: ChamberSetup = Field(
        default=ChamberSetup(dosimeter="electrometer_6517b", range="auto"),
        description="the field chamber being calibrated and its electrometer",
    )
    reference_coefficient_gy_per_c: float | None = Field(
        default=None,
        gt=0,
        description="N_D,w of the reference chamber; None: the coefficient on the reference electrometer's "
        "certificate in the rig file (given both, they must agree); neither: the built-in rig's 5.0e7 Gy/C",
    )
    reference_coefficient_u_pct: float = Field(
        default=0.6,
        ge=0,
        description="relative standard uncertainty (k = 1) of the reference coefficient, as its certificate "
        "states it (the default is a typical standards-laboratory value: replace it by the certificate's)",
    )
    previous_coefficient_gy_per_c: float | None = Field(
        default=None,
        gt=0,
        description="the field chamber's coefficient before this transfer; None: the coefficient on the "
        "field electrometer's certificate in the rig file; neither: the built-in rig's 4.762e7 Gy/C",
    )
    previous_coefficient_u_pct: float = Field(
        default=0.0, ge=0, description="relative standard uncertainty of the previous coefficient not shared"
    )
    previous_from_same_reference: bool = Field(
        default=True,
        description="the previous coefficient was transferred from the same reference certificate, so the "
        "certificate's uncertainty cancels in the change",
    )
    quality_factor_ratio: float = Field(
        default=1.0,
        gt=0.9,
        lt=1.1,
        description="k_Q,ref/k_Q,field: 1 for the coefficient at the measured beam quality Q; the TRS-398 "
        "ratio for a coefficient at the reference quality Q₀",
    )
    quality_factor_ratio_u_pct: float = Field(default=0.0, ge=0, description="its relative standard u, %")
    cycles: int = Field(
        default=3, ge=1, le=20, description="cycles of the two arrangements (A B, then B A …)"
    )
    readings: int = Field(default=3, ge=2, le=20, description="deliveries per block")
    settle_s: float = Field(default=600.0, ge=0, description="after applying bias: the chambers settle")
    after_swap_s: float = Field(
        default=300.0, ge=0, description="after each swap: the chambers reach the phantom's temperature"
    )
    beam_time_s: float = Field(default=20.0, gt=0, le=3600, description="beam time of one delivery")
    dose_rate_gy_per_min: float = Field(default=6.0, gt=0, le=100, description="dose rate at the chambers")
    pre_s: float = Field(default=1.0, ge=0, le=60, description="integration runs this long before beam on")
    post_s: float = Field(default=1.0, ge=0, le=60, description="and this long after beam off")
    beam: str = Field(default="", description="which beam the operator sets up, stated in every beam prompt")
    gy_per_mu: GyPerMu = 0.01
    environment: str | None = Field(
        default="room_sensor", description="environment device for k_TP (None: no air readings)"
    )
    chamber_temperature_difference_u_c: float = Field(
        default=0.1,
        ge=0,
        description="standard uncertainty of the difference between the two chambers' air temperatures",
    )
    position_residual_fraction: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="half-width, as a fraction of the measured non-uniformity, of what the swap may leave "
        "uncancelled (chambers that average the field differently), rectangular",
    )
    cov_coverage: float = Field(
        default=0.99, ge=COVERAGE_P, lt=1.0, description="coverage probability of the CoV's interval"
    )
    profile: str = Field(default="tg142-annual")
    profile_override: CrossCalibrationProfile | None = None

    @model_validator(mode="after")
    def _check(self) -> CrossCalibrationParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        if self.reference.dosimeter == self.field.dosimeter:
            raise ValueError("the reference and the field chamber need an electrometer each")
        return self

    def tolerance_profile(self) -> CrossCalibrationProfile:
        return self.profile_override or PROFILES[self.profile]

    def arrangements(self) -> list[bool]:
        """Swapped or not, block by block: A B | B A | A B … (a swap only where the arrangement changes)."""
        return [bool((cycle + half) % 2) for cycle in range(self.cycles) for half in range(2)]


def _coefficient(
    context: SequenceContext, device: str, given: float | None, default: float, what: str
) -> dict[str, Any]:
    """A coefficient and where it came from: the parameter, the rig file's certificate, or the default."""
    lookup = getattr(context, "certificate", None)
    certificate = lookup(device) if callable(lookup) else None
    stated: float | None = None
    if certificate is not None and certificate.coefficient is not None:
        factor = COEFFICIENT_UNITS.get(certificate.unit)
        if factor is None:
            raise ValueError(
                f"devices.{device}.certificate {certificate.id!r}: unit {certificate.unit!r} is not one of "
                f"{sorted(COEFFICIENT_UNITS)}"
            )
        stated = certificate.coefficient * factor
    if given is not None and stated is not None and not math.isclose(given, stated, rel_tol=1e-6):
        raise ValueError(
            f"{what} {given:.6g} Gy/C differs from {stated:.6g} Gy/C on certificate {certificate.id!r} of "  # type: ignore[union-attr]
            f"{device}; give one of them"
        )
    if given is not None:
        return {"value": given, "source": "parameter"}
    if stated is not None:
        assert certificate is not None
        return {"value": stated, "source": f"certificate {certificate.id} of {device} (rig file)"}
    return {"value": default, "source": "default for the built-in simulated rig"}


def _charge(reading: DosimeterReading) -> dict[str, Any]:
    return {"value": reading.value, "unit": reading.unit, "clock_s": reading.clock_s}


class ChamberCrossCalibration(Sequence[CrossCalibrationParams]):
    name = "chamber-cross-calibration"
    title = "Cross-calibration of a field chamber against a reference chamber (D8)"
    params_model = CrossCalibrationParams

    def device_needs(self, params: CrossCalibrationParams) -> list[DeviceNeed]:
        needs = [
            DeviceNeed("reference.dosimeter", params.reference.dosimeter, "dosimeter"),
            DeviceNeed("field.dosimeter", params.field.dosimeter, "dosimeter"),
        ]
        if params.environment is not None:
            needs.append(DeviceNeed("environment", params.environment, "environment"))
        return needs

    def device_of(self, params: CrossCalibrationParams) -> str:
        return params.field.dosimeter

    def plan(self, params: CrossCalibrationParams, context: SequenceContext) -> Plan:
        ref, fld = params.reference.dosimeter, params.field.dosimeter
        coefficients = {
            "reference": _coefficient(
                context,
                ref,
                params.reference_coefficient_gy_per_c,
                BUILT_IN_REFERENCE_GY_PER_C,
                "reference_coefficient_gy_per_c",
            ),
            "previous": _coefficient(
                context,
                fld,
                params.previous_coefficient_gy_per_c,
                BUILT_IN_PREVIOUS_GY_PER_C,
                "previous_coefficient_gy_per_c",
            ),
        }
        yield Beam(on=False)
        yield Together(
            (
                ConfigureDosimeter(ref, params.reference.settings()),
                ConfigureDosimeter(fld, params.field.settings()),
            )
        )
        yield Dwell(params.settle_s)
        yield Together((ZeroDosimeter(ref), ZeroDosimeter(fld)))
        deliveries: list[dict[str, Any]] = []
        air: list[dict[str, Any]] = []
        arrangement: bool | None = None
        for block, swapped in enumerate(params.arrangements()):
            if swapped != arrangement:
                yield SwapChambers(ref, fld, swapped, "cross-calibration, alternating positions")
                arrangement = swapped
                yield Dwell(params.after_swap_s)
            if params.environment is not None:
                air.append(
                    {"block": block, **environment_record((yield ReadEnvironment(params.environment)))}
                )
            for index in range(params.readings):
                yield Together((ResetIntegration(ref), ResetIntegration(fld)))
                yield Together((StartIntegration(ref), StartIntegration(fld)))
                yield Dwell(params.pre_s)
                yield Beam(
                    on=True,
                    dose_rate_gy_per_min=params.dose_rate_gy_per_min,
                    duration_s=params.beam_time_s,
                    beam=params.beam,
                    gy_per_mu=params.gy_per_mu,
                )
                yield Dwell(params.beam_time_s)
                yield Beam(on=False)
                yield Dwell(params.post_s)
                yield Together((HoldIntegration(ref), HoldIntegration(fld)))
                m_ref, m_field = yield Together((ReadDosimeter(ref), ReadDosimeter(fld)))
                deliveries.append(
                    {
                        "block": block,
                        "swapped": swapped,
                        "reading": index,
                        "reference": _charge(m_ref),
                        "field": _charge(m_field),
                    }
                )
                yield Checkpoint(f"block {block + 1}/{2 * params.cycles}, delivery {index + 1}")
            if params.environment is not None:
                air.append(
                    {"block": block, **environment_record((yield ReadEnvironment(params.environment)))}
                )
        if arrangement:
            yield SwapChambers(
                ref, fld, False, "cross-calibration done: chambers back at their own positions"
            )
        return {"deliveries": deliveries, "environment": air, "coefficients": coefficients}

    def analyze(self, params: CrossCalibrationParams, data: Any) -> SequenceResult:
        return analyze_cross_calibration(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import verdict_figure

        # The ratio by block carries no limit (the verdict is the CoV within blocks, and the two arrangements
        # differ by the field's non-uniformity): the verdicts against their limits are the second figure.
        return [
            cross_calibration_figure(result),
            verdict_figure(result, f"{result.device}: cross-calibration checks against their limits"),
        ]


# --------------------------------------------------------------------------------------------- estimator
@dataclass(frozen=True, slots=True)
class RatioEstimate:
    """ln R (the transfer ratio) and ln g (the field's non-uniformity D₁/D₂) from the per-delivery ln r."""

    ln_ratio: float
    ln_nonuniformity: float
    u_ln_ratio: float  # type A, from the block means (or the deliveries' scatter with one cycle)
    dof: float
    within_sd: float  # pooled SD of ln r within blocks
    within_dof: int
    block_means: list[tuple[int, bool, float, int]]  # (block, swapped, mean ln r, deliveries)


def estimate_ratio(rows: list[tuple[int, bool, float]]) -> RatioEstimate:
    """From (block, swapped, ln r) of every delivery: ln R = ½(mean_A + mean_B) of the block means.

    The type-A u of ln R uses the scatter of the block means about their arrangement's mean (what a chamber
    put back a little elsewhere adds), but never less than the deliveries' own scatter implies; with one
    block per arrangement only the latter exists.
    """
    blocks: dict[int, tuple[bool, list[float]]] = {}
    for block, swapped, value in rows:
        blocks.setdefault(block, (swapped, []))[1].append(value)
    means = [(b, s, float(np.mean(v)), len(v)) for b, (s, v) in sorted(blocks.items())]
    groups = {flag: [m for _, s, m, _ in means if s is flag] for flag in (False, True)}
    if not groups[False] or not groups[True]:
        raise ValueError("a cross-calibration needs deliveries in both arrangements (own and swapped)")
    mean_a, mean_b = float(np.mean(groups[False])), float(np.mean(groups[True]))
    ss_w = sum(float(np.sum((np.array(v) - np.mean(v)) ** 2)) for _, v in blocks.values())
    dof_w = sum(len(v) - 1 for _, v in blocks.values())
    if dof_w < 1:
        raise ValueError("each block needs at least two deliveries")
    s_w = math.sqrt(ss_w / dof_w)
    n_per_block = float(np.mean([n for *_, n in means]))
    var_block, dof = s_w**2 / n_per_block, float(dof_w)
    dof_b = len(means) - 2
    if dof_b >= 1:
        ss_b = sum((m - (mean_b if s else mean_a)) ** 2 for _, s, m, _ in means)
        if ss_b / dof_b > var_block:
            var_block, dof = ss_b / dof_b, float(dof_b)
    u = 0.5 * math.sqrt(var_block / len(groups[False]) + var_block / len(groups[True]))
    return RatioEstimate(
        ln_ratio=0.5 * (mean_a + mean_b),
        ln_nonuniformity=0.5 * (mean_a - mean_b),
        u_ln_ratio=u,
        dof=dof,
        within_sd=s_w,
        within_dof=dof_w,
        block_means=means,
    )


@dataclass(frozen=True, slots=True)
class BudgetLine:
    component: str
    u_rel: float  # relative standard uncertainty (of N_field), as a fraction
    dof: float
    note: str


def _block_air(environment: list[dict[str, Any]], block: int) -> tuple[float, float] | None:
    readings = [e for e in environment if e["block"] == block]
    if not readings:
        return None
    return (
        float(np.mean([e["temperature_c"] for e in readings])),
        float(np.mean([e["pressure_kpa"] for e in readings])),
    )


def analyze_cross_calibration(params: CrossCalibrationParams, data: dict[str, Any]) -> SequenceResult:
    deliveries = data["deliveries"]
    environment = data.get("environment") or []
    for row in deliveries:
        for side in ("reference", "field"):
            if row[side]["unit"] != "C":
                raise ValueError(
                    f"{side} electrometer: expected charge readings in C, got {row[side]['unit']!r}"
                )
    ref, fld = params.reference, params.field
    ref_conditions, fld_conditions = (
        REFERENCES[ref.reference_conditions],
        REFERENCES[fld.reference_conditions],
    )
    static = (ref.p_pol * ref.p_ion) / (fld.p_pol * fld.p_ion)
    rows: list[tuple[int, bool, float]] = []
    ktp_ref: list[float] = []
    temperatures: list[float] = []
    for row in deliveries:
        air = _block_air(environment, int(row["block"]))
        c_tp = 1.0
        if air is not None:
            k_r = k_tp(*air, reference=ref_conditions).k_tp
            k_f = k_tp(*air, reference=fld_conditions).k_tp
            c_tp = k_r / k_f
            ktp_ref.append(k_r)
            temperatures.append(air[0])
        ratio = row["reference"]["value"] / row["field"]["value"] * c_tp * static
        if not ratio > 0:
            raise ValueError(f"block {row['block']}: the two chambers' charges have opposite signs")
        rows.append((int(row["block"]), bool(row["swapped"]), math.log(ratio)))
    est = estimate_ratio(rows)
    ratio = math.exp(est.ln_ratio)
    n_ref = float(data["coefficients"]["reference"]["value"])
    n_prev = float(data["coefficients"]["previous"]["value"])
    n_field = n_ref * ratio * params.quality_factor_ratio
    mean_t = float(np.mean(temperatures)) if temperatures else 20.0
    resolution = max(
        display_resolution([r["reference"]["value"] for r in deliveries], ref.charge_resolution_c)
        / abs(float(np.mean([r["reference"]["value"] for r in deliveries]))),
        display_resolution([r["field"]["value"] for r in deliveries], fld.charge_resolution_c)
        / abs(float(np.mean([r["field"]["value"] for r in deliveries]))),
    )
    budget = [
        BudgetLine(
            "reference certificate", params.reference_coefficient_u_pct / 100.0, math.inf, "as stated"
        ),
        BudgetLine(
            "ratio reproducibility (type A)",
            est.u_ln_ratio,
            est.dof,
            f"{len(est.block_means)} blocks of {params.readings}",
        ),
        BudgetLine(
            "position residual",
            params.position_residual_fraction * abs(est.ln_nonuniformity) / math.sqrt(3.0),
            math.inf,
            f"{params.position_residual_fraction:g} × the measured non-uniformity, rectangular",
        ),
        BudgetLine(
            "k_TP (chamber temperatures)",
            params.chamber_temperature_difference_u_c / (273.2 + mean_t),
            math.inf,
            "pressure and a common temperature cancel in the ratio",
        ),
        BudgetLine("P_pol", math.hypot(ref.p_pol_u_pct, fld.p_pol_u_pct) / 100.0, math.inf, "as stated"),
        BudgetLine("P_ion", math.hypot(ref.p_ion_u_pct, fld.p_ion_u_pct) / 100.0, math.inf, "as stated"),
        BudgetLine("quality factor ratio", params.quality_factor_ratio_u_pct / 100.0, math.inf, "as stated"),
        BudgetLine("display resolution", resolution / math.sqrt(6.0), math.inf, "both readings, rectangular"),
    ]
    u_rel = math.sqrt(sum(line.u_rel**2 for line in budget))
    nu = welch_satterthwaite([line.u_rel for line in budget], [line.dof for line in budget])
    k = t_coverage_factor(nu)
    # the change from the previous coefficient: what is not common to both
    change_lines = [
        line
        for line in budget
        if not (params.previous_from_same_reference and line.component == "reference certificate")
    ]
    change_lines.append(
        BudgetLine("previous coefficient", params.previous_coefficient_u_pct / 100.0, math.inf, "")
    )
    u_change_rel = math.sqrt(sum(line.u_rel**2 for line in change_lines))
    k_change = t_coverage_factor(
        welch_satterthwaite([line.u_rel for line in change_lines], [line.dof for line in change_lines])
    )
    change_pct = 100.0 * (n_field / n_prev - 1.0)
    cov = _cov(est, params.cov_coverage, resolution)
    profile = params.tolerance_profile()
    verdicts = [
        decide(
            "CoV_ratio",
            f"reproducibility of the ratio of the two chambers' readings of one delivery: pooled CoV within "
            f"blocks {100 * est.within_sd:.3g} % ({est.within_dof} dof), stated as the midpoint ± half-width "
            f"of its {100 * params.cov_coverage:g} % chi-square interval [{cov[1]:.3g}, {cov[2]:.3g}] %",
            Measurement(value=cov[0], standard_uncertainty=cov[3] / 2.0, unit="%", coverage_factor=2.0),
            profile.reproducibility,
            profile.rule,
        ),
        decide(
            "coefficient_change",
            f"|N_field/N_previous − 1|: {change_pct:+.3g} % against the previous {n_prev:.5g} Gy/C "
            f"({data['coefficients']['previous']['source']})",
            Measurement(
                value=abs(change_pct),
                standard_uncertainty=100.0 * (n_field / n_prev) * u_change_rel,
                unit="%",
                coverage_factor=k_change,
            ),
            profile.coefficient_change,
            profile.rule,
        ),
    ]
    u_g = est.u_ln_ratio  # ln g has the same type-A u as ln R (½ of a difference instead of a sum)
    informative = {
        "N_field": Measurement(
            value=n_field * 1e-7,
            standard_uncertainty=n_field * 1e-7 * u_rel,
            unit="cGy/nC",
            coverage_factor=k,
        ),
        "ratio": Measurement(
            value=ratio,
            standard_uncertainty=ratio * est.u_ln_ratio,
            unit="1",
            coverage_factor=t_coverage_factor(est.dof),
        ),
        "field_non_uniformity": Measurement(
            value=100.0 * (math.exp(est.ln_nonuniformity) - 1.0),
            standard_uncertainty=100.0 * u_g,
            unit="%",
            coverage_factor=t_coverage_factor(est.dof),
        ),
        "coefficient_change_signed": Measurement(
            value=change_pct,
            standard_uncertainty=100.0 * (n_field / n_prev) * u_change_rel,
            unit="%",
            coverage_factor=k_change,
        ),
    }
    if ktp_ref:
        informative["k_TP_reference"] = Measurement(
            value=float(np.mean(ktp_ref)), standard_uncertainty=0.0, unit="1"
        )
    reference_source = data["coefficients"]["reference"]["source"]
    return SequenceResult(
        sequence=ChamberCrossCalibration.name,
        title=ChamberCrossCalibration.title,
        device=params.field.dosimeter,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={
            "blocks": [
                {
                    "block": block,
                    "arrangement": "swapped" if swapped else "own positions",
                    "deliveries": count,
                    "ratio": math.exp(mean),
                }
                for block, swapped, mean, count in est.block_means
            ],
            "budget": [
                {
                    "component": line.component,
                    "u_rel_pct": 100.0 * line.u_rel,
                    "dof": line.dof,
                    "note": line.note,
                }
                for line in budget
            ],
        },
        frame="not geometric: charges in coulomb; coefficients in Gy/C (informative N_field in cGy/nC)",
        notes=[
            f"reference {ref.dosimeter}, field {fld.dosimeter}; {params.cycles} cycles × 2 arrangements × "
            f"{params.readings} deliveries of {params.beam_time_s:g} s at "
            f"{params.dose_rate_gy_per_min:g} Gy/min, "
            "both electrometers integrating each delivery together; arrangements alternate A B | B A …",
            f"N_field = N_ref·R·(k_Q ratio) = {n_ref:.6g} Gy/C × {ratio:.6f} × "
            f"{params.quality_factor_ratio:g} = {n_field:.6g} Gy/C ± {k * u_rel * n_field:.3g} Gy/C "
            f"(k = {k:.3g}, ν_eff = {nu:.3g}); N_ref from "
            f"{reference_source}",
            f"R = √(r̄_A·r̄_B): the field's non-uniformity between the positions "
            f"({100 * (math.exp(est.ln_nonuniformity) - 1):+.3g} %) cancels; a fraction "
            f"{params.position_residual_fraction:g} of it is carried as a residual",
            "each reading corrected by its chamber's k_TP (block's air readings), P_pol and P_ion as stated; "
            "leakage is not subtracted (both chambers integrate the same time, it is below 0.1 % for "
            "reference-class chambers)"
            + ("" if environment else "; no air readings: k_TP taken as equal for both chambers"),
            f"uncertainty budget of N_field: combined {100 * u_rel:.3g} % (k = 1), components in the "
            "'budget' table (JCGM 100:2008 G.4 effective dof)",
        ],
    )


def _cov(est: RatioEstimate, p: float, resolution: float) -> tuple[float, float, float, float]:
    """(midpoint, low, high, U) of the chi-square interval for the ratio's CoV (%), as in D3."""
    cov = 100.0 * est.within_sd
    low, high = sd_interval(cov, est.within_dof, p)
    step = 100.0 * resolution
    return (low + high) / 2.0, low, high, math.hypot((high - low) / 2.0, step)


def cross_calibration_figure(result: SequenceResult) -> Any:
    from sequences.plots import _pyplot

    plt = _pyplot()
    rows = result.tables["blocks"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for arrangement, marker in (("own positions", "ko"), ("swapped", "bs")):
        chosen = [r for r in rows if r["arrangement"] == arrangement]
        ax.plot([r["block"] + 1 for r in chosen], [r["ratio"] for r in chosen], marker, label=arrangement)
    ratio = result.informative["ratio"]
    ax.axhline(ratio.value, color="grey", linewidth=0.8, label="R = √(r̄_A·r̄_B)")
    ax.set_xlabel("block")
    ax.set_ylabel("M_ref / M_field (corrected)")
    ax.set_title(f"{result.device}: cross-calibration ratio by block (D8)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
