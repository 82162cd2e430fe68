"""The one simulated physical world that every protocol front-end looks into.

A rig's devices are physically coupled: a tracker sees markers that ride on a stage, a chamber sits in a
field whose position a couch sets. So the world owns the single clock, the seeded randomness and all physical
models, and protocol front-ends only hold names into it. Models are evaluated lazily at ``clock.now()``
(analytic motion, no stepping thread), so virtual time stays exact and the world has no background threads.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

from simulators.clock import Clock
from simulators.room import DOOR_NAME, RoomDoor
from simulators.stage import LinearStage, StageConfig


@runtime_checkable
class WorldModel(Protocol):
    """Anything that lives in the world: it has a unique name and reads time from the world's clock."""

    @property
    def name(self) -> str: ...


M = TypeVar("M", bound=WorldModel)


class World:
    """Clock + seeded randomness + named physical models.

    Randomness is split per model: ``rng_for(name)`` derives an independent generator from ``(seed, name)``,
    so adding a tracker later does not change the noise a stage already produced for a given seed.
    """

    def __init__(self, clock: Clock, seed: int = 0) -> None:
        self.clock = clock
        self.seed = int(seed)
        self.rng: np.random.Generator = np.random.default_rng(self.seed)
        self._models: dict[str, WorldModel] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.clock.now()

    def rng_for(self, name: str) -> np.random.Generator:
        """A generator reserved for the model called ``name`` (same seed and name → same stream)."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode("utf-8"))])

    def add(self, model: M) -> M:
        """Register a model built elsewhere; names are unique across the whole world."""
        with self._lock:
            if model.name in self._models:
                raise ValueError(f"the world already has a model named {model.name!r}")
            self._models[model.name] = model
        return model

    def add_stage(self, name: str, config: StageConfig) -> LinearStage:
        return self.add(LinearStage(name, config, clock=self.clock, rng=self.rng_for(name)))

    def get(self, name: str, kind: type[M]) -> M:
        """The model called ``name``, checked to be a ``kind`` (so callers get a precise type)."""
        try:
            model = self._models[name]
        except KeyError:
            raise KeyError(f"the world has no model named {name!r} (it has {sorted(self._models)})") from None
        if not isinstance(model, kind):
            raise TypeError(f"model {name!r} is a {type(model).__name__}, not a {kind.__name__}")
        return model

    def emergency_stop(self) -> None:
        """The room's emergency stop (or a power cut): every model that can move stops dead and unpowered."""
        for model in list(self._models.values()):
            stop = getattr(model, "emergency_stop", None)
            if callable(stop):
                stop()

    def stage(self, name: str) -> LinearStage:
        return self.get(name, LinearStage)

    def room_door(self) -> RoomDoor:
        """The room's door switch (closed until opened); every simulated room has one."""
        with self._lock:
            door = self._models.get(DOOR_NAME)
            if door is None:
                door = self._models[DOOR_NAME] = RoomDoor(DOOR_NAME, self.clock)
        if not isinstance(door, RoomDoor):
            raise TypeError(f"model {DOOR_NAME!r} is a {type(door).__name__}, not the room door")
        return door

    def names(self) -> list[str]:
        return list(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self) -> Iterator[WorldModel]:
        return iter(list(self._models.values()))

    def __repr__(self) -> str:
        return f"World(seed={self.seed}, models={self.names()}, clock={self.clock!r})"
