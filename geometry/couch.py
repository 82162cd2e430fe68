"""Table-top translations that keep a point where it should be after couch rotations, pitch and roll.

Why: DICOM pivots pitch and roll about the table-top origin, "typically not the isocenter" (C.8.8.14.12), so a
6-DoF correction must re-solve the translation. Getting the sign of that compensation wrong moves the target
twice as far; this is the one place it is computed.
"""

from __future__ import annotations

import numpy as np

from geometry.errors import InvalidInputError
from geometry.frames import Point
from geometry.machine import DEFAULT_MODEL, MachineModel, MachineState
from geometry.rotations import invert_rigid, rot_x, rot_y
from geometry.systems import System
from geometry.transforms import transform

_ISOCENTRE = Point(system=System.FIXED, x_mm=0.0, y_mm=0.0, z_mm=0.0)


def translation_to_place(
    table_top_point: Point,
    state: MachineState,
    target: Point = _ISOCENTRE,
    model: MachineModel = DEFAULT_MODEL,
) -> MachineState:
    """``state`` with Tx, Ty, Tz chosen so that ``table_top_point`` (in t) lands on ``target`` (in f).

    The state's rotations (θs, Ls, θe, pitch, roll) are kept; only the translations change.
    """
    if table_top_point.system is not System.TABLE_TOP:
        raise InvalidInputError(
            f"the point to place must be in IEC t, not IEC {table_top_point.system.value}"
        )
    if target.system is not System.FIXED:
        raise InvalidInputError(f"the target must be in IEC f, not IEC {target.system.value}")
    e_from_f = invert_rigid(transform(System.TABLE_TOP_ECCENTRIC, System.FIXED, state, model))
    target_in_e = e_from_f[:3, :3] @ target.xyz_mm + e_from_f[:3, 3]
    tilted = rot_x(state.table_pitch_deg) @ rot_y(state.table_roll_deg) @ table_top_point.xyz_mm
    tx, ty, tz = np.asarray(target_in_e - tilted, dtype=float)
    return state.replace(
        table_lateral_mm=float(tx), table_longitudinal_mm=float(ty), table_vertical_mm=float(tz)
    )
