"""PI GCS 2.0 framing: build command lines and single-byte commands, split and parse replies.

Pure functions, no I/O, so the grammar is tested byte for byte. The parsers are strict: a reply that is
not exactly what the command table says is a ``ProtocolError`` naming the device, the command and the
bytes, because a half-read pose from a patient positioner is worse than none. They sit on the hot path
(``POS?`` on every readback), so they use ``str`` methods and precomputed tables, not regexes or pydantic.

Grammar (PI C-887 Hexapod Controller User Manual MS204E; PIPython ``pidevice/gcsmessages.py``):

- a command is ASCII text ending in LF: ``MOV X 10 U 5\\n``; axis/value pairs are separated by spaces;
- ``#5``, ``#7`` and ``#24`` are the single bytes 0x05, 0x07 and 0x18, sent with no LF;
- every reply line ends in LF; in a multi-line reply every line *but the last* ends in space + LF, which is
  the only way to know the reply is complete;
- text is cp1252 (the ``#7`` answer uses bytes 0xB1/0xB0, which are ``±``/``°`` in that code page).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from drivers.errors import ProtocolError

ENCODING: Final = "cp1252"

#: ``#5``: motion status, answered with a hex bit mask (bit 0 = first axis of ``SAI?``).
MOTION_STATUS: Final = b"\x05"
#: ``#7``: controller ready, answered with 0xB1 (ready) or 0xB0 (busy), then LF.
CONTROLLER_READY: Final = b"\x07"
#: ``#24``: stop all axes abruptly; no reply, and ``ERR?`` then returns 10.
STOP_ALL: Final = b"\x18"

READY_REPLY: Final = 0xB1
BUSY_REPLY: Final = 0xB0

#: The six platform axes of a C-887 hexapod: X Y Z in mm, U V W in degrees.
HEXAPOD_AXES: Final = ("X", "Y", "Z", "U", "V", "W")

#: Characters a number may contain on the wire. ``float()`` alone would also take ``"nan"``, ``"1_0"``
#: and surrounding blanks, none of which a controller sends.
_NUMBER_CHARS: Final = frozenset("0123456789+-.eE")
_HEX_CHARS: Final = frozenset("0123456789abcdefABCDEF")
_COMMAND_CHARS: Final = frozenset(chr(c) for c in range(0x20, 0x7F))
_CONTINUED: Final = b" \n"
#: Longest number a controller sends (a position to 6 decimals, an error code, a 32-bit mask). Longer text
#: is garbage, refused before it reaches ``int`` (whose 4300-digit limit raises an untyped ValueError).
MAX_NUMBER_CHARS: Final = 32
MAX_INT_DIGITS: Final = 18
MAX_MASK_DIGITS: Final = 16


def format_number(value: float) -> str:
    """Plain decimal text for a parameter: at most 6 decimals (the controller's own precision), no exponent.

    ``10.0`` → ``10``, ``-0.0000001`` → ``0``. Non-finite values are refused here, before any byte.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a GCS parameter must be a number, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"a GCS parameter must be finite, got {value!r}")
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def build_line(command: str, *args: str) -> bytes:
    """``command`` and its arguments joined by single spaces, cp1252, LF-terminated."""
    text = " ".join((command, *args)) if args else command
    if not text or not _COMMAND_CHARS.issuperset(text) or text[0] == " ":
        raise ValueError(f"GCS command text {text!r} must be printable ASCII without line ends")
    return text.encode(ENCODING) + b"\n"


def axis_arguments(values: Mapping[str, float]) -> tuple[str, ...]:
    """``{"X": 10.0, "U": 5.0}`` → ``("X", "10", "U", "5")`` in the mapping's order."""
    out: list[str] = []
    for axis, value in values.items():
        check_axis_id(axis)
        out.append(axis)
        out.append(format_number(value))
    return tuple(out)


def check_axis_id(axis: str) -> None:
    """Axis identifiers are short alphanumeric words (``X``, ``A``, ``1``); anything else is refused."""
    if not (0 < len(axis) <= 16 and axis.isascii() and axis.isalnum()):
        raise ValueError(f"GCS axis identifier {axis!r} must be 1-16 ASCII letters or digits")


def line_is_last(raw: bytes) -> bool:
    """True for the last line of a reply: LF *not* preceded by a space."""
    return not raw.endswith(_CONTINUED)


def decode_line(raw: bytes, *, device: str, command: bytes | str | None) -> str:
    """One reply line without its terminator (``\\n`` or `` \\n``); refuses CR and undecodable bytes."""
    if not raw.endswith(b"\n"):
        raise ProtocolError(device, command, raw, "reply line does not end in LF")
    body = raw[:-2] if raw.endswith(_CONTINUED) else raw[:-1]
    if b"\r" in body or b"\n" in body:
        raise ProtocolError(device, command, raw, "reply line contains a stray CR or LF")
    try:
        return body.decode(ENCODING)
    except UnicodeDecodeError:
        raise ProtocolError(device, command, raw, "reply is not valid cp1252") from None


