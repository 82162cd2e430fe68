"""The IEC 61217 coordinate systems and their tree.

Each system hangs off a parent ("mother") system; at all-zero parameters its axes are parallel to its
parent's.
The table here is the single place the tree is written down; transforms and docs both read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum, unique
from types import MappingProxyType

from geometry.errors import UnknownConventionError


@unique
class System(StrEnum):
    """An IEC 61217 coordinate system, valued by its IEC letter."""

    FIXED = "f"
    GANTRY = "g"
    BEAM_LIMITING_DEVICE = "b"
    WEDGE_FILTER = "w"
    RECEPTOR = "r"
    PATIENT_SUPPORT = "s"
    TABLE_TOP_ECCENTRIC = "e"
    TABLE_TOP = "t"
    PATIENT = "p"

    @classmethod
    def parse(cls, value: System | str) -> System:
        """Accept a member, its IEC letter (``"t"``) or its name (``"table_top"``)."""
        if isinstance(value, System):
            return value
        text = value.strip()
        for member in cls:
            if text == member.value or text.upper() == member.name:
                return member
        known = ", ".join(f"{m.value} ({m.name.lower()})" for m in cls)
        raise UnknownConventionError(f"unknown IEC 61217 coordinate system {value!r}; known: {known}")


@dataclass(frozen=True)
class Parameter:
    """One parameter taking the parent system to the child: its MachineState field, symbol and + sense."""

    field: str
    symbol: str
    positive_sense: str


@dataclass(frozen=True)
class SystemSpec:
    """Parent, origin and parameters of one system, as DICOM PS3.3 and RadiotherapyTransformsIEC give them."""

    system: System
    name: str
    parent: System | None
    origin: str
    parameters: tuple[Parameter, ...]


_SPECS = (
    SystemSpec(
        System.FIXED,
        "FIXED reference",
        None,
        "isocentre; Zf up, Yf from isocentre toward the gantry, Xf to the right facing the gantry",
        (),
    ),
    SystemSpec(
        System.GANTRY,
        "GANTRY",
        System.FIXED,
        "isocentre; source on +Zg at gantry 0",
        (
            Parameter("gantry_deg", "φg", "clockwise seen from the isocentre toward the gantry (about +Yf)"),
            Parameter("gantry_pitch_deg", "ψg", "clockwise seen from the isocentre along +Xg (DICOM)"),
        ),
    ),
    SystemSpec(
        System.BEAM_LIMITING_DEVICE,
        "BEAM LIMITING DEVICE",
        System.GANTRY,
        "on Zg at MachineModel.collimator_origin_z_mm (default: isocentre)",
        (Parameter("collimator_deg", "θb", "about +Zb: counter-clockwise in beam's-eye view"),),
    ),
    SystemSpec(
        System.WEDGE_FILTER,
        "WEDGE FILTER",
        System.BEAM_LIMITING_DEVICE,
        "on Zb at MachineModel.wedge_origin_z_mm",
        (Parameter("wedge_deg", "θw", "about +Zw"),),
    ),
    SystemSpec(
        System.RECEPTOR,
        "X-RAY IMAGE RECEPTOR",
        System.GANTRY,
        "translated (Rx, Ry, Rz) in g",
        (
            Parameter("receptor_x_mm", "Rx", "along +Xg"),
            Parameter("receptor_y_mm", "Ry", "along +Yg"),
            Parameter("receptor_z_mm", "Rz", "along +Zg (SAD − SID: negative beyond the isocentre)"),
            Parameter("receptor_deg", "θr", "about +Zr: counter-clockwise seen from the source"),
        ),
    ),
    SystemSpec(
        System.PATIENT_SUPPORT,
        "PATIENT SUPPORT",
        System.FIXED,
        "isocentre; Zs ≡ Zf",
        (Parameter("couch_rotation_deg", "θs", "about +Zs: counter-clockwise seen from above"),),
    ),
    SystemSpec(
        System.TABLE_TOP_ECCENTRIC,
        "TABLE TOP ECCENTRIC",
        System.PATIENT_SUPPORT,
        "on Ys at distance Ls from the isocentre (sense: MachineModel.eccentric_axis_sense)",
        (
            Parameter("eccentric_distance_mm", "Ls", "along +Ys (default sense)"),
            Parameter("eccentric_rotation_deg", "θe", "about +Ze: counter-clockwise seen from above"),
        ),
    ),
    SystemSpec(
        System.TABLE_TOP,
        "TABLE TOP",
        System.TABLE_TOP_ECCENTRIC,
        "translated (Tx, Ty, Tz) in e",
        (
            Parameter("table_lateral_mm", "Tx", "along +Xe"),
            Parameter("table_longitudinal_mm", "Ty", "along +Ye (toward the gantry at couch 0)"),
            Parameter("table_vertical_mm", "Tz", "along +Ze (up)"),
            Parameter("table_pitch_deg", "ψt", "about +Xt, applied first"),
            Parameter("table_roll_deg", "φt", "about the pitched +Yt, applied second"),
        ),
    ),
    SystemSpec(
        System.PATIENT,
        "PATIENT",
        System.TABLE_TOP,
        "translated (Px, Py, Pz) in t; HFS axes are L, S, A",
        (
            Parameter("patient_x_mm", "Px", "along +Xt"),
            Parameter("patient_y_mm", "Py", "along +Yt"),
            Parameter("patient_z_mm", "Pz", "along +Zt"),
            Parameter("patient_pitch_deg", "ψp", "about +Xp, first"),
            Parameter("patient_roll_deg", "φp", "about +Yp, second"),
            Parameter("patient_rotation_deg", "θp", "about +Zp, third"),
        ),
    ),
)

SYSTEMS: Mapping[System, SystemSpec] = MappingProxyType({spec.system: spec for spec in _SPECS})


def path_to_root(system: System) -> tuple[System, ...]:
    """The system followed by its ancestors up to and including f."""
    chain = [system]
    parent = SYSTEMS[system].parent
    while parent is not None:
        chain.append(parent)
        parent = SYSTEMS[parent].parent
    return tuple(chain)


def common_ancestor(a: System, b: System) -> System:
    """The lowest system that both ``a`` and ``b`` descend from (possibly one of them)."""
    ancestors_of_b = set(path_to_root(b))
    return next(s for s in path_to_root(a) if s in ancestors_of_b)
