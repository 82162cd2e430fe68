"""DICOM patient ↔ IEC p/t, and DICOM RT control points ↔ MachineState."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry import (
    AmbiguousConventionError,
    DicomMappingError,
    MachineState,
    PatientPosition,
    Point,
    System,
    UnknownConventionError,
    angle_difference_deg,
)
from geometry.dicom import (
    DICOM_ATTRIBUTES,
    attribute,
    control_point_from_state,
    iec_angle_sense,
    isocenter_lps_mm,
    state_from_control_point,
)
from geometry.patient import (
    dicom_to_iec_patient,
    dicom_to_table_top,
    iec_patient_to_dicom,
    patient_placement,
    table_top_to_dicom,
)
from tests.geometry.strategies import FAST, coordinates_mm, machine_states

positions = st.sampled_from(list(PatientPosition))


@FAST
@given(position=positions, point=coordinates_mm, iso=coordinates_mm, state=machine_states())
def test_direct_mapping_agrees_with_the_p_to_t_chain(
    position: PatientPosition,
    point: tuple[float, float, float],
    iso: tuple[float, float, float],
    state: MachineState,
) -> None:
    placed = state.replace(**patient_placement(position, iso))
    via_chain = dicom_to_iec_patient(point).to(System.TABLE_TOP, placed)
    np.testing.assert_allclose(via_chain.xyz_mm, dicom_to_table_top(point, iso, position).xyz_mm, atol=1e-8)
    np.testing.assert_allclose(
        table_top_to_dicom(via_chain.model_copy(update={"state": None}), iso, position), point, atol=1e-8
    )
    np.testing.assert_allclose(iec_patient_to_dicom(dicom_to_iec_patient(point)), point, atol=1e-12)


def test_iec_patient_axes_are_left_superior_anterior() -> None:
    # DICOM +x = left, −y = anterior, +z = superior.
    np.testing.assert_allclose(dicom_to_iec_patient((1, 0, 0)).xyz_mm, [1, 0, 0])
    np.testing.assert_allclose(dicom_to_iec_patient((0, -1, 0)).xyz_mm, [0, 0, 1])
    np.testing.assert_allclose(dicom_to_iec_patient((0, 0, 1)).xyz_mm, [0, 1, 0])


def test_patient_positions_parse_and_refuse() -> None:
    assert PatientPosition.parse(" hfs ") is PatientPosition.HFS
    with pytest.raises(AmbiguousConventionError, match="HFDL"):
        PatientPosition.parse("HFDL")
    with pytest.raises(AmbiguousConventionError, match="SITTING"):
        dicom_to_table_top((0, 0, 0), (0, 0, 0), "SITTING")
    with pytest.raises(UnknownConventionError, match="unknown DICOM patient position 'XYZ'"):
        PatientPosition.parse("XYZ")


def test_table_top_to_dicom_refuses_other_systems() -> None:
    with pytest.raises(ValueError, match="expected a point in IEC t"):
        table_top_to_dicom(Point(system=System.FIXED, x_mm=0, y_mm=0, z_mm=0), (0, 0, 0), "HFS")


def test_tags_are_the_ones_the_research_file_lists() -> None:
    tags = {a.keyword: a.tag for a in DICOM_ATTRIBUTES}
    assert tags["GantryAngle"] == "(300A,011E)"
    assert tags["BeamLimitingDeviceRotationDirection"] == "(300A,0121)"
    assert tags["TableTopEccentricAxisDistance"] == "(300A,0124)"
    assert tags["TableTopLateralPosition"] == "(300A,012A)"
    assert tags["IsocenterPosition"] == "(300A,012C)"
    assert tags["TableTopPitchAngle"] == "(300A,0140)"
    assert tags["TableTopRollRotationDirection"] == "(300A,0146)"
    assert tags["GantryPitchAngle"] == "(300A,014A)"
    assert tags["PatientPosition"] == "(0018,5100)"
    assert tags["XRayImageReceptorTranslation"] == "(3002,000D)"
    assert len(tags) == len(DICOM_ATTRIBUTES)  # keywords are unique
    for attr in DICOM_ATTRIBUTES:
        if attr.direction_keyword:
            assert attribute(attr.direction_keyword).cw_sense in (1, -1)


def test_tags_match_pydicoms_dictionary() -> None:
    datadict = pytest.importorskip("pydicom.datadict")
    for attr in DICOM_ATTRIBUTES:
        tag = datadict.tag_for_keyword(attr.keyword)
        assert tag == (attr.group << 16) | attr.element, attr.keyword
        assert datadict.dictionary_VR(tag) == attr.vr, attr.keyword


@pytest.mark.parametrize(
    ("keyword", "code", "sense"),
    [
        ("GantryRotationDirection", "CW", 1),
        ("BeamLimitingDeviceRotationDirection", "CC", 1),
        ("PatientSupportRotationDirection", "CC", 1),
        ("PatientSupportRotationDirection", "CW", -1),
        ("TableTopPitchRotationDirection", "CW", 1),
        ("TableTopRollRotationDirection", "CC", -1),
        ("GantryPitchRotationDirection", "NONE", 0),
    ],
)
def test_rotation_direction_senses(keyword: str, code: str, sense: int) -> None:
    assert iec_angle_sense(keyword, code) == sense


def test_patient_support_example_from_dicom() -> None:
    # C.8.8.14.8: 170° → 160° with CC would be 350°: CC increases the angle the long way round.
    assert iec_angle_sense("PatientSupportRotationDirection", "CC") == 1
    assert (160.0 - 170.0) % 360.0 == 350.0


def test_rotation_direction_errors() -> None:
    with pytest.raises(DicomMappingError, match="CW, CC or NONE"):
        iec_angle_sense("GantryRotationDirection", "CCW")
    with pytest.raises(DicomMappingError, match="not a rotation-direction"):
        iec_angle_sense("GantryAngle", "CW")
    with pytest.raises(DicomMappingError, match="no IEC mapping for DICOM keyword"):
        attribute("CouchAngle")


def test_control_points_map_to_states_and_inherit_from_the_previous_one() -> None:
    first = {
        "GantryAngle": "181.0",
        "BeamLimitingDeviceAngle": 10.0,
        "PatientSupportAngle": 350.0,
        "TableTopPitchAngle": 1.5,
        "TableTopVerticalPosition": "",
        "IsocenterPosition": ["1.5", "-20", "30.25"],
    }
    state = state_from_control_point(first)
    assert (state.gantry_deg, state.collimator_deg, state.couch_rotation_deg) == (181.0, 10.0, 350.0)
    assert state.table_pitch_deg == 1.5
    assert state.table_vertical_mm == 0.0
    assert isocenter_lps_mm(first) == (1.5, -20.0, 30.25)
    assert isocenter_lps_mm({"IsocenterPosition": "1\\2\\3"}) == (1.0, 2.0, 3.0)
    assert isocenter_lps_mm({}) is None
    second = state_from_control_point({"GantryAngle": 190.0}, previous=state)
    assert second == state.replace(gantry_deg=190.0)


def test_control_point_errors() -> None:
    with pytest.raises(DicomMappingError, match="lacks BeamLimitingDeviceAngle, PatientSupportAngle"):
        state_from_control_point({"GantryAngle": 0.0})
    with pytest.raises(DicomMappingError, match="GantryAngle is not a number"):
        state_from_control_point({"GantryAngle": "abc"}, previous=MachineState())
    with pytest.raises(DicomMappingError, match="needs 3 numbers"):
        isocenter_lps_mm({"IsocenterPosition": [1, 2]})


@FAST
@given(state=machine_states())
def test_control_point_round_trip(state: MachineState) -> None:
    values = control_point_from_state(state)
    assert all(0.0 <= values[k] < 360.0 for k in ("GantryAngle", "PatientSupportAngle", "TableTopRollAngle"))
    back = state_from_control_point(values)
    for field, original in state.model_dump().items():
        restored = getattr(back, field)
        if field.startswith(("patient_", "receptor_", "wedge")):
            assert restored == 0.0  # not carried by an RT Plan control point
        elif field.endswith("_deg"):
            assert angle_difference_deg(restored, original) == pytest.approx(0.0, abs=1e-9)
        else:
            assert restored == pytest.approx(original)
