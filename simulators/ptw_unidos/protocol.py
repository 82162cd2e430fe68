"""PTW UNIDOS Tango/Romeo remote grammar, written on the device side from PyMeasure's wire examples.

A request is ``CMD`` or ``CMD;p1;p2…`` ended by CR, LF or CRLF. A reply echoes the command and appends its
fields, separated by ``;``, ended by CRLF: ``HV`` → ``HV;300``. A refused request is answered ``Exx;``.
Numbers in measurement records are split into mantissa, exponent, SI prefix and unit:
``2.6;E-03;m;Gy`` is 2.6 mGy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Error codes with the texts PyMeasure's client knows them by (the codes the simulator emits are marked).
ERROR_TEXTS: dict[str, str] = {
    "E01": "Syntax error, unknown command",  # emitted
    "E02": "Command not allowed in this context",
    "E03": "Command not allowed at this moment",  # emitted
    "E08": "Parameter error: value invalid/out of range or wrong format of the parameter",  # emitted
    "E12": "Abort by user",
    "E16": "Command to long",  # emitted (sic, as PyMeasure spells it)
    "E17": "Maximum number of parameters exceeded",
    "E18": "Empty parameter field",  # emitted
    "E19": "Wrong number of parameters",  # emitted
    "E20": "No user rights, no write permission",  # emitted
    "E21": "Required parameter not found (eg. detector)",
    "E24": "Memory error: data could not be stored",
    "E28": "Unknown parameter",
    "E29": "Wrong parameter type",
    "E33": "Measurement module defect",
    "E51": "Undefined command",
    "E52": "Wrong parameter type of the HTTP response",
    "E54": "HTTP request denied",
    "E58": "Wrong valueof the HTTP response",
    "E96": "Timeout",
}

#: Longest request line accepted; longer ones are answered E16.
MAX_REQUEST_CHARS = 256

_PREFIXES: dict[int, str] = {-18: "a", -15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M"}

#: Error-flag bits of the MV record (field 14).
FLAG_CURRENT_OVERLOAD = 1 << 0
FLAG_CHARGE_OVERLOAD = 1 << 1
FLAG_HV_ERROR_CURRENT = 1 << 2
FLAG_HV_ERROR_CHARGE = 1 << 3
FLAG_LOW_SIGNAL_CURRENT = 1 << 4
FLAG_LOW_SIGNAL_CHARGE = 1 << 5
FLAG_UNCALIBRATED = 1 << 11


class UnidosError(Exception):
    """A refused request; ``code`` is the ``Exx`` the device answers with."""

    def __init__(self, code: str) -> None:
        super().__init__(f"{code}: {ERROR_TEXTS.get(code, 'unknown')}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Request:
    """One request line: the command word (upper case) and its ``;``-separated parameters."""

    command: str
    params: tuple[str, ...]


def parse_request(line: str) -> Request:
    """Split ``CMD;p1;p2`` (no terminator). Commands are matched case-insensitively; parameters keep case."""
    text = line.strip()
    if len(text) > MAX_REQUEST_CHARS:
        raise UnidosError("E16")
    command, *params = text.split(";")
    return Request(command.strip().upper(), tuple(p.strip() for p in params))


def format_reply(command: str, *fields: object) -> bytes:
    """``CMD;f1;f2…\\r\\n`` in UTF-8 (the micro prefix is ``µ``)."""
    return ";".join([command, *(str(f) for f in fields)]).encode("utf-8") + b"\r\n"


def format_error(code: str) -> bytes:
    return f"{code};".encode("ascii") + b"\r\n"


def engineering(value: float, resolution: float | None = None) -> tuple[str, str, str]:
    """(mantissa, exponent, prefix) for a value: ``2.6e-3`` → ``("2.6", "E-03", "m")``.

    The value is first rounded to ``resolution`` (the range's display resolution); the mantissa keeps five
    significant digits with trailing zeros dropped (at least one decimal). Zero is ``("0.0", "E-12", "p")``.
    """
    if resolution is not None and resolution > 0:
        value = round(value / resolution) * resolution
    if value == 0 or not math.isfinite(value):
        return "0.0", "E-12", "p"
    exp = 3 * math.floor(math.log10(abs(value)) / 3)
    exp = min(max(exp, min(_PREFIXES)), max(_PREFIXES))
    mantissa = value / 10.0**exp
    digits = max(0, 4 - math.floor(math.log10(abs(mantissa)))) if mantissa != 0 else 1
    text = f"{mantissa:.{digits}f}"
    if "." in text:
        text = text.rstrip("0")
        if text.endswith("."):
            text += "0"
    else:
        text += ".0"
    return text, f"E{exp:+03d}", _PREFIXES[exp]
