"""A water-tank scanner: up to three linear stages stacked into one carriage that moves in the room.

Each axis is an existing ``LinearStage`` (driven, as before, by its own protocol front-end, e.g. a Zaber
chain). The scanner only composes their TRUE carriage positions into a point in the room, IEC 61217 fixed
system f, in mm::

    p = origin + Σ_i q_i · d_i

``q_i`` is stage i's true carriage position (``LinearStage.carriage_position_mm``, axis frame, so backlash,
pitch error etc. already live in it) and ``d_i`` the TRUE unit direction of that axis in the room. The
nominal direction is an IEC axis (``+X`` … ``-Z``); the true one is tilted from it by two angles (α, β)
toward the next two IEC axes in cyclic order (X → Y, Z; Y → Z, X; Z → X, Y)::

    d = normalise(s·e_a + tan α · e_b + tan β · e_c)        s = ±1, the nominal sign

So ``tan α`` is exactly the drift toward ``e_b`` per mm of travel, which is what a two-point tilt
measurement ``atan(Δlateral / Δalong)`` recovers, and the angle between two axes follows from their dot
product (an X axis tilted toward Y by α, with an ideal Y axis, is at 90° − α to it). A W2 check that
tracks a fixed point on the carriage can therefore be predicted exactly.

The carriage translates only; ``room_from_carriage()`` is ``Tr(p)``. Nothing here moves a stage: motion and
readback stay with the stages and their front-ends.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from geometry.rotations import rigid
from simulators.stage import LinearStage, StageConfig
from simulators.world import World

Vector = NDArray[np.float64]
Matrix = NDArray[np.float64]
IecDirection = Literal["+X", "-X", "+Y", "-Y", "+Z", "-Z"]

_AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}
#: The axes a tilt leans toward, in cyclic order: (a) → (b, c).
TILT_TOWARD: dict[str, tuple[str, str]] = {"X": ("Y", "Z"), "Y": ("Z", "X"), "Z": ("X", "Y")}
MAX_TILT_DEG = 10.0


class ScannerAxisConfig(BaseModel):
    """One scanner axis: which stage drives it and where it points in the room."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: World name of the ``LinearStage`` that drives this axis.
    stage: str
    #: Nominal IEC f direction in which the carriage moves as the stage position increases.
    direction: IecDirection
    #: Misalignment (α, β) in degrees toward the next two IEC axes in cyclic order (see the module doc).
    tilt_deg: tuple[float, float] = (0.0, 0.0)

    @model_validator(mode="after")
    def _small_tilt(self) -> ScannerAxisConfig:
        if any(abs(a) > MAX_TILT_DEG for a in self.tilt_deg):
            raise ValueError(f"tilt_deg must be within ±{MAX_TILT_DEG}°, got {self.tilt_deg}")
        return self

    @property
    def iec_axis(self) -> str:
        return self.direction[1]

    def nominal_vector(self) -> Vector:
        vec = np.zeros(3)
        vec[_AXIS_INDEX[self.iec_axis]] = 1.0 if self.direction[0] == "+" else -1.0
        return vec

    def true_vector(self) -> Vector:
        """The tilted unit direction in IEC f."""
        vec = self.nominal_vector()
        b, c = TILT_TOWARD[self.iec_axis]
        vec[_AXIS_INDEX[b]] += math.tan(math.radians(self.tilt_deg[0]))
        vec[_AXIS_INDEX[c]] += math.tan(math.radians(self.tilt_deg[1]))
        return np.asarray(vec / np.linalg.norm(vec), dtype=float)


