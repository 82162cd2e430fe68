"""Typed errors raised by transports and drivers.

Every error carries the context an engineer needs at the console: which device, which command, and the
bytes that came back. Higher layers chain these (``raise ... from err``) instead of rewording them.
"""

from __future__ import annotations


class HilcalDriverError(Exception):
    """Base of every error raised below the controller."""


class TransportError(HilcalDriverError):
    """The byte channel itself failed (port gone, connection closed, OS error)."""

    def __init__(self, device: str, message: str) -> None:
        super().__init__(f"{device}: {message}")
        self.device = device


class TransportTimeout(TransportError):
    """No complete reply arrived in time; keeps what did arrive."""

    def __init__(self, device: str, command: bytes | None, received: bytes, timeout_s: float) -> None:
        cmd = "(no command)" if command is None else repr(command)
        super().__init__(
            device,
            f"timed out after {timeout_s:.3f} s waiting for a reply to {cmd}; received so far {received!r}",
        )
        self.command = command
        self.received = received
        self.timeout_s = timeout_s


class ProtocolError(HilcalDriverError):
    """A reply that does not parse as the protocol says (garbled, partial, wrong address, bad checksum)."""

    def __init__(self, device: str, command: bytes | str | None, reply: bytes | str, reason: str) -> None:
        super().__init__(f"{device}: {reason}; command {command!r} got reply {reply!r}")
        self.device = device
        self.command = command
        self.reply = reply
        self.reason = reason


class DeviceRejected(HilcalDriverError):
    """The device understood the command and refused it (e.g. Zaber ``RJ``, GCS error code)."""

    def __init__(self, device: str, command: str, code: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{device}: command {command!r} rejected with {code}{extra}")
        self.device = device
        self.command = command
        self.code = code
        self.detail = detail


class DeviceFault(HilcalDriverError):
    """The device reports a fault condition (fault flag, stall, limit error) that stops motion."""

    def __init__(self, device: str, flags: str, detail: str = "") -> None:
        super().__init__(f"{device}: device fault {flags}" + (f": {detail}" if detail else ""))
        self.device = device
        self.flags = flags


class IllegalStateError(HilcalDriverError):
    """A call that the driver's state machine does not allow in its current state."""

    def __init__(self, device: str, action: str, state: str) -> None:
        super().__init__(f"{device}: cannot {action} while in state {state!r}")
        self.device = device
        self.action = action
        self.state = state


class LimitViolation(HilcalDriverError):
    """A target outside the configured travel; raised before any byte is sent."""

    def __init__(self, device: str, quantity: str, value: float, low: float, high: float, unit: str) -> None:
        over = value - high if value > high else low - value
        super().__init__(
            f"{device}: {quantity} {value:g} {unit} is outside the travel [{low:g}, {high:g}] {unit} "
            f"by {over:g} {unit}; nothing was sent"
        )
        self.device = device
        self.quantity = quantity
        self.value = value
        self.low = low
        self.high = high
        self.unit = unit


class DosimeterStateError(HilcalDriverError):
    """The electrometer says its reading is not a measurement; the driver raises instead of returning it.

    ``condition`` names what the device reported (flag names, status letter); ``reply`` keeps the bytes.
    """

    def __init__(
        self, device: str, condition: str, detail: str = "", reply: bytes | str | None = None
    ) -> None:
        text = f"{device}: {condition}"
        if detail:
            text += f": {detail}"
        if reply is not None:
            text += f"; reply {reply!r}"
        super().__init__(text)
        self.device = device
        self.condition = condition
        self.detail = detail
        self.reply = reply


class DosimeterOverload(DosimeterStateError):
    """The charge or current exceeded the range (UNIDOS overload flag, Keithley overflow ``O``/9.9E37)."""


class HighVoltageFault(DosimeterStateError):
    """The chamber bias is not what was asked for (UNIDOS HV-error flag, Keithley V-source output off)."""


class ZeroCheckActive(DosimeterStateError):
    """The input is shunted by zero check (Keithley status ``Z``, 9.91E37): there is nothing to read."""


class DosimeterTimeout(HilcalDriverError):
    """A zero or other timed electrometer operation still running when its (clock) deadline passed."""

    def __init__(self, device: str, action: str, timeout_s: float, last_status: str) -> None:
        super().__init__(
            f"{device}: {action} still running after {timeout_s:g} s on the rig clock; "
            f"last status {last_status!r}"
        )
        self.device = device
        self.action = action
        self.timeout_s = timeout_s
        self.last_status = last_status


# -- strict numbers from the wire --------------------------------------------------------------------
#: Longest numeric token any of our instruments sends (a float in full precision is ~25 characters);
#: anything longer is garbage, refused before any regex or conversion sees it.
MAX_NUMBER_CHARS = 40

_DECIMAL_CHARS = frozenset("0123456789")


def wire_float(
    text: str, *, device: str, command: bytes | str | None, reply: bytes | str, what: str
) -> float:
    """A finite decimal number from a reply field, or a ``ProtocolError`` naming device, command, bytes.

    Stricter than ``float()``: no ``nan``/``inf``, no ``_`` separators, no surrounding spaces, at most
    ``MAX_NUMBER_CHARS`` characters; a value that overflows to infinity is refused too. A non-finite
    reading is a device error, never a measurement.
    """
    if not 0 < len(text) <= MAX_NUMBER_CHARS or not _is_decimal(text):
        raise ProtocolError(device, command, reply, f"{what} {text[:MAX_NUMBER_CHARS]!r} is not a number")
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ProtocolError(device, command, reply, f"{what} {text!r} is not a finite number")
    return value


def wire_int(
    text: str,
    *,
    device: str,
    command: bytes | str | None,
    reply: bytes | str,
    what: str,
    max_digits: int = 20,
) -> int:
    """A decimal integer (optional sign, ASCII digits only, at most ``max_digits``) or a ``ProtocolError``."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not 0 < len(digits) <= max_digits or not _DECIMAL_CHARS.issuperset(digits):
        raise ProtocolError(device, command, reply, f"{what} {text[:MAX_NUMBER_CHARS]!r} is not an integer")
    return int(text)


def _is_decimal(text: str) -> bool:
    """``[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`` checked without a regex."""
    mantissa, _, exponent = text.replace("E", "e").partition("e")
    if "e" in text.replace("E", "e") and not exponent:
        return False
    if mantissa[:1] in ("+", "-"):
        mantissa = mantissa[1:]
    whole, dot, fraction = mantissa.partition(".")
    if (
        not (whole or fraction)
        or not _DECIMAL_CHARS.issuperset(whole)
        or not _DECIMAL_CHARS.issuperset(fraction)
    ):
        return False
    if not dot and fraction:
        return False
    if exponent:
        if exponent[:1] in ("+", "-"):
            exponent = exponent[1:]
        if not exponent or not _DECIMAL_CHARS.issuperset(exponent):
            return False
    return True
