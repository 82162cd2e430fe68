"""Where the radiation source is and which way the beam travels, for a machine state.

Why here: Winston–Lutz simulation and analysis need the central axis in IEC f, and deriving it by hand from
gantry and pitch angles is where sign slips happen. Both follow from the g transform, so they inherit the
machine model's gantry-pitch convention.
"""

from __future__ import annotations

from geometry.frames import Direction, Point
from geometry.machine import DEFAULT_MODEL, MachineModel, MachineState
from geometry.systems import System


def source_position(state: MachineState, model: MachineModel = DEFAULT_MODEL) -> Point:
    """The radiation source in IEC f: (0, 0, SAD) in g. At gantry φg it is SAD·(sin φg, 0, cos φg)."""
    source = Point(system=System.GANTRY, state=state, x_mm=0.0, y_mm=0.0, z_mm=model.source_axis_distance_mm)
    return source.to(System.FIXED, model=model)


def beam_direction(state: MachineState, model: MachineModel = DEFAULT_MODEL) -> Direction:
    """Unit vector of the central axis in IEC f, from the source toward the isocentre (−Zg)."""
    return Direction(system=System.GANTRY, state=state, x=0.0, y=0.0, z=-1.0).to(System.FIXED, model=model)
