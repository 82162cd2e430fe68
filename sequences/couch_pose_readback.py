"""C1/C4 (indicator part): couch readback against commanded IEC 61217 table-top poses.

Procedure: reference the couch, then for each repeat visit every pose of the list (each one a full IEC
set point: isocentric rotation, lateral/longitudinal/vertical, pitch, roll), dwell, and read the couch's
own readback converted to IEC terms. The couch returns to the neutral pose at the end.

What this can show, and what it cannot: a hexapod controller (PI C-887) reports ``POS?`` from its strut
encoders through its own nominal kinematic model. The readback therefore shows the controller not reaching
or not holding the commanded pose (a strut that stops short or slips, a servo outside its window, an
encoder fault) and errors of the driver's IEC mapping. Everything downstream of the encoders (scale,
squareness, backlash in the joints, walkout, axis tilt, sag and tilt under load) is invisible to it; those
are measured by the tracker sequences C1–C6.

Uncertainty: the metrics are maxima over many noisy readings, so U is the 95.45 % quantile of the largest
reading-noise term (JCGM 101:2008 §7 Monte Carlo; the noise SD from the repeat scatter with its
degrees of freedom, JCGM 101:2008 §6.4.9).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import special

from controller.messages import Checkpoint, CouchReading, Dwell, Home, MoveCouch, ReadCouch
from controller.results import Measurement, SequenceResult, Tolerance, decide
from drivers.roles.couch import COUCH_AXES, CouchSetpoint
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext, require_known_profile
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import COVERAGE_P, sd_interval

TRANSLATIONS = ("lateral_mm", "longitudinal_mm", "vertical_mm")
ROTATIONS = ("couch_rotation_deg", "pitch_deg", "roll_deg")


class CouchPose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    lateral_mm: float = 0.0
    longitudinal_mm: float = 0.0
    vertical_mm: float = 0.0
    couch_rotation_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0

    def setpoint(self) -> CouchSetpoint:
        return CouchSetpoint(**self.model_dump())


class CouchReadbackProfile(ToleranceProfile):
    """Limits for the couch readback (values in sequences/tolerances.py)."""

    translation: Tolerance
    rotation: Tolerance


PROFILES: dict[str, CouchReadbackProfile] = profiles_for("couch-pose-readback", CouchReadbackProfile)

DEFAULT_POSES = [
    CouchPose(),
    CouchPose(lateral_mm=10.0),
    CouchPose(lateral_mm=-10.0),
    CouchPose(longitudinal_mm=15.0),
    CouchPose(longitudinal_mm=-15.0),
    CouchPose(vertical_mm=8.0),
    CouchPose(vertical_mm=-8.0),
    CouchPose(pitch_deg=1.5),
    CouchPose(pitch_deg=-1.5),
    CouchPose(roll_deg=1.5),
    CouchPose(roll_deg=-1.5),
    CouchPose(couch_rotation_deg=3.0),
    CouchPose(couch_rotation_deg=-3.0),
    CouchPose(lateral_mm=5.0, longitudinal_mm=-5.0, vertical_mm=3.0, pitch_deg=1.0, roll_deg=-1.0),
]


class CouchReadbackParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    couch: str = Field(default="couch", description="rig device name of the couch")
    poses: list[CouchPose] = Field(default_factory=lambda: list(DEFAULT_POSES), min_length=1)
    repeats: int = Field(default=3, ge=1, le=20, description="passes through the pose list")
    dwell_s: float = Field(default=2.0, ge=0, le=600, description="wait after 'in position' (C1: ≥ 2 s)")
    readout_resolution_mm: float = Field(
        default=0.001, gt=0, description="readback resolution (translations)"
    )
    readout_resolution_deg: float = Field(default=0.001, gt=0, description="readback resolution (rotations)")
    profile: str = Field(default="tg142-monthly")
    profile_override: CouchReadbackProfile | None = None

    @model_validator(mode="after")
    def _known_profile(self) -> CouchReadbackParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> CouchReadbackProfile:
        return self.profile_override or PROFILES[self.profile]


class CouchPoseReadback(Sequence[CouchReadbackParams]):
    name = "couch-pose-readback"
    title = "Couch position indicators against commanded IEC 61217 table-top poses"
    params_model = CouchReadbackParams

    def device_needs(self, params: CouchReadbackParams) -> list[DeviceNeed]:
        return [DeviceNeed("couch", params.couch, "couch")]

    def device_of(self, params: CouchReadbackParams) -> str:
        return params.couch

    def plan(self, params: CouchReadbackParams, context: SequenceContext) -> Plan:
        couch = params.couch
        rows: list[dict[str, Any]] = []
        yield Home(couch)
        for repeat in range(params.repeats):
            for index, pose in enumerate(params.poses):
                commanded = pose.setpoint()
                yield MoveCouch(couch, commanded)
                if params.dwell_s:
                    yield Dwell(params.dwell_s)
                reading: CouchReading = yield ReadCouch(couch)
                rows.append(
                    {
                        "repeat": repeat,
                        "pose": index,
                        **{f"cmd_{axis}": value for axis, value in commanded.as_dict().items()},
                        **{f"rb_{axis}": value for axis, value in reading.setpoint.as_dict().items()},
                        "clock_s": reading.clock_s,
                    }
                )
            yield Checkpoint(f"pass {repeat + 1}/{params.repeats}")
        yield MoveCouch(couch, CouchSetpoint())
        return {"points": rows}

    def analyze(self, params: CouchReadbackParams, data: Any) -> SequenceResult:
        return analyze_couch_readback(params, data["points"])

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import couch_readback_figure

        return [couch_readback_figure(result)]


#: Monte Carlo draws for the extreme-value half-width (its own 95.45 % quantile is stable to ~1 %).
MC_DRAWS = 20000


def repeatability(diff: np.ndarray, poses: np.ndarray) -> tuple[float, int]:
    """Pooled within-pose SD of readback − commanded and its effective degrees of freedom.

    The deviation of each pose is constant over repeats; what scatters around the pose's mean is the
    readback noise plus the controller's positioning repeatability. The noise need not be the same at
    every pose (a rotation's readback noise reaches the IEC translations through the lever of the pose),
    so the degrees of freedom of the pooled variance are Welch–Satterthwaite's (GUM G.4.1):
    ν_eff = (Σ ν_p s_p²)² / Σ ν_p s_p⁴ — N − P when every pose scatters alike, fewer when a few dominate.
    """
    labels = np.unique(poses)
    groups = [diff[poses == p] for p in labels]
    dofs = np.array([len(g) - 1 for g in groups], dtype=float)
    variances = np.array([float(np.var(g, ddof=1)) if len(g) > 1 else 0.0 for g in groups])
    dof = int(dofs.sum())
    if dof < 1:
        return 0.0, 0
    pooled = float(np.sum(dofs * variances)) / dof
    fourth = float(np.sum(dofs * variances**2))
    effective = (
        dof if fourth <= 0 else min(dof, max(1, math.floor(float(np.sum(dofs * variances)) ** 2 / fourth)))
    )
    return math.sqrt(pooled), effective


def max_noise_halfwidth(groups: list[tuple[int, float, int, float]], p: float = COVERAGE_P) -> float:
    """p-quantile of the largest |noise| over every reading of ``groups`` (count, sd, dof, u_resolution).

    Each group is one axis: ``count`` readings with independent noise N(0, σ² + u_res²), σ estimated as
    ``sd`` with ``dof`` degrees of freedom. Per Monte Carlo draw, σ is drawn from its distribution given
    the sample SD (σ = sd·√(ν/χ²_ν), JCGM 101:2008 §6.4.9.4) and the largest of ``count`` half-normal
    magnitudes by inverse transform; the result is the quantile over draws of the maximum over groups
    (JCGM 101:2008 §7). Seeded, so a re-analysis gives the same U.
    """
    rng = np.random.default_rng(0)
    largest = np.zeros(MC_DRAWS)
    for count, sd, dof, u_res in groups:
        sigma = np.full(MC_DRAWS, sd)
        if dof > 0 and sd > 0:
            sigma = sd * np.sqrt(dof / rng.chisquare(dof, MC_DRAWS))
        total = np.sqrt(sigma**2 + u_res**2)
        uniform = rng.uniform(size=MC_DRAWS)
        magnitude = special.ndtri((uniform ** (1.0 / count) + 1.0) / 2.0)  # max of `count` |N(0, 1)|
        largest = np.maximum(largest, total * magnitude)
    return float(np.quantile(largest, p))


def analyze_couch_readback(params: CouchReadbackParams, rows: list[dict[str, Any]]) -> SequenceResult:
    differences = {axis: np.array([r[f"rb_{axis}"] - r[f"cmd_{axis}"] for r in rows]) for axis in COUCH_AXES}
    poses = np.array([int(r["pose"]) for r in rows])
    u_mm = params.readout_resolution_mm / math.sqrt(12.0)
    u_deg = params.readout_resolution_deg / math.sqrt(12.0)
    per_axis: list[dict[str, Any]] = []
    for axis, diff in differences.items():
        sd, dof = repeatability(diff, poses)
        per_axis.append(
            {
                "axis": axis,
                "unit": "mm" if axis in TRANSLATIONS else "deg",  # of every number in the row (mixed table)
                "max_abs": float(np.max(np.abs(diff))),
                "mean": float(np.mean(diff)),
                "sd": sd,
                "dof": dof,
                "n": len(diff),
                "u_resolution": u_mm if axis in TRANSLATIONS else u_deg,
            }
        )

    def verdict_measurement(axes: tuple[str, ...], unit: str) -> tuple[dict[str, Any], Measurement]:
        chosen = [r for r in per_axis if r["axis"] in axes]
        worst = max(chosen, key=lambda r: r["max_abs"])
        halfwidth = max_noise_halfwidth([(r["n"], r["sd"], r["dof"], r["u_resolution"]) for r in chosen])
        # U is the extreme-value quantile itself; stated as u = U/2 with k = 2 (see the module docstring).
        return worst, Measurement(value=worst["max_abs"], standard_uncertainty=halfwidth / 2, unit=unit)

    worst_t, measured_t = verdict_measurement(TRANSLATIONS, "mm")
    worst_r, measured_r = verdict_measurement(ROTATIONS, "deg")
    profile = params.tolerance_profile()
    verdicts = [
        decide(
            "Δt",
            f"largest |readback − commanded| translation (axis {worst_t['axis']})",
            measured_t,
            profile.translation,
            profile.rule,
        ),
        decide(
            "Δθ",
            f"largest |readback − commanded| rotation (axis {worst_r['axis']})",
            measured_r,
            profile.rotation,
            profile.rule,
        ),
    ]
    informative: dict[str, Measurement] = {}
    for r in per_axis:
        if r["dof"] < 1:
            continue  # one pass: no repeat scatter to estimate
        _, high = sd_interval(r["sd"], r["dof"]) if r["sd"] > 0 else (0.0, 0.0)
        # The chi-square interval's upper side (the wider one) and the readout resolution, which hides
        # scatter below it, in quadrature.
        halfwidth = math.hypot(high - r["sd"], r["u_resolution"])
        informative[f"sd_{r['axis']}"] = Measurement(
            value=r["sd"],
            standard_uncertainty=halfwidth / 2,
            unit="mm" if r["axis"] in TRANSLATIONS else "deg",
        )
    return SequenceResult(
        sequence=CouchPoseReadback.name,
        title=CouchPoseReadback.title,
        device=params.couch,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={"axes": per_axis, "points": rows},
        frame="IEC 61217 table-top parameters: θs of s in f, Tx Ty Tz of t in e, pitch, roll (IEC order)",
        notes=[
            f"{params.repeats} passes over {len(params.poses)} poses, dwell {params.dwell_s} s",
            "readback = the controller's pose from its strut encoders through its own kinematics: it shows a "
            "pose not reached or not held (strut short or slipping, servo window, encoder fault) and IEC "
            "mapping errors; it cannot show scale, squareness, backlash, walkout, axis tilt, sag or tilt "
            "under load (downstream of the encoders): see the tracker sequences C1–C6",
            "Δt, Δθ: U = 95.45 % quantile of the largest reading-noise term over every reading that enters "
            "the maximum (JCGM 101:2008 §7 Monte Carlo; noise SD pooled within poses over repeats, its dof "
            "via JCGM 101:2008 §6.4.9.4; readout resolution q/√12 added); stated as u = U/2, k = 2",
            "sd_<axis>: pooled within-pose SD of readback − commanded (readback noise + repeatability); "
            "U from the chi-square interval of an SD (upper side) and the readout resolution q/√12",
        ],
    )
