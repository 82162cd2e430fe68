"""Air conditions typed in at the command line are used, or the console says why not — never ignored.

``--air-temperature-c/--air-pressure-kpa/--operator`` become the ``operator_entry`` environment device.
A step whose sequence has an ``environment`` parameter left empty gets ``environment: operator_entry``
(and the console says so); a step that names another device (a room sensor) keeps it, with a warning
that the typed-in values are not what corrects its charge; if no step can use them, that is said too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rich.console import Console
from rich.markup import escape

from controller.session import OPERATOR_DEVICE


class _Step(Protocol):
    sequence: str
    params: dict[str, object]
    title: str


def apply_typed_air(steps: Sequence[_Step]) -> tuple[list[str], list[str]]:
    """Point every step that can use typed-in air and has no environment device at ``operator_entry``.

    Returns (notes, warnings) for the console. ``steps`` are changed in place (their ``params``).
    """
    from sequences import get_sequence

    notes: list[str] = []
    warnings: list[str] = []
    usable = 0
    for index, step in enumerate(steps):
        sequence = get_sequence(step.sequence)
        if "environment" not in sequence.params_model.model_fields:
            continue
        usable += 1
        name = step.title or step.sequence
        where = f"step {index + 1} ({name})" if len(steps) > 1 else name
        current = getattr(sequence.parse_params(step.params), "environment", None)
        if current is None:
            step.params["environment"] = OPERATOR_DEVICE
            notes.append(
                f"{where}: k_TP from the typed-in air (environment: {OPERATOR_DEVICE}), as no environment "
                "device was named"
            )
        elif current != OPERATOR_DEVICE:
            warnings.append(
                f"{where}: its parameters name environment device {current!r}, so the typed-in air is not "
                f"used for its k_TP; set environment: {OPERATOR_DEVICE} to use it"
            )
    if usable == 0:
        warnings.append(
            "--air-temperature-c/--air-pressure-kpa were given, but no step corrects a charge for air "
            "density: they are recorded with the run and not used"
        )
    return notes, warnings


def announce_typed_air(steps: Sequence[_Step], console: Console, err_console: Console) -> None:
    """``apply_typed_air``, and say on the console what was done and what was not."""
    notes, warnings = apply_typed_air(steps)
    for note in notes:
        console.print(f"note: {escape(note)}", highlight=False)
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
