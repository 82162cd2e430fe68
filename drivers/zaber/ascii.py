"""Zaber ASCII framing: build command lines, parse reply lines, checksums and the flag tables.

This module is pure (no I/O) so the grammar can be tested byte for byte and reused by anything that
needs to read a Zaber log. The parser is deliberately strict: a reply that does not have every field in
the documented place is a ``ProtocolError`` naming the device, the command and the bytes, because a
half-understood reply from a motion controller is worse than none. It is also on the hot path of every
position read, so it uses ``str.split`` and precomputed tables rather than regular expressions.

Grammar (Zaber ASCII protocol manual, https://www.zaber.com/protocol-manual):

- command: ``/[addr] [axis] [id] command args[:CC]`` + line end (we send ``\\n``)
- reply:   ``@AA X [ID] OK|RJ BUSY|IDLE WF DATA[:CC]\\r\\n``
- info:    ``#AA X [ID] text\\r\\n``
- alert:   ``!AA X STATUS WF [data]\\r\\n``
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

from drivers.errors import ProtocolError

Severity = Literal["fault", "warning", "notice"]

#: Every warning flag with its meaning (zaber-motion 10.3.0 ``ascii/warning_flags.py``). The first letter
#: gives the class: ``F`` faults stop motion, ``W`` warnings, ``N`` notices. A reply shows only the
#: highest-priority flag; the ``warnings`` command lists them all.
WARNING_FLAGS: Mapping[str, str] = MappingProxyType(
    {
        "FF": "critical system error",
        "FN": "peripheral not supported",
        "FZ": "peripheral inactive",
        "FH": "hardware emergency stop",
        "FV": "over- or under-voltage",
        "FO": "driver disabled (firmware 7.11 and later)",
        "FC": "current inrush error",
        "FM": "motor temperature error",
        "FD": "driver disabled (firmware 7.10 and earlier)",
        "FQ": "encoder error",
        "FI": "index error",
        "FA": "analog encoder sync error",
        "FR": "overdrive limit exceeded",
        "FS": "stalled and stopped",
        "FB": "stream bounds error",
        "FP": "interpolated path deviation",
        "FE": "limit error",
        "FT": "excessive twist",
        "WL": "unexpected limit trigger",
        "WV": "voltage out of range",
        "WT": "controller temperature high",
        "WS": "stalled with recovery",
        "WM": "displaced when stationary",
        "WP": "invalid calibration type",
        "WR": "no reference position (not homed since power-up)",
        "WH": "device not homed",
        "NC": "manual control",
        "NI": "movement interrupted",
        "ND": "stream discontinuity",
        "NR": "value rounded",
        "NT": "value truncated",
        "NU": "setting update pending",
        "NJ": "joystick calibrating",
        "NB": "firmware update mode (firmware 6)",
    }
)

#: Flags that mean the axis has no valid reference and must be homed before absolute moves.
UNREFERENCED_FLAGS = frozenset(("WR", "WH"))

#: Reasons a device gives in the data field of an ``RJ`` reply (Zaber ASCII protocol manual; meanings
#: paraphrased).
REJECTION_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "AGAIN": "device busy with a previous command; retry",
        "BADAXIS": "axis does not exist or the command is not valid for it",
        "BADCOMMAND": "unknown command or setting",
        "BADDATA": "parameter invalid or out of range",
        "BADMESSAGEID": "message ID malformed",
        "BADSPLIT": "split command packets malformed",
        "DEVICEONLY": "command must be sent to axis 0",
        "DRIVERDISABLED": "motor driver is disabled",
        "FULL": "stream or PVT buffer full",
        "INACTIVE": "peripheral inactive",
        "LOCKSTEP": "axis is part of a lockstep group",
        "NOACCESS": "access level too low",
        "NOTSUPPORTED": "not supported by this device",
        "PARKED": "axis is parked",
        "REMOTE": "command not allowed in remote mode",
        "STATUSBUSY": "command requires the axis to be IDLE",
        "SYSTEMERROR": "device system error",
    }
)


def flag_severity(flag: str) -> Severity | None:
    """Class of a warning flag by its first letter; ``None`` for ``--`` (no flag)."""
    first = flag[:1]
    if first == "F":
        return "fault"
    if first == "W":
        return "warning"
    if first == "N":
        return "notice"
    return None


def describe_flag(flag: str) -> str:
    """``FS (stalled and stopped)``; unknown flags from newer firmware are named, not refused."""
    return f"{flag} ({WARNING_FLAGS.get(flag, 'flag not in our table')})"


def lrc(payload: bytes) -> int:
    """Zaber's longitudinal redundancy check: two's complement of the byte sum, mod 256.

    ``payload`` is everything after the leading ``/`` or ``@`` and before the ``:``. Appending the
    result makes the sum of payload plus check byte 0 mod 256, which is what ``verify`` relies on.
    """
    return -sum(payload) & 0xFF


_ID_TEXT = tuple(f"{i:02d}" for i in range(100))


def build_command(
    address: int, axis: int, text: str = "", *, message_id: int | None = None, checksum: bool = False
) -> bytes:
    """One command line, LF-terminated: ``/1 0 00 get pos:2D\\n``.

    ``text`` empty gives the status poll (``/1 1``). No validation here beyond what framing needs; the
    connection checks the arguments once.
    """
    head = f"{address} {axis}" if message_id is None else f"{address} {axis} {_ID_TEXT[message_id]}"
    payload = (f"{head} {text}" if text else head).encode("ascii")
    if checksum:
        return b"/%s:%02X\n" % (payload, lrc(payload))
    return b"/%s\n" % payload


class ZaberReply(NamedTuple):
    """A parsed ``@`` reply. A NamedTuple because it is built on every query and costs a tuple."""

    address: int
    axis: int
    message_id: int | None
    flag: str  # "OK" or "RJ"
    status: str  # "BUSY" or "IDLE"
    warning: str  # highest-priority warning flag, or "--"
    data: str  # never empty; "0" when there is nothing to return
    raw: bytes  # the line as received, for error messages
    info: tuple[str, ...] = ()  # '#' lines that arrived before this reply
    alerts: tuple[str, ...] = ()  # '!' lines that arrived before this reply

    @property
    def rejected(self) -> bool:
        return self.flag == "RJ"

    @property
    def busy(self) -> bool:
        return self.status == "BUSY"

    @property
    def fault(self) -> bool:
        """True when the highest-priority flag is a fault (``F*``): motion has been stopped."""
        return self.warning[0] == "F"


_FLAGS = frozenset(("OK", "RJ"))
_STATUSES = frozenset(("BUSY", "IDLE"))
_HEX_UPPER = frozenset(b"0123456789ABCDEF")


def _garbled(device: str, command: bytes | None, line: bytes, reason: str) -> ProtocolError:
    return ProtocolError(device, command, line, reason)


def strip_checksum(line: bytes, body: bytes, *, device: str, command: bytes | None) -> bytes:
    """Return ``body`` without its ``:CC`` suffix after verifying it; unchanged when there is none.

    ``body`` is the line without its leading marker and ``\\r\\n``. Known limit: a data value that itself
    ends in ``:`` plus two hex digits (a MAC address) would be read as a checksum.
    """
    if len(body) > 3 and body[-3] == 0x3A:  # ':'
        digits = body[-2:]
        if digits[0] not in _HEX_UPPER or digits[1] not in _HEX_UPPER:
            raise _garbled(device, command, line, f"checksum {digits!r} is not two upper-case hex digits")
        payload = body[:-3]
        if (sum(payload) + int(digits, 16)) & 0xFF:
            raise _garbled(
                device, command, line, f"bad checksum {digits.decode()}: expected {lrc(payload):02X}"
            )
        return payload
    return body


def parse_reply(
    line: bytes, *, with_message_id: bool, device: str = "zaber", command: bytes | None = None
) -> ZaberReply:
    """Parse one ``@`` reply line strictly; ``device`` and ``command`` only label errors.

    ``with_message_id`` says whether the request carried an ID: the reply must then echo one, and must
    not otherwise. Address, axis and ID are *not* compared with the request here; the connection does that.
    """
    if line[:1] != b"@" or line[-2:] != b"\r\n":
        raise _garbled(device, command, line, "a reply must start with '@' and end with CR LF")
    body = strip_checksum(line, line[1:-2], device=device, command=command)
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise _garbled(device, command, line, "reply is not ASCII") from None
    if with_message_id:
        parts = text.split(" ", 6)
        if len(parts) != 7:
            raise _garbled(device, command, line, "reply has too few fields (expected a message ID)")
        address, axis, msg_id, flag, status, warning, data = parts
        if len(msg_id) != 2 or not msg_id.isdigit():
            raise _garbled(device, command, line, f"message ID {msg_id!r} is not two digits")
        message_id: int | None = int(msg_id)
    else:
        parts = text.split(" ", 5)
        if len(parts) != 6:
            raise _garbled(device, command, line, "reply has too few fields")
        address, axis, flag, status, warning, data = parts
        message_id = None
    if len(address) != 2 or not address.isdigit():
        raise _garbled(device, command, line, f"address {address!r} is not two digits")
    if not (0 < len(axis) <= 2 and axis.isdigit()):
        raise _garbled(device, command, line, f"axis {axis!r} is not a number")
    if flag not in _FLAGS:
        raise _garbled(device, command, line, f"reply flag {flag!r} is neither OK nor RJ")
    if status not in _STATUSES:
        raise _garbled(device, command, line, f"status {status!r} is neither BUSY nor IDLE")
    if len(warning) != 2 or not (warning == "--" or (warning.isalpha() and warning.isupper())):
        raise _garbled(device, command, line, f"warning flag {warning!r} is not '--' or two letters")
    if not data or data[0] == " " or data[-1] == " ":
        raise _garbled(device, command, line, "data field is empty or padded")
    return ZaberReply(int(address), int(axis), message_id, flag, status, warning, data, line)


#: The ``warnings`` data is a two-digit count and at most one flag per entry of our table (3 chars each).
MAX_WARNINGS_DATA = 3 + 3 * 99
_DIGITS = frozenset("0123456789")
#: Zaber positions and settings are 64-bit integers at most: 19 digits and a sign.
MAX_INTEGER_DIGITS = 19


def parse_int(data: str, *, device: str, command: bytes | str | None, raw: bytes) -> int:
    """The data field as one integer: optional sign and at most 19 ASCII digits, else ``ProtocolError``.

    ``int()`` alone would accept ``1_000``, spaces and 400-digit numbers (which then overflow the
    conversion to millimetres); a device never sends those.
    """
    digits = data[1:] if data[:1] in ("+", "-") else data
    if not (0 < len(digits) <= MAX_INTEGER_DIGITS and _DIGITS.issuperset(digits)):
        raise ProtocolError(device, command, raw, "expected one integer in the data field")
    return int(data)


def parse_warnings_data(data: str) -> tuple[str, ...] | None:
    """Flags from a ``warnings`` reply's data (``"02 FS WR"``), or ``None`` if it does not parse.

    The count must match the number of flags; ``None`` lets the caller raise with full context.
    """
    if len(data) > MAX_WARNINGS_DATA:
        return None
    parts = data.split(" ")
    count, flags = parts[0], parts[1:]
    if not (0 < len(count) <= 3 and _DIGITS.issuperset(count)) or int(count) != len(flags):
        return None
    for flag in flags:
        if len(flag) != 2 or not (flag.isalpha() and flag.isupper()):
            return None
    return tuple(flags)
