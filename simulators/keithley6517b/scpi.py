"""SCPI message handling on the instrument side: headers, paths, parameters, the error queue.

Rules implemented (SCPI-1999 Vol. 1 §6–7 as summarised in the 6517B reference manual §11):

* A program message ends in LF (a CR before it is ignored); ``;`` separates message units.
* A header is a ``:``-separated list of mnemonics, each in its short form (the capitals of the long form,
  ``ZCHeck`` → ``ZCH``) or its long form, case-insensitive; nodes in ``[…]`` may be omitted.
* A header that starts with ``:`` starts at the root; one that does not continues from the path of the
  previous unit in the same message (``:SENS:CURR:NPLC 1;RANG 2e-9``). The first unit starts at the root.
* Common commands (``*RST``) do not change the path; a leading ``:`` before one is tolerated (PyMeasure
  sends ``*RST;:stat:pres;:*CLS;``).
* A command error (−1xx) discards the rest of the message; execution errors (−2xx) do not.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

#: Standard SCPI error texts (the 6517B's spelling follows the standard).
SCPI_ERRORS: dict[int, str] = {
    0: "No error",
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -141: "Invalid character data",
    -144: "Character data too long",
    -150: "String data error",
    -200: "Execution error",
    -211: "Trigger ignored",
    -213: "Init ignored",
    -214: "Trigger deadlock",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -350: "Queue overflow",
    -410: "Query INTERRUPTED",
    -420: "Query UNTERMINATED",
}
ERROR_QUEUE_SIZE = 10


class ScpiError(Exception):
    """An error the instrument puts in its queue; ``code`` is the SCPI number."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.text = SCPI_ERRORS.get(code, "Unknown error")
        super().__init__(f"{code},{self.text}" + (f" ({detail})" if detail else ""))

    @property
    def is_command_error(self) -> bool:
        return -199 <= self.code <= -100


class ErrorQueue:
    """FIFO of (code, text); on overflow the newest entry becomes −350 ``Queue overflow``."""

    def __init__(self, size: int = ERROR_QUEUE_SIZE) -> None:
        self._size = size
        self._queue: deque[tuple[int, str]] = deque()

    def push(self, code: int) -> None:
        if len(self._queue) >= self._size:
            self._queue[-1] = (-350, SCPI_ERRORS[-350])
            return
        self._queue.append((code, SCPI_ERRORS.get(code, "Unknown error")))

    def pop(self) -> tuple[int, str]:
        return self._queue.popleft() if self._queue else (0, SCPI_ERRORS[0])

    def clear(self) -> None:
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)


@dataclass(frozen=True, slots=True)
class Node:
    """One mnemonic of a header pattern."""

    long: str
    short: str
    optional: bool
    suffix: str = ""  # an optional numeric suffix the node accepts, e.g. "1" for SENSe[1]

    def matches(self, word: str) -> bool:
        w = word.upper()
        for base in (self.short, self.long.upper()):
            if w == base or (self.suffix and w == base + self.suffix):
                return True
        return False


_NODE = re.compile(r"(\[)?:([A-Za-z*?]+)(\[(\d)\])?(\])?")


def short_form(long: str) -> str:
    """The SCPI short form: the upper-case letters of the long form (``NPLCycles`` → ``NPLC``)."""
    return "".join(ch for ch in long if ch.isupper() or ch.isdigit() or ch in "*?")


def compile_pattern(pattern: str) -> tuple[Node, ...]:
    """``[:SENSe[1]]:CURRent[:DC]:RANGe`` → nodes; ``[...]`` marks an optional node."""
    nodes: list[Node] = []
    pos = 0
    while pos < len(pattern):
        m = _NODE.match(pattern, pos)
        if not m:
            raise ValueError(f"bad SCPI pattern {pattern!r} at {pos}")
        optional = m.group(1) is not None
        long = m.group(2)
        nodes.append(Node(long, short_form(long).upper(), optional, m.group(4) or ""))
        pos = m.end()
    return tuple(nodes)


