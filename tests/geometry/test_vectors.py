"""IEC 61217 test vectors TV1–TV10 and the constructed couch-walkout, line-intersection and tilt vectors.

TV1–TV10 were computed from the IEC 61217 chains as public implementations give them and checked against
RadiotherapyTransformsIEC, Roentgen.jl, matRad and scipy (see docs/coordinate-systems.md §7); the other
vectors are constructed analytically. Each vector is checked twice: to 1e-9 against an independent closed
form (or a compact numpy reference implementation, re-typed below as the oracle), and to the 4 decimals the
vectors were written down with.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from geometry import MachineState, PatientPosition, Point, System, decompose_table_top_rotation, map_points
from geometry.couch import translation_to_place
from geometry.fits import fit_circle, fit_line_intersection, iso_size, tilt_deg
from geometry.patient import dicom_to_table_top, table_top_from_dicom_rotation
from geometry.rotations import rot_x, rot_y, rot_z

EXACT = 1e-9  # mm and degrees
PUBLISHED = 5.1e-5  # the vectors are written down to 4 decimals


def _oracle_rotation(axis: str, deg: float) -> np.ndarray:
    """Compact numpy reference `_R`, kept independent of geometry.rotations."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    m = np.eye(4)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    m[i, i] = c
    m[j, j] = c
    m[i, j] = -s
    m[j, i] = s
    return m


