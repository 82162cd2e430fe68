"""Geometric values that know their coordinate system: Point, Displacement, Direction and Pose.

Why types: a couch verdict that subtracts a table-top point from a room point is wrong by up to the whole
couch travel and still looks plausible. Here that subtraction raises :class:`FrameMismatchError`; moving a
value between systems takes an explicit ``.to(system, state)``. Values serialise with their system and, when
it matters, the machine state they were expressed at.

Arithmetic follows affine rules: Point − Point = Displacement, Point ± Displacement = Point, Displacement
scales and adds; a Direction has no length until ``scaled(distance_mm)``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from geometry.errors import FrameMismatchError, InvalidInputError, MissingStateError
from geometry.machine import DEFAULT_MODEL, MachineModel, MachineState
from geometry.rotations import decompose_table_top_rotation, is_rotation, rigid
from geometry.systems import System
from geometry.transforms import transform

Vector3 = NDArray[np.float64]
Row = tuple[float, float, float]


class _InFrame(BaseModel):
    """Common part: the system a value is expressed in and the machine state it refers to."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    # Makes numpy defer, so ``ndarray + Point`` raises instead of silently building an object array.
    __array_ufunc__: ClassVar[None] = None

    system: System
    state: MachineState | None = None

    @field_validator("system", mode="before")
    @classmethod
    def _parse_system(cls, value: Any) -> Any:
        return System.parse(value) if isinstance(value, str) else value

    def _merged_state(self, other: _InFrame, operation: str) -> MachineState | None:
        return common_state(self, other, operation)

    def _resolve_state(self, target: System, state: MachineState | None) -> MachineState:
        chosen = state if state is not None else self.state
        if chosen is None:
            raise MissingStateError(
                f"{type(self).__name__} in IEC {self.system.value} carries no machine state; pass state=... "
                f"to express it in IEC {target.value}"
            )
        return chosen

    def _unsupported(self, operation: str, other: object) -> TypeError:
        return TypeError(
            f"cannot {operation} {type(self).__name__} and {type(other).__name__}: build a Displacement or "
            "Point in an explicit system instead of using bare numbers"
        )


class _Coordinates(_InFrame):
    """Three Cartesian coordinates in millimetres."""

    x_mm: float
    y_mm: float
    z_mm: float

    @property
    def xyz_mm(self) -> Vector3:
        """The coordinates as a numpy array, mm."""
        return np.array([self.x_mm, self.y_mm, self.z_mm])


class Point(_Coordinates):
    """A location, in mm, in one IEC 61217 system."""

    @classmethod
    def from_xyz(cls, system: System | str, xyz_mm: ArrayLike, state: MachineState | None = None) -> Point:
        x, y, z = _three(xyz_mm, "point")
        return cls(system=System.parse(system), state=state, x_mm=x, y_mm=y, z_mm=z)

    def to(
        self, system: System | str, state: MachineState | None = None, model: MachineModel = DEFAULT_MODEL
    ) -> Point:
        """This point expressed in ``system``; ``state`` overrides the state the point carries."""
        target = System.parse(system)
        if target is self.system and state is None:
            return self
        used = self._resolve_state(target, state)
        m = transform(self.system, target, used, model)
        return Point.from_xyz(target, m[:3, :3] @ self.xyz_mm + m[:3, 3], used)

    def distance_mm(self, other: Point) -> float:
        """Euclidean distance to another point in the same frame."""
        return (self - other).norm_mm

    @overload
    def __sub__(self, other: Point) -> Displacement: ...
    @overload
    def __sub__(self, other: Displacement) -> Point: ...
    def __sub__(self, other: Point | Displacement) -> Displacement | Point:
        if isinstance(other, Point):
            state = self._merged_state(other, "subtract")
            return Displacement.from_xyz(self.system, self.xyz_mm - other.xyz_mm, state)
        if isinstance(other, Displacement):
            return self + (-other)
        raise self._unsupported("subtract", other)

    def __add__(self, other: Displacement) -> Point:
        if not isinstance(other, Displacement):
            raise self._unsupported("add", other)
        state = self._merged_state(other, "add")
        return Point.from_xyz(self.system, self.xyz_mm + other.xyz_mm, state)


