"""PTW UNIDOS Tango/Romeo remote protocol ("SCPI over telnet"): build commands, parse replies. Pure, no I/O.

Grammar (PyMeasure's ``pymeasure/instruments/ptw/ptwUNIDOS.py`` and its wire tests, which were taken
on a real Tango at TCP port 8123):

- request: ``NAME[;param…]`` + CR LF, e.g. ``HV;300``;
- reply: the command name echoed, then ``;``-separated fields, + CR LF, e.g. ``HV;300``, ``S;RES``;
- error: ``Enn;`` (``E01`` … ``E96``) instead of the echo.

Replies are UTF-8: range and unit fields carry ``µ``. The parsers are strict. A field count, an exponent,
or a unit prefix that disagrees with its exponent is a ``ProtocolError`` naming device, command and bytes,
because a half-read dose record is worse than none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from drivers.errors import DeviceRejected, ProtocolError, wire_float

TERMINATOR = b"\r\n"

#: Error replies and their meaning (wording ours; codes as PyMeasure lists them).
ERROR_CODES: Mapping[str, str] = MappingProxyType(
    {
        "E01": "syntax error or unknown command",
        "E02": "command not allowed in this context",
        "E03": "command not allowed at this moment",
        "E08": "parameter invalid, out of range or badly formatted",
        "E12": "aborted by the user",
        "E16": "command too long",
        "E17": "too many parameters",
        "E18": "empty parameter field",
        "E19": "wrong number of parameters",
        "E20": "no write permission (request it with TOK; the front panel or another client may hold it)",
        "E21": "required parameter not found (e.g. no detector selected)",
        "E24": "memory error: data could not be stored",
        "E28": "unknown parameter",
        "E29": "wrong parameter type",
        "E33": "measurement module defect",
        "E51": "undefined command",
        "E52": "wrong parameter type in the HTTP response",
        "E54": "HTTP request denied",
        "E58": "wrong value in the HTTP response",
        "E96": "timeout",
    }
)

#: Measuring ranges, lowest first (``RGE``).
RANGES: tuple[str, ...] = ("VERY_LOW", "LOW", "MEDIUM", "HIGH")

#: Device status (``S`` and field 1 of ``MV``) → dosimeter-role state. ``busy`` is not a role state: the
#: device is initialising or testing itself and takes no measurement commands.
STATUS_STATES: Mapping[str, str] = MappingProxyType(
    {
        "RES": "idle",
        "AUTO": "idle",
        "MEAS": "integrating",
        "INT": "integrating",
        "AUTO_MEAS": "integrating",
        "HOLD": "holding",
        "INTHLD": "holding",
        "EOM": "holding",
        "AUTO_HOLD": "holding",
        "ZERO": "zeroing",
        "ERROR": "fault",
        "WAIT": "busy",
        "INIT": "busy",
        "SELF_TEST": "busy",
        "TST": "busy",
    }
)

#: ``MV`` error-flag bits (field 15). Bits 0–3 make the reading unusable; the rest are reported as status.
FLAG_BITS: Mapping[int, str] = MappingProxyType(
    {
        0: "overload_current",
        1: "overload_charge",
        2: "hv_error_current",
        3: "hv_error_charge",
        4: "low_signal_current",
        5: "low_signal_charge",
        6: "low_auto_signal",
        8: "radiation_safety_current",
        9: "radiation_safety_charge",
        10: "ptw_internal",
        11: "uncalibrated",
    }
)
OVERLOAD_MASK = 0b0011
HV_ERROR_MASK = 0b1100

#: Unit prefixes and the power of ten each stands for; the exponent field must agree.
PREFIX_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {"": 0, "f": -15, "p": -12, "n": -9, "µ": -6, "μ": -6, "u": -6, "m": -3, "k": 3}
)
_TIME_SCALE: Mapping[str, float] = MappingProxyType({"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0})
_RATE_TIMEBASES = frozenset(("s", "min", "h"))
_ERROR_FIELD = re.compile(r"E\d\d")
_EXPONENT = re.compile(r"E([+-]?\d{1,3})")
_FLAGS = re.compile(r"0x[0-9A-Fa-f]{1,8}")
_PARAM_FORBIDDEN = frozenset(";\r\n")


class UnidosReply(NamedTuple):
    command: str
    fields: tuple[str, ...]
    raw: bytes


class UnidosIdentity(NamedTuple):
    """``PTW`` reply: e.g. ``UNIDOS Tango``, ``TM10052``, ``1.2.4``, ``A16``."""

    name: str
    type_number: str
    firmware: str
    hardware: str


class UnidosMeasurement(NamedTuple):
    """One ``MV`` record, scaled to SI base units (value × 10^exponent)."""

    status: str
    charge: float  # C, or Gy when electrical units are off
    charge_unit: str
    rate: float  # A, or e.g. Gy/min
    rate_unit: str
    time_s: float
    hv_v: float
    flags: int
    raw: bytes

    @property
    def flag_names(self) -> tuple[str, ...]:
        return decode_flags(self.flags)

    @property
    def electrical(self) -> bool:
        return self.charge_unit == "C" and self.rate_unit == "A"


class UnidosRangeValues(NamedTuple):
    """``MVM`` (range maximum: rate only) or ``MVR`` (resolution: charge and rate), scaled to SI."""

    range: str
    charge: float | None
    charge_unit: str | None
    rate: float
    rate_unit: str


class UnidosZeroStatus(NamedTuple):
    """``NUS``: e.g. ``Passed``, 0 ms remaining of 82000 ms."""

    status: str
    remaining_s: float
    total_s: float


def build_command(name: str, *params: str) -> bytes:
    """``NAME;p1;p2`` + CR LF; parameters may not contain ``;`` or line ends."""
    for param in params:
        if _PARAM_FORBIDDEN.intersection(param):
            raise ValueError(f"UNIDOS parameter {param!r} must not contain ';' or line ends")
    return ";".join((name, *params)).encode("utf-8") + TERMINATOR


def decode_flags(flags: int) -> tuple[str, ...]:
    """Names of the set flag bits, lowest first; unknown bits as ``bit<n>``."""
    return tuple(FLAG_BITS.get(bit, f"bit{bit}") for bit in range(flags.bit_length()) if flags >> bit & 1)


def parse_reply(raw: bytes, command: bytes, name: str, *, device: str) -> UnidosReply:
    """Check the echo and split the fields; ``Enn`` becomes ``DeviceRejected`` with the code's meaning."""
    if not raw.endswith(TERMINATOR):
        raise ProtocolError(device, command, raw, "reply does not end in CR LF")
    try:
        text = raw[: -len(TERMINATOR)].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(device, command, raw, "reply is not valid UTF-8") from None
    fields = text.split(";")
    head = fields[0]
    if _ERROR_FIELD.fullmatch(head) and all(not f for f in fields[1:]):
        raise DeviceRejected(device, command.decode("utf-8").rstrip(), head, ERROR_CODES.get(head, "unknown"))
    if head != name:
        raise ProtocolError(device, command, raw, f"reply does not echo {name!r}")
    return UnidosReply(name, tuple(fields[1:]), raw)


