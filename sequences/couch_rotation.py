"""C4: 6-DoF rotational accuracy (pitch, roll, yaw) and isocentric compensation, against the tracker.

Procedure (C4): register the tracker; then ``repeats`` passes, each starting with a
reading at the reference pose, over rotation poses — pitch and roll alone (±0.5…±3°) and combined, yaw
±1…3° (defaults within a hexapod's limits). Each pose is commanded in IEC order (θs, then pitch, then roll)
with the table-top translations re-solved by ``geometry.translation_to_place`` so that ``iso_point_mm`` (a
point of the table top, in t) stays where it is at the reference — isocentric compensation, since IEC pitch
and roll pivot about the table-top origin, not the isocentre (DICOM PS3.3 C.8.8.14.12).

Metrics: the table top's measured orientation is the couch tool's rotation relative to the mean reference
reading, ΔR = R_tool·R̄_refᵀ (tool mounting cancels), composed with the commanded reference orientation and
decomposed in IEC order Rz·Rx·Ry (``geometry.decompose_table_top_rotation``); Δangle = measured − commanded
per axis (max |Δ|, bias, SD, scale error); the residual translation of the compensated point, measured as
the point fixed to the tool where the point sat at the reference (3-D max, 95th percentile); readback −
tracker angles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.messages import Checkpoint, MoveCouch
from controller.results import Measurement, SequenceResult, Tolerance, decide
from drivers.roles.couch import CouchSetpoint
from geometry import MachineState, Point, System, decompose_table_top_rotation, translation_to_place, wrap180
from geometry.fits import fit_straight_line
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext, ToolNeed, require_known_profile
from sequences.couch_geometry import (
    FRAME,
    TrackedCouchParams,
    expected_point,
    extreme_measurement,
    floats,
    machine_state,
    max_norm_halfwidth,
    pooled_scatter,
    project_rotation,
    read_couch_data,
    require_registration,
    start,
    table_top_pose,
    tracked_couch_needs,
    visit,
)
from sequences.couch_pose_readback import CouchPose
from sequences.tolerances import ToleranceProfile, profiles_for

ANGLES = (("couch_rotation_deg", "yaw"), ("pitch_deg", "pitch"), ("roll_deg", "roll"))


class RotationPose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    couch_rotation_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0


class CouchRotationProfile(ToleranceProfile):
    """Limits for C4 (values in sequences/tolerances.py)."""

    angle: Tolerance = Field(description="max |tracker − commanded| per rotation axis")
    isocentre: Tolerance = Field(description="max residual translation of the compensated point")


PROFILES: dict[str, CouchRotationProfile] = profiles_for("couch-rotation-accuracy", CouchRotationProfile)


def _default_poses() -> list[RotationPose]:
    poses = []
    # 0, ±0.5, ±1, ±2, ±3° individually; combined poses stay at ±2.5° (coupled hexapod travel)
    for angle in (0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0):
        poses.append(RotationPose(pitch_deg=angle))
    for angle in (0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0):
        poses.append(RotationPose(roll_deg=angle))
    for pitch, roll in ((1.0, 1.0), (-1.0, -1.0), (2.0, -2.0), (-2.0, 2.0), (2.5, 2.5), (-2.5, -2.5)):
        poses.append(RotationPose(pitch_deg=pitch, roll_deg=roll))
    for yaw in (1.0, -1.0, 2.0, -2.0, 3.0, -3.0):
        poses.append(RotationPose(couch_rotation_deg=yaw))
    poses.append(RotationPose(couch_rotation_deg=2.0, pitch_deg=1.5, roll_deg=-1.5))
    return poses


class CouchRotationParams(TrackedCouchParams):
    reference: CouchPose = Field(default_factory=CouchPose, description="the reference pose (all angles 0)")
    poses: list[RotationPose] = Field(default_factory=_default_poses, min_length=2)
    iso_point_mm: tuple[float, float, float] = Field(
        default=(0.0, 0.0, 0.0),
        description="table-top point (IEC t) kept in place by isocentric compensation",
    )
    isocentric: bool = Field(default=True, description="re-solve translations to keep iso_point_mm in place")
    repeats: int = Field(default=2, ge=1, le=20, description="passes over the poses")
    profile: str = Field(default="tg142-monthly")
    profile_override: CouchRotationProfile | None = None

    @model_validator(mode="after")
    def _check(self) -> CouchRotationParams:
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> CouchRotationProfile:
        return self.profile_override or PROFILES[self.profile]

    def setpoint(self, pose: RotationPose) -> CouchSetpoint:
        """The IEC set point of a rotation pose, compensated so that the iso point stays in place."""
        reference = self.reference.setpoint()
        values = {**reference.as_dict(), **pose.model_dump()}
        if not self.isocentric:
            return CouchSetpoint(**values)
        target = expected_point(reference.as_dict(), self.iso_point_mm)
        state: MachineState = translation_to_place(
            Point.from_xyz(System.TABLE_TOP, self.iso_point_mm),
            machine_state(values),
            Point.from_xyz(System.FIXED, target),
        )
        return CouchSetpoint(
            **{
                **values,
                "lateral_mm": round(state.table_lateral_mm, 6),
                "longitudinal_mm": round(state.table_longitudinal_mm, 6),
                "vertical_mm": round(state.table_vertical_mm, 6),
            }
        )


class CouchRotationAccuracy(Sequence[CouchRotationParams]):
    name = "couch-rotation-accuracy"
    title = "Couch 6-DoF rotational accuracy and isocentric compensation against the tracker (C4)"
    params_model = CouchRotationParams

    uses_registration = True

    def device_needs(self, params: CouchRotationParams) -> list[DeviceNeed]:
        return tracked_couch_needs(params)

    def tool_needs(self, params: CouchRotationParams) -> list[ToolNeed]:
        return [ToolNeed("couch_tool", params.couch_tool)]

    def device_of(self, params: CouchRotationParams) -> str:
        return params.couch

    def plan(self, params: CouchRotationParams, context: SequenceContext) -> Plan:
        registration = require_registration(context, self.name)
        tracker = registration.tracker
        head = yield from start(params, registration)
        reference = params.reference.setpoint()
        points = []
        for repeat in range(params.repeats):
            points.append(
                (yield from visit(params, tracker, reference, kind="reference", repeat=repeat, pose=-1))
            )
            for index, pose in enumerate(params.poses):
                setpoint = params.setpoint(pose)
                points.append(
                    (yield from visit(params, tracker, setpoint, kind="pose", repeat=repeat, pose=index))
                )
            yield Checkpoint(f"pass {repeat + 1}/{params.repeats}")
        yield MoveCouch(params.couch, reference)
        return {**head, "points": points}

    def analyze(self, params: CouchRotationParams, data: Any) -> SequenceResult:
        return analyze_couch_rotation(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import couch_rotation_figure

        return [couch_rotation_figure(result)]


def analyze_couch_rotation(params: CouchRotationParams, data: dict[str, Any]) -> SequenceResult:
    readings = read_couch_data(data, params.couch_tool)
    view, rows, observations, noise = readings.view, readings.rows, readings.observations, readings.noise
    refs = [i for i, r in enumerate(rows) if r["kind"] == "reference"]
    poses = [i for i, r in enumerate(rows) if r["kind"] == "pose"]
    ref_rotation = project_rotation(np.mean([observations[i].rotation for i in refs], axis=0))
    ref_position = np.mean([observations[i].position for i in refs], axis=0)
    ref_cmd = rows[refs[0]]["cmd"]
    r_ref_cmd = table_top_pose(ref_cmd)[:3, :3]
    # the compensated point relative to the tool at the reference, in f (commanded reference orientation)
    lever = expected_point(ref_cmd, params.iso_point_mm) - expected_point(ref_cmd, params.tool_offset_mm)
    iso_ref = ref_position + lever
    iso_expected_ref = expected_point(ref_cmd, params.iso_point_mm)

    n_refs = len(refs)
    measured_angles, commanded_angles, readback_angles, residuals, moved_norm = [], [], [], [], []
    for i in poses:
        obs = observations[i]
        delta = obs.rotation @ ref_rotation.T
        measured_angles.append(decompose_table_top_rotation(delta @ r_ref_cmd))
        commanded_angles.append([rows[i]["cmd"][axis] for axis, _ in ANGLES])
        readback_angles.append([rows[i]["rb"][axis] for axis, _ in ANGLES])
        iso = obs.position + delta @ lever
        expected_move = expected_point(rows[i]["cmd"], params.iso_point_mm) - iso_expected_ref
        residuals.append(iso - iso_ref - expected_move)
        moved_norm.append(float(np.linalg.norm(iso - iso_ref)))
    measured = np.array(measured_angles)
    commanded = np.array(commanded_angles)
    readback = np.array(readback_angles)
    delta_angles = np.vectorize(wrap180)(measured - commanded)
    resid = np.array(residuals)
    u_readout = params.readout_resolution_deg / math.sqrt(12.0)

    # The verdicts are on the systematic deviation per pose: the mean over the repeats. Its noise is the
    # repeat scatter about that mean (the couch's own scatter plus the tracker noise of a reading, per
    # component), never below the tracker noise; the mean reference reading is common to every pose.
    pose_ids = sorted({rows[i]["pose"] for i in poses})
    members = {p: [n for n, i in enumerate(poses) if rows[i]["pose"] == p] for p in pose_ids}
    angle_sd, angle_dof = pooled_scatter([delta_angles[members[p]] for p in pose_ids])
    resid_sd, resid_dof = pooled_scatter([resid[members[p]] for p in pose_ids])
    frame_rot = np.degrees(np.array(noise.rotation_components)) / math.sqrt(params.samples)
    frame_pos = np.array(noise.position_components) / math.sqrt(params.samples)
    lever_norm = float(np.linalg.norm(lever))
    per_angle = np.maximum(angle_sd, frame_rot)
    per_resid = np.maximum(
        resid_sd, np.sqrt(frame_pos**2 + (2 / 3) * (lever_norm * np.radians(frame_rot)) ** 2)
    )
    angle_dof_eff = float(angle_dof) if angle_dof else math.inf
    resid_dof_eff = float(resid_dof) if resid_dof else math.inf
    u_scale = math.hypot(view.rotation_uncertainty_rad, params.tracker_relative_systematic)
    mean_angles, u_mean_angles, mean_resid, u_mean_resid = [], [], [], []
    for p in pose_ids:
        m = members[p]
        n = len(m)
        mean_angles.append(delta_angles[m].mean(axis=0))
        magnitude = np.radians(np.max(np.abs(commanded[m[0]])))
        u_mean_angles.append(
            np.sqrt(per_angle**2 * (1 / n + 1 / n_refs) + np.degrees(u_scale * magnitude) ** 2)
        )
        mean_resid.append(resid[m].mean(axis=0))
        moved = float(np.mean([moved_norm[k] for k in m]))
        u_mean_resid.append(
            np.sqrt(
                per_resid**2 * (1 / n + 1 / n_refs)
                + (view.rotation_uncertainty_rad * moved) ** 2
                + params.tracker_systematic_mm**2
            )
        )
    pose_angles = np.array(mean_angles)
    pose_u_angles = np.array(u_mean_angles)
    pose_resid_norm = np.linalg.norm(np.array(mean_resid), axis=1)
    u_angle = np.array([pose_u_angles[pose_ids.index(rows[i]["pose"])] for i in poses])  # per reading, table
    u_res = np.array(
        [float(np.sqrt(np.mean(u_mean_resid[pose_ids.index(rows[i]["pose"])] ** 2))) for i in poses]
    )

    profile = params.tolerance_profile()
    verdicts = []
    informative: dict[str, Measurement] = {"registration_rms_residual": view.registration_measurement()}
    summary = []
    for c, (axis, label) in enumerate(ANGLES):
        worst = int(np.argmax(np.abs(pose_angles[:, c])))
        halfwidth = max_norm_halfwidth(pose_u_angles[:, c], dim=1, dof=angle_dof_eff)
        verdicts.append(
            decide(
                f"Δ{label}",
                f"largest |tracker − commanded| {label} over the poses (mean over repeats; IEC order θs, "
                f"pitch, roll; worst pose {pose_ids[worst]})",
                extreme_measurement(float(abs(pose_angles[worst, c])), halfwidth, "deg"),
                profile.angle,
                profile.rule,
            )
        )
        values = delta_angles[:, c]
        sd = float(np.std(values, ddof=1))
        informative[f"bias_{label}"] = Measurement(
            value=float(np.mean(values)),
            standard_uncertainty=math.hypot(sd / math.sqrt(len(values)), float(np.mean(u_angle[:, c]))),
            unit="deg",
        )
        informative[f"sd_{label}"] = Measurement(
            value=sd, standard_uncertainty=sd / math.sqrt(2 * (len(values) - 1)), unit="deg"
        )
        moving = np.abs(commanded[:, c]) > 0
        if len(set(commanded[moving, c])) >= 2:
            fit = fit_straight_line(commanded[:, c], values)
            floor = float(per_angle[c]) / math.sqrt(
                float(np.sum((commanded[:, c] - commanded[:, c].mean()) ** 2))
            )
            u_b = params.tracker_relative_systematic  # the tracker's own scale (type B)
            informative[f"scale_error_{label}"] = Measurement(
                value=100.0 * fit.slope,
                standard_uncertainty=100.0 * math.hypot(max(fit.slope_uncertainty or 0.0, floor), u_b),
                unit="%",
            )
        indicator = np.abs(np.vectorize(wrap180)(readback[:, c] - measured[:, c]))
        j = int(np.argmax(indicator))
        informative[f"readback_minus_tracker_{label}"] = extreme_measurement(
            float(indicator[j]),
            max_norm_halfwidth(np.hypot(u_angle[:, c] * math.sqrt(2), u_readout), dim=1, dof=angle_dof_eff),
            "deg",
        )
        summary.append(
            {
                "axis": axis,
                "max_abs_deviation_deg": float(np.max(np.abs(pose_angles[:, c]))),
                "bias_deg": float(np.mean(values)),
                "sd_deg": sd,
                "max_readback_minus_tracker_deg": float(indicator[j]),
            }
        )
    k = int(np.argmax(pose_resid_norm))
    iso_halfwidth = max_norm_halfwidth(np.array(u_mean_resid), dim=3, dof=resid_dof_eff)
    verdicts.append(
        decide(
            "Δiso",
            "largest residual translation of the compensated table-top point (3-D, mean over repeats; "
            f"worst pose {pose_ids[k]})",
            extreme_measurement(float(pose_resid_norm[k]), iso_halfwidth, "mm"),
            profile.isocentre,
            profile.rule,
        )
    )
    informative["iso_residual_p95"] = extreme_measurement(
        float(np.percentile(pose_resid_norm, 95)), iso_halfwidth, "mm"
    )
    table = []
    for n, i in enumerate(poses):
        table.append(
            {
                "repeat": rows[i]["repeat"],
                "pose": rows[i]["pose"],
                **{f"cmd_{label}_deg": float(commanded[n, c]) for c, (_, label) in enumerate(ANGLES)},
                **{f"delta_{label}_deg": float(delta_angles[n, c]) for c, (_, label) in enumerate(ANGLES)},
                **{f"rb_{label}_deg": float(readback[n, c]) for c, (_, label) in enumerate(ANGLES)},
                "u_angle_deg": float(np.max(u_angle[n])),
                "iso_residual_mm": floats(resid[n]),
                "u_iso_mm": float(u_res[n]),
                "cmd_translation_mm": [
                    rows[i]["cmd"][a] for a in ("lateral_mm", "longitudinal_mm", "vertical_mm")
                ],
            }
        )
    return SequenceResult(
        sequence=CouchRotationAccuracy.name,
        title=CouchRotationAccuracy.title,
        device=params.couch,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={"targets": summary, "points": table},
        frame=FRAME,
        notes=[
            f"{params.repeats} passes over {len(params.poses)} poses, reference read at the start of each; "
            f"{params.samples} tracker frames per reading; isocentric compensation "
            f"{'on' if params.isocentric else 'off'} for the table-top point {params.iso_point_mm} mm (t)",
            "orientation: couch tool rotation relative to the mean reference reading (the tool mounting "
            "cancels), decomposed as Rz(θs)·Rx(pitch)·Ry(roll)",
            "uncertainty: pooled tracker orientation and position noise (/√n), lever arm tool → point, "
            f"registration rotation, tracker systematic {params.tracker_systematic_mm} mm and "
            f"{100 * params.tracker_relative_systematic:g} % of each angle; k = 2",
        ],
    )


__all__ = ["CouchRotationAccuracy", "CouchRotationParams", "CouchRotationProfile", "RotationPose"]
