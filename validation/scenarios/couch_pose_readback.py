"""Blind scenario for couch-pose-readback: strut errors and readback noise of a hexapod couch.

What a readback can show is the controller not reaching the commanded pose: here six strut errors (each
strut's encoder-measured length minus its commanded length). The controller reports the forward
kinematics of the measured strut lengths through its nominal geometry; this module has its own model of
that (a 6-6 Stewart platform, Newton forward kinematics, the IEC 61217 ↔ hexapod mapping of the default
mount), written without the simulators.

Truths:

* ``Δt`` / ``Δθ``: the largest |readback − commanded| over the plan's poses and the translation /
  rotation IEC axes, noise-free (the strut errors alone);
* ``sd_<axis>``: the SD of the readback noise in that IEC axis, pooled over the poses: the hexapod-axis
  noise (σ_mm for X Y Z, σ_deg for U V W) propagated through the hexapod → IEC map at each pose (first
  order), root mean square over poses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from geometry.rotations import decompose_table_top_rotation, rot_x, rot_y, rot_z, table_top_rotation
from validation.scenario import Injection, Scenario, TruthValue
from validation.scenarios import register

Vector = NDArray[np.float64]

#: The poses the scenario's plan visits (the sequence's default list), IEC values in ``IEC_AXES`` order.
POSES: Final = (
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (10.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (-10.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 15.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, -15.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 8.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, -8.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, 0.0, 1.5, 0.0),
    (0.0, 0.0, 0.0, 0.0, -1.5, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.0, 1.5),
    (0.0, 0.0, 0.0, 0.0, 0.0, -1.5),
    (0.0, 0.0, 0.0, 3.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, -3.0, 0.0, 0.0),
    (5.0, -5.0, 3.0, 0.0, 1.0, -1.0),
)
IEC_AXES: Final = (
    "lateral_mm",
    "longitudinal_mm",
    "vertical_mm",
    "couch_rotation_deg",
    "pitch_deg",
    "roll_deg",
)
TRANSLATIONS: Final = IEC_AXES[:3]
ROTATIONS: Final = IEC_AXES[3:]
#: The default profile (tg142-monthly): Δt 2 mm, Δθ 1°.
LIMIT_MM: Final = 2.0
LIMIT_DEG: Final = 1.0
#: Largest rotation error drawn, as a multiple of LIMIT_DEG (see ``draw``).
ROTATION_REACH: Final = 1.45

#: The strut geometry written into the rig (so the truth and the simulated controller share the numbers,
#: not the code): joints on radii 300/250 mm at 0/120/240° ± 12° (base) and 60/180/300° ∓ 12° (platform),
#: 450 mm apart at the zero pose, struts 455–512 mm.
LEGS: Final[dict[str, Any]] = {
    "base_radius_mm": 300.0,
    "platform_radius_mm": 250.0,
    "base_half_angle_deg": 12.0,
    "platform_half_angle_deg": 12.0,
    "neutral_height_mm": 450.0,
    "leg_length_mm": [455.0, 512.0],
}


def _joints() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    b, p = LEGS["base_half_angle_deg"], LEGS["platform_half_angle_deg"]
    beta = np.radians([-b, b, 120 - b, 120 + b, 240 - b, 240 + b])
    pi_ = np.radians([-60 + p, 60 - p, 60 + p, 180 - p, 180 + p, 300 - p])
    rb, rp, h = LEGS["base_radius_mm"], LEGS["platform_radius_mm"], LEGS["neutral_height_mm"]
    base = np.column_stack([rb * np.cos(beta), rb * np.sin(beta), np.full(6, -h)])
    platform = np.column_stack([rp * np.cos(pi_), rp * np.sin(pi_), np.zeros(6)])
    return base, platform


BASE, PLATFORM = _joints()


def struts(pose: Vector) -> Vector:
    """Strut lengths at hexapod pose X Y Z U V W (pivot at the platform origin, U V W about moving axes)."""
    rotation = rot_x(pose[3]) @ rot_y(pose[4]) @ rot_z(pose[5])
    ends = PLATFORM @ rotation.T + pose[:3]
    return np.asarray(np.linalg.norm(ends - BASE, axis=1), dtype=float)


def forward(lengths: Vector, start: Vector) -> Vector:
    """The pose with these strut lengths (Newton, numerical Jacobian)."""
    q = start.astype(float).copy()
    for _ in range(40):
        residual = struts(q) - lengths
        jac = np.column_stack([(struts(q + h) - struts(q - h)) / 2e-6 for h in np.eye(6) * 1e-6])
        step = np.linalg.solve(jac, residual)
        q -= step
        if np.max(np.abs(step)) < 1e-12:
            return q
    raise ValueError(f"forward kinematics did not converge for {lengths.tolist()}")


def to_hexapod(iec: Vector) -> Vector:
    """IEC set point → X Y Z U V W: R = Rz(θs)·Rx(ψ)·Ry(φ) = Rx(U)·Ry(V)·Rz(W), XYZ = Rz(θs)·T; 6 decimals."""
    r = table_top_rotation(iec[3], iec[4], iec[5])
    v = math.degrees(math.asin(max(-1.0, min(1.0, r[0, 2]))))
    u = math.degrees(math.atan2(-r[1, 2], r[2, 2]))
    w = math.degrees(math.atan2(-r[0, 1], r[0, 0]))
    xyz = rot_z(iec[3]) @ iec[:3]
    return np.round(np.array([*xyz, u, v, w]), 6)


def to_iec(pose: Vector) -> Vector:
    """X Y Z U V W → IEC set point (the inverse of ``to_hexapod``, without rounding)."""
    yaw, pitch, roll = decompose_table_top_rotation(rot_x(pose[3]) @ rot_y(pose[4]) @ rot_z(pose[5]))
    return np.array([*(rot_z(-yaw) @ pose[:3]), yaw, pitch, roll])


def readback_deviations(strut_error: Vector) -> NDArray[np.float64]:
    """Noise-free readback − commanded per pose (rows) and IEC axis (columns)."""
    rows = []
    for pose in POSES:
        iec = np.array(pose)
        q = to_hexapod(iec)
        measured = q if not np.any(strut_error) else forward(struts(q) + strut_error, q)
        rows.append(to_iec(measured) - iec)
    return np.array(rows)


def noise_sd(sigma_mm: float, sigma_deg: float) -> Vector:
    """Per IEC axis, the readback-noise SD pooled over the poses (first-order propagation, rms over poses)."""
    sigma = np.array([sigma_mm] * 3 + [sigma_deg] * 3)
    variances = []
    for pose in POSES:
        q = to_hexapod(np.array(pose))
        jac = np.column_stack([(to_iec(q + h) - to_iec(q - h)) / 2e-6 for h in np.eye(6) * 1e-6])
        variances.append((jac**2) @ sigma**2)
    return np.asarray(np.sqrt(np.mean(variances, axis=0)), dtype=float)


def _log_uniform_or_zero(rng: np.random.Generator, low: float, high: float, p_zero: float) -> float:
    if rng.random() < p_zero:
        return 0.0
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


class CouchPoseReadbackScenario(Scenario):
    sequence = "couch-pose-readback"
    #: The plan is pinned here, so the truth model and the run visit the same poses.
    params: ClassVar[Mapping[str, Any]] = {
        "poses": [dict(zip(IEC_AXES, pose, strict=True)) for pose in POSES],
        "repeats": 3,
        "profile": "tg142-monthly",
    }

    def draw(self, rng: np.random.Generator) -> Injection:
        """Strut errors as the struts of a random pose error at home: zero (15 %), or one whose translation
        part is 0–2.2 × its limit (or rotation part 0–1.45 ×), the other part 0–1 × its limit; readback noise
        zero (1/3) or log-uniform 0.1 µm…50 µm and 0.00001°…0.001°."""
        injection: Injection = {}
        error = np.zeros(6)
        if rng.random() >= 0.15:
            t_dir, r_dir = (v / np.linalg.norm(v) for v in rng.standard_normal((2, 3)))
            ratio_t, ratio_r = rng.uniform(0.0, 1.0), rng.uniform(0.0, 1.0)
            if rng.random() < 0.5:
                ratio_t *= 2.2
            else:
                # The plan pitches and rolls to ±1.5° inside ±3° soft limits: a readback more than 1.5° off
                # would report the couch outside them and the run would stop, so Δθ goes to 1.45 × 1°.
                ratio_r *= ROTATION_REACH
            delta = np.concatenate([t_dir * ratio_t * LIMIT_MM, r_dir * ratio_r * LIMIT_DEG])
            error = struts(delta) - struts(np.zeros(6))
            error *= min(1.0, 19.0 / float(np.max(np.abs(error))))  # the simulator accepts ±20 mm
        for i, value in enumerate(error):
            injection[f"strut_error_{i + 1}_mm"] = float(value)
        injection["readback_noise_mm"] = _log_uniform_or_zero(rng, 1e-4, 0.05, 1 / 3)
        # ≤ 0.001°: at the plan's 15 mm lever a rotation's readback noise then adds at most 0.26 µm to the
        # IEC translations, inside their 1 µm readout resolution (the sequence assumes pose-independent
        # translation noise beyond that; a C-887's own noise is far below both).
        injection["readback_noise_deg"] = _log_uniform_or_zero(rng, 1e-5, 0.001, 1 / 3)
        return injection

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        hexapod = raw_rig["simulation"]["hexapods"]["couch_hexapod"]
        hexapod["legs"] = dict(LEGS)
        hexapod["pivot_mm"] = [0.0, 0.0, 0.0]
        hexapod["errors"] = {
            "strut_error_mm": [injection[f"strut_error_{i}_mm"] for i in range(1, 7)],
            "readback_noise_mm": injection["readback_noise_mm"],
            "readback_noise_deg": injection["readback_noise_deg"],
        }

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        strut_error = np.array([injection[f"strut_error_{i}_mm"] for i in range(1, 7)])
        deviations = np.abs(readback_deviations(strut_error))
        truths = {
            "Δt": TruthValue(value=float(deviations[:, :3].max())),
            "Δθ": TruthValue(value=float(deviations[:, 3:].max())),
        }
        sd = noise_sd(injection["readback_noise_mm"], injection["readback_noise_deg"])
        for axis, value in zip(IEC_AXES, sd, strict=True):
            truths[f"sd_{axis}"] = TruthValue(value=float(value), verdict=False)
        return truths


register(CouchPoseReadbackScenario())
