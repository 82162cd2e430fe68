"""NDI Combined API framing, written on the device side (from the public ndicapi source, PlusToolkit/ndicapi).

Commands: ``CMD:args`` + 4 upper-case hex CRC + CR, or ``CMD args`` + CR with no CRC (the command word is the
leading run of ``[A-Z0-9]``). Text replies: payload + CRC + CR, CRC over the payload. Binary replies (``BX``):
``C4 A5`` + u16 body length + u16 header CRC, body, u16 body CRC, all little-endian. The CRC is CRC-16/ARC
(polynomial 0x8005 reflected, init 0, no final XOR; check value 0xBB3D for ``123456789``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

#: Error codes (``ERRORxx``) this simulator sends, with NDI's meaning.
ERROR_TEXTS: dict[int, str] = {
    0x01: "Invalid command",
    0x02: "Command too long",
    0x04: "Invalid CRC calculated for command",
    0x07: "Incorrect number of command parameters",
    0x09: "Invalid mode selected",
    0x0C: "Command is invalid while in the current operating mode",
    0x0D: "No tool (ROM) loaded in the selected port handle",
    0x0E: "Selected port handle not initialized",
    0x10: "System not initialized",
    0x23: "Command parameter out of range",
    0x2B: "Port handle not allocated",
    0x2D: "All port handles are allocated",
    0x34: "User parameter does not exist",
}

INVALID_COMMAND = 0x01
TOO_LONG = 0x02
BAD_CRC = 0x04
BAD_PARAMETERS = 0x07
INVALID_MODE = 0x09
WRONG_STATE = 0x0C
NO_TOOL = 0x0D
PORT_NOT_INITIALIZED = 0x0E
NOT_INITIALIZED = 0x10
OUT_OF_RANGE = 0x23
HANDLE_NOT_ALLOCATED = 0x2B
HANDLES_FULL = 0x2D
NO_SUCH_PARAMETER = 0x34

#: Reply-option bits of ``BX``/``TX`` that the simulator implements.
OPTION_TRANSFORMS = 0x0001
OPTION_NOT_NORMALLY_REPORTED = 0x0800
SUPPORTED_OPTIONS = OPTION_TRANSFORMS | OPTION_NOT_NORMALLY_REPORTED

#: Handle status byte of a ``BX`` entry.
HANDLE_VALID = 0x01
HANDLE_MISSING = 0x02
HANDLE_DISABLED = 0x04

#: Port-status bits (32 bit in BX/TX; 12 bit in PHSR replies).
PORT_OCCUPIED = 0x01
PORT_INITIALIZED = 0x10
PORT_ENABLED = 0x20
PORT_OUT_OF_VOLUME = 0x40
PORT_PARTIALLY_OUT_OF_VOLUME = 0x80

START_SEQUENCE = 0xA5C4


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC, as NDI computes it (``crc16(b"123456789") == 0xBB3D``)."""
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def text_reply(payload: str) -> bytes:
    """``payload`` + 4 upper-case hex CRC + CR."""
    raw = payload.encode("latin-1")
    return raw + b"%04X\r" % crc16(raw)


def binary_reply(body: bytes) -> bytes:
    """``C4 A5`` + length + header CRC, ``body``, body CRC (all u16 little-endian)."""
    header = struct.pack("<HH", START_SEQUENCE, len(body))
    return header + struct.pack("<H", crc16(header)) + body + struct.pack("<H", crc16(body))


def corrupt_crc(reply: bytes) -> bytes:
    """The same reply with its (body) CRC off by one: a text reply's 4 hex digits, a binary reply's last
    two bytes. Framing and length are unchanged, so only the CRC check can notice."""
    if reply[:2] == struct.pack("<H", START_SEQUENCE) and len(reply) >= 8:
        (crc,) = struct.unpack("<H", reply[-2:])
        return reply[:-2] + struct.pack("<H", (crc + 1) & 0xFFFF)
    body = reply.rstrip(b"\r")
    if len(body) < 4:
        return reply
    crc = (int(body[-4:], 16) + 1) & 0xFFFF
    return body[:-4] + b"%04X\r" % crc


def error_reply(code: int) -> bytes:
    return text_reply(f"ERROR{code:02X}")


OKAY = text_reply("OKAY")
RESET_REPLY = text_reply("RESET")


