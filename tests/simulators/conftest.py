"""Shared fixtures: a virtual clock and world, a one-axis Zaber chain, and a leak check for servers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulators.clock import VirtualClock
from simulators.stage import LinearStage, StageConfig
from simulators.world import World
from simulators.zaber import ZaberChainSimulator, ZaberDeviceSim


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def world(clock: VirtualClock) -> World:
    return World(clock, seed=1234)


@pytest.fixture
def make_stage(world: World) -> Callable[..., LinearStage]:
    """Build a stage in the fixture world: ``make_stage(name="x", **StageConfig fields)``."""

    def make(name: str = "x", **fields: Any) -> LinearStage:
        return world.add_stage(name, StageConfig(**fields))

    return make


@pytest.fixture
def chain(world: World) -> ZaberChainSimulator:
    """Device 1, one axis "x" (0–300 mm, ideal), powered up at 10 mm."""
    world.add_stage("x", StageConfig(power_on_position_mm=10.0))
    return ZaberChainSimulator(world, {1: ZaberDeviceSim(["x"], serial=4242)})


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail if the test leaves a thread running or a file descriptor open."""
    threads = set(threading.enumerate())
    fds = _open_fds()
    yield
    leaked_threads = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not leaked_threads, f"leaked threads: {leaked_threads}"
    leaked_fds = _open_fds() - fds
    assert not leaked_fds, f"leaked file descriptors: {sorted(leaked_fds)}"
