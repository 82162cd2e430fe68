"""4×4 homogeneous transforms between any two IEC 61217 systems, through the tree.

``transform(a, b, state)`` maps homogeneous coordinates expressed in ``a`` to ``b``: ``p_b = M @ p_a``.
Points use w = 1, directions w = 0 (only the rotation acts). Chains are composed up to the lowest common
ancestor and back down, so a t→p transform never passes through the gantry.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geometry.errors import InvalidInputError
from geometry.machine import DEFAULT_MODEL, GantryPitchOrder, MachineModel, MachineState
from geometry.rotations import invert_rigid, rigid, rot_x, rot_y, rot_z, translation
from geometry.systems import System, common_ancestor, path_to_root

Matrix = NDArray[np.float64]


def parent_from_child(
    system: System | str, state: MachineState, model: MachineModel = DEFAULT_MODEL
) -> Matrix:
    """The 4×4 transform taking coordinates in ``system`` to its parent system (identity for f)."""
    system = System.parse(system)
    s = state
    match system:
        case System.FIXED:
            return np.eye(4)
        case System.GANTRY:
            if model.gantry_pitch_order is GantryPitchOrder.GANTRY_THEN_PITCH:
                rotation = rot_y(s.gantry_deg) @ rot_x(s.gantry_pitch_deg)
            else:
                rotation = rot_x(s.gantry_pitch_deg) @ rot_y(s.gantry_deg)
            return rigid(rotation)
        case System.BEAM_LIMITING_DEVICE:
            return rigid(rot_z(s.collimator_deg), (0.0, 0.0, model.collimator_origin_z_mm))
        case System.WEDGE_FILTER:
            return rigid(rot_z(s.wedge_deg), (0.0, 0.0, model.wedge_origin_z_mm))
        case System.RECEPTOR:
            return rigid(rot_z(s.receptor_deg), (s.receptor_x_mm, s.receptor_y_mm, s.receptor_z_mm))
        case System.PATIENT_SUPPORT:
            return rigid(rot_z(s.couch_rotation_deg))
        case System.TABLE_TOP_ECCENTRIC:
            offset_mm = model.eccentric_axis_sense * s.eccentric_distance_mm
            return rigid(rot_z(s.eccentric_rotation_deg), (0.0, offset_mm, 0.0))
        case System.TABLE_TOP:
            return translation(s.table_lateral_mm, s.table_longitudinal_mm, s.table_vertical_mm) @ rigid(
                rot_x(s.table_pitch_deg) @ rot_y(s.table_roll_deg)
            )
        case System.PATIENT:
            rotation = rot_x(s.patient_pitch_deg) @ rot_y(s.patient_roll_deg) @ rot_z(s.patient_rotation_deg)
            return rigid(rotation, (s.patient_x_mm, s.patient_y_mm, s.patient_z_mm))
    raise AssertionError(f"unhandled system {system!r}")  # pragma: no cover - the match is exhaustive


def _ancestor_from(system: System, ancestor: System, state: MachineState, model: MachineModel) -> Matrix:
    """Transform from ``system`` up to one of its ancestors."""
    matrix = np.eye(4)
    for step in path_to_root(system):
        if step is ancestor:
            return matrix
        matrix = parent_from_child(step, state, model) @ matrix
    raise AssertionError(f"{ancestor} is not an ancestor of {system}")  # pragma: no cover


def transform(
    from_system: System | str,
    to_system: System | str,
    state: MachineState,
    model: MachineModel = DEFAULT_MODEL,
) -> Matrix:
    """The 4×4 matrix ``M`` with ``p_to = M @ p_from`` for homogeneous points (w=1) and directions (w=0)."""
    source, target = System.parse(from_system), System.parse(to_system)
    meet = common_ancestor(source, target)
    up = _ancestor_from(source, meet, state, model)
    down = _ancestor_from(target, meet, state, model)
    return invert_rigid(down) @ up


def _as_xyz(values: ArrayLike, what: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=float)
    if array.shape[-1:] != (3,):
        raise InvalidInputError(f"{what} must have 3 coordinates in the last axis, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{what} contains non-finite coordinates: {array.tolist()!r}")
    return array


def map_points(
    points_mm: ArrayLike,
    from_system: System | str,
    to_system: System | str,
    state: MachineState,
    model: MachineModel = DEFAULT_MODEL,
) -> NDArray[np.float64]:
    """Map one point (3,) or many (N, 3), in mm, from one system to another."""
    xyz = _as_xyz(points_mm, "points")
    m = transform(from_system, to_system, state, model)
    mapped: NDArray[np.float64] = xyz @ m[:3, :3].T + m[:3, 3]
    return mapped


def map_directions(
    directions: ArrayLike,
    from_system: System | str,
    to_system: System | str,
    state: MachineState,
    model: MachineModel = DEFAULT_MODEL,
) -> NDArray[np.float64]:
    """Map one direction or displacement (3,) or many (N, 3): rotation only, translations do not apply."""
    xyz = _as_xyz(directions, "directions")
    m = transform(from_system, to_system, state, model)
    mapped: NDArray[np.float64] = xyz @ m[:3, :3].T
    return mapped