class NdiError(Exception):
    """A refused command; ``code`` is the ``ERRORxx`` the device answers with."""

    def __init__(self, code: int, detail: str = "") -> None:
        text = ERROR_TEXTS.get(code, "unknown error")
        super().__init__(f"ERROR{code:02X}: {text}{': ' + detail if detail else ''}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Command:
    """One command line (without the CR): the command word, its arguments, whether a CRC was checked."""

    name: str
    args: str
    crc: bool


def parse_command(line: bytes) -> Command:
    """Split and check one command line; raises ``NdiError`` 01 (no command word) or 04 (bad CRC)."""
    text = line.decode("latin-1")
    end = 0
    while end < len(text) and ("A" <= text[end] <= "Z" or "0" <= text[end] <= "9"):
        end += 1
    name = text[:end]
    if not name:
        raise NdiError(INVALID_COMMAND, repr(text[:16]))
    if end == len(text):
        return Command(name, "", crc=False)
    separator = text[end]
    if separator == " ":
        return Command(name, text[end + 1 :], crc=False)
    if separator != ":":
        raise NdiError(INVALID_COMMAND, repr(text[:16]))
    body, crc_text = text[:-4], text[-4:]
    if len(text) < end + 5 or not _is_hex(crc_text) or int(crc_text, 16) != crc16(body.encode("latin-1")):
        raise NdiError(BAD_CRC)
    return Command(name, body[end + 1 :], crc=True)


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def parse_hex(text: str, digits: int) -> int:
    """Exactly ``digits`` hex digits (either case) → int; else ``NdiError`` 07."""
    if len(text) != digits or not _is_hex(text):
        raise NdiError(BAD_PARAMETERS, f"expected {digits} hex digits, got {text!r}")
    return int(text, 16)


# ======================================================================================== tracking replies
Presence = Literal["valid", "missing", "disabled"]


@dataclass(frozen=True, slots=True)
class ToolRecord:
    """One port handle in a ``BX``/``TX`` reply. ``transform`` = (q0, qx, qy, qz, tx, ty, tz, error)."""

    handle: int
    presence: Presence
    port_status: int
    frame: int
    transform: tuple[float, float, float, float, float, float, float, float] | None = None


_PRESENCE_BYTE = {"valid": HANDLE_VALID, "missing": HANDLE_MISSING, "disabled": HANDLE_DISABLED}


def bx_body(records: Sequence[ToolRecord], options: int, system_status: int = 0) -> bytes:
    """The ``BX`` body: u8 count, per handle u8 handle + u8 status [+ 8 f32 if valid] + u32 port status
    + u32 frame (the last two only with option 0x0001 and not disabled), then u16 system status."""
    out = bytearray([len(records)])
    for record in records:
        out += bytes([record.handle, _PRESENCE_BYTE[record.presence]])
        if record.presence == "disabled" or not options & OPTION_TRANSFORMS:
            continue
        if record.presence == "valid":
            assert record.transform is not None
            out += struct.pack("<8f", *record.transform)
        out += struct.pack("<II", record.port_status & 0xFFFFFFFF, record.frame & 0xFFFFFFFF)
    out += struct.pack("<H", system_status)
    return bytes(out)


def _signed(value: float, scale: float, digits: int) -> str:
    limit = 10**digits - 1
    number = max(-limit, min(limit, round(value * scale)))
    return f"{number:+0{digits + 1}d}"


def tx_transform(transform: Sequence[float]) -> str:
    """The 51-character TX transform: 4 × (sign + 5 digits)/1e4, 3 × (sign + 6 digits)/100, error/1e4."""
    q, t, error = transform[:4], transform[4:7], transform[7]
    return (
        "".join(_signed(v, 1e4, 5) for v in q)
        + "".join(_signed(v, 100.0, 6) for v in t)
        + _signed(error, 1e4, 5)
    )


def tx_payload(records: Sequence[ToolRecord], options: int, system_status: int = 0) -> str:
    """The ``TX`` text: ``NN``, one line per handle (``HH`` + transform|MISSING|DISABLED + 8-hex port status
    + 8-hex frame, with option 0x0001), then 4-hex system status."""
    lines = [f"{len(records):02X}"]
    for record in records:
        line = f"{record.handle:02X}"
        if options & OPTION_TRANSFORMS:
            if record.presence == "valid":
                assert record.transform is not None
                line += tx_transform(record.transform)
            else:
                line += record.presence.upper()
            line += f"{record.port_status & 0xFFFFFFFF:08X}{record.frame & 0xFFFFFFFF:08X}"
        lines.append(line + "\n")
    return "".join(lines) + f"{system_status:04X}"
