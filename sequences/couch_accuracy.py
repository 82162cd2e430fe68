"""C1 + C2: couch translational accuracy and reproducibility, commanded vs readback vs tracker, per IEC axis.

Procedure (C1, C2): register the tracker on the registration phantom; read the couch
tool at the reference pose; then, ``repeats`` times, for each IEC translation axis step to every offset
(± both ways, default sized for a hexapod top) and back to the reference after each one, so the reference
is approached alternately from + and −. Every stop: dwell, the couch's own readback, ``samples`` tracker
frames of the couch tool.

Metrics (deviation d = tracker displacement − commanded displacement of the table-top point, both from the
reference pose, in IEC f; displacements cancel the tool's placement and the registration's translation):
per axis max |d| (3-D), bias / SD / RMS along the axis; readback − tracker (indicator accuracy); at the
reference: SD and range per axis and the 3-D 95th percentile distance from the mean (C2). Informative: the
scale error (slope of measured vs commanded displacement − 1) and misalignment (angle of the measured
displacement direction from the IEC axis) from one vector regression per axis, the reversal at the
reference per axis (backlash), the absolute offset at the reference, the registration residual.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import stats

from controller.messages import Checkpoint
from controller.results import Measurement, SequenceResult, Tolerance, decide
from geometry.fits import fit_straight_line
from sequences.base import DeviceNeed, Plan, Sequence, SequenceContext, ToolNeed, require_known_profile
from sequences.couch_geometry import (
    FRAME,
    IEC_AXIS_NAMES,
    TRANSLATION_AXES,
    TrackedCouchParams,
    extreme_measurement,
    floats,
    max_norm_halfwidth,
    pooled_scatter,
    read_couch_data,
    require_registration,
    start,
    tracked_couch_needs,
    visit,
)
from sequences.couch_pose_readback import CouchPose
from sequences.tolerances import ToleranceProfile, profiles_for

TranslationAxis = Literal["lateral_mm", "longitudinal_mm", "vertical_mm"]


class CouchAccuracyProfile(ToleranceProfile):
    """Limits for C1/C2 (values in sequences/tolerances.py); a site profile_override has this shape."""

    translation: Tolerance = Field(description="max |tracker − commanded| per axis")
    indicator: Tolerance = Field(description="max |readback − tracker|")
    reproducibility: Tolerance = Field(description="3-D 95th percentile at the reference pose")


PROFILES: dict[str, CouchAccuracyProfile] = profiles_for("couch-translation-accuracy", CouchAccuracyProfile)

DEFAULT_OFFSETS: dict[TranslationAxis, list[float]] = {
    "lateral_mm": [5.0, -5.0, 10.0, -10.0, 20.0, -20.0],
    "longitudinal_mm": [5.0, -5.0, 10.0, -10.0, 20.0, -20.0],
    "vertical_mm": [5.0, -5.0, 10.0, -10.0],
}


class CouchAccuracyParams(TrackedCouchParams):
    reference: CouchPose = Field(default_factory=CouchPose, description="the zero of the test")
    offsets_mm: dict[TranslationAxis, list[float]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_OFFSETS.items()},
        description="per IEC axis, displacements from the reference visited in this order",
    )
    repeats: int = Field(default=3, ge=1, le=20, description="passes over all offsets (C1: 3)")
    profile: str = Field(default="tg142-monthly")
    profile_override: CouchAccuracyProfile | None = None

    @model_validator(mode="after")
    def _check(self) -> CouchAccuracyParams:
        if not self.offsets_mm:
            raise ValueError("offsets_mm names no axis")
        for axis, offsets in self.offsets_mm.items():
            if len(set(offsets)) < 2:
                raise ValueError(f"offsets_mm.{axis}: need at least 2 different offsets for a scale fit")
            if any(o == 0 for o in offsets):
                raise ValueError(f"offsets_mm.{axis}: an offset of 0 is the reference itself")
        require_known_profile(self.profile, self.profile_override, PROFILES)
        return self

    def tolerance_profile(self) -> CouchAccuracyProfile:
        return self.profile_override or PROFILES[self.profile]


class CouchTranslationAccuracy(Sequence[CouchAccuracyParams]):
    name = "couch-translation-accuracy"
    title = "Couch translational accuracy and reproducibility against the tracker (C1, C2)"
    params_model = CouchAccuracyParams

    uses_registration = True

    def device_needs(self, params: CouchAccuracyParams) -> list[DeviceNeed]:
        return tracked_couch_needs(params)

    def tool_needs(self, params: CouchAccuracyParams) -> list[ToolNeed]:
        return [ToolNeed("couch_tool", params.couch_tool)]

    def device_of(self, params: CouchAccuracyParams) -> str:
        return params.couch

    def plan(self, params: CouchAccuracyParams, context: SequenceContext) -> Plan:
        registration = require_registration(context, self.name)
        tracker = registration.tracker
        head = yield from start(params, registration)
        reference = params.reference.setpoint()
        points = [
            (yield from visit(params, tracker, reference, kind="reference", repeat=-1, approach="home"))
        ]
        for repeat in range(params.repeats):
            for axis, offsets in params.offsets_mm.items():
                for offset in offsets:
                    target = replace(reference, **{axis: getattr(reference, axis) + offset})
                    labels = {"repeat": repeat, "axis": axis, "offset_mm": offset}
                    points.append((yield from visit(params, tracker, target, kind="target", **labels)))
                    back = "-" if offset > 0 else "+"  # returning from above is an approach from above
                    points.append(
                        (
                            yield from visit(
                                params, tracker, reference, kind="reference", approach=back, **labels
                            )
                        )
                    )
            yield Checkpoint(f"pass {repeat + 1}/{params.repeats}")
        return {**head, "points": points}

    def analyze(self, params: CouchAccuracyParams, data: Any) -> SequenceResult:
        return analyze_couch_accuracy(params, data)

    def figures(self, result: SequenceResult) -> list[Any]:
        from sequences.plots import couch_accuracy_figure

        return [couch_accuracy_figure(result)]


def analyze_couch_accuracy(params: CouchAccuracyParams, data: dict[str, Any]) -> SequenceResult:
    readings = read_couch_data(data, params.couch_tool)
    view, rows, observations, noise = readings.view, readings.rows, readings.observations, readings.noise
    tool = params.tool_offset_mm
    measured, commanded, readback = readings.positions(tool)
    u_reading = np.array([noise.position_of_mean(o.n) for o in observations])
    u_readout = params.readout_resolution_mm / math.sqrt(12.0)

    refs = [i for i, r in enumerate(rows) if r["kind"] == "reference"]
    zero_measured = measured[refs].mean(axis=0)
    zero_commanded = commanded[refs].mean(axis=0)
    zero_readback = readback[refs].mean(axis=0)
    ref_sd = float(np.sqrt(np.mean(np.var(measured[refs], axis=0, ddof=1)))) if len(refs) > 1 else 0.0
    u_zero = max(float(np.mean(u_reading[refs])), ref_sd) / math.sqrt(len(refs))

    moved = measured - zero_measured
    expected = commanded - zero_commanded
    deviation = moved - expected
    indicator = (readback - zero_readback) - moved
    lever = np.linalg.norm(expected, axis=1)
    u_dev = np.sqrt(
        u_reading**2
        + u_zero**2
        + (view.rotation_uncertainty_rad * lever) ** 2
        + params.tracker_systematic_mm**2
    )

    # Per (axis, offset) the systematic deviation is the mean over the repeats (ISO 230-2 separates the
    # mean positional deviation from the scatter); its noise is the scatter of single visits about that
    # mean, per IEC coordinate: the couch's own scatter plus the tracker noise of a reading.
    targets = [i for i, r in enumerate(rows) if r["kind"] == "target"]
    keys = sorted({(rows[i]["axis"], rows[i]["offset_mm"]) for i in targets}, key=str)
    members = {key: [i for i in targets if (rows[i]["axis"], rows[i]["offset_mm"]) == key] for key in keys}
    scatter, scatter_dof = pooled_scatter([deviation[m] for m in members.values()])
    ind_scatter, _ = pooled_scatter([indicator[m] for m in members.values()])
    frame = np.array(noise.position_components) / math.sqrt(params.samples)
    per_visit = np.maximum(scatter, frame)
    per_visit_ind = np.maximum(ind_scatter, frame)
    dof_eff = float(scatter_dof) if scatter_dof else math.inf
    u_ref_mean = per_visit / math.sqrt(len(refs))  # the zero: mean of the reference visits

    def u_group(idx: list[int], per: np.ndarray) -> np.ndarray:
        lever_u = view.rotation_uncertainty_rad * float(np.mean(lever[idx]))
        u: np.ndarray = np.sqrt(
            per**2 / len(idx) + u_ref_mean**2 + lever_u**2 + params.tracker_systematic_mm**2
        )
        return u

    profile = params.tolerance_profile()
    verdicts = []
    informative: dict[str, Measurement] = {"registration_rms_residual": view.registration_measurement()}
    summary: list[dict[str, Any]] = []
    all_ind, all_ind_u, ind_axis = [], [], []
    for axis in params.offsets_mm:
        idx = [i for i, r in enumerate(rows) if r["kind"] == "target" and r["axis"] == axis]
        offsets = np.array([rows[i]["offset_mm"] for i in idx])
        direction = np.sum(expected[idx] * np.sign(offsets)[:, None], axis=0)
        direction = direction / np.linalg.norm(direction)  # the IEC axis in f (Xf, Yf, Zf at θs = 0)
        along = deviation[idx] @ direction
        groups = [members[key] for key in keys if key[0] == axis]
        group_norms = [float(np.linalg.norm(deviation[m].mean(axis=0))) for m in groups]
        group_u = [u_group(m, per_visit) for m in groups]
        label = IEC_AXIS_NAMES[axis]
        k = int(np.argmax(group_norms))
        verdicts.append(
            decide(
                f"Δ{label}",
                f"largest |tracker − commanded| (3-D, mean over repeats) over the {axis} offsets",
                extreme_measurement(group_norms[k], max_norm_halfwidth(np.array(group_u), 3, dof_eff), "mm"),
                profile.translation,
                profile.rule,
            )
        )
        for m in groups:
            all_ind.append(float(np.linalg.norm(indicator[m].mean(axis=0))))
            all_ind_u.append(np.sqrt(u_group(m, per_visit_ind) ** 2 + 2 * u_readout**2))
            ind_axis.append(axis)
        ind_norms = np.linalg.norm(indicator[idx], axis=1)
        j = int(np.argmax(ind_norms))
        slope = _axis_regression(expected[idx] @ direction, moved[idx], direction, noise_floor=u_reading[idx])
        u_b = params.tracker_relative_systematic  # the tracker's own scale, on slopes and directions
        scale_u = math.hypot(slope["u_along"], u_b)
        mis_u = math.degrees(math.hypot(slope["u_perp"], u_b, view.rotation_uncertainty_rad))
        n = len(along)
        sd = float(np.std(along, ddof=1)) if n > 1 else 0.0
        u_mean = float(np.mean(u_dev[idx]))
        informative[f"bias_{label}"] = Measurement(
            value=float(np.mean(along)), standard_uncertainty=math.hypot(sd / math.sqrt(n), u_mean), unit="mm"
        )
        informative[f"sd_{label}"] = Measurement(
            value=sd, standard_uncertainty=sd / math.sqrt(2 * max(n - 1, 1)), unit="mm"
        )
        informative[f"scale_error_{label}"] = Measurement(
            value=100.0 * slope["scale"], standard_uncertainty=100.0 * scale_u, unit="%"
        )
        informative[f"misalignment_{label}"] = Measurement(
            value=slope["misalignment_deg"], standard_uncertainty=mis_u, unit="deg"
        )
        reversal = _reversal(rows, refs, measured, direction, axis, u_reading)
        if reversal is not None:
            informative[f"reversal_{label}"] = reversal
        summary.append(
            {
                "axis": axis,
                "n": n,
                "max_deviation_mm": group_norms[k],
                "bias_mm": float(np.mean(along)),
                "sd_mm": sd,
                "rms_mm": float(np.sqrt(np.mean(along**2))),
                "scale_error_percent": 100.0 * slope["scale"],
                "misalignment_deg": slope["misalignment_deg"],
                "tilts_deg": slope["tilts_deg"],
                "max_readback_minus_tracker_mm": float(ind_norms[j]),
                "direction": floats(direction),
            }
        )
    w = int(np.argmax(all_ind))
    verdicts.append(
        decide(
            "Δindicator",
            f"largest |readback − tracker| displacement (3-D, mean over repeats; axis {ind_axis[w]})",
            extreme_measurement(all_ind[w], max_norm_halfwidth(np.array(all_ind_u), 3, dof_eff), "mm"),
            profile.indicator,
            profile.rule,
        )
    )

    ref_points = measured[refs]
    ref_dev = ref_points - ref_points.mean(axis=0)
    distances = np.linalg.norm(ref_dev, axis=1)
    tracker_reading = np.array(noise.position_components) / math.sqrt(params.samples)
    r95 = reproducibility_p95(distances, tracker_reading)
    verdicts.append(
        decide(
            "R95",
            f"3-D 95th percentile distance of the {len(refs)} reference readings from their mean (C2), "
            "tracker noise removed",
            r95,
            profile.reproducibility,
            profile.rule,
        )
    )
    k_refs = len(refs)
    for c, name in enumerate("XYZ"):
        sd_ref = float(np.std(ref_points[:, c], ddof=1)) if k_refs > 1 else 0.0
        informative[f"reproducibility_sd_{name}"] = Measurement(
            value=sd_ref, standard_uncertainty=sd_ref / math.sqrt(2 * max(k_refs - 1, 1)), unit="mm"
        )
        informative[f"reproducibility_range_{name}"] = Measurement(
            value=float(np.ptp(ref_points[:, c])),
            standard_uncertainty=float(np.mean(u_reading[refs])),
            unit="mm",
        )
    offset = zero_measured - zero_commanded
    informative["reference_offset"] = Measurement(
        value=float(np.linalg.norm(offset)),
        standard_uncertainty=math.hypot(view.translation_uncertainty_at(zero_measured), u_zero),
        unit="mm",
    )

    table = []
    for i, r in enumerate(rows):
        table.append(
            {
                "kind": r["kind"],
                "repeat": r["repeat"],
                "axis": r.get("axis"),
                "offset_mm": r.get("offset_mm", 0.0),
                "approach": r.get("approach", ""),
                "moved_mm": floats(moved[i]),
                "expected_mm": floats(expected[i]),
                "deviation_mm": floats(deviation[i]),
                "readback_minus_tracker_mm": floats(indicator[i]),
                "u_mm": float(u_dev[i]),
            }
        )
    return SequenceResult(
        sequence=CouchTranslationAccuracy.name,
        title=CouchTranslationAccuracy.title,
        device=params.couch,
        profile=profile.name,
        tolerance_overrides=list(profile.overrides),
        verdicts=verdicts,
        informative=informative,
        tables={"targets": summary, "points": table},
        frame=FRAME,
        notes=[
            f"{params.repeats} passes; {sum(len(v) for v in params.offsets_mm.values())} offsets per pass, "
            f"each followed by a return to the reference; dwell {params.dwell_s} s; "
            f"{params.samples} tracker frames per reading; tool {params.couch_tool!r} at {tool} mm in t",
            f"registration: {view.registration.fiducials} fiducials, RMS residual "
            f"{view.registration.rms_residual_mm:.3f} mm; pooled tracker noise "
            f"{noise.position_mm * 1000:.0f} µm per frame",
            "deviations are displacements from the mean reference reading, so tool placement and the "
            "registration's translation cancel; reference_offset shows the absolute setup offset",
            "uncertainty: tracker noise (pooled, /√n), registration rotation × displacement, tracker "
            f"systematic {params.tracker_systematic_mm} mm (type B), readout q/√12; k = 2",
        ],
    )


def reproducibility_p95(distances: np.ndarray, tracker_sd: np.ndarray, resamples: int = 2000) -> Measurement:
    """The couch's 95th-percentile reference distance with the tracker's noise taken out, and a U that covers.

    The observed distances are the couch's scatter convolved with the tracker noise of a reading (per IEC
    coordinate, known from the frames). Percentiles of independent scatter add roughly in quadrature, so
    R95 = √(P95_obs² − q_t²), q_t the 95th percentile of the tracker noise's own 3-D distance (zero when the
    tracker noise alone explains the spread). The sample P95 is scaled by √(n/(n−1)) for the mean the
    distances are taken from. U: the sampling interval of P95_obs (bootstrap standard error, fixed seed so a
    replay reproduces it, never below the asymptotic SE √(p(1−p)/n)/f of a Gaussian couch) at k = 2, mapped
    through the same correction (JCGM 101:2008 §5.3: propagate the interval, not a linearised u — the
    correction is steep near zero).
    """
    n = len(distances)
    scale = math.sqrt(n / (n - 1)) if n > 1 else 1.0
    observed = float(np.percentile(distances, 95)) * scale
    z = np.random.default_rng(0).standard_normal((20000, 3))
    q_t = float(np.quantile(np.linalg.norm(z * tracker_sd, axis=1), 0.95))

    def corrected(value: float) -> float:
        return math.sqrt(max(value * value - q_t * q_t, 0.0))

    if n < 2:
        return Measurement(value=corrected(observed), standard_uncertainty=observed, unit="mm")
    rng = np.random.default_rng(0)
    boots = np.percentile(rng.choice(distances, size=(resamples, n), replace=True), 95, axis=1) * scale
    # a Gaussian couch with the observed spread: SE of a sample quantile = √(p(1−p)/n) / f(q)
    sigma = float(np.sqrt(np.mean(distances**2) / 3.0)) * scale
    density = float(stats.chi.pdf(stats.chi.ppf(0.95, 3), 3)) / max(sigma, 1e-12)
    se = max(float(np.std(boots, ddof=1)), math.sqrt(0.95 * 0.05 / n) / density)
    value = corrected(observed)
    high = corrected(observed + 2.0 * se)
    low = corrected(max(observed - 2.0 * se, 0.0))
    expanded = max(high - value, value - low)
    return Measurement(value=value, standard_uncertainty=expanded / 2.0, coverage_factor=2.0, unit="mm")


def _axis_regression(
    commanded: np.ndarray, moved: np.ndarray, direction: np.ndarray, noise_floor: np.ndarray
) -> dict[str, Any]:
    """Measured displacement vector regressed on the commanded displacement: b = d(moved)/d(commanded).

    |b| − 1 is the scale error, the angle of b from the IEC axis the misalignment (signed tilts toward the
    other two IEC axes in the table). Slope uncertainties from the fit residuals, never below what the
    reading uncertainties alone give.
    """
    slopes, uncertainties = [], []
    sxx = float(np.sum((commanded - commanded.mean()) ** 2))
    floor = float(np.sqrt(np.mean(noise_floor**2) / sxx))
    for c in range(3):
        fit = fit_straight_line(commanded, moved[:, c])
        slopes.append(fit.slope)
        uncertainties.append(max(fit.slope_uncertainty or 0.0, floor))
    b = np.array(slopes)
    u = np.array(uncertainties)
    along = float(b @ direction)
    perp = b - along * direction
    # perpendicular uncertainty: the slope components across the axis (RMS of the two)
    u_vec_sq = u**2
    u_along = math.sqrt(float(direction**2 @ u_vec_sq))
    u_perp = math.sqrt(max(float(np.sum(u_vec_sq)) - u_along**2, 0.0) / 2.0) / max(abs(along), 1e-9)
    tilts = {}
    for name, other in zip("XYZ", np.eye(3), strict=True):
        if abs(float(other @ direction)) < 0.5:
            tilts[name] = math.degrees(math.atan2(float(b @ other), along))
    return {
        "scale": float(np.linalg.norm(b)) - 1.0,
        "u_along": u_along,
        "misalignment_deg": math.degrees(math.atan2(float(np.linalg.norm(perp)), along)),
        "u_perp": u_perp,
        "tilts_deg": tilts,
    }


def _reversal(
    rows: list[dict[str, Any]],
    refs: list[int],
    measured: np.ndarray,
    direction: np.ndarray,
    axis: str,
    u_reading: np.ndarray,
) -> Measurement | None:
    """Reference position approached from below minus from above, along the axis (ISO 230-2 sign)."""
    up = [i for i in refs if rows[i].get("axis") == axis and rows[i]["approach"] == "+"]
    down = [i for i in refs if rows[i].get("axis") == axis and rows[i]["approach"] == "-"]
    if not up or not down:
        return None
    a, b = measured[up] @ direction, measured[down] @ direction

    def u_mean(values: np.ndarray, idx: list[int]) -> float:
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        return max(sd, float(np.mean(u_reading[idx]))) / math.sqrt(len(values))

    return Measurement(
        value=float(np.mean(a) - np.mean(b)),
        standard_uncertainty=math.hypot(u_mean(a, up), u_mean(b, down)),
        unit="mm",
    )


__all__ = ["TRANSLATION_AXES", "CouchAccuracyParams", "CouchAccuracyProfile", "CouchTranslationAccuracy"]
