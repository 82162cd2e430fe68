"""C3: isocentric-rotation walkout — where the couch rotation axis really is, and whether it is vertical.

Procedure (C3, two-height method of Karger et al., Phys. Med. Biol. 46:N19, 2001): register the tracker;
at each of two (or more) table heights rotate θs through ``angles_deg`` upward and back down (so most angles
are read after approaches from both sides), reading the couch tool after each stop.

Why not only a circle fit: a hexapod top turns a few degrees. Over a ±5° arc a circle fit fixes the centre
along the chord but hardly at all across it (several mm; the fit says so itself, and it is in the table for
comparison). The tracker also measures the tool's *orientation*, so every stop's angle is known
independently, and with known angles the arc model is linear::

    p_k = (I − Rz(θ_k))·c + Rz(θ_k)·q        (c: axis in the horizontal plane, q: tool at θ = 0)

which fixes c in both directions to ≈ tracker noise / (arc span in rad). This model needs no arc: the best
place for the tool is *near* the axis (default: the table-top origin, at the isocentre), because a tool at
distance r turns orientation noise and any angle-scale error ε of the tracker into r·σθ and r·ε of centre
error. A far tool (``tool_offset_mm`` 100–200 mm, as for a full-range couch and a plain circle fit) is
supported; the budget then carries r·ε with ε = ``tracker_relative_systematic``.

Metrics: the axis centre at each height (at the measured tool height); the axis line through them;
**walkout** = distance from the isocentre (or a baseline axis position) to that line at the isocentre
height; axis tilt atan(Δcentre/Δheight), total and in the XZ and YZ planes; pylinac-style iso size (pairwise
diameter) of the table-top point that sits at the isocentre at θs = 0; yaw accuracy and hysteresis from the
tool orientation.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from controller.messages import Checkpoint, MoveCouch
from controller.results import Measurement, SequenceResult, Tolerance, decide
from geometry import decompose_table_top_rotation, wrap180
from geometry.errors import GeometryError
from geometry.fits import fit_circle, iso_size
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext, ToolNeed, require_known_profile
from sequences.couch_geometry import (
    FRAME,
    TrackedCouchParams,
    extreme_measurement,
    floats,
    max_norm_halfwidth,
    norm_uncertainty,
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


class CouchWalkoutProfile(ToleranceProfile):
    """Limits for C3 (values in sequences/tolerances.py)."""

    walkout: Tolerance


PROFILES: dict[str, CouchWalkoutProfile] = profiles_for("couch-rotation-walkout", CouchWalkoutProfile)


class CouchWalkoutParams(TrackedCouchParams):
    samples: int = Field(default=10, ge=2, le=200, description="tracker frames averaged per reading")
    reference: CouchPose = Field(default_factory=CouchPose, description="translations, pitch and roll held")
    angles_deg: list[float] = Field(
        default_factory=lambda: [round(-4.5 + 0.75 * i, 2) for i in range(13)],
        description="couch rotations θs visited, swept upward then back down (default: inside a ±5° hexapod)",
    )
    heights_mm: list[float] = Field(
        default_factory=lambda: [-20.0, 20.0], description="table vertical (IEC Tz) of each arc"
    )
    baseline_axis_mm: tuple[float, float] | None = Field(
        default=None, description="axis position (x, y in f at the isocentre height) from commissioning"
    )
    profile: str = Field(default="tg142-annual")
    profile_override: CouchWalkoutProfile | None = None

    @model_validator(mode="after")
    def _check(self) -> CouchWalkoutParams:
        if len(set(self.angles_deg)) < 3:
            raise ValueError("angles_deg: need at least 3 different couch angles for an arc")
        if len(set(self.heights_mm)) < 2:
            raise ValueError("heights_mm: need at least 2 different table heights for the axis tilt")
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> CouchWalkoutProfile:
        return self.profile_override or PROFILES[self.profile]


class CouchRotationWalkout(Sequence[CouchWalkoutParams]):
    name = "couch-rotation-walkout"
    title = "Couch isocentric rotation: axis walkout from the isocentre and axis tilt (C3)"
    params_model = CouchWalkoutParams

    uses_registration = True

    def device_needs(self, params: CouchWalkoutParams) -> list[DeviceNeed]:
        return tracked_couch_needs(params)

    def tool_needs(self, params: CouchWalkoutParams) -> list[ToolNeed]:
        return [ToolNeed("couch_tool", params.couch_tool)]

    def device_of(self, params: CouchWalkoutParams) -> str:
        return params.couch

    def plan(self, params: CouchWalkoutParams, context: SequenceContext) -> Plan:
        registration = require_registration(context, self.name)
        tracker = registration.tracker
        head = yield from start(params, registration)
        base = params.reference.setpoint()
        angles = sorted(set(params.angles_deg))
        sweep = angles + angles[-2::-1]  # up, then back down without repeating the top angle
        points = []
        previous = base.couch_rotation_deg
        for h, height in enumerate(params.heights_mm):
            for angle in sweep:
                approach = "+" if angle > previous else "-" if angle < previous else "="
                setpoint = replace(base, vertical_mm=height, couch_rotation_deg=angle)
                labels = {"height_index": h, "height_mm": height, "approach": approach}
                points.append((yield from visit(params, tracker, setpoint, **labels)))
                previous = angle
            yield Checkpoint(f"arc {h + 1}/{len(params.heights_mm)} at Tz = {height:g} mm")
        yield MoveCouch(params.couch, base)
        return {**head, "points": points}

    def analyze(self, params: CouchWalkoutParams, data: Any) -> SequenceResult:
        return analyze_couch_walkout(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import couch_walkout_figure

        return [couch_walkout_figure(result)]


def fit_known_angle_arc(
    points_xy: np.ndarray, angles_deg: np.ndarray, sigma_floor_mm: float = 0.0
) -> dict[str, Any]:
    """Least squares of p_k = (I − Rz(θ_k))·c + Rz(θ_k)·q for c (axis) and q (point at θ = 0), in 2-D.

    Linear in (c, q) because the angles are known. The covariance scales (AᵀA)⁻¹ by the residual variance,
    never below ``sigma_floor_mm``² (what the tracker noise alone predicts).
    """
    rows, rhs = [], []
    for (x, y), theta in zip(points_xy, np.radians(angles_deg), strict=True):
        c, s = math.cos(theta), math.sin(theta)
        r = np.array([[c, -s], [s, c]])
        rows.append(np.hstack([np.eye(2) - r, r]))
        rhs.append([x, y])
    a = np.vstack(rows)
    b = np.concatenate(rhs)
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    residuals = b - a @ solution
    dof = len(b) - 4
    variance = float(residuals @ residuals) / dof if dof > 0 else 0.0
    variance = max(variance, sigma_floor_mm**2)
    covariance = variance * np.linalg.inv(a.T @ a)
    centre, q = solution[:2], solution[2:]
    radial = np.linalg.norm(points_xy - centre, axis=1) - float(np.linalg.norm(q - centre))
    return {
        "centre": centre,
        "q": q,
        "covariance": covariance[:2, :2],
        "radius": float(np.linalg.norm(q - centre)),
        "residuals": residuals.reshape(-1, 2),
        "radial_residuals": radial,
        "sigma": math.sqrt(variance),
    }


def analyze_couch_walkout(params: CouchWalkoutParams, data: dict[str, Any]) -> SequenceResult:
    readings = read_couch_data(data, params.couch_tool)
    view, rows, observations, noise = readings.view, readings.rows, readings.observations, readings.noise
    # yaw from the tool orientation, relative to the readings at the reference θs (else the first reading)
    reference_yaw = params.reference.couch_rotation_deg
    anchors = [i for i, r in enumerate(rows) if r["cmd"]["couch_rotation_deg"] == reference_yaw] or [0]
    anchor = project_rotation(np.mean([observations[i].rotation for i in anchors], axis=0))
    anchor_yaw = rows[anchors[0]]["cmd"]["couch_rotation_deg"]
    measured_yaw = np.array(
        [wrap180(decompose_table_top_rotation(o.rotation @ anchor.T)[0] + anchor_yaw) for o in observations]
    )
    commanded_yaw = np.array([r["cmd"]["couch_rotation_deg"] for r in rows])
    readback_yaw = np.array([r["rb"]["couch_rotation_deg"] for r in rows])
    heights = sorted({r["height_index"] for r in rows})

    arcs: list[dict[str, Any]] = []
    traces: list[np.ndarray] = []
    for h in heights:
        idx = [i for i, r in enumerate(rows) if r["height_index"] == h]
        xyz = np.array([observations[i].position for i in idx])
        n = float(np.mean([observations[i].n for i in idx]))
        radius_guess = float(np.linalg.norm(xyz[:, :2].mean(axis=0)))
        floor = math.hypot(
            noise.position_of_mean(int(n)), radius_guess * noise.rotation_of_mean(int(n)) / math.sqrt(2)
        )
        arc = fit_known_angle_arc(xyz[:, :2], measured_yaw[idx], floor)
        # an angle-scale systematic ε of the tracker moves the centre radially by r·ε (the same at every
        # height: it is added to the axis position once, below, and cancels in the tilt)
        radial = arc["q"] - arc["centre"]
        systematic = params.tracker_relative_systematic * radial
        arc["random_covariance"] = arc["covariance"]
        arc["covariance"] = arc["covariance"] + np.outer(systematic, systematic)
        circle: dict[str, Any] = {}
        try:
            plain = fit_circle(xyz[:, :2])
            circle = {
                "circle_centre_mm": floats(plain.centre_mm),
                "circle_centre_u_mm": (
                    floats(plain.centre_uncertainty_mm) if plain.centre_uncertainty_mm else None
                ),
                "circle_radius_mm": plain.radius_mm,
                "arc_span_deg": plain.arc_span_deg,
            }
        except GeometryError as err:
            circle = {"circle_error": str(err)}
        # the table-top point at the isocentre (x, y) = (0, 0) when θs = 0, through the arc: "virtual BB"
        bb = np.array(
            [xyz[k, :2] + _rz(measured_yaw[i]) @ (np.zeros(2) - arc["q"]) for k, i in enumerate(idx)]
        )
        traces.append(bb)
        arcs.append(
            {
                "height_index": h,
                "table_vertical_mm": rows[idx[0]]["cmd"]["vertical_mm"],
                "z_mm": float(xyz[:, 2].mean()),
                "centre_mm": floats(arc["centre"]),
                "centre_u_mm": floats(np.sqrt(np.diag(arc["covariance"]))),
                "covariance": [floats(row) for row in arc["covariance"]],
                "random_covariance": [floats(row) for row in arc["random_covariance"]],
                "systematic_mm": floats(systematic),
                "radius_mm": arc["radius"],
                "fit_sigma_mm": arc["sigma"],
                "iso_size_mm": iso_size(bb).diameter_mm,
                "points_mm": [floats(p) for p in xyz],
                "measured_yaw_deg": floats(measured_yaw[idx]),
                "radial_residuals_mm": floats(arc["radial_residuals"]),
                "bb_trace_mm": [floats(p) for p in bb],
                **circle,
            }
        )

    # axis line c(z) = a + b·z through the centres (weighted by their variances, per coordinate)
    z = np.array([arc["z_mm"] for arc in arcs])
    centres = np.array([arc["centre_mm"] for arc in arcs])
    covs = [np.array(arc["covariance"]) for arc in arcs]
    a, b, cov_a, cov_b = _axis_line(z, centres, [np.array(arc["random_covariance"]) for arc in arcs])
    u_reg_point = view.translation_uncertainty_at(np.array([a[0], a[1], 0.0]))
    systematic = np.mean([arc["systematic_mm"] for arc in arcs], axis=0)
    cov_a = cov_a + np.eye(2) * u_reg_point**2 + np.outer(systematic, systematic)
    cov_b = cov_b + np.eye(2) * view.rotation_uncertainty_rad**2
    baseline = np.array(params.baseline_axis_mm) if params.baseline_axis_mm is not None else np.zeros(2)
    offset = a - baseline
    slope_sq = float(b @ b)
    walkout = math.sqrt(max(float(offset @ offset) - float(offset @ b) ** 2 / (1.0 + slope_sq), 0.0))
    # walkout is a distance (a norm): | |â| − |a| | ≤ |â − a|, so the 95.45 % quantile of the 2-D error's
    # length is a U that holds at any true offset, zero included (where |â| is biased upward most)
    principal = np.sqrt(np.clip(np.linalg.eigvalsh(cov_a), 0.0, None))
    walkout_halfwidth = max_norm_halfwidth(principal[None, :], dim=2)
    axis_fit = _axis_direction(rows, observations, anchors, anchor, measured_yaw, heights)
    tilt_cov = axis_fit["covariance"] + np.eye(2) * view.rotation_uncertainty_rad**2
    tilt_vec = axis_fit["tilt_rad"]
    tilt = math.degrees(math.atan(float(np.linalg.norm(tilt_vec))))
    tilt_principal = np.sqrt(np.clip(np.linalg.eigvalsh(tilt_cov), 0.0, None))
    tilt_halfwidth = math.degrees(max_norm_halfwidth(tilt_principal[None, :], dim=2, dof=axis_fit["dof"]))
    k_tilt = t_coverage_factor(axis_fit["dof"])

    profile = params.tolerance_profile()
    reference = "the baseline axis position" if params.baseline_axis_mm is not None else "the isocentre"
    verdicts = [
        decide(
            "walkout",
            f"distance of the couch rotation axis from {reference} at the isocentre height",
            extreme_measurement(walkout, walkout_halfwidth, "mm"),
            profile.walkout,
            profile.rule,
        )
    ]
    u_yaw = math.degrees(noise.rotation_of_mean(params.samples)) * math.sqrt(2)
    yaw_error = measured_yaw - commanded_yaw
    informative: dict[str, Measurement] = {
        "registration_rms_residual": view.registration_measurement(),
        "axis_x": Measurement(value=float(a[0]), standard_uncertainty=math.sqrt(cov_a[0, 0]), unit="mm"),
        "axis_y": Measurement(value=float(a[1]), standard_uncertainty=math.sqrt(cov_a[1, 1]), unit="mm"),
        "axis_tilt": extreme_measurement(tilt, tilt_halfwidth, "deg"),
        "axis_tilt_xz": Measurement(
            value=math.degrees(math.atan(tilt_vec[0])),
            standard_uncertainty=math.degrees(math.sqrt(tilt_cov[0, 0])),
            coverage_factor=k_tilt,
            unit="deg",
        ),
        "axis_tilt_yz": Measurement(
            value=math.degrees(math.atan(tilt_vec[1])),
            standard_uncertainty=math.degrees(math.sqrt(tilt_cov[1, 1])),
            coverage_factor=k_tilt,
            unit="deg",
        ),
        "centre_line_tilt_xz": Measurement(
            value=math.degrees(math.atan(b[0])),
            standard_uncertainty=math.degrees(math.sqrt(cov_b[0, 0])),
            unit="deg",
        ),
        "centre_line_tilt_yz": Measurement(
            value=math.degrees(math.atan(b[1])),
            standard_uncertainty=math.degrees(math.sqrt(cov_b[1, 1])),
            unit="deg",
        ),
        "iso_size": Measurement(
            value=max(arc["iso_size_mm"] for arc in arcs),
            standard_uncertainty=float(max(np.mean(np.sqrt(np.diag(c))) for c in covs)),
            unit="mm",
        ),
        "yaw_error_max": Measurement(
            value=float(np.max(np.abs(yaw_error))), standard_uncertainty=u_yaw, unit="deg"
        ),
        "yaw_readback_minus_tracker_max": Measurement(
            value=float(np.max(np.abs(readback_yaw - measured_yaw))),
            standard_uncertainty=math.hypot(u_yaw, params.readout_resolution_deg / math.sqrt(12)),
            unit="deg",
        ),
    }
    hysteresis = _hysteresis(rows, yaw_error)
    if hysteresis is not None:
        informative["yaw_hysteresis"] = Measurement(
            value=hysteresis[0],
            standard_uncertainty=u_yaw / math.sqrt(hysteresis[1]) * math.sqrt(2),
            unit="deg",
        )
    for arc in arcs:
        h = arc["height_index"]
        centre = np.array(arc["centre_mm"])
        informative[f"centre_distance_h{h}"] = Measurement(
            value=float(np.linalg.norm(centre)),
            standard_uncertainty=norm_uncertainty(centre, covs[h] + np.eye(2) * u_reg_point**2),
            unit="mm",
        )
    table = [
        {
            "height_index": r["height_index"],
            "approach": r["approach"],
            "commanded_yaw_deg": float(commanded_yaw[i]),
            "measured_yaw_deg": float(measured_yaw[i]),
            "readback_yaw_deg": float(readback_yaw[i]),
            "position_mm": floats(observations[i].position),
        }
        for i, r in enumerate(rows)
    ]
    summary = [
        {
            "height_index": arc["height_index"],
            "table_vertical_mm": arc["table_vertical_mm"],
            "z_mm": arc["z_mm"],
            "centre_x_mm": arc["centre_mm"][0],
            "centre_y_mm": arc["centre_mm"][1],
            "centre_u_mm": max(arc["centre_u_mm"]),
            "radius_mm": arc["radius_mm"],
            "iso_size_mm": arc["iso_size_mm"],
            "circle_fit_centre_mm": arc.get("circle_centre_mm"),
            "circle_fit_centre_u_mm": arc.get("circle_centre_u_mm"),
        }
        for arc in arcs
    ]
    return SequenceResult(
        sequence=CouchRotationWalkout.name,
        title=CouchRotationWalkout.title,
        device=params.couch,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={
            "targets": summary,
            "arcs": arcs,
            "points": table,
            "axis": [{"a_mm": floats(a), "b": floats(b), "baseline_mm": floats(baseline)}],
        },
        frame=FRAME,
        notes=[
            f"{len(arcs)} arcs over θs {min(commanded_yaw):g}…{max(commanded_yaw):g}° (up and back down), "
            f"{params.samples} tracker frames per stop; tool {params.couch_tool!r} at "
            f"{params.tool_offset_mm} mm in t",
            "axis centre per height from the known-angle arc fit (angles from the tool orientation); the "
            "plain circle fit per height is in the table for comparison — on a short arc it cannot fix the "
            "centre across the chord",
            "walkout: perpendicular distance of the fitted axis line from the reference point; iso size: "
            "pylinac pairwise diameter of the table-top point that is at the isocentre at θs = 0",
            "uncertainty: arc-fit covariance (residuals, floored by the tracker noise), registration "
            "translation and rotation; k = 2",
        ],
    )


def _axis_direction(
    rows: list[dict[str, Any]],
    observations: list[Any],
    anchors: list[int],
    anchor: np.ndarray,
    measured_yaw: np.ndarray,
    heights: list[int],
) -> dict[str, Any]:
    """Direction of the rotation axis from the tool's orientation: ΔR_k = R_k·R̄_anchorᵀ turns about it.

    The rotation vector of ΔR_k is θ_k·a (a: the axis in f). Per component a straight line against θ_k,
    with its own intercept per height (the anchor's error is common), gives a; its x and y over z are the
    tilts toward +X and +Y. Unlike the centres at two heights, this sees a tilted axis however the axis is
    carried (on a hexapod the isocentric axis rides with the table's vertical travel, so the centres at two
    heights show the vertical travel's direction instead). Uncertainty: the fit residuals (couch and tracker
    orientation scatter) with n − 2·heights − 1 dof, the larger of the classical and the HC3 slope error.
    """
    theta, vectors, group = [], [], []
    for i, (row, obs) in enumerate(zip(rows, observations, strict=True)):
        theta.append(math.radians(measured_yaw[i]))
        vectors.append(rotation_vector(obs.rotation @ anchor.T))
        group.append(heights.index(row["height_index"]))
    t, r, g = np.array(theta), np.array(vectors), np.array(group)
    tc, rc = t.copy(), r.copy()
    for h in range(len(heights)):
        tc[g == h] -= t[g == h].mean()
        rc[g == h] -= r[g == h].mean(axis=0)
    sxx = float(tc @ tc)
    slope = (tc @ rc) / sxx  # a, unnormalised
    residual = rc - np.outer(tc, slope)
    dof = max(len(t) - 2 * len(heights), 1)
    sd = np.sqrt(np.sum(residual**2, axis=0) / dof)
    # The scatter is not the same at every angle (the couch's own tilt scatter per leg, backlash on
    # reversal): take the larger of the classical and the heteroscedasticity-consistent (HC3, MacKinnon &
    # White, J. Econometrics 29:305, 1985) standard error of each slope.
    sizes = np.array([np.sum(g == group_index) for group_index in g], dtype=float)
    leverage = np.clip(tc**2 / sxx + 1.0 / sizes, 0.0, 0.99)
    hc3 = np.sqrt(np.sum((tc[:, None] * residual / (1.0 - leverage)[:, None]) ** 2, axis=0)) / sxx
    u_slope = np.maximum(sd / math.sqrt(sxx), hc3)
    az = float(slope[2])
    tilt = slope[:2] / az
    covariance = np.diag((u_slope[:2] / abs(az)) ** 2)
    return {"tilt_rad": tilt, "covariance": covariance, "dof": float(dof)}


def _rz(angle_deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return np.array([[c, -s], [s, c]])


def _axis_line(
    z: np.ndarray, centres: np.ndarray, covariances: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted straight line c(z) = a + b·z per coordinate; a at z = 0 (isocentre height), b = dc/dz."""
    a, b = np.zeros(2), np.zeros(2)
    var_a, var_b = np.zeros(2), np.zeros(2)
    for c in range(2):
        w = np.array([1.0 / max(cov[c, c], 1e-12) for cov in covariances])
        design = np.column_stack([np.ones_like(z), z])
        normal = design.T @ (design * w[:, None])
        inverse = np.linalg.inv(normal)
        coef = inverse @ design.T @ (w * centres[:, c])
        a[c], b[c] = coef
        var_a[c], var_b[c] = inverse[0, 0], inverse[1, 1]
    return a, b, np.diag(var_a), np.diag(var_b)


def _hysteresis(rows: list[dict[str, Any]], yaw_error: np.ndarray) -> tuple[float, int] | None:
    """Mean yaw error approached from below minus from above, at angles read both ways."""
    pairs = []
    keys = {(r["height_index"], r["cmd"]["couch_rotation_deg"]) for r in rows}
    for key in keys:
        up = [
            yaw_error[i]
            for i, r in enumerate(rows)
            if (r["height_index"], r["cmd"]["couch_rotation_deg"]) == key and r["approach"] == "+"
        ]
        down = [
            yaw_error[i]
            for i, r in enumerate(rows)
            if (r["height_index"], r["cmd"]["couch_rotation_deg"]) == key and r["approach"] == "-"
        ]
        if up and down:
            pairs.append(float(np.mean(up) - np.mean(down)))
    if not pairs:
        return None
    return float(np.mean(pairs)), len(pairs)


__all__ = ["CouchRotationWalkout", "CouchWalkoutParams", "CouchWalkoutProfile", "fit_known_angle_arc"]
