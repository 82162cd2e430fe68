"""DICOM patient coordinates (LPS) ↔ IEC 61217 patient p and table top t, for HFS, HFP, FFS and FFP.

IEC p is attached to the anatomy: Xp = patient left, Yp = superior, Zp = anterior ("LSA"); DICOM is LPS. So
DICOM → p is one fixed matrix, and the patient position says how p lies on the table top: prone is a 180°
roll about Yt, feet-first a 180° rotation about Zt. Composed, this gives four DICOM → table-top matrices;
HFS equals Roentgen.jl's ``patient_to_fixed`` and the inverse of RadiotherapyTransformsIEC's LSA → LPS
matrix, and all four agree with the public Juntendo C# table ``PatientToCouchCsTranform``.
"""

from __future__ import annotations

import re
from enum import StrEnum, unique

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geometry.errors import AmbiguousConventionError, InvalidInputError, UnknownConventionError
from geometry.frames import Point
from geometry.rotations import rot_x, rot_y, rot_z
from geometry.systems import System

#: DICOM LPS → IEC patient LSA (x stays left, DICOM z = superior becomes Yp, DICOM y = posterior becomes −Zp).
IEC_PATIENT_FROM_DICOM: NDArray[np.float64] = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
IEC_PATIENT_FROM_DICOM.setflags(write=False)


@unique
class PatientPosition(StrEnum):
    """DICOM Patient Position (0018,5100) codes that have a sourced IEC mapping."""

    HFS = "HFS"
    HFP = "HFP"
    FFS = "FFS"
    FFP = "FFP"

    @classmethod
    def parse(cls, code: PatientPosition | str) -> PatientPosition:
        if isinstance(code, PatientPosition):
            return code
        text = code.strip().upper()
        try:
            return cls(text)
        except ValueError:
            pass
        if re.fullmatch(r"(HF|FF|AF|PF|LF|RF)(DR|DL|S|P|I|O)|SITTING", text):
            raise AmbiguousConventionError(
                f"patient position {code!r} is a DICOM code without a verified IEC 61217 mapping here "
                "(only HFS, HFP, FFS, FFP are); give the patient rotation explicitly in MachineState"
            ) from None
        raise UnknownConventionError(f"unknown DICOM patient position {code!r}; known: HFS, HFP, FFS, FFP")

    @property
    def orientation_deg(self) -> tuple[float, float, float]:
        """(patient_pitch_deg, patient_roll_deg, patient_rotation_deg) placing IEC p on the table top."""
        return _ORIENTATION_DEG[self]


_ORIENTATION_DEG = {
    PatientPosition.HFS: (0.0, 0.0, 0.0),
    PatientPosition.HFP: (0.0, 180.0, 0.0),
    PatientPosition.FFS: (0.0, 0.0, 180.0),
    PatientPosition.FFP: (0.0, 180.0, 180.0),
}


def table_top_from_patient_rotation(position: PatientPosition | str) -> NDArray[np.float64]:
    """3×3 rotation of IEC p in IEC t for a patient position (p axes as columns)."""
    pitch, roll, rotation = PatientPosition.parse(position).orientation_deg
    return rot_x(pitch) @ rot_y(roll) @ rot_z(rotation)


def table_top_from_dicom_rotation(position: PatientPosition | str) -> NDArray[np.float64]:
    """3×3 rotation taking DICOM LPS vectors to IEC t axes (the HFS/HFP/FFS/FFP matrices above)."""
    return table_top_from_patient_rotation(position) @ IEC_PATIENT_FROM_DICOM


def _lps(values: ArrayLike, what: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=float)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{what} must be 3 finite DICOM LPS coordinates in mm, got {values!r}")
    return array


def dicom_to_table_top(
    point_lps_mm: ArrayLike, isocenter_lps_mm: ArrayLike, position: PatientPosition | str
) -> Point:
    """A DICOM patient point as an IEC t point, with the table-top origin placed at the plan isocentre."""
    offset = _lps(point_lps_mm, "point") - _lps(isocenter_lps_mm, "isocentre")
    return Point.from_xyz(System.TABLE_TOP, table_top_from_dicom_rotation(position) @ offset)


def table_top_to_dicom(
    point: Point, isocenter_lps_mm: ArrayLike, position: PatientPosition | str
) -> NDArray[np.float64]:
    """Inverse of :func:`dicom_to_table_top`: DICOM LPS mm of an IEC t point."""
    if point.system is not System.TABLE_TOP:
        raise InvalidInputError(
            f"expected a point in IEC t, got one in IEC {point.system.value}; use .to('t')"
        )
    lps: NDArray[np.float64] = table_top_from_dicom_rotation(position).T @ point.xyz_mm
    return lps + _lps(isocenter_lps_mm, "isocentre")


def dicom_to_iec_patient(point_lps_mm: ArrayLike) -> Point:
    """A DICOM patient point in IEC p, whose origin is the DICOM origin (independent of patient position)."""
    return Point.from_xyz(System.PATIENT, IEC_PATIENT_FROM_DICOM @ _lps(point_lps_mm, "point"))


def iec_patient_to_dicom(point: Point) -> NDArray[np.float64]:
    """DICOM LPS mm of an IEC p point."""
    if point.system is not System.PATIENT:
        raise InvalidInputError(
            f"expected a point in IEC p, got one in IEC {point.system.value}; use .to('p')"
        )
    lps: NDArray[np.float64] = IEC_PATIENT_FROM_DICOM.T @ point.xyz_mm
    return lps


def patient_placement(position: PatientPosition | str, isocenter_lps_mm: ArrayLike) -> dict[str, float]:
    """MachineState patient fields that put IEC p (origin at the DICOM origin) on the table top so that the
    plan isocentre sits at the table-top origin: ``state.replace(**patient_placement(...))``.
    """
    parsed = PatientPosition.parse(position)
    pitch, roll, rotation = parsed.orientation_deg
    origin = -(table_top_from_dicom_rotation(parsed) @ _lps(isocenter_lps_mm, "isocentre"))
    return {
        "patient_x_mm": float(origin[0]),
        "patient_y_mm": float(origin[1]),
        "patient_z_mm": float(origin[2]),
        "patient_pitch_deg": pitch,
        "patient_roll_deg": roll,
        "patient_rotation_deg": rotation,
    }