def _expect_fields(reply: UnidosReply, count: int, command: bytes, device: str) -> None:
    if len(reply.fields) != count:
        reason = f"{reply.command} reply has {len(reply.fields)} fields, expected {count}"
        raise ProtocolError(device, command, reply.raw, reason)


def _float(text: str, what: str, reply: UnidosReply, command: bytes, device: str) -> float:
    return wire_float(text, device=device, command=command, reply=reply.raw, what=what)


def _scaled(
    fields: tuple[str, ...], what: str, reply: UnidosReply, command: bytes, device: str
) -> tuple[float, str]:
    """(mantissa, ``E±n``, prefix, unit) → (value in base unit, unit); the prefix must match the exponent."""
    mantissa, exponent, prefix, unit = fields
    value = _float(mantissa, f"{what} mantissa", reply, command, device)
    match = _EXPONENT.fullmatch(exponent)
    if match is None:
        raise ProtocolError(device, command, reply.raw, f"{what} exponent {exponent!r} is not E±n")
    power = int(match.group(1))
    expected = PREFIX_EXPONENTS.get(prefix)
    if expected is None:
        raise ProtocolError(device, command, reply.raw, f"{what} unit prefix {prefix!r} is unknown")
    if expected != power:
        raise ProtocolError(
            device, command, reply.raw, f"{what} prefix {prefix!r} disagrees with exponent {exponent!r}"
        )
    if not unit:
        raise ProtocolError(device, command, reply.raw, f"{what} has no unit")
    scaled = value * 10.0**power
    if not math.isfinite(scaled):
        raise ProtocolError(device, command, reply.raw, f"{what} {mantissa}{exponent} is not a finite number")
    return scaled, unit


