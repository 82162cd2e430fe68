"""IEC 61217 geometry for hilcal: coordinate systems, typed frames, machine scales, DICOM mapping and fits.

Pure numpy + pydantic, no I/O, and no import of any other hilcal package, so drivers, simulators, sequences
and the controller can all share one tested implementation. The systems are those of IEC 61217:2011 (with
Amd 1 and 2) and their DICOM mapping that of DICOM PS3.3 C.8.8.25.6; the project's page
``docs/coordinate-systems.md`` describes the conventions and open ambiguities, and the site-level choices
live in :class:`MachineModel`.
"""

from geometry.angles import angle_difference_deg, wrap180, wrap360
from geometry.beam import beam_direction, source_position
from geometry.couch import translation_to_place
from geometry.errors import (
    AmbiguousConventionError,
    DegenerateGeometryError,
    DicomMappingError,
    FrameMismatchError,
    GeometryError,
    GimbalLockError,
    InvalidInputError,
    MissingStateError,
    UnknownConventionError,
)
from geometry.frames import Direction, Displacement, Point, Pose, TableTopAngles, common_state
from geometry.machine import DEFAULT_MODEL, GantryPitchOrder, MachineModel, MachineState
from geometry.mounting import AxisMounting
from geometry.patient import PatientPosition
from geometry.rotations import decompose_table_top_rotation, table_top_rotation
from geometry.scales import MachineScale, ScaleAxis, TranslationScale, convert, from_iec, iec_state, to_iec
from geometry.systems import SYSTEMS, System
from geometry.transforms import map_directions, map_points, parent_from_child, transform

__all__ = [
    "DEFAULT_MODEL",
    "SYSTEMS",
    "AmbiguousConventionError",
    "AxisMounting",
    "DegenerateGeometryError",
    "DicomMappingError",
    "Direction",
    "Displacement",
    "FrameMismatchError",
    "GantryPitchOrder",
    "GeometryError",
    "GimbalLockError",
    "InvalidInputError",
    "MachineModel",
    "MachineScale",
    "MachineState",
    "MissingStateError",
    "PatientPosition",
    "Point",
    "Pose",
    "ScaleAxis",
    "System",
    "TableTopAngles",
    "TranslationScale",
    "UnknownConventionError",
    "angle_difference_deg",
    "beam_direction",
    "common_state",
    "convert",
    "decompose_table_top_rotation",
    "from_iec",
    "iec_state",
    "map_directions",
    "map_points",
    "parent_from_child",
    "source_position",
    "table_top_rotation",
    "to_iec",
    "transform",
    "translation_to_place",
    "wrap180",
    "wrap360",
]
