"""Properties of the transform tree: inverses, composition, rigidity, and the machine-model overrides."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry import (
    SYSTEMS,
    GantryPitchOrder,
    MachineModel,
    MachineState,
    System,
    beam_direction,
    map_directions,
    map_points,
    source_position,
    transform,
)
from geometry.errors import InvalidInputError, UnknownConventionError
from tests.geometry.strategies import FAST, coordinates_mm, machine_states, systems

TOL = 1e-9


@FAST
@given(state=machine_states(), a=systems, b=systems)
def test_transform_and_its_reverse_compose_to_identity(state: MachineState, a: System, b: System) -> None:
    np.testing.assert_allclose(transform(a, b, state) @ transform(b, a, state), np.eye(4), atol=TOL)


@FAST
@given(state=machine_states(), a=systems, b=systems, c=systems)
def test_transforms_compose_through_any_intermediate(
    state: MachineState, a: System, b: System, c: System
) -> None:
    # Scale the tolerance with the lever arms involved (translations up to ~3 m in these states).
    np.testing.assert_allclose(
        transform(a, c, state), transform(b, c, state) @ transform(a, b, state), atol=1e-8
    )


@FAST
@given(state=machine_states(), a=systems, b=systems)
def test_every_transform_is_rigid(state: MachineState, a: System, b: System) -> None:
    m = transform(a, b, state)
    rotation = m[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=TOL)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=TOL)
    np.testing.assert_array_equal(m[3], [0.0, 0.0, 0.0, 1.0])


@FAST
@given(state=machine_states(), a=systems, b=systems, p=coordinates_mm, q=coordinates_mm)
def test_directions_map_like_differences_of_points(
    state: MachineState, a: System, b: System, p: tuple[float, float, float], q: tuple[float, float, float]
) -> None:
    mapped = map_points([p, q], a, b, state)
    difference = map_directions(np.subtract(q, p), a, b, state)
    np.testing.assert_allclose(mapped[1] - mapped[0], difference, atol=1e-8)


@FAST
@given(state=machine_states(), a=systems, b=systems)
def test_full_turns_change_nothing(state: MachineState, a: System, b: System) -> None:
    turned = state.replace(
        gantry_deg=state.gantry_deg + 360.0,
        collimator_deg=state.collimator_deg - 720.0,
        couch_rotation_deg=state.couch_rotation_deg + 360.0,
        table_pitch_deg=state.table_pitch_deg - 360.0,
    )
    np.testing.assert_allclose(transform(a, b, turned), transform(a, b, state), atol=1e-8)


def test_same_system_is_exact_identity() -> None:
    for system in System:
        np.testing.assert_array_equal(transform(system, system, MachineState(gantry_deg=33.0)), np.eye(4))


def test_tree_matches_the_research_hierarchy() -> None:
    parents = {s.value: getattr(SYSTEMS[s].parent, "value", None) for s in System}
    assert parents == {
        "f": None,
        "g": "f",
        "b": "g",
        "w": "b",
        "r": "g",
        "s": "f",
        "e": "s",
        "t": "e",
        "p": "t",
    }


def test_table_top_transform_does_not_depend_on_the_gantry() -> None:
    a = transform("t", "p", MachineState(patient_x_mm=3.0, gantry_deg=10.0))
    b = transform("t", "p", MachineState(patient_x_mm=3.0, gantry_deg=250.0))
    np.testing.assert_array_equal(a, b)


def test_systems_parse_by_letter_and_name_and_refuse_others() -> None:
    assert System.parse("t") is System.TABLE_TOP
    assert System.parse("table_top") is System.TABLE_TOP
    with pytest.raises(UnknownConventionError, match="unknown IEC 61217 coordinate system 'q'"):
        transform("q", "f", MachineState())


def test_gantry_sense_source_moves_toward_plus_x() -> None:
    source = source_position(MachineState(gantry_deg=90.0))
    np.testing.assert_allclose(source.xyz_mm, [1000.0, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(beam_direction(MachineState(gantry_deg=90.0)).xyz, [-1.0, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(beam_direction(MachineState()).xyz, [0.0, 0.0, -1.0], atol=TOL)


def test_collimator_positive_is_counter_clockwise_in_beams_eye_view() -> None:
    # BEV at gantry 0 looks down −Z with +X to the right and +Y toward the gantry (up on the page):
    # a counter-clockwise turn carries +Xb toward +Yf.
    x_axis = map_directions((1.0, 0.0, 0.0), "b", "f", MachineState(collimator_deg=10.0))
    assert x_axis[1] > 0.0


def test_receptor_translation_and_angle() -> None:
    state = MachineState(receptor_z_mm=-500.0, receptor_deg=90.0)
    np.testing.assert_allclose(map_points((10.0, 0.0, 0.0), "r", "g", state), [0.0, 10.0, -500.0], atol=TOL)


def test_gantry_pitch_order_is_a_model_choice() -> None:
    state = MachineState(gantry_deg=90.0, gantry_pitch_deg=10.0)
    dicom = source_position(state).xyz_mm
    rtiec = source_position(state, MachineModel(gantry_pitch_order=GantryPitchOrder.PITCH_THEN_GANTRY)).xyz_mm
    c, s = math.cos(math.radians(10.0)), math.sin(math.radians(10.0))
    np.testing.assert_allclose(dicom, [1000.0 * c, -1000.0 * s, 0.0], atol=TOL)  # (984.8, −173.6, 0)
    np.testing.assert_allclose(rtiec, [1000.0, 0.0, 0.0], atol=TOL)


def test_eccentric_sense_and_collimator_origin_are_model_choices() -> None:
    state = MachineState(eccentric_distance_mm=500.0)
    np.testing.assert_allclose(map_points((0.0, 0.0, 0.0), "e", "f", state), [0.0, 500.0, 0.0], atol=TOL)
    reversed_model = MachineModel(eccentric_axis_sense=-1)
    np.testing.assert_allclose(
        map_points((0.0, 0.0, 0.0), "e", "f", state, reversed_model), [0, -500, 0], atol=TOL
    )
    source_origin = MachineModel(collimator_origin_z_mm=1000.0)
    np.testing.assert_allclose(
        map_points((0.0, 0.0, 0.0), "b", "f", MachineState(), source_origin), [0, 0, 1000]
    )


def test_machine_state_refuses_unknown_fields_and_non_finite_values() -> None:
    with pytest.raises(ValueError, match="couch_deg"):
        MachineState(couch_deg=10.0)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="finite"):
        MachineState(gantry_deg=math.nan)
    with pytest.raises(ValueError, match="table_pitch"):
        MachineState().replace(table_pitch=1.0)


def test_mapping_refuses_bad_shapes_and_nan() -> None:
    with pytest.raises(InvalidInputError, match="3 coordinates"):
        map_points((1.0, 2.0), "f", "t", MachineState())
    with pytest.raises(InvalidInputError, match="non-finite"):
        map_directions((1.0, math.nan, 0.0), "f", "t", MachineState())


@FAST
@given(state=machine_states(), data=st.data())
def test_mapping_many_points_equals_mapping_each(state: MachineState, data: st.DataObject) -> None:
    points = np.array(data.draw(st.lists(coordinates_mm, min_size=1, max_size=5)))
    together = map_points(points, "p", "r", state)
    one_by_one = np.array([map_points(p, "p", "r", state) for p in points])
    np.testing.assert_allclose(together, one_by_one, atol=1e-9)
