"""Controller-level errors. Driver errors pass through unchanged; these add run and config context."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class HilcalError(Exception):
    """Base of errors raised by the controller and sequences."""


class ConfigError(HilcalError):
    """A rig, sequence or tolerance file that does not validate; names file, field, value, expectation."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


class PreflightError(HilcalError):
    """A sequence plan that is invalid before any motion: nothing was sent to any device."""


class RunAborted(HilcalError):
    """The run was aborted by the operator or by an interlock."""


def describe_validation_errors(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> list[str]:
    """Turn pydantic error dicts into 'field = value: expected …' lines an engineer can act on."""
    problems = []
    for err in errors:
        loc = ".".join(str(part) for part in (prefix, *err.get("loc", ())) if part != "")
        kind = err.get("type", "")
        message = err.get("msg", "invalid")
        if kind == "extra_forbidden":
            problems.append(f"{loc} = {err.get('input')!r}: unknown field (not part of the schema)")
        elif kind == "missing":
            problems.append(f"{loc}: required field is missing")
        elif not loc:  # a rule across fields: its message names them; the whole file would be noise
            problems.append(_expectation(message))
        else:
            problems.append(f"{loc} = {err.get('input')!r}: expected {_expectation(message)}")
    return problems


def _expectation(message: str) -> str:
    text = message
    for lead in ("Input should be ", "Value error, "):
        if text.startswith(lead):
            text = text[len(lead) :]
    return text


def describe_error(err: BaseException) -> str:
    """``Type: message`` and any notes (such as the rig device it happened on), for journal and summary."""
    notes = "".join(f" ({note})" for note in getattr(err, "__notes__", ()))
    return f"{type(err).__name__}: {err}{notes}"
