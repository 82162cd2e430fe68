"""The machine state (every IEC 61217 parameter) and the machine model (site conventions IEC leaves open).

Why two models: the state changes every control point, the model is fixed per treatment room. The model holds
each choice the public sources disagree on, so a site that reads IEC 61217 differently overrides one field
instead of patching transforms.
"""

from __future__ import annotations

from enum import StrEnum, unique
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


@unique
class GantryPitchOrder(StrEnum):
    """How gantry pitch ψg composes with the gantry angle φg (DICOM and RadiotherapyTransformsIEC differ)."""

    #: ``Ry(φg)·Rx(ψg)``: pitch about the rotated Xg axis, as DICOM C.8.8.25.6.5 words it. Our default.
    GANTRY_THEN_PITCH = "gantry_then_pitch"
    #: ``Rx(ψg)·Ry(φg)``: pitch about Xf first, as RadiotherapyTransformsIEC / SlicerRT implement it.
    PITCH_THEN_GANTRY = "pitch_then_gantry"


class MachineState(BaseModel):
    """One snapshot of every IEC 61217 parameter, in IEC 61217 scale: degrees and millimetres.

    Angles are not wrapped: DICOM puts no range on stored values, and 370° is a legitimate continuous angle.
    Field names say which IEC symbol they carry; see ``geometry.systems.SYSTEMS`` for the senses.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    gantry_deg: float = Field(0.0, description="φg, gantry rotation about Yf")
    gantry_pitch_deg: float = Field(0.0, description="ψg, gantry pitch about Xg (DICOM, proton gantries)")
    collimator_deg: float = Field(0.0, description="θb, beam limiting device rotation about Zg")
    wedge_deg: float = Field(0.0, description="θw, wedge filter rotation about Zb")
    receptor_deg: float = Field(0.0, description="θr, X-ray image receptor rotation about Zg")
    receptor_x_mm: float = Field(0.0, description="Rx, receptor translation along Xg")
    receptor_y_mm: float = Field(0.0, description="Ry, receptor translation along Yg")
    receptor_z_mm: float = Field(0.0, description="Rz, receptor translation along Zg (SAD − SID)")
    couch_rotation_deg: float = Field(0.0, description="θs, patient support isocentric rotation about Zf")
    eccentric_distance_mm: float = Field(0.0, description="Ls, eccentric axis distance along Ys")
    eccentric_rotation_deg: float = Field(0.0, description="θe, table-top eccentric rotation about Zs")
    table_lateral_mm: float = Field(0.0, description="Tx, table-top lateral position in e")
    table_longitudinal_mm: float = Field(0.0, description="Ty, table-top longitudinal position in e")
    table_vertical_mm: float = Field(0.0, description="Tz, table-top vertical position in e")
    table_pitch_deg: float = Field(0.0, description="ψt, table-top pitch about Xt (before roll)")
    table_roll_deg: float = Field(0.0, description="φt, table-top roll about the pitched Yt")
    patient_x_mm: float = Field(0.0, description="Px, patient origin in t")
    patient_y_mm: float = Field(0.0, description="Py, patient origin in t")
    patient_z_mm: float = Field(0.0, description="Pz, patient origin in t")
    patient_pitch_deg: float = Field(0.0, description="ψp, patient rotation about X (first)")
    patient_roll_deg: float = Field(0.0, description="φp, patient rotation about Y (second)")
    patient_rotation_deg: float = Field(0.0, description="θp, patient rotation about Z (third)")

    def replace(self, **changes: Any) -> MachineState:
        """A copy with some parameters changed, validated like a new state (unknown names are refused)."""
        return MachineState.model_validate({**self.model_dump(), **changes})


class MachineModel(BaseModel):
    """Site conventions for the parts of IEC 61217 that public sources leave ambiguous.

    The defaults are the choices the project's page ``docs/coordinate-systems.md`` documents against
    IEC 61217:2011 and DICOM PS3.3 C.8.8.25.6; each field says how to override.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = "IEC 61217 (hilcal defaults)"
    source_axis_distance_mm: float = Field(1000.0, gt=0.0, description="SAD: source to isocentre")
    collimator_origin_z_mm: float = Field(
        0.0,
        description="Bz: origin of b along +Zg. 0 puts it at the isocentre (RTIEC/SlicerRT, and DICOM's "
        "isocentre-plane jaw values); set it to the SAD for a source-origin reading (ViewRay, Roentgen).",
    )
    wedge_origin_z_mm: float = Field(0.0, description="Wz: origin of w along +Zb")
    eccentric_axis_sense: Literal[1, -1] = Field(
        1, description="+1 puts the eccentric axis at +Ls along Ys (RTIEC, PyIEC); -1 at -Ls"
    )
    gantry_pitch_order: GantryPitchOrder = GantryPitchOrder.GANTRY_THEN_PITCH


DEFAULT_MODEL = MachineModel()
