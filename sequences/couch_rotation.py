"""C4: 6-DoF rotational accuracy (pitch, roll, yaw) and isocentric compensation, against the tracker.

Procedure (research qa-tests.md §2 C4): register the tracker; then ``repeats`` passes, each starting with a
reading at the reference pose, over rotation poses — pitch and roll alone (±0.5…±3°) and combined, yaw
±1…3° (defaults within a hexapod's limits). Each pose is commanded in IEC order (θs, then pitch, then roll)
with the table-top translations re-solved by ``geometry.translation_to_place`` so that ``iso_point_mm`` (a
point of the table top, in t) stays where it is at the reference — isocentric compensation, since IEC pitch
and roll pivot about the table-top origin, not the isocentre [V S16].

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
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from drivers.roles.couch import CouchSetpoint
from geometry import MachineState, Point, System, decompose_table_top_rotation, translation_to_place, wrap180
from geometry.fits import fit_straight_line
from sequences.base import Plan, Sequence, SequenceContext, require_known_profile
from sequences.couch_geometry import (
    FRAME,
    TrackedCouchParams,
    expected_point,
    floats,
    machine_state,
    percentile95,
    project_rotation,
    read_couch_data,
    require_registration,
    start,
    table_top_pose,
    visit,
)
from sequences.couch_pose_readback import CouchPose

ANGLES = (("couch_rotation_deg", "yaw"), ("pitch_deg", "pitch"), ("roll_deg", "roll"))
_TG142 = "AAPM TG-142 (Klein et al., Med. Phys. 36:4197, 2009) Table II monthly couch position indicators"
_PPS = "robotic PPS vendor absolute accuracy 0.5 mm, 0.2° (LEONI PPS specification, qa-tests.md S12)"


class RotationPose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    couch_rotation_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0


class CouchRotationProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    angle: Tolerance = Field(description="max |tracker − commanded| per rotation axis")
    isocentre: Tolerance = Field(description="max residual translation of the compensated point")
    rule: DecisionRule = DecisionRule.SIMPLE


PROFILES: dict[str, CouchRotationProfile] = {
    "tg142-monthly": CouchRotationProfile(
        name="tg142-monthly",
        angle=Tolerance(limit=1.0, unit="deg", source=f"{_TG142} (non-SRS)", confidence="[R S1]"),
        isocentre=Tolerance(limit=2.0, unit="mm", source=f"{_TG142} (non-SRS)", confidence="[R S1]"),
    ),
    "tg142-monthly-srs": CouchRotationProfile(
        name="tg142-monthly-srs",
        angle=Tolerance(limit=0.5, unit="deg", source=f"{_TG142} (SRS/SBRT)", confidence="[R S1]"),
        isocentre=Tolerance(limit=1.0, unit="mm", source=f"{_TG142} (SRS/SBRT)", confidence="[R S1]"),
    ),
    "tg224-proton-weekly": CouchRotationProfile(
        name="tg224-proton-weekly",
        angle=Tolerance(
            limit=1.0,
            unit="deg",
            source="AAPM TG-224 weekly couch angle (secondary summary)",
            confidence="[R S2]",
        ),
        isocentre=Tolerance(
            limit=1.0,
            unit="mm",
            source="AAPM TG-224 weekly couch position (secondary summary)",
            confidence="[R S2]",
        ),
    ),
    "vendor-pps": CouchRotationProfile(
        name="vendor-pps",
        angle=Tolerance(limit=0.2, unit="deg", source=_PPS, confidence="[V S12]"),
        isocentre=Tolerance(limit=0.5, unit="mm", source=_PPS, confidence="[V S12]"),
        rule=DecisionRule.GUARDED,
    ),
}


def _default_poses() -> list[RotationPose]:
    poses = []
    # qa-tests C4: 0, ±0.5, ±1, ±2, ±3° individually; combined poses stay at ±2.5° (coupled hexapod travel)
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
    u_rot = noise.rotation_of_mean(params.samples)
    u_pos = noise.position_of_mean(params.samples)
    u_rot_ref = u_rot / math.sqrt(n_refs)
    lever_norm = float(np.linalg.norm(lever))
    measured_angles, commanded_angles, readback_angles, residuals, u_residual = [], [], [], [], []
    for i in poses:
        obs = observations[i]
        delta = obs.rotation @ ref_rotation.T
        measured_angles.append(decompose_table_top_rotation(delta @ r_ref_cmd))
        commanded_angles.append([rows[i]["cmd"][axis] for axis, _ in ANGLES])
        readback_angles.append([rows[i]["rb"][axis] for axis, _ in ANGLES])
        iso = obs.position + delta @ lever
        expected_move = expected_point(rows[i]["cmd"], params.iso_point_mm) - iso_expected_ref
        residuals.append(iso - iso_ref - expected_move)
        moved = float(np.linalg.norm(iso - iso_ref))
        u_residual.append(
            math.sqrt(
                u_pos**2 * (1 + 1 / n_refs)
                + (2 / 3) * (lever_norm * u_rot) ** 2 * (1 + 1 / n_refs)
                + (view.rotation_uncertainty_rad * moved) ** 2
                + params.tracker_systematic_mm**2
            )
        )
    measured = np.array(measured_angles)
    commanded = np.array(commanded_angles)
    readback = np.array(readback_angles)
    delta_angles = np.vectorize(wrap180)(measured - commanded)
    magnitude = np.radians(np.max(np.abs(commanded), axis=1))
    u_random = math.degrees(math.hypot(u_rot, u_rot_ref))
    u_scale = math.hypot(view.rotation_uncertainty_rad, params.tracker_relative_systematic)
    u_angle = np.degrees(np.sqrt(u_rot**2 + u_rot_ref**2 + (u_scale * magnitude) ** 2))
    resid = np.array(residuals)
    resid_norm = np.linalg.norm(resid, axis=1)
    u_res = np.array(u_residual)
    u_readout = params.readout_resolution_deg / math.sqrt(12.0)

    profile = params.tolerance_profile()
    verdicts = []
    informative: dict[str, Measurement] = {"registration_rms_residual": view.registration_measurement()}
    summary = []
    for c, (axis, label) in enumerate(ANGLES):
        worst = int(np.argmax(np.abs(delta_angles[:, c])))
        verdicts.append(
            decide(
                f"Δ{label}",
                f"largest |tracker − commanded| {label} over all poses (IEC order θs, pitch, roll)",
                Measurement(
                    value=float(abs(delta_angles[worst, c])),
                    standard_uncertainty=float(u_angle[worst]),
                    unit="deg",
                ),
                profile.angle,
                profile.rule,
            )
        )
        values = delta_angles[:, c]
        sd = float(np.std(values, ddof=1))
        informative[f"bias_{label}"] = Measurement(
            value=float(np.mean(values)),
            standard_uncertainty=math.hypot(sd / math.sqrt(len(values)), float(np.mean(u_angle))),
            unit="deg",
        )
        informative[f"sd_{label}"] = Measurement(
            value=sd, standard_uncertainty=sd / math.sqrt(2 * (len(values) - 1)), unit="deg"
        )
        moving = np.abs(commanded[:, c]) > 0
        if len(set(commanded[moving, c])) >= 2:
            fit = fit_straight_line(commanded[:, c], values)
            floor = u_random / math.sqrt(float(np.sum((commanded[:, c] - commanded[:, c].mean()) ** 2)))
            u_b = params.tracker_relative_systematic  # the tracker's own scale (type B)
            informative[f"scale_error_{label}"] = Measurement(
                value=100.0 * fit.slope,
                standard_uncertainty=100.0 * math.hypot(max(fit.slope_uncertainty or 0.0, floor), u_b),
                unit="%",
            )
        indicator = np.abs(np.vectorize(wrap180)(readback[:, c] - measured[:, c]))
        j = int(np.argmax(indicator))
        informative[f"readback_minus_tracker_{label}"] = Measurement(
            value=float(indicator[j]),
            standard_uncertainty=math.hypot(float(u_angle[j]), u_readout),
            unit="deg",
        )
        summary.append(
            {
                "axis": axis,
                "max_abs_deviation_deg": float(np.max(np.abs(values))),
                "bias_deg": float(np.mean(values)),
                "sd_deg": sd,
                "max_readback_minus_tracker_deg": float(indicator[j]),
            }
        )
    k = int(np.argmax(resid_norm))
    verdicts.append(
        decide(
            "Δiso",
            "largest residual translation of the compensated table-top point (3-D)",
            Measurement(value=float(resid_norm[k]), standard_uncertainty=float(u_res[k]), unit="mm"),
            profile.isocentre,
            profile.rule,
        )
    )
    informative["iso_residual_p95"] = percentile95(resid_norm.tolist(), float(np.mean(u_res)), "mm")
    table = []
    for n, i in enumerate(poses):
        table.append(
            {
                "repeat": rows[i]["repeat"],
                "pose": rows[i]["pose"],
                **{f"cmd_{label}_deg": float(commanded[n, c]) for c, (_, label) in enumerate(ANGLES)},
                **{f"delta_{label}_deg": float(delta_angles[n, c]) for c, (_, label) in enumerate(ANGLES)},
                **{f"rb_{label}_deg": float(readback[n, c]) for c, (_, label) in enumerate(ANGLES)},
                "u_angle_deg": float(u_angle[n]),
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
