"""The state-machine plumbing the stateful drivers share: a declarative edge table, checked before any I/O.

Each driver declares its ``STATES`` and ``TRANSITIONS`` as data (the documentation diagrams come from the
same table) and owns one ``DriverStateMachine`` built from them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from transitions import Machine

from drivers.errors import IllegalStateError


def sources_by_trigger(transitions: Iterable[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """Which states each trigger may fire from, merged over every edge that trigger has."""
    table: dict[str, set[str]] = {}
    for edge in transitions:
        sources = edge["source"]
        table.setdefault(edge["trigger"], set()).update([sources] if isinstance(sources, str) else sources)
    return {trigger: frozenset(states) for trigger, states in table.items()}


class _Model:
    """The object ``transitions`` decorates, kept apart so its generated methods never shadow ours."""

    state: str


class DriverStateMachine:
    """A driver's ``transitions`` machine plus the guard its public calls check first.

    Why: every public call checks the declarative table before any I/O, so an illegal call raises
    ``IllegalStateError`` naming the device, the action and the state, and sends nothing. Only declared
    edges exist (no auto transitions), and firing a trigger that is not legal now raises too.
    """

    def __init__(
        self,
        device: str,
        states: Sequence[str],
        transitions: Sequence[Mapping[str, Any]],
        initial: str = "disconnected",
    ) -> None:
        self.device = device
        self._sources = sources_by_trigger(transitions)
        self._model = _Model()
        self._machine = Machine(
            model=self._model,
            states=list(states),
            transitions=list(transitions),
            initial=initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )

    @property
    def state(self) -> str:
        return self._model.state

    @property
    def sources(self) -> Mapping[str, frozenset[str]]:
        """Trigger → the states it may fire from."""
        return self._sources

    def fire(self, trigger: str) -> None:
        """Move along ``trigger``'s edge from the current state (``MachineError`` if it has none)."""
        self._machine.events[trigger].trigger(self._model)

    def can(self, trigger: str) -> bool:
        """Whether ``trigger`` may fire in the current state (``KeyError`` for an undeclared trigger)."""
        return self._model.state in self._sources[trigger]

    def require(self, action: str, trigger: str) -> None:
        """Raise ``IllegalStateError`` for ``action`` unless ``trigger`` may fire now."""
        if not self.can(trigger):
            raise IllegalStateError(self.device, action, self._model.state)

    def require_in(self, action: str, states: Collection[str]) -> None:
        """Raise ``IllegalStateError`` for ``action`` unless the current state is one of ``states``."""
        if self._model.state not in states:
            raise IllegalStateError(self.device, action, self._model.state)