def _oracle_translation(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def _oracle_f_from_t(
    th_s: float, ls: float, th_e: float, tx: float, ty: float, tz: float, psi_t: float, phi_t: float
) -> np.ndarray:
    m: np.ndarray = (
        _oracle_rotation("z", th_s)
        @ _oracle_translation(0, ls, 0)
        @ _oracle_rotation("z", th_e)
        @ _oracle_translation(tx, ty, tz)
        @ _oracle_rotation("x", psi_t)
        @ _oracle_rotation("y", phi_t)
    )
    return m


def _oracle_f_from_b(phi_g: float, th_b: float, bz: float = 0.0) -> np.ndarray:
    m: np.ndarray = _oracle_rotation("y", phi_g) @ _oracle_translation(0, 0, bz) @ _oracle_rotation("z", th_b)
    return m


def _apply(m: np.ndarray, xyz: tuple[float, float, float]) -> np.ndarray:
    moved: np.ndarray = (m @ np.array([*xyz, 1.0]))[:3]
    return moved


def _close(actual: np.ndarray, exact: np.ndarray, published: tuple[float, ...] | None = None) -> None:
    np.testing.assert_allclose(actual, exact, rtol=0, atol=EXACT)
    if published is not None:
        np.testing.assert_allclose(actual, published, rtol=0, atol=PUBLISHED)


@pytest.mark.parametrize(
    ("gantry_deg", "published"),
    [
        (0.0, (0.0, 0.0, 1000.0)),
        (45.0, (707.1068, 0.0, 707.1068)),
        (90.0, (1000.0, 0.0, 0.0)),
        (180.0, (0.0, 0.0, -1000.0)),
        (270.0, (-1000.0, 0.0, 0.0)),
    ],
)
def test_tv1_source_position_in_fixed(gantry_deg: float, published: tuple[float, float, float]) -> None:
    actual = map_points((0.0, 0.0, 1000.0), "g", "f", MachineState(gantry_deg=gantry_deg))
    exact = 1000.0 * np.array([math.sin(math.radians(gantry_deg)), 0.0, math.cos(math.radians(gantry_deg))])
    _close(actual, exact, published)


def test_tv2_collimator_point_at_gantry_0_and_90() -> None:
    c, s = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
    rotated = (10 * c - 20 * s, 10 * s + 20 * c)
    at_0 = map_points((10.0, 20.0, 0.0), "b", "f", MachineState(collimator_deg=30.0))
    _close(at_0, np.array([rotated[0], rotated[1], 0.0]), (-1.3397, 22.3205, 0.0))
    at_90 = map_points((10.0, 20.0, 0.0), "b", "f", MachineState(collimator_deg=30.0, gantry_deg=90.0))
    _close(at_90, np.array([0.0, rotated[1], -rotated[0]]), (0.0, 22.3205, 1.3397))


def test_tv3_couch_90_moves_head_to_minus_x_and_foot_to_plus_x() -> None:
    state = MachineState(couch_rotation_deg=90.0)
    _close(map_points((0.0, 100.0, 0.0), "s", "f", state), np.array([-100.0, 0.0, 0.0]))
    _close(map_points((0.0, -100.0, 0.0), "s", "f", state), np.array([100.0, 0.0, 0.0]))


def test_tv4_full_table_top_chain() -> None:
    params = (10.0, 500.0, -10.0, 5.0, 100.0, -50.0, 2.0, -1.0)
    th_s, ls, th_e, tx, ty, tz, psi, phi = params
    state = MachineState(
        couch_rotation_deg=th_s,
        eccentric_distance_mm=ls,
        eccentric_rotation_deg=th_e,
        table_lateral_mm=tx,
        table_longitudinal_mm=ty,
        table_vertical_mm=tz,
        table_pitch_deg=psi,
        table_roll_deg=phi,
    )
    oracle = _oracle_f_from_t(*params)
    origin, point = map_points([(0.0, 0.0, 0.0), (10.0, 20.0, 30.0)], "t", "f", state)
    _close(origin, _apply(oracle, (0, 0, 0)), (-81.8241, 592.4039, -50.0))
    _close(point, _apply(oracle, (10, 20, 30)), (-72.3492, 611.3388, -19.1504))
    # Closed form for the origin: Rz(θs)·((0, Ls, 0) + Rz(θe)·T).
    closed = rot_z(th_s) @ (np.array([0.0, ls, 0.0]) + rot_z(th_e) @ np.array([tx, ty, tz]))
    _close(origin, closed)


def test_tv5_source_lies_along_plus_yt_when_patient_faces_the_beam_port() -> None:
    state = MachineState(gantry_deg=90.0, couch_rotation_deg=270.0)
    _close(map_points((0.0, 0.0, 1000.0), "b", "t", state), np.array([0.0, 1000.0, 0.0]), (0.0, 1000.0, 0.0))


def test_tv6_hfs_point_left_of_isocentre_is_plus_xf() -> None:
    in_t = dicom_to_table_top((60.0, -20.0, 30.0), (10.0, -20.0, 30.0), "HFS")
    _close(in_t.to("f", MachineState()).xyz_mm, np.array([50.0, 0.0, 0.0]), (50.0, 0.0, 0.0))


@pytest.mark.parametrize(
    ("position", "published"),
    [("HFS", (50, 30, -40)), ("HFP", (-50, 30, 40)), ("FFS", (-50, -30, -40)), ("FFP", (50, -30, 40))],
)
def test_tv6b_dicom_offset_in_table_top(position: str, published: tuple[float, float, float]) -> None:
    actual = dicom_to_table_top((50.0, 40.0, 30.0), (0.0, 0.0, 0.0), position).xyz_mm
    _close(actual, np.array(published, dtype=float), published)


@pytest.mark.parametrize(
    ("table_top_y_mm", "published"),
    [(-100.0, (0.0, 99.6195, 8.7156)), (100.0, (0.0, -99.6195, -8.7156))],
)
def test_tv7_translation_that_keeps_a_point_at_isocentre_under_pitch(
    table_top_y_mm: float, published: tuple[float, float, float]
) -> None:
    point = Point(system=System.TABLE_TOP, x_mm=0.0, y_mm=table_top_y_mm, z_mm=0.0)
    placed = translation_to_place(point, MachineState(table_pitch_deg=5.0))
    actual = np.array([placed.table_lateral_mm, placed.table_longitudinal_mm, placed.table_vertical_mm])
    c, s = math.cos(math.radians(5.0)), math.sin(math.radians(5.0))
    _close(actual, -table_top_y_mm * np.array([0.0, c, s]), published)
    _close(point.to("f", placed).xyz_mm, np.zeros(3))


def test_tv7_other_reading_table_at_ty_100_needs_positive_tz() -> None:
    # Ty = 100 puts the isocentre at t = (0, −100, 0); holding it there under +5° pitch raises Tz.
    at_zero = MachineState(table_longitudinal_mm=100.0)
    iso_in_t = Point(system="f", x_mm=0.0, y_mm=0.0, z_mm=0.0).to("t", at_zero)
    _close(iso_in_t.xyz_mm, np.array([0.0, -100.0, 0.0]))
    placed = translation_to_place(iso_in_t, at_zero.replace(table_pitch_deg=5.0))
    assert placed.table_vertical_mm > 0.0
    assert placed.table_longitudinal_mm == pytest.approx(100.0 * math.cos(math.radians(5.0)), abs=EXACT)


def test_tv8_decomposition_of_rz30_rx4_ry_minus3() -> None:
    rotation = rot_z(30.0) @ rot_x(4.0) @ rot_y(-3.0)
    _close(np.array(decompose_table_top_rotation(rotation)), np.array([30.0, 4.0, -3.0]), (30, 4, -3))


def test_tv9_beam_point_and_source_in_table_top() -> None:
    state = MachineState(
        gantry_deg=30.0,
        collimator_deg=15.0,
        couch_rotation_deg=20.0,
        table_lateral_mm=12.0,
        table_longitudinal_mm=-300.0,
        table_vertical_mm=-150.0,
        table_pitch_deg=1.5,
        table_roll_deg=-0.5,
    )
    oracle = np.linalg.inv(
        _oracle_f_from_t(20.0, 0.0, 0.0, 12.0, -300.0, -150.0, 1.5, -0.5)
    ) @ _oracle_f_from_b(30.0, 15.0)
    point, source = map_points([(10.0, -5.0, 0.0), (0.0, 0.0, 1000.0)], "b", "t", state)
    _close(point, _apply(oracle, (10, -5, 0)), (-2.6592, 298.3316, 136.7892))
    _close(source, _apply(oracle, (0, 0, 1000)), (466.6628, 155.5422, 1008.2667))


def test_tv10_hfs_couch_90_dicom_point_to_table_top_and_fixed() -> None:
    in_t = dicom_to_table_top((20.0, 10.0, 130.0), (-12.5, 40.0, 100.0), PatientPosition.HFS)
    _close(in_t.xyz_mm, np.array([32.5, 30.0, 30.0]), (32.5, 30.0, 30.0))
    in_f = in_t.to("f", MachineState(couch_rotation_deg=90.0))
    _close(in_f.xyz_mm, np.array([-30.0, 32.5, 30.0]), (-30.0, 32.5, 30.0))


def test_tv_dicom_matrices_match_the_research_table() -> None:
    expected = {
        "HFS": [[1, 0, 0], [0, 0, 1], [0, -1, 0]],
        "HFP": [[-1, 0, 0], [0, 0, 1], [0, 1, 0]],
        "FFS": [[-1, 0, 0], [0, 0, -1], [0, -1, 0]],
        "FFP": [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
    }
    for position, matrix in expected.items():
        np.testing.assert_allclose(table_top_from_dicom_rotation(position), matrix, atol=0)


def _walkout_markers_exact() -> np.ndarray:
    angles = np.radians([270.0, 315.0, 0.0, 45.0, 90.0])
    return np.column_stack([0.3 + 0.8 * np.cos(angles), -0.2 + 0.8 * np.sin(angles)])


def test_qa_7_7_couch_rotation_isocentre() -> None:
    fit = fit_circle(_walkout_markers_exact())
    _close(np.array(fit.centre_mm), np.array([0.3, -0.2]))
    assert fit.radius_mm == pytest.approx(0.8, abs=EXACT)
    assert fit.centre_distance_mm() == pytest.approx(math.sqrt(0.13), abs=EXACT)
    assert fit.centre_distance_mm() < 1.0  # passes a 1 mm criterion
    assert iso_size(_walkout_markers_exact()).diameter_mm == pytest.approx(1.6, abs=EXACT)
    kasa = fit_circle(_walkout_markers_exact(), geometric=False)
    _close(np.array(kasa.centre_mm), np.array([0.3, -0.2]))
    published = [(0.3, -1.0), (0.865685, -0.765685), (1.1, -0.2), (0.865685, 0.365685), (0.3, 0.6)]
    rounded = fit_circle(published)
    np.testing.assert_allclose(rounded.centre_mm, (0.3, -0.2), atol=1e-6)
    assert rounded.radius_mm == pytest.approx(0.8, abs=1e-6)
    assert rounded.centre_distance_mm() == pytest.approx(0.3606, abs=PUBLISHED)


def test_qa_7_8_winston_lutz_line_intersection() -> None:
    directions = [(0, 0, -1), (-1, 0, 0), (0, 0, 1), (1, 0, 0)]
    anchors = [(0.5, 0, 0), (0, 0, 0.3), (-0.3, 0.2, 0), (0, 0.2, -0.1)]
    result = fit_line_intersection(anchors, directions)
    _close(np.array(result.point_mm), np.array([0.1, 0.1, 0.1]))
    _close(np.array(result.residuals_mm), np.sqrt([0.17, 0.05, 0.17, 0.05]), (0.4123, 0.2236, 0.4123, 0.2236))
    assert result.sphere_radius_mm == pytest.approx(math.sqrt(0.17), abs=EXACT)


def test_qa_7_9_beam_axis_tilt() -> None:
    assert tilt_deg(1.5, 300.0) == pytest.approx(math.degrees(math.atan(0.005)), abs=EXACT)
    assert tilt_deg(1.5, 300.0) == pytest.approx(0.286, abs=5e-4)