class WaterTankConfig(BaseModel):
    """A scanner of one to three stages, keyed by the tank's own axis names (e.g. ``x``, ``y``, ``z``).

    ``origin_mm`` is where the carriage reference point sits in IEC f when every stage's true carriage
    position is 0 (the stage datum). A single stage is a one-axis scanner.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    axes: dict[str, ScannerAxisConfig] = Field(min_length=1, max_length=3)

    @model_validator(mode="after")
    def _distinct(self) -> WaterTankConfig:
        stages = [a.stage for a in self.axes.values()]
        if len(set(stages)) != len(stages):
            raise ValueError(f"a stage drives two axes of one scanner: {stages}")
        iec = [a.iec_axis for a in self.axes.values()]
        if len(set(iec)) != len(iec):
            raise ValueError(f"two scanner axes follow the same IEC axis: {iec}")
        return self


class WaterTankScanner:
    """The composed carriage of a water-tank scanner (a world model; thread-safe, no state of its own).

    The misalignment can change at run time (``set_error``) so that a blind test can draw it per run.
    """

    def __init__(self, name: str, config: WaterTankConfig, stages: Mapping[str, LinearStage]) -> None:
        missing = [a.stage for a in config.axes.values() if a.stage not in stages]
        if missing:
            raise KeyError(f"water tank {name!r}: no stage named {missing}")
        self._name = name
        self._config = config
        self._stages = {axis: stages[a.stage] for axis, a in config.axes.items()}
        self._lock = threading.Lock()
        self._directions = {axis: a.true_vector() for axis, a in config.axes.items()}

    # ----------------------------------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> WaterTankConfig:
        return self._config

    @property
    def axis_names(self) -> list[str]:
        return list(self._config.axes)

    def stage(self, axis: str) -> LinearStage:
        return self._stages[axis]

    def __repr__(self) -> str:
        axes = {axis: f"{a.stage}:{a.direction}" for axis, a in self._config.axes.items()}
        return f"WaterTankScanner({self._name!r}, axes={axes})"

    # ----------------------------------------------------------------------------------------- errors
    def set_error(
        self,
        *,
        tilt_deg: Mapping[str, tuple[float, float]] | None = None,
        origin_mm: tuple[float, float, float] | None = None,
    ) -> None:
        """Change axis tilts (by tank axis name) and/or the origin; validated like the config."""
        data = self._config.model_dump()
        for axis, tilt in (tilt_deg or {}).items():
            if axis not in data["axes"]:
                raise KeyError(f"water tank {self._name!r} has no axis {axis!r} (has {self.axis_names})")
            data["axes"][axis]["tilt_deg"] = tuple(float(a) for a in tilt)
        if origin_mm is not None:
            data["origin_mm"] = tuple(float(v) for v in origin_mm)
        new = WaterTankConfig.model_validate(data)
        with self._lock:
            self._config = new
            self._directions = {axis: a.true_vector() for axis, a in new.axes.items()}

    # ----------------------------------------------------------------------------------------- queries
    def axis_direction(self, axis: str) -> Vector:
        """The TRUE unit direction of ``axis`` in IEC f."""
        with self._lock:
            return self._directions[axis].copy()

    def nominal_direction(self, axis: str) -> Vector:
        return self._config.axes[axis].nominal_vector()

    def axis_angle_deg(self, first: str, second: str) -> float:
        """The true angle between two axes (90° for an orthogonal pair)."""
        a, b = self.axis_direction(first), self.axis_direction(second)
        return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b)))))

    def carriage_positions_mm(self) -> dict[str, float]:
        """Each axis's TRUE carriage position in its stage frame, now."""
        return {axis: stage.carriage_position_mm() for axis, stage in self._stages.items()}

    def carriage_position_mm(self) -> Vector:
        """The TRUE position of the carriage reference point in IEC f, now."""
        with self._lock:
            origin = np.array(self._config.origin_mm, dtype=float)
            directions = dict(self._directions)
        q = self.carriage_positions_mm()
        return np.asarray(origin + sum(q[axis] * directions[axis] for axis in directions), dtype=float)

    def room_from_carriage(self) -> Matrix:
        """4×4 ``room ← carriage``: a pure translation (the carriage does not rotate)."""
        return rigid(None, self.carriage_position_mm())


def check_water_tank_wiring(stages: Mapping[str, StageConfig], tanks: Mapping[str, WaterTankConfig]) -> None:
    """Every scanner axis names a configured stage, and no stage drives two scanners."""
    used: dict[str, str] = {}
    for tank_name, tank in tanks.items():
        for axis, config in tank.axes.items():
            where = f"water tank {tank_name!r} axis {axis!r}"
            if config.stage not in stages:
                raise ValueError(f"{where} uses unknown stage {config.stage!r}")
            if config.stage in used:
                raise ValueError(
                    f"stage {config.stage!r} drives two scanner axes ({used[config.stage]}, {where})"
                )
            used[config.stage] = where


def add_water_tank(world: World, name: str, config: WaterTankConfig) -> WaterTankScanner:
    """Build a scanner on stages already in ``world`` and register it."""
    stages = {a.stage: world.stage(a.stage) for a in config.axes.values()}
    return world.add(WaterTankScanner(name, config, stages))


def build_water_tanks(world: World, tanks: Mapping[str, WaterTankConfig]) -> dict[str, WaterTankScanner]:
    return {name: add_water_tank(world, name, config) for name, config in tanks.items()}
