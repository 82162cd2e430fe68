"""Keithley 6517B SCPI: command text, reading strings, error-queue entries and identity. Pure, no I/O.

We send one SCPI command per line, LF-terminated, in the short forms of the 6517B Reference Manual
6517B-901-01, §14 (the same forms PyMeasure's ``Keithley6517B`` sends). Replies end in LF; a CR before it
(RS-232 set to CR LF) is tolerated.

Readings: with ``:FORM:ELEM READ,STAT,UNIT`` each reading is one token, the number followed directly by a
status letter and a unit, e.g. ``+1.234567E-10NADC`` or ``-2.500000E-09NCOUL`` (6517A/B manual, ASCII data
format, Fig. 3-19 of the 6517A User Manual). The parser accepts exactly that shape and nothing looser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from drivers.errors import ProtocolError

TERMINATOR = b"\n"
READING_ELEMENTS = "READ,STAT,UNIT"

#: Status letters after the number.
STATUS_LETTERS: Mapping[str, str] = MappingProxyType(
    {
        "N": "normal",
        "Z": "zero_check",
        "O": "overflow",
        "U": "underflow",
        "R": "relative",
        "L": "out_of_limits",
    }
)
#: Unit suffixes and the SI unit each stands for.
UNITS: Mapping[str, str] = MappingProxyType(
    {"ADC": "A", "COUL": "C", "VDC": "V", "OHM": "ohm", "OHMCM": "ohm·cm", "OHMSQ": "ohm/sq"}
)
#: The values the instrument reads while zero check is on, and on overflow (6517B Reference Manual
#: 6517B-901-01, §14).
ZERO_CHECK_READING = 9.91e37
OVERFLOW_READING = 9.9e37
#: Largest charge the coulomb function measures (2 µC range, 2.1 µC full scale; 6517B manual §4).
CHARGE_FULL_SCALE_C = 2.1e-6
#: Largest current range (PyMeasure's validator: ±20 mA).
CURRENT_FULL_SCALE_A = 20e-3
#: The V-source: ±1000 V, in a 100 V and a 1000 V range.
SOURCE_LIMIT_V = 1000.0
SOURCE_LOW_RANGE_V = 100.0
NPLC_RANGE = (0.01, 10.0)

#: Unambiguous (each digit can be matched one way only), so a failed match costs linear time; tokens are
#: also bounded in length before the regex sees them.
_READING = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:E[+-]?\d+)?)([NZOURL])(ADC|COUL|VDC|OHMCM|OHMSQ|OHM)")
_ERROR = re.compile(r'([+-]?\d{1,6}),"([^"]*)"')
#: Longest reading token: a sign, 7 digits and a point, ``E+nn``, a status letter and ``OHMCM``.
MAX_READING_CHARS = 40
#: Longest error-queue entry the 6517B sends (message text is at most 255 characters in SCPI-1999 §21.8).
MAX_ERROR_CHARS = 300


class KeithleyReading(NamedTuple):
    value: float  # in ``si_unit``
    status: str  # letter: N, Z, O, U, R, L
    unit: str  # wire suffix: ADC, COUL, …
    text: str

    @property
    def si_unit(self) -> str:
        return UNITS[self.unit]

    @property
    def status_name(self) -> str:
        return STATUS_LETTERS[self.status]

    @property
    def zero_check(self) -> bool:
        return self.status == "Z" or abs(self.value) >= ZERO_CHECK_READING * (1 - 1e-6)

    @property
    def overflow(self) -> bool:
        return self.status == "O" or (
            not self.zero_check and abs(self.value) >= OVERFLOW_READING * (1 - 1e-6)
        )


class KeithleyIdentity(NamedTuple):
    manufacturer: str
    model: str
    serial: str
    firmware: str


def reply_text(raw: bytes, command: bytes, *, device: str) -> str:
    """The reply without its terminator (and a CR before it); refuses a missing LF or non-ASCII bytes."""
    if not raw.endswith(TERMINATOR):
        raise ProtocolError(device, command, raw, "reply does not end in LF")
    try:
        return raw.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ProtocolError(device, command, raw, "reply is not ASCII") from None


def parse_reading(text: str, *, device: str, command: bytes, raw: bytes | None = None) -> KeithleyReading:
    """One reading token: ``<number><status letter><unit>``."""
    token = text.strip()
    reply = raw if raw is not None else text
    match = _READING.fullmatch(token) if len(token) <= MAX_READING_CHARS else None
    if match is None:
        raise ProtocolError(device, command, reply, "not a reading <number><status><unit>")
    number, status, unit = match.groups()
    value = float(number)
    if not math.isfinite(value):
        raise ProtocolError(device, command, reply, f"reading {number!r} is not a finite number")
    return KeithleyReading(value, status, unit, token)


def parse_readings(
    text: str, *, device: str, command: bytes, raw: bytes | None = None
) -> tuple[KeithleyReading, ...]:
    """Comma-separated readings (``:TRAC:DATA?``, ``:READ?`` with a trigger count above 1)."""
    if not text.strip():
        return ()
    return tuple(parse_reading(part, device=device, command=command, raw=raw) for part in text.split(","))


def parse_error(text: str, *, device: str, command: bytes) -> tuple[int, str]:
    """``:SYST:ERR?`` → (code, message); ``0,"No error"`` is (0, "No error")."""
    entry = text.strip()
    match = _ERROR.fullmatch(entry) if len(entry) <= MAX_ERROR_CHARS else None
    if match is None:
        raise ProtocolError(device, command, text, 'error-queue entry is not <code>,"<message>"')
    return int(match.group(1)), match.group(2)


def parse_identity(text: str, *, device: str, command: bytes) -> KeithleyIdentity:
    """``KEITHLEY INSTRUMENTS INC.,MODEL 6517B,<serial>,<firmware>``; anything but a 6517 is refused."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4:
        raise ProtocolError(device, command, text, "*IDN? reply does not have 4 comma-separated fields")
    identity = KeithleyIdentity(*parts)
    if "KEITHLEY" not in identity.manufacturer.upper() or "6517" not in identity.model:
        raise ProtocolError(device, command, text, "the instrument does not identify as a Keithley 6517")
    return identity


def parse_bool(text: str, *, device: str, command: bytes) -> bool:
    """SCPI boolean reply: ``1``/``0`` (``ON``/``OFF`` tolerated)."""
    value = text.strip().upper()
    if value in ("1", "ON"):
        return True
    if value in ("0", "OFF"):
        return False
    raise ProtocolError(device, command, text, "expected a SCPI boolean 1 or 0")


def parse_function(text: str, *, device: str, command: bytes) -> str:
    """``:SENS:FUNC?`` → ``CHAR``, ``CURR``, ``VOLT`` or ``RES`` (quotes and ``:DC`` dropped)."""
    value = text.strip().strip('"').upper()
    head = value.split(":")[0]
    if head.startswith("CHAR"):
        return "CHAR"
    if head.startswith("CURR"):
        return "CURR"
    if head.startswith("VOLT"):
        return "VOLT"
    if head.startswith("RES"):
        return "RES"
    raise ProtocolError(device, command, text, "not a 6517B measurement function")


def format_number(value: float) -> str:
    """SCPI numeric text (``%g``, as PyMeasure sends it): 300 → ``300``, 2e-8 → ``2e-08``."""
    return f"{value:g}"
