"""Machine scales: worked values (pylinac and TrajectoryLogReader conversions), round trips, and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geometry import (
    AmbiguousConventionError,
    MachineScale,
    MachineState,
    ScaleAxis,
    TranslationScale,
    UnknownConventionError,
    angle_difference_deg,
    convert,
    from_iec,
    iec_state,
    to_iec,
)
from geometry.scales import rule_source
from tests.geometry.strategies import FAST

SUPPORTED = [
    (scale, axis)
    for scale in MachineScale
    for axis in ScaleAxis
    if scale is MachineScale.IEC61217
    or (scale, axis)
    in {
        (MachineScale.VARIAN_IEC, ScaleAxis.GANTRY),
        (MachineScale.VARIAN_IEC, ScaleAxis.COLLIMATOR),
        (MachineScale.VARIAN_IEC, ScaleAxis.COUCH_ROTATION),
        (MachineScale.VARIAN_STANDARD, ScaleAxis.GANTRY),
        (MachineScale.VARIAN_STANDARD, ScaleAxis.COLLIMATOR),
        (MachineScale.VARIAN_STANDARD, ScaleAxis.COUCH_ROTATION),
        (MachineScale.IBA, ScaleAxis.GANTRY),
        (MachineScale.IBA, ScaleAxis.COUCH_ROTATION),
        (MachineScale.IBA, ScaleAxis.TABLE_PITCH),
        (MachineScale.IBA, ScaleAxis.TABLE_ROLL),
        (MachineScale.IBA, ScaleAxis.TABLE_LATERAL),
    }
]


@pytest.mark.parametrize(
    ("value", "axis", "scale", "iec"),
    [
        (0.0, "gantry", "varian_standard", 180.0),
        (90.0, "gantry", "varian_standard", 90.0),
        (270.0, "gantry", "varian_standard", 270.0),
        (180.0, "couch_rotation", "varian_standard", 0.0),
        (30.0, "couch_rotation", "varian_iec", 330.0),
        (30.0, "gantry", "varian_iec", 30.0),
        (-5.0, "table_pitch", "iba", 355.0),
    ],
)
def test_worked_values(value: float, axis: str, scale: str, iec: float) -> None:
    assert to_iec(value, axis, scale) == pytest.approx(iec, abs=1e-12)


def test_iba_shows_pitch_and_roll_bipolar() -> None:
    assert from_iec(355.0, ScaleAxis.TABLE_ROLL, MachineScale.IBA) == pytest.approx(-5.0)
    assert from_iec(180.0, ScaleAxis.TABLE_ROLL, MachineScale.IBA) == pytest.approx(180.0)


@pytest.mark.parametrize(("scale", "axis"), SUPPORTED)
@FAST
@given(value=st.floats(min_value=-720.0, max_value=720.0, allow_nan=False))
def test_every_rule_round_trips(scale: MachineScale, axis: ScaleAxis, value: float) -> None:
    there_and_back = from_iec(to_iec(value, axis, scale), axis, scale)
    back_and_there = to_iec(from_iec(value, axis, scale), axis, scale)
    if axis.is_rotation:
        assert angle_difference_deg(there_and_back, value) == pytest.approx(0.0, abs=1e-9)
        assert angle_difference_deg(back_and_there, value) == pytest.approx(0.0, abs=1e-9)
    else:
        assert there_and_back == pytest.approx(value, abs=1e-9)
        assert back_and_there == pytest.approx(value, abs=1e-9)
    assert rule_source(axis, scale)


@FAST
@given(value=st.floats(min_value=0.0, max_value=360.0, exclude_max=True))
def test_hub_and_spoke_between_varian_scales(value: float) -> None:
    # Varian IEC couch 30 is IEC 330, which Varian Standard shows as 180 − 330 = −150 ≡ 210.
    converted = convert(value, "couch_rotation", "varian_iec", "varian_standard")
    assert angle_difference_deg(converted, 180.0 - (360.0 - value)) == pytest.approx(0.0, abs=1e-9)
    assert angle_difference_deg(
        convert(converted, "couch_rotation", "varian_standard", "varian_iec"), value
    ) == (pytest.approx(0.0, abs=1e-9))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IEC 61217", MachineScale.IEC61217),
        ("Varian IEC", MachineScale.VARIAN_IEC),
        ("IEC 601-2-1", MachineScale.VARIAN_IEC),
        ("varian_standard", MachineScale.VARIAN_STANDARD),
        ("IBA", MachineScale.IBA),
    ],
)
def test_scale_names(name: str, expected: MachineScale) -> None:
    assert MachineScale.parse(name) is expected


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Elekta", "pylinac"),
        ("IEC", "couch senses are opposite"),
        ("Varian", "every rotation axis"),
        ("Siemens", "no public source"),
    ],
)
def test_ambiguous_scale_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(AmbiguousConventionError, match=reason):
        MachineScale.parse(name)


def test_unknown_names_and_axes_are_refused() -> None:
    with pytest.raises(UnknownConventionError, match="unknown machine scale 'Toshiba'"):
        to_iec(0.0, "gantry", "Toshiba")
    with pytest.raises(UnknownConventionError, match="unknown machine axis 'snout'"):
        to_iec(0.0, "snout", "iec61217")
    with pytest.raises(UnknownConventionError, match="collimator axis in the iba scale"):
        to_iec(0.0, "collimator", "iba")
    with pytest.raises(UnknownConventionError, match="table_pitch axis in the varian_iec scale"):
        to_iec(0.0, "table_pitch", "varian_iec")


def test_vendor_translations_need_a_site_translation_scale() -> None:
    with pytest.raises(AmbiguousConventionError, match="TranslationScale"):
        to_iec(100.0, "table_vertical", "varian_iec")
    with pytest.raises(AmbiguousConventionError, match="table-centre point"):
        to_iec(100.0, "table_longitudinal", "iba")
    site = TranslationScale(reading_at_iec_zero_mm=1000.0, sense=-1)
    assert site.to_iec(990.0) == pytest.approx(10.0)
    assert site.from_iec(site.to_iec(1234.5)) == pytest.approx(1234.5)


def test_iec_state_from_console_readings() -> None:
    state = iec_state(
        {"gantry": 0.0, "collimator": 180.0, "couch_rotation": 170.0, "table_vertical": 950.0},
        "varian_standard",
        translations={"table_vertical": TranslationScale(reading_at_iec_zero_mm=1000.0)},
    )
    assert state == MachineState(
        gantry_deg=180.0, collimator_deg=0.0, couch_rotation_deg=10.0, table_vertical_mm=-50.0
    )
