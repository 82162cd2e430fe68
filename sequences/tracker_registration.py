"""Registration of the tracker to IEC 61217 f, as a sequence of its own with a verdict on its residual.

The registration phantom, set up on the room lasers, carries fiducial tools at positions known in IEC f
(the rig file's ``tracker_registration``). The tracker reads them all; a rigid fit of known to measured
positions gives f ← tracker. The fit residual is the honest measure of how far every later tracker-based
result can be trusted; each geometric sequence repeats this registration at its own start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from controller.errors import PreflightError
from controller.messages import ReadTracker, to_record
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.tracking import (
    TrackerRegistrationConfig,
    mean_tool_position,
    register,
    seen_poses,
    tool_matrix,
)
from sequences.uncertainty import COVERAGE_P

#: Per-axis standard deviation of one tool position when a tool was seen in one frame only (a 0.1 mm
#: 3-D RMS marker noise, the tracker's nominal figure), used instead of a sample SD that cannot exist.
NOMINAL_TOOL_SD_MM = 0.1 / math.sqrt(3.0)
MC_DRAWS = 20000


def tool_standard_errors(frames: list[dict[str, Any]], tool: str) -> np.ndarray:
    """Per-axis standard error of the mean tracker-frame position of ``tool`` (type A, tracker axes)."""
    points = np.array([tool_matrix(pose)[:3, 3] for pose in seen_poses(frames, tool)])
    if len(points) < 2:
        return np.full(3, NOMINAL_TOOL_SD_MM)
    se: np.ndarray = points.std(axis=0, ddof=1) / math.sqrt(len(points))
    return se


def noise_residual_quantiles(
    known_mm: np.ndarray, rotation: np.ndarray, standard_errors_mm: np.ndarray, seed: int = 0
) -> tuple[float, float]:
    """The 95.45 % quantiles of the RMS and of the largest fiducial residual that tracker noise ALONE
    gives a rigid fit (propagation of distributions, JCGM 101:2008 §7).

    To first order the fit residual is a projection of the fiducials' true misplacement plus the noise,
    r̂ = r + Pε, so ``|rms(r̂) − rms(r)| ≤ rms(Pε)`` and ``|max|r̂ᵢ| − max|rᵢ|| ≤ max|(Pε)ᵢ|``: these
    quantiles are a coverage interval for either statistic whatever the true residual, including 0, where
    the residual of a noisy fit is biased upward most. ``standard_errors_mm`` are per fiducial, per tracker
    axis; ``rotation`` turns tracker axes into IEC f.
    """
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((MC_DRAWS, *known_mm.shape)) * standard_errors_mm  # tracker axes
    moved = known_mm + eps @ rotation.T
    a0 = known_mm - known_mm.mean(axis=0)
    b0 = moved - moved.mean(axis=1, keepdims=True)
    u, _, vt = np.linalg.svd(np.einsum("pi,dpj->dij", a0, b0))
    flip = np.where(np.linalg.det(np.transpose(vt, (0, 2, 1)) @ np.transpose(u, (0, 2, 1))) < 0, -1.0, 1.0)
    vt[:, 2, :] *= flip[:, None]
    rot = np.transpose(vt, (0, 2, 1)) @ np.transpose(u, (0, 2, 1))
    distances = np.linalg.norm(np.einsum("dij,pj->dpi", rot, a0) - b0, axis=2)
    rms = np.sqrt(np.mean(distances**2, axis=1))
    return float(np.quantile(rms, COVERAGE_P)), float(np.quantile(distances.max(axis=1), COVERAGE_P))


class RegistrationProfile(ToleranceProfile):
    """The registration's limit (value in sequences/tolerances.py)."""

    residual: Tolerance


PROFILES: dict[str, RegistrationProfile] = profiles_for("tracker-registration", RegistrationProfile)
RESIDUAL_LIMIT = PROFILES["registration"].residual


class RegistrationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    samples: int = Field(default=30, ge=1, le=1000, description="tracker frames averaged")
    residual_limit: Tolerance = RESIDUAL_LIMIT
    rule: DecisionRule = DecisionRule.GUARDED
    profile_override: RegistrationProfile | None = Field(
        default=None, description="site profile (replaces residual_limit and rule)"
    )

    def tolerance_profile(self) -> RegistrationProfile:
        if self.profile_override is not None:
            return self.profile_override
        return RegistrationProfile(name="registration", residual=self.residual_limit, rule=self.rule)


class TrackerRegistration(Sequence[RegistrationParams]):
    name = "tracker-registration"
    title = "Tracker registration to IEC 61217 f on the registration phantom"
    params_model = RegistrationParams

    uses_registration = True

    def device_needs(self, params: RegistrationParams) -> list[DeviceNeed]:
        return []  # only the registration tracker, which the rig file names

    def device_of(self, params: RegistrationParams) -> str:
        return "tracker"

    def plan(self, params: RegistrationParams, context: SequenceContext) -> Plan:
        registration = context.tracker_registration()
        if registration is None:
            raise PreflightError("the rig file has no tracker_registration (fiducials at known IEC spots)")
        frames = []
        for _ in range(params.samples):
            frames.append(to_record((yield ReadTracker(registration.tracker))))
        return {"registration": registration.model_dump(mode="json"), "frames": frames}

    def analyze(self, params: RegistrationParams, data: Any) -> SequenceResult:
        config = TrackerRegistrationConfig.model_validate(data["registration"])
        registration = register(data["frames"], config)
        rows = []
        for name in sorted(config.points_mm):
            mean, standard_error = mean_tool_position(data["frames"], name)
            mapped = registration.to_iec(mean[None, :])[0]
            known = np.array(config.points_mm[name])
            rows.append(
                {
                    "fiducial": name,
                    "known_x_mm": known[0],
                    "known_y_mm": known[1],
                    "known_z_mm": known[2],
                    "residual_mm": float(np.linalg.norm(mapped - known)),
                    "tracker_standard_error_mm": standard_error,
                }
            )
        names = sorted(config.points_mm)
        known = np.array([config.points_mm[n] for n in names], dtype=float)
        errors = np.array([tool_standard_errors(data["frames"], n) for n in names])
        u_rms, u_max = (q / 2.0 for q in noise_residual_quantiles(known, registration.rotation(), errors))
        profile = params.tolerance_profile()
        verdicts = [
            decide(
                "residual",
                "RMS distance of the fiducials from their known IEC positions after the rigid fit",
                Measurement(value=registration.rms_residual_mm, standard_uncertainty=u_rms, unit="mm"),
                profile.residual,
                profile.rule,
            )
        ]
        return SequenceResult(
            sequence=self.name,
            title=self.title,
            device=config.tracker,
            profile=profile.name,
            tolerance_overrides=list(profile.overrides),
            verdicts=verdicts,
            informative={
                "max_residual": Measurement(
                    value=registration.max_residual_mm, standard_uncertainty=u_max, unit="mm"
                ),
                "mapped_point_uncertainty": Measurement(
                    value=registration.standard_uncertainty_mm, standard_uncertainty=0.0, unit="mm"
                ),
            },
            tables={"fiducials": rows, "matrix": [{"row": list(r)} for r in registration.matrix]},
            frame="IEC 61217 fixed system f ← tracker",
            notes=[
                f"{registration.fiducials} fiducials, {len(data['frames'])} frames averaged",
                "U of residual and max_residual: the 95.45 % quantile of the residual tracker noise alone "
                "gives the fit (JCGM 101:2008 Monte Carlo), stated as u = U/2 with k = 2",
            ],
        )

    def figures(self, result: SequenceResult) -> list[Any]:
        return []
