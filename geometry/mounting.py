"""A device's linear axis placed in the room: scalar axis position (mm) ↔ IEC point.

Why: a water-tank or phantom stage reports positions along its own axis, while commissioning wants them in
IEC 61217 terms, so that an axis mounted reversed or tilted shows up as such. The mounting (where the axis
zero is and which way it points) is a rig setting, measured once and stored as this model.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from geometry.errors import InvalidInputError
from geometry.frames import Direction, Displacement, Point, common_state
from geometry.machine import DEFAULT_MODEL, MachineModel, MachineState
from geometry.systems import System


class AxisMounting(BaseModel):
    """A linear axis whose position 0 is at ``origin`` and whose positive travel is along ``direction``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    origin: Point
    direction: Direction

    @model_validator(mode="after")
    def _same_frame(self) -> Self:
        common_state(self.origin, self.direction, "mount an axis from")
        return self

    @classmethod
    def from_points(cls, name: str, zero: Point, further: Point) -> AxisMounting:
        """From the point at axis position 0 and a point reached by moving in the positive sense."""
        return cls(name=name, origin=zero, direction=(further - zero).direction())

    def point_at(self, position_mm: float) -> Point:
        """The IEC point the axis carriage is at when the axis reads ``position_mm``."""
        return self.origin + self.direction.scaled(position_mm)

    def displacement(self, delta_mm: float) -> Displacement:
        """The IEC displacement produced by a relative move of ``delta_mm``."""
        return self.direction.scaled(delta_mm)

    def position_mm(self, point: Point, max_off_axis_mm: float | None = None) -> float:
        """The axis position nearest to ``point`` (its projection); optionally refuse points off the axis.

        A point in another system is first expressed in the mounting's system using the state it carries.
        """
        offset = self._offset(point)
        along = float(offset.xyz_mm @ self.direction.xyz)
        if max_off_axis_mm is not None:
            off = float(np.linalg.norm(offset.xyz_mm - along * self.direction.xyz))
            if off > max_off_axis_mm:
                raise InvalidInputError(
                    f"{self.name}: point is {off:.4g} mm off the axis, more than {max_off_axis_mm:g} mm"
                )
        return along

    def off_axis_mm(self, point: Point) -> float:
        """Perpendicular distance from ``point`` to the axis line."""
        offset = self._offset(point)
        along = float(offset.xyz_mm @ self.direction.xyz)
        return float(np.linalg.norm(offset.xyz_mm - along * self.direction.xyz))

    def to(
        self, system: System | str, state: MachineState | None = None, model: MachineModel = DEFAULT_MODEL
    ) -> AxisMounting:
        """The same axis expressed in another IEC system."""
        origin = self.origin.to(system, state, model)
        direction = self.direction.to(system, state, model)
        return AxisMounting(name=self.name, origin=origin, direction=direction)

    def _offset(self, point: Point) -> Displacement:
        if point.system is not self.origin.system:
            point = point.to(self.origin.system, self.origin.state)
        return point - self.origin
