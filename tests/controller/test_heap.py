"""The run engine keeps the collector off old objects during a run, and gives them back after it."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from controller.heap import old_objects_frozen


@pytest.fixture(autouse=True)
def _clean_heap():
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_old_objects_are_frozen_during_the_block_and_given_back_after():
    with old_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_cycle_that_was_garbage_before_the_run_is_collected_after_it():
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b  # cyclic garbage: only a full collection frees it
    with old_objects_frozen():
        gc.collect()
        assert alive() is not None  # frozen with the rest of the old heap: not walked during the run
    gc.collect()
    assert alive() is None  # nothing stays out of the collector's reach after the run


def test_overlapping_runs_unfreeze_only_when_the_last_ends():
    entered, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with old_objects_frozen():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other_run)
    with old_objects_frozen():
        thread.start()
        assert entered.wait(10)
    assert gc.get_freeze_count() > 0  # the other run is still going
    release.set()
    thread.join(10)
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_the_process_itself_is_left_frozen():
    gc.freeze()  # e.g. a server that froze its objects before forking
    assert gc.get_freeze_count() > 0
    with old_objects_frozen():
        pass
    # Still frozen (frozen objects that lose their last reference are freed, so the count may fall a
    # little; had the block unfrozen them it would be 0).
    assert gc.get_freeze_count() > 0


def test_nothing_is_frozen_when_the_collector_is_off():
    gc.disable()
    try:
        with old_objects_frozen():
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()