def _rate_unit(unit: str, timebase: str, reply: UnidosReply, command: bytes, device: str) -> str:
    if unit == "A":
        if timebase:
            raise ProtocolError(device, command, reply.raw, f"current in A with a time base {timebase!r}")
        return "A"
    if timebase not in _RATE_TIMEBASES:
        raise ProtocolError(device, command, reply.raw, f"rate time base {timebase!r} is not s, min or h")
    return f"{unit}/{timebase}"


def parse_identity(reply: UnidosReply, command: bytes, *, device: str) -> UnidosIdentity:
    _expect_fields(reply, 4, command, device)
    identity = UnidosIdentity(*reply.fields)
    if "UNIDOS" not in identity.name.upper():
        raise ProtocolError(device, command, reply.raw, "the instrument does not identify as a UNIDOS")
    return identity


def parse_bool(text: str, reply: UnidosReply, command: bytes, device: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise ProtocolError(device, command, reply.raw, f"{text!r} is neither 'true' nor 'false'")


def parse_measurement(reply: UnidosReply, command: bytes, *, device: str) -> UnidosMeasurement:
    """``MV;status;m;E;p;unit;m;E;p;unit;timebase;time;tunit;hv;V;flags`` (15 fields after the echo)."""
    _expect_fields(reply, 15, command, device)
    f = reply.fields
    status = f[0]
    if status not in STATUS_STATES:
        raise ProtocolError(device, command, reply.raw, f"status {status!r} is not a UNIDOS status")
    charge, charge_unit = _scaled(f[1:5], "charge/dose", reply, command, device)
    rate, base_unit = _scaled(f[5:9], "current/dose rate", reply, command, device)
    rate_unit = _rate_unit(base_unit, f[9], reply, command, device)
    scale = _TIME_SCALE.get(f[11])
    if scale is None:
        raise ProtocolError(device, command, reply.raw, f"time unit {f[11]!r} is not ms, s, min or h")
    time_s = _float(f[10], "measuring time", reply, command, device) * scale
    if f[13] != "V":
        raise ProtocolError(device, command, reply.raw, f"HV unit {f[13]!r} is not V")
    hv_v = _float(f[12], "HV", reply, command, device)
    if not _FLAGS.fullmatch(f[14]):
        raise ProtocolError(device, command, reply.raw, f"error flags {f[14]!r} are not 0x-hex")
    if (charge_unit == "C") != (base_unit == "A"):
        raise ProtocolError(device, command, reply.raw, "charge and rate units disagree (C with A expected)")
    return UnidosMeasurement(
        status, charge, charge_unit, rate, rate_unit, time_s, hv_v, int(f[14], 16), reply.raw
    )


def parse_range_values(reply: UnidosReply, command: bytes, *, device: str) -> UnidosRangeValues:
    """``MVM;range;m;E;p;unit;timebase`` or ``MVR;range;m;E;p;unit;m;E;p;unit;timebase``."""
    f = reply.fields
    if reply.command == "MVM":
        _expect_fields(reply, 6, command, device)
        rate, unit = _scaled(f[1:5], "range maximum", reply, command, device)
        return UnidosRangeValues(f[0], None, None, rate, _rate_unit(unit, f[5], reply, command, device))
    _expect_fields(reply, 10, command, device)
    charge, charge_unit = _scaled(f[1:5], "charge resolution", reply, command, device)
    rate, unit = _scaled(f[5:9], "rate resolution", reply, command, device)
    return UnidosRangeValues(f[0], charge, charge_unit, rate, _rate_unit(unit, f[9], reply, command, device))


def parse_zero_status(reply: UnidosReply, command: bytes, *, device: str) -> UnidosZeroStatus:
    _expect_fields(reply, 3, command, device)
    status, remaining, total = reply.fields
    return UnidosZeroStatus(
        status,
        _float(remaining, "remaining time", reply, command, device) / 1000.0,
        _float(total, "total time", reply, command, device) / 1000.0,
    )
