"""Zaber ASCII framing, written from the manual on the device side (never shared with the driver).

A command is ``/[address] [axis] [message id] words…[:CC]`` ended by CR, LF or both; a reply is
``@AA X [ID] FLAG STATUS WF DATA[:CC]\\r\\n``; an alert is ``!AA X STATUS WF\\r\\n``. ``CC`` is the LRC: the
two's complement of the byte sum (mod 256) of everything between the leading ``/``/``@``/``!`` and the ``:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Warning flags from highest to lowest priority: faults (F*), then warnings (W*), then notices (N*).
WARNING_PRIORITY: tuple[str, ...] = (
    "FF", "FN", "FZ", "FH", "FV", "FO", "FC", "FM", "FD",
    "FQ", "FI", "FA", "FR", "FS", "FB", "FP", "FE", "FT",
    "WL", "WV", "WT", "WS", "WM", "WP", "WR", "WH",
    "NC", "NI", "ND", "NR", "NT", "NU", "NJ", "NB",
)  # fmt: skip
_RANK = {flag: i for i, flag in enumerate(WARNING_PRIORITY)}
NO_WARNING = "--"

_INT = re.compile(r"\d{1,9}")  # longer numbers are words the device refuses, not ValueErrors
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")


def lrc(body: bytes) -> str:
    """The Zaber ASCII checksum of ``body`` as two upper-case hex digits."""
    return f"{(-sum(body)) & 0xFF:02X}"


def sort_flags(flags: set[str] | list[str]) -> list[str]:
    """Flags in priority order (unknown flags last, alphabetically)."""
    return sorted(set(flags), key=lambda f: (_RANK.get(f, len(_RANK)), f))


def corrupt_checksum(reply: bytes) -> bytes:
    """The same reply with a wrong LRC on each of its lines (a bit error the check catches); lines without a
    checksum are left alone."""
    lines = reply.split(b"\r\n")
    out = []
    for line in lines:
        if len(line) > 3 and line[-3:-2] == b":":
            wrong = (int(line[-2:], 16) + 1) % 256
            line = line[:-2] + b"%02X" % wrong
        out.append(line)
    return b"\r\n".join(out)


def top_flag(flags: set[str] | list[str]) -> str:
    ordered = sort_flags(flags)
    return ordered[0] if ordered else NO_WARNING


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command line. ``address`` 0 is a broadcast; ``axis`` 0 means the device or all axes."""

    address: int
    axis: int
    message_id: int | None
    words: tuple[str, ...]
    checksummed: bool


def parse_command(line: str) -> Command | None:
    """Parse one line without its terminator; None means the device ignores it.

    Ignored: lines with no ``/`` (bytes before the first ``/`` are noise), and lines whose checksum is
    malformed or wrong (the firmware drops a corrupted command rather than act on it).
    """
    start = line.find("/")
    if start < 0:
        return None
    body = line[start + 1 :].rstrip()
    checksummed = False
    if ":" in body:
        body, _, given = body.rpartition(":")
        if not _HEX2.fullmatch(given) or lrc(body.encode("ascii", "replace")) != given.upper():
            return None
        checksummed = True
    tokens = body.split()
    numbers: list[int] = []
    while tokens and len(numbers) < 3 and _INT.fullmatch(tokens[0]):
        numbers.append(int(tokens.pop(0)))
    address = numbers[0] if numbers else 0
    axis = numbers[1] if len(numbers) > 1 else 0
    message_id = numbers[2] if len(numbers) > 2 else None
    return Command(address, axis, message_id, tuple(tokens), checksummed)


def _frame(lead: str, body: str, checksum: bool) -> bytes:
    raw = body.encode("ascii")
    if checksum:
        return lead.encode() + raw + b":" + lrc(raw).encode() + b"\r\n"
    return lead.encode() + raw + b"\r\n"


def format_reply(
    address: int,
    axis: int,
    message_id: int | None,
    flag: str,
    status: str,
    warning: str,
    data: str,
    *,
    checksum: bool = False,
) -> bytes:
    """``@AA X [ID] FLAG STATUS WF DATA[:CC]\\r\\n``; empty ``data`` becomes ``0`` (data is never empty)."""
    ident = f" {message_id:02d}" if message_id is not None else ""
    body = f"{address:02d} {axis}{ident} {flag} {status} {warning} {data or '0'}"
    return _frame("@", body, checksum)


def format_alert(address: int, axis: int, status: str, warning: str, *, checksum: bool = False) -> bytes:
    """``!AA X STATUS WF[:CC]\\r\\n``, sent unprompted when ``comm.alert`` is 1 and a motion ends."""
    return _frame("!", f"{address:02d} {axis} {status} {warning}", checksum)
