"""D4: the timer end effect — dose delivered outside the nominal beam time — from one long delivery against
n short ones of the same total beam time.

Procedure: charge mode at the operating bias, settle, null; then ``repeats`` pairs, alternating: one
delivery of ``long_time_s`` in one integration (M_L), and ``short_count`` deliveries of ``long_time_s/n``
each, ``gap_s`` apart, in one integration (M_S). The integration brackets the beam, so every switch-on and
switch-off is in the charge.

Model and estimator (docs/sequences/electrometer-end-effect.md): each switch-on delivers the nominal beam
time plus a constant δ, M = k·(t + δ). Then M_L = k·(T + δ) and M_S = k·(T + n·δ), so
M_S − M_L = k·(n − 1)·δ and n·M_L − M_S = k·(n − 1)·T, and::

    δ = T·(M_S − M_L)/(n·M_L − M_S)

with sensitivities ∂δ/∂M_S = T(n − 1)M_L/D², ∂δ/∂M_L = −T(n − 1)M_S/D², D = n·M_L − M_S (GUM 5.1.2).
The verdict states |δ| as a percentage of the shortest clinical delivery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from controller.messages import Checkpoint
from controller.results import Measurement, SequenceResult, Tolerance, decide
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext, require_known_profile
from sequences.electrometer_leakage_reproducibility import display_resolution
from sequences.electrometer_linearity import DeliveryParams, deliveries, prepare
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import t_coverage_factor


class EndEffectProfile(ToleranceProfile):
    """Limit for D4 (values in sequences/tolerances.py)."""

    end_effect: Tolerance


PROFILES: dict[str, EndEffectProfile] = profiles_for("electrometer-end-effect", EndEffectProfile)


class EndEffectParams(DeliveryParams):
    long_time_s: float = Field(default=60.0, gt=0, le=3600, description="beam time T of the long delivery")
    short_count: int = Field(
        default=10, ge=2, le=100, description="n: the short deliveries of T/n each, in one integration"
    )
    gap_s: float = Field(default=2.0, ge=0.1, le=60, description="beam off between the short deliveries")
    repeats: int = Field(
        default=5, ge=2, le=20, description="long/short pairs, alternating (5: 8 dof for the scatter)"
    )
    shortest_delivery_s: float = Field(
        default=0.5,
        gt=0,
        description="beam time of the shortest clinical delivery, the verdict's reference (5 MU at "
        "600 MU/min: 0.5 s)",
    )
    profile: str = Field(default="tg142-annual")
    profile_override: EndEffectProfile | None = None

    @model_validator(mode="after")
    def _known_profile(self) -> EndEffectParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> EndEffectProfile:
        return self.profile_override or PROFILES[self.profile]


class ElectrometerEndEffect(Sequence[EndEffectParams]):
    name = "electrometer-end-effect"
    title = "Timer end effect: one long against n short deliveries (D4)"
    params_model = EndEffectParams

    def device_needs(self, params: EndEffectParams) -> list[DeviceNeed]:
        return [DeviceNeed("dosimeter", params.dosimeter, "dosimeter")]

    def device_of(self, params: EndEffectParams) -> str:
        return params.dosimeter

    def plan(self, params: EndEffectParams, context: SequenceContext) -> Plan:
        yield from prepare(params)
        rows: list[dict[str, Any]] = []
        short = params.long_time_s / params.short_count
        for repeat in range(params.repeats):
            long_reading = yield from deliveries(params, [params.long_time_s])
            rows.append({"repeat": repeat, "kind": "long", **long_reading})
            short_reading = yield from deliveries(params, [short] * params.short_count, params.gap_s)
            rows.append({"repeat": repeat, "kind": "short", **short_reading})
            yield Checkpoint(f"pair {repeat + 1}/{params.repeats}")
        return {"readings": rows}

    def analyze(self, params: EndEffectParams, data: Any) -> SequenceResult:
        return analyze_end_effect(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        return [end_effect_figure(result)]


# --------------------------------------------------------------------------------------------- estimator
def end_effect(long_c: float, short_c: float, total_s: float, n: int) -> float:
    """δ = T·(M_S − M_L)/(n·M_L − M_S): the extra beam time per switch-on (units of T)."""
    denominator = n * long_c - short_c
    if denominator == 0:
        raise ValueError("n·M_L = M_S: the readings do not scale with beam time")
    return total_s * (short_c - long_c) / denominator


@dataclass(frozen=True, slots=True)
class EndEffectEstimate:
    """δ with its standard uncertainty, dof and coverage factor, and the uncertainty budget."""

    delta: float
    u: float
    dof: float
    k: float
    components: dict[str, float]


def end_effect_budget(
    long_c: float, short_c: float, u_long: float, u_short: float, total_s: float, n: int, dof: float
) -> EndEffectEstimate:
    """Propagate u(M̄_L), u(M̄_S) through δ with the sensitivities of the closed form (GUM 5.1.2)."""
    d = n * long_c - short_c
    c_short = total_s * (n - 1) * long_c / d**2
    c_long = -total_s * (n - 1) * short_c / d**2
    components = {"long": abs(c_long) * u_long, "short": abs(c_short) * u_short}
    u = math.hypot(*components.values())
    return EndEffectEstimate(
        end_effect(long_c, short_c, total_s, n), u, dof, t_coverage_factor(dof), components
    )


def analyze_end_effect(params: EndEffectParams, data: dict[str, Any]) -> SequenceResult:
    rows = data["readings"]
    for row in rows:
        if row["unit"] != "C":
            raise ValueError(f"{params.dosimeter}: expected charge readings in C, got {row['unit']!r}")
    longs = np.array([r["value"] for r in rows if r["kind"] == "long"], dtype=float)
    shorts = np.array([r["value"] for r in rows if r["kind"] == "short"], dtype=float)
    if longs.size < 2 or shorts.size < 2:
        raise ValueError("the end effect needs at least two long and two short readings")
    m_long, m_short = float(longs.mean()), float(shorts.mean())
    # the readings' noise scales with the charge: pool the relative variances of both groups
    ss = float(np.sum((longs / m_long - 1) ** 2) + np.sum((shorts / m_short - 1) ** 2))
    dof = longs.size + shorts.size - 2
    sd_rel = math.sqrt(ss / dof)
    step = display_resolution(np.concatenate([longs, shorts]), params.charge_resolution_c) / math.sqrt(12.0)
    u_long = math.hypot(sd_rel * m_long, step) / math.sqrt(longs.size)
    u_short = math.hypot(sd_rel * m_short, step) / math.sqrt(shorts.size)
    n, total = params.short_count, params.long_time_s
    est = end_effect_budget(m_long, m_short, u_long, u_short, total, n, dof)
    scale = 100.0 / params.shortest_delivery_s
    profile = params.tolerance_profile()
    verdict = decide(
        "end_effect",
        f"|δ| = {abs(est.delta):.4g} s as a share of the shortest clinical delivery "
        f"({params.shortest_delivery_s:g} s), from one {total:g} s delivery against {n} of {total / n:.4g} s",
        Measurement(
            value=abs(est.delta) * scale, standard_uncertainty=est.u * scale, unit="%", coverage_factor=est.k
        ),
        profile.end_effect,
        profile.rule,
    )
    rate = params.dose_rate_gy_per_min / 60.0
    per_pair = [
        {
            "repeat": j,
            "long_nC": float(longs[j]) * 1e9,
            "short_nC": float(shorts[j]) * 1e9,
            "end_effect_s": end_effect(float(longs[j]), float(shorts[j]), total, n),
        }
        for j in range(min(longs.size, shorts.size))
    ]
    return SequenceResult(
        sequence=ElectrometerEndEffect.name,
        title=ElectrometerEndEffect.title,
        device=params.dosimeter,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=[verdict],
        informative={
            "end_effect_time": Measurement(
                value=est.delta, standard_uncertainty=est.u, unit="s", coverage_factor=est.k
            ),
            "end_effect_dose": Measurement(
                value=est.delta * rate * 1e3,
                standard_uncertainty=est.u * rate * 1e3,
                unit="mGy",
                coverage_factor=est.k,
            ),
            "charge_long": Measurement(value=m_long * 1e9, standard_uncertainty=u_long * 1e9, unit="nC"),
            "charge_short": Measurement(value=m_short * 1e9, standard_uncertainty=u_short * 1e9, unit="nC"),
        },
        tables={
            "pairs": per_pair,
            "budget": [{"component": f"mean {name} charge", "u_s": u} for name, u in est.components.items()],
        },
        frame="not geometric: charges in coulomb at the electrometer input",
        notes=[
            f"bias {params.bias_voltage_v:g} V, settle {params.settle_s:g} s; {params.repeats} pairs at "
            f"{params.dose_rate_gy_per_min:g} Gy/min: one {total:g} s delivery, then {n} × {total / n:.4g} s "
            f"{params.gap_s:g} s apart, each group in one integration",
            "δ = T·(M_S − M_L)/(n·M_L − M_S) from the model M = k·(t + δ) per switch-on; positive: the beam "
            "delivers more than its nominal time",
            f"u from the pooled relative scatter of the readings ({100 * sd_rel:.3g} %, {dof} dof) and the "
            f"display step, through the closed form's sensitivities; Student-t k = {est.k:.3g}",
            f"end-effect dose at {params.dose_rate_gy_per_min:g} Gy/min: δ·Ḋ (1 MU = 1 cGy at calibration)",
            "leakage is not subtracted: the n short deliveries integrate (n − 1)·gap longer, which a dark "
            "current of a few fA turns into a charge far below the readings' scatter",
        ],
    )


def end_effect_figure(result: SequenceResult) -> Any:
    from sequences.plots import _pyplot, _verdict, verdict_limits

    plt = _pyplot()
    verdict = _verdict(result, "end_effect")
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    if verdict is not None:
        scale = verdict.measured.value / max(abs(result.informative["end_effect_time"].value), 1e-300)
        pairs = result.tables["pairs"]
        ax.plot(
            [p["repeat"] + 1 for p in pairs],
            [abs(p["end_effect_s"]) * scale for p in pairs],
            "k^",
            ms=5,
            label="each pair",
        )
        ax.errorbar(
            [0],
            [verdict.measured.value],
            yerr=[verdict.measured.expanded_uncertainty],
            fmt="ko",
            capsize=4,
            label="all pairs ± U",
        )
        verdict_limits(ax, verdict)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("pair (0: combined)")
    ax.set_ylabel("|end effect|, % of the shortest delivery")
    ax.set_title(f"{result.device}: timer end effect (D4)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
