"""DICOM RT Plan / RT Ion Plan attributes that carry IEC 61217 geometry, and control point ↔ MachineState.

Why a table: the tags, value representations and rotation-direction senses are easy to get subtly wrong, and
several modules (plan import, log comparison, reports) need the same answer. Tags were checked against the
pydicom 3.0.2 data dictionary. No I/O: functions take anything with ``.get(keyword)`` (a dict or a pydicom
Dataset) so that this package does not depend on pydicom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from geometry.angles import wrap360
from geometry.errors import DicomMappingError
from geometry.machine import MachineState


class SupportsGet(Protocol):
    """A dict, or a pydicom Dataset, looked up by DICOM keyword."""

    def get(self, key: str, default: Any = None, /) -> Any: ...


@dataclass(frozen=True)
class DicomAttribute:
    """One DICOM attribute and what it means in IEC 61217 terms."""

    keyword: str
    group: int
    element: int
    vr: str
    meaning: str
    unit: Literal["deg", "mm"] | None = None
    state_field: str | None = None
    #: For an angle: the keyword of its rotation-direction attribute.
    direction_keyword: str | None = None
    #: For a rotation-direction attribute: +1 if "CW" increases the IEC angle, −1 if it decreases it.
    cw_sense: Literal[1, -1] | None = None

    @property
    def tag(self) -> str:
        """The tag as DICOM prints it, e.g. ``(300A,011E)``."""
        return f"({self.group:04X},{self.element:04X})"


def _a(keyword: str, element: int, vr: str, meaning: str, **extra: Any) -> DicomAttribute:
    return DicomAttribute(keyword, 0x300A, element, vr, meaning, **extra)


def _image(keyword: str, element: int, vr: str, meaning: str, **extra: Any) -> DicomAttribute:
    return DicomAttribute(keyword, 0x3002, element, vr, meaning, **extra)


# One attribute a line where it fits: this reads as the table it is.
# fmt: off
DICOM_ATTRIBUTES: tuple[DicomAttribute, ...] = (
    _a("GantryAngle", 0x011E, "DS", "IEC GANTRY w.r.t. FIXED, φg", unit="deg", state_field="gantry_deg",
       direction_keyword="GantryRotationDirection"),
    _a("GantryRotationDirection", 0x011F, "CS", "CW = increasing φg (derived from IEC φg)", cw_sense=1),
    _a("BeamLimitingDeviceAngle", 0x0120, "DS", "IEC BEAM LIMITING DEVICE w.r.t. GANTRY, θb", unit="deg",
       state_field="collimator_deg", direction_keyword="BeamLimitingDeviceRotationDirection"),
    _a("BeamLimitingDeviceRotationDirection", 0x0121, "CS", "viewed from the source; CC = increasing θb",
       cw_sense=-1),
    _a("PatientSupportAngle", 0x0122, "DS", "IEC PATIENT SUPPORT w.r.t. FIXED, θs", unit="deg",
       state_field="couch_rotation_deg", direction_keyword="PatientSupportRotationDirection"),
    _a("PatientSupportRotationDirection", 0x0123, "CS", "CC = increasing θs (C.8.8.14.8)", cw_sense=-1),
    _a("TableTopEccentricAxisDistance", 0x0124, "DS", "Ls, a positive distance", unit="mm",
       state_field="eccentric_distance_mm"),
    _a("TableTopEccentricAngle", 0x0125, "DS", "IEC TABLE TOP ECCENTRIC w.r.t. PATIENT SUPPORT, θe",
       unit="deg", state_field="eccentric_rotation_deg",
       direction_keyword="TableTopEccentricRotationDirection"),
    _a("TableTopEccentricRotationDirection", 0x0126, "CS", "CC = increasing θe (as θs)", cw_sense=-1),
    _a("TableTopVerticalPosition", 0x0128, "DS", "Tz", unit="mm", state_field="table_vertical_mm"),
    _a("TableTopLongitudinalPosition", 0x0129, "DS", "Ty", unit="mm", state_field="table_longitudinal_mm"),
    _a("TableTopLateralPosition", 0x012A, "DS", "Tx", unit="mm", state_field="table_lateral_mm"),
    _a("IsocenterPosition", 0x012C, "DS", "x, y, z in the DICOM patient frame (LPS)", unit="mm"),
    _a("SourceToSurfaceDistance", 0x0130, "DS", "SSD", unit="mm"),
    _a("TableTopPitchAngle", 0x0140, "FL", "ψt about Xt, before roll", unit="deg",
       state_field="table_pitch_deg", direction_keyword="TableTopPitchRotationDirection"),
    _a("TableTopPitchRotationDirection", 0x0142, "CS", "viewed along +Xt; CW = increasing ψt", cw_sense=1),
    _a("TableTopRollAngle", 0x0144, "FL", "φt about the pitched Yt", unit="deg", state_field="table_roll_deg",
       direction_keyword="TableTopRollRotationDirection"),
    _a("TableTopRollRotationDirection", 0x0146, "CS", "viewed along +Yt; CW = increasing φt", cw_sense=1),
    _a("HeadFixationAngle", 0x0148, "FL", "ion plans, eye treatments", unit="deg"),
    _a("GantryPitchAngle", 0x014A, "FL", "ψg about Xg", unit="deg", state_field="gantry_pitch_deg",
       direction_keyword="GantryPitchRotationDirection"),
    _a("GantryPitchRotationDirection", 0x014C, "CS", "viewed along +Xg; CW = increasing ψg", cw_sense=1),
    _a("SnoutPosition", 0x030D, "FL", "ion plans", unit="mm"),
    _a("PatientSupportType", 0x0350, "CS", "TABLE or CHAIR"),
    _a("PatientSupportID", 0x0352, "SH", "patient support identifier"),
    DicomAttribute("PatientPosition", 0x0018, 0x5100, "CS", "HFS, HFP, FFS, FFP, …"),
    _a("SourceAxisDistance", 0x00B4, "DS", "SAD", unit="mm"),
    _a("VirtualSourceAxisDistances", 0x030A, "FL", "ion: X and Y virtual SADs", unit="mm"),
    _a("BeamSequence", 0x00B0, "SQ", "beams"),
    _a("IonBeamSequence", 0x03A2, "SQ", "ion beams"),
    _a("ControlPointSequence", 0x0111, "SQ", "holds the angles and positions above"),
    _a("IonControlPointSequence", 0x03A8, "SQ", "holds the angles and positions above"),
    _a("ToleranceTableSequence", 0x0040, "SQ", "tolerance tables"),
    _a("IonToleranceTableSequence", 0x03A0, "SQ", "ion tolerance tables"),
    _a("GantryAngleTolerance", 0x0044, "DS", "φg tolerance", unit="deg"),
    _a("BeamLimitingDeviceAngleTolerance", 0x0046, "DS", "θb tolerance", unit="deg"),
    _a("PatientSupportAngleTolerance", 0x004C, "DS", "θs tolerance", unit="deg"),
    _a("TableTopEccentricAngleTolerance", 0x004E, "DS", "θe tolerance", unit="deg"),
    _a("TableTopPitchAngleTolerance", 0x004F, "FL", "ψt tolerance", unit="deg"),
    _a("TableTopRollAngleTolerance", 0x0050, "FL", "φt tolerance", unit="deg"),
    _a("TableTopVerticalPositionTolerance", 0x0051, "DS", "Tz tolerance", unit="mm"),
    _a("TableTopLongitudinalPositionTolerance", 0x0052, "DS", "Ty tolerance", unit="mm"),
    _a("TableTopLateralPositionTolerance", 0x0053, "DS", "Tx tolerance", unit="mm"),
    _a("PatientSetupSequence", 0x0180, "SQ", "patient setup"),
    _a("TableTopVerticalSetupDisplacement", 0x01D2, "DS", "setup displacement along Zt", unit="mm"),
    _a("TableTopLongitudinalSetupDisplacement", 0x01D4, "DS", "setup displacement along Yt", unit="mm"),
    _a("TableTopLateralSetupDisplacement", 0x01D6, "DS", "setup displacement along Xt", unit="mm"),
    _image("XRayImageReceptorTranslation", 0x000D, "DS", "Rx, Ry, Rz in IEC GANTRY", unit="mm"),
    _image("XRayImageReceptorAngle", 0x000E, "DS", "θr", unit="deg", state_field="receptor_deg"),
    _image("RadiationMachineSAD", 0x0022, "DS", "SAD", unit="mm"),
    _image("RTImageSID", 0x0026, "DS", "source to image receptor distance", unit="mm"),
)
# fmt: on

_BY_KEYWORD = {a.keyword: a for a in DICOM_ATTRIBUTES}
# Control-point attributes that map onto MachineState (the RT Image receptor angle lives elsewhere).
_CONTROL_POINT = tuple(a for a in DICOM_ATTRIBUTES if a.state_field and a.group == 0x300A)
# Type 1C in the first control point: absent there means the plan is incomplete, not "zero".
_REQUIRED_FIRST = ("GantryAngle", "BeamLimitingDeviceAngle", "PatientSupportAngle")


def attribute(keyword: str) -> DicomAttribute:
    """Look an attribute up by keyword; unknown keywords raise with the list of known ones."""
    try:
        return _BY_KEYWORD[keyword]
    except KeyError:
        raise DicomMappingError(f"no IEC mapping for DICOM keyword {keyword!r}") from None


def iec_angle_sense(direction_keyword: str, code: str) -> Literal[-1, 0, 1]:
    """How the IEC angle moves for a rotation-direction value: +1 increasing, −1 decreasing, 0 for NONE."""
    attr = attribute(direction_keyword)
    if attr.cw_sense is None:
        raise DicomMappingError(f"{direction_keyword} is not a rotation-direction attribute")
    text = code.strip().upper()
    if text == "NONE":
        return 0
    if text == "CW":
        return attr.cw_sense
    if text == "CC":
        return -1 if attr.cw_sense == 1 else 1
    raise DicomMappingError(f"{direction_keyword} must be CW, CC or NONE, got {code!r}")


def _number(keyword: str, raw: Any) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DicomMappingError(f"{keyword} is not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise DicomMappingError(f"{keyword} is not finite: {raw!r}")
    return value


def state_from_control_point(
    control_point: SupportsGet, previous: MachineState | None = None
) -> MachineState:
    """The IEC 61217 machine state a control point asks for.

    DICOM repeats only the values that change, so attributes absent from a later control point keep
    ``previous``'s values. Without ``previous`` (the first control point) gantry, collimator and patient
    support angles are required; other absent attributes are 0. Empty table-top positions mean the plan leaves
    them to the setup (C.8.8.14.6), so they stay at the previous value as well.
    """
    if previous is None:
        missing = [k for k in _REQUIRED_FIRST if _number(k, control_point.get(k)) is None]
        if missing:
            raise DicomMappingError(f"first control point lacks {', '.join(missing)} (type 1C there)")
    changes: dict[str, float] = {}
    for attr in _CONTROL_POINT:
        value = _number(attr.keyword, control_point.get(attr.keyword))
        if value is not None and attr.state_field is not None:
            changes[attr.state_field] = value
    return (previous or MachineState()).replace(**changes)


def control_point_from_state(state: MachineState) -> dict[str, float]:
    """The DICOM control-point values (by keyword) for a machine state, angles in [0, 360)."""
    values: dict[str, float] = {}
    for attr in _CONTROL_POINT:
        value = float(getattr(state, attr.state_field or ""))
        values[attr.keyword] = wrap360(value) if attr.unit == "deg" else value
    return values


def isocenter_lps_mm(control_point: SupportsGet) -> tuple[float, float, float] | None:
    """The Isocenter Position (300A,012C) in DICOM LPS mm, or None when the control point has none."""
    raw = control_point.get("IsocenterPosition")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    values = list(raw) if isinstance(raw, Iterable) and not isinstance(raw, str) else str(raw).split("\\")
    numbers = [_number("IsocenterPosition", v) for v in values]
    if len(numbers) != 3 or any(n is None for n in numbers):
        raise DicomMappingError(f"IsocenterPosition needs 3 numbers, got {raw!r}")
    x, y, z = (float(n) for n in numbers if n is not None)
    return x, y, z