class Displacement(_Coordinates):
    """A free vector with a length in mm (difference of two points): translations do not act on it."""

    @classmethod
    def from_xyz(
        cls, system: System | str, xyz_mm: ArrayLike, state: MachineState | None = None
    ) -> Displacement:
        x, y, z = _three(xyz_mm, "displacement")
        return cls(system=System.parse(system), state=state, x_mm=x, y_mm=y, z_mm=z)

    @property
    def norm_mm(self) -> float:
        return math.hypot(self.x_mm, self.y_mm, self.z_mm)

    def direction(self) -> Direction:
        """The unit direction of this displacement; a zero displacement has none."""
        return Direction.from_xyz(self.system, self.xyz_mm, self.state)

    def to(
        self, system: System | str, state: MachineState | None = None, model: MachineModel = DEFAULT_MODEL
    ) -> Displacement:
        target = System.parse(system)
        if target is self.system and state is None:
            return self
        used = self._resolve_state(target, state)
        m = transform(self.system, target, used, model)
        return Displacement.from_xyz(target, m[:3, :3] @ self.xyz_mm, used)

    def __add__(self, other: Displacement) -> Displacement:
        if not isinstance(other, Displacement):
            raise self._unsupported("add", other)
        state = self._merged_state(other, "add")
        return Displacement.from_xyz(self.system, self.xyz_mm + other.xyz_mm, state)

    def __sub__(self, other: Displacement) -> Displacement:
        if not isinstance(other, Displacement):
            raise self._unsupported("subtract", other)
        return self + (-other)

    def __neg__(self) -> Displacement:
        return Displacement.from_xyz(self.system, -self.xyz_mm, self.state)

    def __mul__(self, factor: float) -> Displacement:
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise self._unsupported("multiply", factor)
        return Displacement.from_xyz(self.system, self.xyz_mm * float(factor), self.state)

    __rmul__ = __mul__


class Direction(_InFrame):
    """A unit direction (dimensionless direction cosines) in one system; normalised on construction."""

    x: float
    y: float
    z: float

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not {"x", "y", "z"} <= data.keys():
            return data
        try:
            vector = np.array([float(data["x"]), float(data["y"]), float(data["z"])])
        except (TypeError, ValueError):
            return data  # let field validation report the bad value
        norm = float(np.linalg.norm(vector))
        if not math.isfinite(norm) or norm == 0.0:
            raise InvalidInputError(f"a direction needs a finite, non-zero vector, got {vector.tolist()!r}")
        if abs(norm - 1.0) <= 4e-16:  # already unit: keep the exact bits so a JSON round trip is identity
            return data
        unit = vector / norm
        return {**data, "x": float(unit[0]), "y": float(unit[1]), "z": float(unit[2])}

    @classmethod
    def from_xyz(cls, system: System | str, xyz: ArrayLike, state: MachineState | None = None) -> Direction:
        x, y, z = _three(xyz, "direction")
        return cls(system=System.parse(system), state=state, x=x, y=y, z=z)

    @property
    def xyz(self) -> Vector3:
        return np.array([self.x, self.y, self.z])

    def to(
        self, system: System | str, state: MachineState | None = None, model: MachineModel = DEFAULT_MODEL
    ) -> Direction:
        target = System.parse(system)
        if target is self.system and state is None:
            return self
        used = self._resolve_state(target, state)
        m = transform(self.system, target, used, model)
        return Direction.from_xyz(target, m[:3, :3] @ self.xyz, used)

    def scaled(self, distance_mm: float) -> Displacement:
        """The displacement of ``distance_mm`` along this direction."""
        return Displacement.from_xyz(self.system, self.xyz * distance_mm, self.state)

    def angle_to_deg(self, other: Direction) -> float:
        """Angle in [0, 180] degrees to another direction in the same frame (atan2: exact near 0 and 180)."""
        self._merged_state(other, "compare")
        return math.degrees(math.atan2(float(np.linalg.norm(np.cross(self.xyz, other.xyz))), self.dot(other)))

    def dot(self, other: Direction) -> float:
        self._merged_state(other, "dot")
        return float(self.xyz @ other.xyz)

    def __neg__(self) -> Direction:
        return Direction.from_xyz(self.system, -self.xyz, self.state)


