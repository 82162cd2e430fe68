"""PI GCS 2.0 framing, written from the C-887 manual on the controller side (never shared with the driver).

A line command is ``MNEMONIC arg arg …`` ended by LF, in code page 1252; words are separated by spaces. A few
commands are a single control byte sent without LF (``#5`` = chr(5), ``#7`` = chr(7), ``#24`` = chr(24), …).
Set commands send nothing back. A query answers one or more lines; every line but the last ends with
space + LF, the last with a bare LF, so a client knows where the answer ends (``X=1.0 \\nY=2.0\\n``).
Errors are not answered at all: the controller latches the first error code, and ``ERR?`` returns and
clears it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

CODEPAGE = "cp1252"
#: Single-byte commands by their byte value; the ones this simulator does not implement answer error 2.
SINGLE_BYTE_COMMANDS: dict[int, str] = {
    3: "#3",
    4: "#4",
    5: "#5",
    6: "#6",
    7: "#7",
    8: "#8",
    9: "#9",
    11: "#11",
    24: "#24",
    27: "#27",
}
#: ``#7`` answers B1h ("±" in cp1252) when the controller is ready and B0h ("°") while it is busy.
READY = "\xb1"
NOT_READY = "\xb0"


class ErrorCode(IntEnum):
    """GCS controller error codes this simulator raises (numbers and meanings from PI's GCS error list)."""

    NO_ERROR = 0
    PARAM_SYNTAX = 1
    UNKNOWN_COMMAND = 2
    COMMAND_TOO_LONG = 3
    MOVE_WITHOUT_REF_OR_NO_SERVO = 5
    POS_OUT_OF_LIMITS = 7
    VEL_OUT_OF_LIMITS = 8
    SET_PIVOT_NOT_POSSIBLE = 9
    STOPPED_BY_COMMAND = 10
    INVALID_AXIS_IDENTIFIER = 15
    PARAM_OUT_OF_RANGE = 17
    PARAM_NR = 24
    MISSING_PARAM = 26
    NOT_ALLOWED_IN_MOTION = 53
    ON_LIMIT_SWITCH = 216
    MOTION_ERROR = 1024


class CommandError(Exception):
    """The command fails with ``code``: nothing is answered and the code is latched for ``ERR?``."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(f"GCS error {int(code)} ({code.name}){': ' + detail if detail else ''}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command: the mnemonic in upper case (``MOV``, ``POS?``, ``#5``) and its argument words."""

    mnemonic: str
    args: tuple[str, ...]


def parse_line(line: str) -> Command | None:
    """Split one line (without its LF) into a command; None for a blank line."""
    words = line.split()
    if not words:
        return None
    return Command(words[0].upper(), tuple(words[1:]))


def parse_number(word: str) -> float:
    """A finite decimal number, or error 1 (parameter syntax)."""
    try:
        value = float(word)
    except ValueError:
        raise CommandError(ErrorCode.PARAM_SYNTAX, f"not a number: {word!r}") from None
    if not math.isfinite(value):
        raise CommandError(ErrorCode.PARAM_SYNTAX, f"not a finite number: {word!r}")
    return value


def format_number(value: float) -> str:
    """Six decimals, as the C-887 prints positions; never ``-0.000000``."""
    return f"{round(value, 6) + 0.0:.6f}"


def format_lines(lines: Sequence[str]) -> bytes:
    """A complete answer: space+LF after every line but the last, LF after the last."""
    if not lines:
        raise ValueError("an answer has at least one line")
    return (" \n".join(lines) + "\n").encode(CODEPAGE)


def format_items(items: Iterable[tuple[str, str]]) -> bytes:
    """``ID=value`` lines, one per item (``X=1.000000 \\nY=2.000000\\n``)."""
    return format_lines([f"{key}={value}" for key, value in items])
