"""The world: named models, typed lookup, per-model random streams fixed by the seed."""

from __future__ import annotations

import pytest

from simulators.clock import VirtualClock
from simulators.stage import LinearStage, StageConfig
from simulators.world import World


def test_models_are_named_and_typed(world: World) -> None:
    stage = world.add_stage("x", StageConfig())
    assert world.stage("x") is stage
    assert world.get("x", LinearStage) is stage
    assert "x" in world and world.names() == ["x"]
    assert list(world) == [stage]
    with pytest.raises(ValueError, match="already has"):
        world.add_stage("x", StageConfig())
    with pytest.raises(KeyError, match="no model named 'y'"):
        world.stage("y")
    with pytest.raises(TypeError, match="not a VirtualClock"):
        world.get("x", VirtualClock)  # type: ignore[type-var]


def test_models_share_the_world_clock(world: World, clock: VirtualClock) -> None:
    stage = world.add_stage("x", StageConfig())
    clock.sleep(1.25)
    assert stage.now() == world.now() == 1.25


def test_random_streams_depend_on_seed_and_name_only() -> None:
    a = World(VirtualClock(), seed=7)
    b = World(VirtualClock(), seed=7)
    b.add_stage("other", StageConfig())  # adding models must not shift anyone else's noise
    assert a.rng_for("x").normal(size=3).tolist() == b.rng_for("x").normal(size=3).tolist()
    assert a.rng_for("x").normal() != a.rng_for("y").normal()
    assert World(VirtualClock(), seed=8).rng_for("x").normal() != a.rng_for("x").normal()