class TableTopAngles(BaseModel):
    """An orientation split in IEC table-top order: rotation (θs + θe) about Z, then pitch, then roll."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rotation_deg: float
    pitch_deg: float
    roll_deg: float


class Pose(_InFrame):
    """Placement of a local frame in ``system``: local coordinates ``q`` sit at ``rotation @ q + origin``.

    The rotation's columns are the local axes expressed in ``system``.
    """

    origin_mm: Row
    rotation: tuple[Row, Row, Row]

    @model_validator(mode="after")
    def _check_rotation(self) -> Pose:
        if not is_rotation(np.array(self.rotation)):
            raise InvalidInputError(f"pose rotation is not a proper rotation matrix: {self.rotation!r}")
        return self

    @classmethod
    def from_matrix(cls, system: System | str, matrix: ArrayLike, state: MachineState | None = None) -> Pose:
        """From a 4×4 rigid transform (local → system)."""
        m = np.asarray(matrix, dtype=float)
        if m.shape != (4, 4):
            raise InvalidInputError(f"a pose matrix must be 4×4, got shape {m.shape}")
        rows = tuple(_three(row, "rotation row") for row in m[:3, :3])
        return cls(
            system=System.parse(system), state=state, origin_mm=_three(m[:3, 3], "origin"), rotation=rows
        )

    @classmethod
    def of_system(
        cls,
        child: System | str,
        in_system: System | str,
        state: MachineState,
        model: MachineModel = DEFAULT_MODEL,
    ) -> Pose:
        """Where the origin and axes of ``child`` are, expressed in ``in_system``."""
        return cls.from_matrix(in_system, transform(child, in_system, state, model), state)

    def matrix(self) -> NDArray[np.float64]:
        return rigid(self.rotation, self.origin_mm)

    def origin(self) -> Point:
        return Point(
            system=self.system,
            state=self.state,
            x_mm=self.origin_mm[0],
            y_mm=self.origin_mm[1],
            z_mm=self.origin_mm[2],
        )

    def axis(self, index: int) -> Direction:
        """Local axis 0 (x), 1 (y) or 2 (z) as a direction in ``system``."""
        return Direction.from_xyz(self.system, np.array(self.rotation)[:, index], self.state)

    def apply(self, local_xyz_mm: ArrayLike) -> Point:
        """The point with local coordinates ``local_xyz_mm`` expressed in ``system``."""
        local = np.asarray(_three(local_xyz_mm, "local point"))
        located = np.array(self.rotation) @ local + np.array(self.origin_mm)
        return Point.from_xyz(self.system, located, self.state)

    def to(
        self, system: System | str, state: MachineState | None = None, model: MachineModel = DEFAULT_MODEL
    ) -> Pose:
        target = System.parse(system)
        if target is self.system and state is None:
            return self
        used = self._resolve_state(target, state)
        return Pose.from_matrix(target, transform(self.system, target, used, model) @ self.matrix(), used)

    def table_top_angles(self) -> TableTopAngles:
        """The rotation split as IEC table-top rotation, pitch, roll (see decompose_table_top_rotation)."""
        rotation, pitch, roll = decompose_table_top_rotation(self.rotation)
        return TableTopAngles(rotation_deg=rotation, pitch_deg=pitch, roll_deg=roll)


def common_state(a: _InFrame, b: _InFrame, operation: str = "combine") -> MachineState | None:
    """The state two values share, or :class:`FrameMismatchError` if they are not in one frame.

    Same system is required. States must agree too, except in f, which does not move with the machine; a
    value without a state takes the other's.
    """
    if b.system is not a.system:
        raise FrameMismatchError(
            f"cannot {operation} a {type(a).__name__} in IEC {a.system.value} and a {type(b).__name__} in "
            f"IEC {b.system.value}; transform one with .to(...) first"
        )
    if a.state is None or b.state is None:
        return a.state if a.state is not None else b.state
    if a.state == b.state:
        return a.state
    if a.system is System.FIXED:
        return None
    raise FrameMismatchError(
        f"cannot {operation} values in IEC {a.system.value} taken at different machine states; "
        "express both in IEC f (or at one common state) first"
    )


def _three(values: ArrayLike, what: str) -> Row:
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.shape != (3,):
        raise InvalidInputError(f"a {what} needs exactly 3 coordinates, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"a {what} has a non-finite coordinate: {array.tolist()!r}")
    return float(array[0]), float(array[1]), float(array[2])
