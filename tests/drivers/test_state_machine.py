"""The shared driver state machine: the sources table, the guard before any I/O, and firing along edges."""

from __future__ import annotations

from typing import Any

import pytest
from transitions import MachineError

from drivers.errors import IllegalStateError
from drivers.state_machine import DriverStateMachine, sources_by_trigger

STATES = ("disconnected", "idle", "busy", "fault")
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "found", "source": "disconnected", "dest": "idle"},
    {"trigger": "start", "source": "idle", "dest": "busy"},
    {"trigger": "stopped", "source": ["idle", "busy"], "dest": "idle"},
    {"trigger": "stopped", "source": "fault", "dest": "fault"},
    {"trigger": "faulted", "source": ["idle", "busy"], "dest": "fault"},
]


def machine() -> DriverStateMachine:
    return DriverStateMachine("bench-1", STATES, TRANSITIONS)


def test_sources_merge_every_edge_of_a_trigger() -> None:
    assert sources_by_trigger(TRANSITIONS) == {
        "found": frozenset({"disconnected"}),
        "start": frozenset({"idle"}),
        "stopped": frozenset({"idle", "busy", "fault"}),
        "faulted": frozenset({"idle", "busy"}),
    }
    assert machine().sources == sources_by_trigger(TRANSITIONS)


def test_starts_in_initial_state_and_fire_follows_the_edges() -> None:
    sm = machine()
    assert sm.state == "disconnected"
    sm.fire("found")
    assert sm.state == "idle"
    sm.fire("start")
    assert sm.state == "busy"
    sm.fire("stopped")
    assert sm.state == "idle"
    sm.fire("faulted")
    sm.fire("stopped")
    assert sm.state == "fault"
    assert DriverStateMachine("bench-2", STATES, TRANSITIONS, initial="idle").state == "idle"


def test_illegal_require_names_device_action_and_state_and_leaves_state() -> None:
    sm = machine()
    message = r"^bench-1: cannot start the run while in state 'disconnected'$"
    with pytest.raises(IllegalStateError, match=message) as caught:
        sm.require("start the run", "start")
    assert (caught.value.device, caught.value.action, caught.value.state) == (
        "bench-1",
        "start the run",
        "disconnected",
    )
    assert sm.state == "disconnected"
    sm.fire("found")
    sm.require("start the run", "start")  # legal now: no error


def test_can_reports_whether_a_trigger_may_fire() -> None:
    sm = machine()
    assert not sm.can("faulted")
    sm.fire("found")
    assert sm.can("faulted")
    with pytest.raises(KeyError):
        sm.can("no_such_trigger")


def test_require_in_checks_membership() -> None:
    sm = machine()
    sm.fire("found")
    sm.require_in("read", ("idle", "busy"))
    with pytest.raises(IllegalStateError, match="bench-1: cannot fetch while in state 'idle'"):
        sm.require_in("fetch", frozenset({"busy"}))


def test_firing_an_illegal_trigger_raises_and_no_auto_transitions_exist() -> None:
    sm = machine()
    with pytest.raises(MachineError):
        sm.fire("start")
    assert sm.state == "disconnected"
    with pytest.raises(KeyError):
        sm.fire("to_busy")