def match_header(nodes: Sequence[Node], words: Sequence[str]) -> bool:
    """Whether ``words`` (mnemonics, no ``?``) spell ``nodes``, skipping optional nodes as needed."""
    if not nodes:
        return not words
    head, rest = nodes[0], nodes[1:]
    if words and head.matches(words[0]) and match_header(rest, words[1:]):
        return True
    return head.optional and match_header(rest, words)


def match_keyword(long: str, word: str) -> bool:
    """Character data: ``word`` is the short or long form of ``long`` (``IMMediate`` ↔ ``IMM``)."""
    w = word.strip().upper()
    return w in (short_form(long).upper(), long.upper())


# ------------------------------------------------------------------------------------------- messages
@dataclass(frozen=True, slots=True)
class Unit:
    """One message unit: header words (no ``?``), whether it is a query, its parameters, whether common."""

    words: tuple[str, ...]
    query: bool
    params: tuple[str, ...]
    common: bool
    absolute: bool


def split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def parse_unit(text: str) -> Unit:
    """Parse one message unit (already split at ``;``)."""
    text = text.strip()
    header, _, rest = text.partition(" ")
    if not header:
        raise ScpiError(-102)
    tab = header.find("\t")
    if tab >= 0:
        header, rest = header[:tab], header[tab + 1 :] + " " + rest
    params = tuple(p.strip() for p in split_outside_quotes(rest, ",")) if rest.strip() else ()
    if any(p == "" for p in params):
        raise ScpiError(-109 if len(params) == 1 else -102)
    query = header.endswith("?")
    if query:
        header = header[:-1]
    stripped = header.lstrip(":")
    if stripped.startswith("*"):
        if not re.fullmatch(r"\*[A-Za-z]+", stripped):
            raise ScpiError(-113)
        return Unit((stripped.upper(),), query, params, common=True, absolute=True)
    absolute = header.startswith(":")
    words = tuple(stripped.split(":"))
    if any(not re.fullmatch(r"[A-Za-z]+\d*", w) for w in words):
        raise ScpiError(-102 if any(w == "" for w in words) else -113)
    return Unit(words, query, params, common=False, absolute=absolute)


# ------------------------------------------------------------------------------------------- parameters
def _strip_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    raise ScpiError(-150 if value[:1] in "'\"" else -104)


def string_param(value: str) -> str:
    """A quoted string parameter's content."""
    return _strip_quotes(value.strip())


def bool_param(value: str) -> bool:
    """``ON``/``OFF``/``1``/``0`` (any number: non-zero is ON, rounded as SCPI says)."""
    v = value.strip().upper()
    if v == "ON":
        return True
    if v == "OFF":
        return False
    try:
        return round(float(v)) != 0
    except (ValueError, OverflowError):  # nan, inf: not a boolean (the server thread must live on)
        raise ScpiError(-104) from None


def number_param(value: str, *, minimum: float, maximum: float, default: float) -> float:
    """NRf or ``MINimum``/``MAXimum``/``DEFault``; outside ``[minimum, maximum]`` is −222."""
    v = value.strip()
    for long, result in (("MINimum", minimum), ("MAXimum", maximum), ("DEFault", default)):
        if match_keyword(long, v):
            return result
    try:
        number = float(v)
    except ValueError:
        raise ScpiError(-104) from None
    if not math.isfinite(number):
        raise ScpiError(-104)
    if not minimum <= number <= maximum:
        raise ScpiError(-222)
    return number


def keyword_param(value: str, choices: Sequence[str]) -> str:
    """Character data: which of ``choices`` (long forms) ``value`` names; else −141."""
    for long in choices:
        if match_keyword(long, value):
            return long
    raise ScpiError(-141)


def nr3(value: float) -> str:
    """A numeric response in the form the simulator uses for every numeric query: ``+2.000000E-09``."""
    return f"{value:+.6E}"
