"""``Together``: a group of messages run at once, each on its own device, waited on as one plan step.

Each member is dispatched on a thread of its own; members name different devices, so no two threads ever
share an instrument (the plan check also refuses members behind one port, such as two axes of a daisy
chain). Every member passes the safety envelope before any is started. A member that fails does not cut
the others short: they were checked and are each bounded by their own driver timeouts, so they finish
(or time out) on their own; then the run faults naming the failed device, and the engine's safe stop
sends every mover its stop as on any fault.

Journal: one ``msg`` record for the group (members inside), one ``reading`` per member that answered
(``member`` = its position, ``device``), written by its thread as it finishes, then the group's
``reading`` (the responses in member order), which is what a resume replays.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.messages import Together, to_record

if TYPE_CHECKING:
    from controller.engine import RunEngine


class GroupMemberFailed(RuntimeError):
    """A member of a ``Together`` failed; names its device and what it was doing."""

    def __init__(self, device: str, kind: str, error: BaseException) -> None:
        super().__init__(f"{device}: {kind} failed in a Together group: {error}")
        self.device = device
        self.error = error


@dataclass
class _Outcome:
    response: Any = None
    error: BaseException | None = None


def run_together(engine: RunEngine, index: int, group: Together, record: dict[str, Any]) -> tuple[Any, ...]:
    """Check every member, start them all, wait for all; the responses in member order. ``record`` is the
    group as the engine journals it (built once per message)."""
    for member in group.messages:
        engine.envelope.check(member)
    engine.journal.append("msg", index=index, message=record)
    outcomes = [_Outcome() for _ in group.messages]

    def work(position: int) -> None:
        member = group.messages[position]
        try:
            response = engine._dispatch[type(member)](member)
        except BaseException as err:  # reported to the engine's thread below
            outcomes[position].error = err
            return
        outcomes[position].response = response
        if response is not None:
            engine.journal.append(
                "reading",
                index=index,
                member=position,
                device=getattr(member, "device", ""),
                reading=to_record(response),
            )

    threads = [
        threading.Thread(target=work, args=(position,), name=f"together-{index}-{position}", daemon=True)
        for position in range(len(group.messages))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for member, outcome in zip(group.messages, outcomes, strict=True):
        if outcome.error is not None:
            device = getattr(member, "device", "")
            raise GroupMemberFailed(device, type(member).__name__, outcome.error) from outcome.error
    responses = tuple(outcome.response for outcome in outcomes)
    engine.journal.append("reading", index=index, reading=to_record(responses))
    engine._track(group)
    return responses
