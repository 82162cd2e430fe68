"""C5 + C6: couch sag and positioning accuracy under load, against the tracker.

Procedure (C5, C6): register the tracker; for each payload case (default 0 kg, a
typical patient of 80 kg, and the 135 kg IEC 60976 case) bring the couch to the reference, have the load
placed (``LoadCouch``: the operator confirms, a simulated rig loads the model), let it settle, then visit a
short C1-style grid of poses ``repeats`` times reading the couch tool. The load is removed at the end.

Metrics, all from the tracker in IEC f, with the zero at the reference pose of the first (lightest) case:
* **sag**: the vertical drop of the table-top point at each grid pose caused by the load, relative to the
  first case at the same pose (mean over repeats); the verdict is the largest at any case and pose;
* **E95**: 3-D positioning error per point (tracker − commanded displacement), 95th percentile per case;
* **tilt**: change of table-top pitch and roll under load at the same pose (IEC roll < 0.5°);
* informative: the sag coefficient (µm per kg, a least-squares line through the first case), the IEC-style
  Δz = z(first case, reference) − z(last case, most extended pose), max error per case, readback − tracker.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.messages import Checkpoint, Dwell, LoadCouch, MoveCouch
from controller.results import Measurement, SequenceResult, Tolerance, decide
from geometry import decompose_table_top_rotation
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext, ToolNeed, require_known_profile
from sequences.couch_geometry import (
    FRAME,
    TrackedCouchParams,
    extreme_measurement,
    floats,
    max_norm_halfwidth,
    pooled_scatter,
    project_rotation,
    read_couch_data,
    require_registration,
    rotation_vector,
    start,
    tracked_couch_needs,
    visit,
)
from sequences.couch_pose_readback import CouchPose
from sequences.tolerances import ToleranceProfile, profiles_for
from sequences.uncertainty import t_coverage_factor


class PayloadCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    payload_kg: float = Field(ge=0, le=1000)
    description: str = ""


class CouchLoadProfile(ToleranceProfile):
    """Limits for C5/C6 (values in sequences/tolerances.py)."""

    sag: Tolerance
    positioning: Tolerance = Field(description="3-D 95th percentile positioning error per payload case")
    tilt: Tolerance = Field(description="largest change of pitch or roll under load")


PROFILES: dict[str, CouchLoadProfile] = profiles_for("couch-load-positioning", CouchLoadProfile)

DEFAULT_PAYLOADS = [
    PayloadCase(payload_kg=0.0, description="unloaded table top"),
    PayloadCase(payload_kg=80.0, description="typical patient (70–100 kg), phantom slabs spread over ~1.8 m"),
    PayloadCase(
        payload_kg=135.0, description="IEC 60976 case: 135 kg spread over 2 m, centred on the isocentre"
    ),
]
DEFAULT_GRID = [
    CouchPose(),
    CouchPose(lateral_mm=10.0),
    CouchPose(lateral_mm=-10.0),
    CouchPose(longitudinal_mm=20.0),
    CouchPose(longitudinal_mm=-20.0),
    CouchPose(vertical_mm=10.0),
    CouchPose(vertical_mm=-10.0),
    CouchPose(lateral_mm=10.0, longitudinal_mm=20.0, vertical_mm=-10.0),
    CouchPose(lateral_mm=-10.0, longitudinal_mm=-20.0, vertical_mm=10.0),
]


class CouchLoadParams(TrackedCouchParams):
    payloads: list[PayloadCase] = Field(default_factory=lambda: list(DEFAULT_PAYLOADS), min_length=2)
    grid: list[CouchPose] = Field(
        default_factory=lambda: list(DEFAULT_GRID),
        min_length=1,
        description="the first pose is the reference",
    )
    repeats: int = Field(default=2, ge=1, le=20, description="passes over the grid per payload case")
    settle_s: float = Field(default=10.0, ge=0, le=3600, description="wait after loading (table creep)")
    profile: str = Field(default="tg142-annual")
    profile_override: CouchLoadProfile | None = None

    @model_validator(mode="after")
    def _check(self) -> CouchLoadParams:
        masses = [p.payload_kg for p in self.payloads]
        if masses != sorted(masses) or len(set(masses)) != len(masses):
            raise ValueError("payloads: list distinct cases in increasing mass; the first is the baseline")
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> CouchLoadProfile:
        return self.profile_override or PROFILES[self.profile]


class CouchLoadPositioning(Sequence[CouchLoadParams]):
    name = "couch-load-positioning"
    title = "Couch sag and positioning accuracy under load against the tracker (C5, C6)"
    params_model = CouchLoadParams

    uses_registration = True

    def device_needs(self, params: CouchLoadParams) -> list[DeviceNeed]:
        return tracked_couch_needs(params)

    def tool_needs(self, params: CouchLoadParams) -> list[ToolNeed]:
        return [ToolNeed("couch_tool", params.couch_tool)]

    def device_of(self, params: CouchLoadParams) -> str:
        return params.couch

    def plan(self, params: CouchLoadParams, context: SequenceContext) -> Plan:
        registration = require_registration(context, self.name)
        tracker = registration.tracker
        head = yield from start(params, registration)
        reference = params.grid[0].setpoint()
        points = []
        for case_index, case in enumerate(params.payloads):
            yield MoveCouch(params.couch, reference)
            yield LoadCouch(params.couch, case.payload_kg, case.description)
            if params.settle_s:
                yield Dwell(params.settle_s)
            for repeat in range(params.repeats):
                for index, pose in enumerate(params.grid):
                    labels = {
                        "case": case_index,
                        "payload_kg": case.payload_kg,
                        "repeat": repeat,
                        "pose": index,
                    }
                    points.append((yield from visit(params, tracker, pose.setpoint(), **labels)))
            yield Checkpoint(f"payload {case.payload_kg:g} kg done")
        yield MoveCouch(params.couch, reference)
        yield LoadCouch(params.couch, 0.0, "remove the load")
        return {**head, "points": points}

    def analyze(self, params: CouchLoadParams, data: Any) -> SequenceResult:
        return analyze_couch_load(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import couch_load_figure

        return [couch_load_figure(result)]


def analyze_couch_load(params: CouchLoadParams, data: dict[str, Any]) -> SequenceResult:
    readings = read_couch_data(data, params.couch_tool)
    view, rows, observations, noise = readings.view, readings.rows, readings.observations, readings.noise
    tool = params.tool_offset_mm
    measured, commanded, readback = readings.positions(tool)
    cases = sorted({r["case"] for r in rows})
    poses = sorted({r["pose"] for r in rows})
    masses = {r["case"]: r["payload_kg"] for r in rows}

    def at(case: int, pose: int) -> list[int]:
        return [i for i, r in enumerate(rows) if r["case"] == case and r["pose"] == pose]

    # mean position and orientation per (case, pose); repeat scatter pooled over all cells: it is the
    # couch's own positioning scatter plus the tracker noise of one reading (what a cell mean is uncertain by)
    cell_mean: dict[tuple[int, int], np.ndarray] = {}
    cell_rotation: dict[tuple[int, int], np.ndarray] = {}
    position_groups, rotation_groups = [], []
    for case in cases:
        for pose in poses:
            idx = at(case, pose)
            if not idx:
                continue
            cell_mean[(case, pose)] = measured[idx].mean(axis=0)
            mean_rotation = project_rotation(np.mean([observations[i].rotation for i in idx], axis=0))
            cell_rotation[(case, pose)] = mean_rotation
            position_groups.append(measured[idx])
            rotation_groups.append(
                np.array([rotation_vector(observations[i].rotation @ mean_rotation.T) for i in idx])
            )
    repeat_sd, dof = pooled_scatter(position_groups)
    repeat_rot, rot_dof = pooled_scatter(rotation_groups)
    # per coordinate; with one repeat the couch's scatter cannot be told from zero: the tracker noise of a
    # reading is the floor (and the only estimate)
    frame_pos = np.array(noise.position_components) / math.sqrt(params.samples)
    frame_rot = np.array(noise.rotation_components) / math.sqrt(params.samples)
    per_reading = np.maximum(repeat_sd, frame_pos)
    per_reading_rot = np.maximum(repeat_rot, frame_rot)
    dof_eff = float(dof) if dof else math.inf
    rot_dof_eff = float(rot_dof) if rot_dof else math.inf

    def u_cell(case: int, pose: int) -> NDArray[np.float64]:
        u: NDArray[np.float64] = per_reading / math.sqrt(len(at(case, pose)))
        return u

    base, ref_pose = cases[0], poses[0]
    zero_measured = cell_mean[(base, ref_pose)]
    zero_commanded = commanded[at(base, ref_pose)].mean(axis=0)
    zero_readback = readback[at(base, ref_pose)].mean(axis=0)
    error = (measured - zero_measured) - (commanded - zero_commanded)
    indicator = (readback - zero_readback) - (measured - zero_measured)

    profile = params.tolerance_profile()
    verdicts = []
    informative: dict[str, Measurement] = {"registration_rms_residual": view.registration_measurement()}
    sag_rows = []
    sags: list[tuple[float, float, str]] = []
    tilts: list[tuple[float, float, str]] = []
    mean_sag = {}
    for case in cases[1:]:
        case_sags = []
        for pose in poses:
            if (case, pose) not in cell_mean or (base, pose) not in cell_mean:
                continue
            sag = float(cell_mean[(base, pose)][2] - cell_mean[(case, pose)][2])  # downward is positive
            u_sag = float(math.hypot(u_cell(case, pose)[2], u_cell(base, pose)[2]))
            change = cell_rotation[(case, pose)] @ cell_rotation[(base, pose)].T
            _, d_pitch, d_roll = decompose_table_top_rotation(change)
            n_c, n_b = len(at(case, pose)), len(at(base, pose))
            u_angle = np.degrees(per_reading_rot) * math.sqrt(1 / n_c + 1 / n_b)  # pitch ≈ about X, roll Y
            where = f"{masses[case]:g} kg, pose {pose}"
            sags.append((sag, u_sag, where))
            for c, angle in ((0, d_pitch), (1, d_roll)):
                u_tilt = math.hypot(float(u_angle[c]), params.tracker_relative_systematic * abs(angle))
                tilts.append((abs(angle), u_tilt, where))
            case_sags.append(sag)
            sag_rows.append(
                {
                    "case": case,
                    "payload_kg": masses[case],
                    "pose": pose,
                    "sag_mm": sag,
                    "u_sag_mm": u_sag,
                    "delta_pitch_deg": d_pitch,
                    "delta_roll_deg": d_roll,
                }
            )
        mean_sag[case] = float(np.mean(case_sags))
        cells = [row for row in sag_rows if row["case"] == case]
        # every pose of the case is referred to its own baseline cell: the cell means are independent
        u_mean_sag = math.sqrt(float(np.mean([row["u_sag_mm"] ** 2 for row in cells])) / len(cells))
        u_mean_tilt = np.degrees(per_reading_rot) * math.sqrt(2.0 / params.repeats / len(cells))
        k_pos, k_rot = t_coverage_factor(dof_eff), t_coverage_factor(rot_dof_eff)
        informative[f"sag_mean_{masses[case]:g}kg"] = Measurement(
            value=mean_sag[case], standard_uncertainty=u_mean_sag, coverage_factor=k_pos, unit="mm"
        )
        for c, key in enumerate(("pitch", "roll")):
            informative[f"{key}_change_{masses[case]:g}kg"] = Measurement(
                value=float(np.mean([row[f"delta_{key}_deg"] for row in cells])),
                standard_uncertainty=float(u_mean_tilt[c]),
                coverage_factor=k_rot,
                unit="deg",
            )
    # the largest of many noisy values: U from the distribution of the largest noise term (valid at any
    # truth, including none), not the U of one value (JCGM 101:2008; see max_norm_halfwidth)
    worst_sag = max(sags)
    worst_tilt = max(tilts)
    verdicts.append(
        decide(
            "sag",
            f"largest vertical drop of the table-top point under load vs the first case ({worst_sag[2]})",
            extreme_measurement(
                worst_sag[0], max_norm_halfwidth([u for _, u, _ in sags], dim=1, dof=dof_eff), "mm"
            ),
            profile.sag,
            profile.rule,
        )
    )
    verdicts.append(
        decide(
            "tilt",
            f"largest change of table-top pitch or roll under load ({worst_tilt[2]})",
            extreme_measurement(
                worst_tilt[0], max_norm_halfwidth([u for _, u, _ in tilts], dim=1, dof=rot_dof_eff), "deg"
            ),
            profile.tilt,
            profile.rule,
        )
    )
    # E95: the systematic error per grid pose (mean over repeats; the couch's scatter is its noise), its 95th
    # percentile over the grid; every order statistic moves by at most the largest noise vector
    u_zero = u_cell(base, ref_pose)
    summary = []
    for case in cases:
        pose_errors, pose_u = [], []
        for pose in poses:
            idx = at(case, pose)
            if not idx:
                continue
            pose_errors.append(float(np.linalg.norm(error[idx].mean(axis=0))))
            pose_u.append(np.sqrt(per_reading**2 / len(idx) + u_zero**2 + params.tracker_systematic_mm**2))
        halfwidth = max_norm_halfwidth(pose_u, dim=3, dof=dof_eff)
        e95 = float(np.percentile(pose_errors, 95))
        verdicts.append(
            decide(
                f"E95@{masses[case]:g}kg",
                f"3-D 95th percentile over the grid of the mean positioning error per pose with "
                f"{masses[case]:g} kg",
                extreme_measurement(e95, halfwidth, "mm"),
                profile.positioning,
                profile.rule,
            )
        )
        informative[f"max_error_{masses[case]:g}kg"] = extreme_measurement(
            float(np.max(pose_errors)), halfwidth, "mm"
        )
        idx = [i for i, r in enumerate(rows) if r["case"] == case]
        summary.append(
            {
                "payload_kg": masses[case],
                "points": len(idx),
                "e95_mm": e95,
                "max_error_mm": float(np.max(pose_errors)),
                "mean_sag_mm": mean_sag.get(case, 0.0),
                "max_readback_minus_tracker_mm": float(np.max(np.linalg.norm(indicator[idx], axis=1))),
            }
        )
    u_error = float(np.sqrt(np.mean(per_reading**2 + u_zero**2) + params.tracker_systematic_mm**2))
    # sag coefficient: least squares through the first case, sag = c·(m − m0), from the grid-mean sags
    dm = np.array([masses[c] - masses[base] for c in cases[1:]])
    s = np.array([mean_sag[c] for c in cases[1:]])
    # every case is referred to the same baseline cells, so their noise is common to all the mean sags
    u_case = np.array(
        [math.sqrt(np.mean([u_cell(c, p)[2] ** 2 for p in poses]) / len(poses)) for c in cases[1:]]
    )
    u_base = math.sqrt(np.mean([u_cell(base, p)[2] ** 2 for p in poses]) / len(poses))
    weights = dm / float(dm @ dm)
    coefficient = float(weights @ s)
    u_coefficient = math.sqrt(float(np.sum((weights * u_case) ** 2)) + (float(np.sum(weights)) * u_base) ** 2)
    if len(dm) > 1:
        spread = s - coefficient * dm
        u_coefficient = max(u_coefficient, math.sqrt(float(spread @ spread) / (len(dm) - 1) / float(dm @ dm)))
    informative["sag_coefficient"] = Measurement(
        value=1000.0 * coefficient, standard_uncertainty=1000.0 * u_coefficient, unit="µm/kg"
    )
    extended = max(poses, key=lambda p: abs(params.grid[p].longitudinal_mm))
    last = cases[-1]
    if (last, extended) in cell_mean:
        dz_iec = float(
            (zero_measured[2] - zero_commanded[2])
            - (cell_mean[(last, extended)][2] - commanded[at(last, extended)].mean(axis=0)[2])
        )
        informative["iec_delta_z"] = Measurement(
            value=dz_iec,
            standard_uncertainty=math.hypot(u_cell(base, ref_pose)[2], u_cell(last, extended)[2]),
            unit="mm",
        )
    informative["readback_minus_tracker_max"] = Measurement(
        value=float(np.max(np.linalg.norm(indicator, axis=1))),
        standard_uncertainty=math.hypot(u_error, params.readout_resolution_mm / math.sqrt(12)),
        unit="mm",
    )
    pooled_sd = float(np.sqrt(np.mean(repeat_sd**2)))
    informative["repeat_sd"] = Measurement(
        value=pooled_sd, standard_uncertainty=pooled_sd / math.sqrt(2 * max(3 * dof, 1)), unit="mm"
    )
    table = [
        {
            "case": r["case"],
            "payload_kg": r["payload_kg"],
            "repeat": r["repeat"],
            "pose": r["pose"],
            "error_mm": floats(error[i]),
            "readback_minus_tracker_mm": floats(indicator[i]),
        }
        for i, r in enumerate(rows)
    ]
    return SequenceResult(
        sequence=CouchLoadPositioning.name,
        title=CouchLoadPositioning.title,
        device=params.couch,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={"targets": summary, "sag": sag_rows, "points": table},
        frame=FRAME,
        notes=[
            f"payload cases {[masses[c] for c in cases]} kg, {len(poses)} grid poses × {params.repeats} "
            f"repeats each, settle {params.settle_s} s after loading; {params.samples} tracker frames "
            "per reading",
            "sag and tilt: same pose, loaded minus first case (downward sag positive); E95: tracker − "
            "commanded displacement from the reference pose of the first case",
            "IEC 60976's Δz compares 30 kg retracted with 135 kg extended: set payloads and grid to those "
            "cases and read iec_delta_z",
            "uncertainty: repeat scatter pooled over all cells (never below the tracker noise), tracker "
            f"systematic {params.tracker_systematic_mm} mm for E95; k = 2",
        ],
    )


__all__ = ["CouchLoadParams", "CouchLoadPositioning", "CouchLoadProfile", "PayloadCase"]