def parse_number(text: str, *, device: str, command: bytes | str | None, raw: bytes | str) -> float:
    """A finite decimal number, strictly (no blanks, ``nan``, ``inf`` or underscores)."""
    if not text or len(text) > MAX_NUMBER_CHARS or not _NUMBER_CHARS.issuperset(text):
        raise ProtocolError(device, command, raw, f"{text[:40]!r} is not a number")
    try:
        value = float(text)
    except ValueError:
        raise ProtocolError(device, command, raw, f"{text!r} is not a number") from None
    if not math.isfinite(value):  # "1e999": the characters pass, the value overflows
        raise ProtocolError(device, command, raw, f"{text!r} is not finite")
    return value


def parse_int(text: str, *, device: str, command: bytes | str | None, raw: bytes | str) -> int:
    """A signed decimal integer (``ERR?`` codes are negative for host-side errors)."""
    digits = text[1:] if text[:1] == "-" else text
    if not digits.isdigit() or not digits.isascii() or len(digits) > MAX_INT_DIGITS:
        raise ProtocolError(device, command, raw, f"{text[:40]!r} is not an integer")
    return int(text)


def parse_keyed(
    lines: Sequence[str],
    keys: Sequence[str] | None,
    *,
    device: str,
    command: bytes | str | None,
    raw: bytes | str,
) -> dict[str, str]:
    """``["X=1.500000", "Y=0.000000"]`` → ``{"X": "1.500000", "Y": "0.000000"}``, strictly.

    Each line holds exactly one ``key=value`` with no blanks; keys may not repeat; when ``keys`` is given
    the reply must answer exactly those keys, in that order (the controller answers in request order).
    """
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key or not value or " " in line or "=" in value:
            raise ProtocolError(device, command, raw, f"line {line!r} is not one 'axis=value' pair")
        if key in out:
            raise ProtocolError(device, command, raw, f"axis {key!r} answered twice")
        out[key] = value
    if keys is not None and tuple(out) != tuple(keys):
        raise ProtocolError(
            device, command, raw, f"reply answers {list(out)}, expected {list(keys)} in that order"
        )
    return out


def parse_axis_floats(
    lines: Sequence[str],
    keys: Sequence[str] | None,
    *,
    device: str,
    command: bytes | str | None,
    raw: bytes | str,
) -> dict[str, float]:
    """``POS?``-style replies: one ``axis=number`` per line (see ``parse_keyed``)."""
    return {
        key: parse_number(text, device=device, command=command, raw=raw)
        for key, text in parse_keyed(lines, keys, device=device, command=command, raw=raw).items()
    }


def parse_axis_flags(
    lines: Sequence[str],
    keys: Sequence[str] | None,
    *,
    device: str,
    command: bytes | str | None,
    raw: bytes | str,
) -> dict[str, bool]:
    """``ONT?``/``FRF?``/``SVO?`` replies: one ``axis=0|1`` per line."""
    out: dict[str, bool] = {}
    for key, text in parse_keyed(lines, keys, device=device, command=command, raw=raw).items():
        if text not in ("0", "1"):
            raise ProtocolError(device, command, raw, f"axis {key} state {text!r} is neither 0 nor 1")
        out[key] = text == "1"
    return out


def parse_motion_status(text: str, *, device: str, raw: bytes | str) -> int:
    """The ``#5`` bit mask: hex digits, optionally prefixed ``0x`` (pipython reads it with ``int(_, 16)``)."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if not digits or len(digits) > MAX_MASK_DIGITS or not _HEX_CHARS.issuperset(digits):
        raise ProtocolError(device, "#5", raw, f"motion status {text[:40]!r} is not a hex bit mask")
    return int(digits, 16)


def parse_ready(raw: bytes, *, device: str) -> bool:
    """The ``#7`` answer: 0xB1 LF → ready, 0xB0 LF → busy; anything else is a ``ProtocolError``."""
    if len(raw) == 2 and raw[1] == 0x0A:
        if raw[0] == READY_REPLY:
            return True
        if raw[0] == BUSY_REPLY:
            return False
    raise ProtocolError(device, "#7", raw, "controller-ready answer is neither 0xB1 nor 0xB0 followed by LF")


def moving_axes(mask: int, axes: Iterable[str]) -> tuple[str, ...]:
    """Axes whose bit is set in a ``#5`` mask; bit 0 is the first axis of ``SAI?``."""
    return tuple(axis for bit, axis in enumerate(axes) if mask >> bit & 1)
