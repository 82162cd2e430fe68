"""C1/C4 (indicator part): couch readback against commanded IEC 61217 table-top poses.

Procedure: reference the couch, then for each repeat visit every pose of the list (each one a full IEC
set point: isocentric rotation, lateral/longitudinal/vertical, pitch, roll), dwell, and read the couch's
own readback converted to IEC terms. The couch returns to the neutral pose at the end.

This checks what the couch *believes*: its position indicators and its IEC mapping. Where the couch
*really* is needs an independent tracker (sequences C1–C6 with the NDI tracker).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.messages import Checkpoint, CouchReading, Dwell, Home, MoveCouch, ReadCouch
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from drivers.roles.couch import COUCH_AXES, CouchSetpoint
from sequences.base import Plan, Sequence, SequenceContext, require_known_profile

TRANSLATIONS = ("lateral_mm", "longitudinal_mm", "vertical_mm")
ROTATIONS = ("couch_rotation_deg", "pitch_deg", "roll_deg")


class CouchPose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lateral_mm: float = 0.0
    longitudinal_mm: float = 0.0
    vertical_mm: float = 0.0
    couch_rotation_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0

    def setpoint(self) -> CouchSetpoint:
        return CouchSetpoint(**self.model_dump())


class CouchReadbackProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    translation: Tolerance
    rotation: Tolerance
    rule: DecisionRule = DecisionRule.SIMPLE


_TG142 = "AAPM TG-142 (Klein et al., Med. Phys. 36:4197, 2009) Table II monthly couch position indicators"
PROFILES: dict[str, CouchReadbackProfile] = {
    "tg142-monthly": CouchReadbackProfile(
        name="tg142-monthly",
        translation=Tolerance(limit=2.0, unit="mm", source=f"{_TG142} (non-SRS)", confidence="[R S1]"),
        rotation=Tolerance(limit=1.0, unit="deg", source=f"{_TG142} (non-SRS)", confidence="[R S1]"),
    ),
    "tg142-monthly-srs": CouchReadbackProfile(
        name="tg142-monthly-srs",
        translation=Tolerance(limit=1.0, unit="mm", source=f"{_TG142} (SRS/SBRT)", confidence="[R S1]"),
        rotation=Tolerance(limit=0.5, unit="deg", source=f"{_TG142} (SRS/SBRT)", confidence="[R S1]"),
    ),
    "tg224-proton-weekly": CouchReadbackProfile(
        name="tg224-proton-weekly",
        translation=Tolerance(
            limit=1.0,
            unit="mm",
            source="AAPM TG-224 weekly couch position (secondary summary)",
            confidence="[R S2]",
        ),
        rotation=Tolerance(
            limit=1.0,
            unit="deg",
            source="AAPM TG-224 weekly couch angle (secondary summary)",
            confidence="[R S2]",
        ),
    ),
}

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
    model_config = ConfigDict(extra="forbid")

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


def analyze_couch_readback(params: CouchReadbackParams, rows: list[dict[str, Any]]) -> SequenceResult:
    differences = {axis: np.array([r[f"rb_{axis}"] - r[f"cmd_{axis}"] for r in rows]) for axis in COUCH_AXES}
    per_axis: list[dict[str, Any]] = []
    for axis, diff in differences.items():
        per_axis.append(
            {
                "axis": axis,
                "max_abs": float(np.max(np.abs(diff))),
                "mean": float(np.mean(diff)),
                "sd": float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0,
            }
        )
    u_mm = params.readout_resolution_mm / math.sqrt(12.0)
    u_deg = params.readout_resolution_deg / math.sqrt(12.0)
    worst_t = max((r for r in per_axis if r["axis"] in TRANSLATIONS), key=lambda r: r["max_abs"])
    worst_r = max((r for r in per_axis if r["axis"] in ROTATIONS), key=lambda r: r["max_abs"])
    profile = params.tolerance_profile()
    verdicts = [
        decide(
            "Δt",
            f"largest |readback − commanded| translation (axis {worst_t['axis']})",
            Measurement(value=worst_t["max_abs"], standard_uncertainty=u_mm, unit="mm"),
            profile.translation,
            profile.rule,
        ),
        decide(
            "Δθ",
            f"largest |readback − commanded| rotation (axis {worst_r['axis']})",
            Measurement(value=worst_r["max_abs"], standard_uncertainty=u_deg, unit="deg"),
            profile.rotation,
            profile.rule,
        ),
    ]
    informative = {
        f"sd_{r['axis']}": Measurement(
            value=r["sd"],
            standard_uncertainty=u_mm if r["axis"] in TRANSLATIONS else u_deg,
            unit="mm" if r["axis"] in TRANSLATIONS else "deg",
        )
        for r in per_axis
    }
    return SequenceResult(
        sequence=CouchPoseReadback.name,
        title=CouchPoseReadback.title,
        device=params.couch,
        profile=profile.name,
        verdicts=verdicts,
        informative=informative,
        tables={"axes": per_axis, "points": rows},
        frame="IEC 61217 table-top parameters: θs of s in f, Tx Ty Tz of t in e, pitch, roll (IEC order)",
        notes=[
            f"{params.repeats} passes over {len(params.poses)} poses, dwell {params.dwell_s} s",
            "readback is the couch's own belief; true position needs the independent tracker (issue 6)",
            "uncertainty: readout resolution q/√12; k = 2",
        ],
    )
