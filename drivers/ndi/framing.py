"""NDI Combined API framing: commands, text replies, binary replies and the CRC that guards all three.

Pure functions, no I/O, so every byte can be pinned in tests. The parsers are strict: a reply whose CRC
or shape is wrong is a ``ProtocolError`` naming the device, the command and the bytes, because a pose
read from a half-understood reply is worse than none.

Grammar (NDI Combined API as implemented by the public ndicapi source, PlusToolkit/ndicapi ``ndicapi.cxx``):

- command: ``CMD:args`` + CRC (4 upper-case hex digits over ``CMD:args``) + CR, e.g. ``INIT:E3A5\\r``;
- text reply: payload + CRC (4 upper-case hex over the payload) + CR; multi-line payloads (``VER``) use LF
  inside, so CR only ever ends a reply;
- refusal: ``ERRORxx`` + CRC + CR, ``xx`` two hex digits (``drivers.ndi.errors.ERROR_CODES``);
- binary reply (``BX``): ``C4 A5`` + ``u16`` body length + ``u16`` CRC of those 4 bytes, then the body,
  then ``u16`` CRC of the body; all little-endian.

CRC-16/ARC everywhere: polynomial 0x8005 reflected (0xA001), initial value 0, no final XOR; the check
value of ``b"123456789"`` is 0xBB3D.
"""

from __future__ import annotations

import struct
from typing import Final

from drivers.errors import ProtocolError
from drivers.ndi.errors import ndi_error


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC of ``data``, continuing from ``crc`` (table-driven; ``crc16(b"123456789") == 0xBB3D``)."""
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


CR: Final = b"\r"
#: First two bytes of every binary reply (start sequence 0xA5C4, little-endian).
BINARY_START: Final = b"\xc4\xa5"
#: Start sequence, body length and header CRC.
BINARY_HEADER_SIZE: Final = 6
OKAY: Final = "OKAY"

_NAME_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ARG_CHARS: Final = frozenset(chr(c) for c in range(0x21, 0x7F))
_HEX_UPPER: Final = frozenset(b"0123456789ABCDEF")
_HEX_TEXT: Final = frozenset("0123456789ABCDEFabcdef")


def build_command(name: str, args: str = "") -> bytes:
    """``CMD:args`` + CRC + CR: ``build_command("PINIT", "01") == b"PINIT:0131EA\\r"``.

    The colon form is always used (it is the only form that carries a CRC). ``args`` may be empty
    (``INIT:E3A5``); it must be printable ASCII without spaces or CR.
    """
    if not name or not _NAME_CHARS.issuperset(name):
        raise ValueError(f"command name {name!r} must be upper-case letters and digits")
    if not _ARG_CHARS.issuperset(args):
        raise ValueError(f"command arguments {args!r} must be printable ASCII without spaces")
    text = f"{name}:{args}".encode("ascii")
    return b"%s%04X\r" % (text, crc16(text))


def command_text(line: bytes) -> str:
    """The command as people write it (``PINIT:01``): the line without its CRC and CR, for messages."""
    return line[:-5].decode("ascii", "replace")


def parse_text_reply(raw: bytes, *, device: str, command: bytes | str | None) -> str:
    """The payload of one text reply after its CRC is checked; ``ERRORxx`` raises ``NdiError``.

    ``raw`` is the reply up to and including CR. ``device`` and ``command`` only label errors.
    """
    if len(raw) < 5 or raw[-1:] != CR:
        raise ProtocolError(device, command, raw, "a text reply must be a payload, 4 hex CRC digits and CR")
    digits = raw[-5:-1]
    if not _HEX_UPPER.issuperset(digits):
        raise ProtocolError(device, command, raw, f"reply CRC {digits!r} is not 4 upper-case hex digits")
    body = raw[:-5]
    expected = crc16(body)
    if int(digits, 16) != expected:
        raise ProtocolError(
            device, command, raw, f"bad reply CRC {digits.decode()}: the payload's CRC is {expected:04X}"
        )
    if CR in body:
        raise ProtocolError(device, command, raw, "reply holds more than one CR-terminated message")
    try:
        payload = body.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(device, command, raw, "reply payload is not ASCII") from None
    if payload.startswith("ERROR"):
        code = payload[5:]
        if len(code) != 2 or not _HEX_TEXT.issuperset(code):
            raise ProtocolError(device, command, raw, "ERROR reply without a two-digit hex code")
        label = command_text(command) if isinstance(command, bytes) else str(command)
        raise ndi_error(device, label, int(code, 16))
    return payload


def parse_binary_header(header: bytes, *, device: str, command: bytes | str | None) -> int:
    """Check a 6-byte binary header (start sequence, length, header CRC); return the body length."""
    if len(header) != BINARY_HEADER_SIZE or header[:2] != BINARY_START:
        raise ProtocolError(device, command, header, "a binary reply must start with C4 A5")
    length, header_crc = struct.unpack_from("<HH", header, 2)
    expected = crc16(header[:4])
    if header_crc != expected:
        raise ProtocolError(
            device, command, header, f"bad binary header CRC {header_crc:04X}: expected {expected:04X}"
        )
    return int(length)


def check_binary_body(data: bytes, *, device: str, command: bytes | str | None, header: bytes = b"") -> bytes:
    """``data`` is the body followed by its ``u16`` CRC; return the body once the CRC matches.

    ``header`` only makes the error show the whole reply.
    """
    if len(data) < 2:
        raise ProtocolError(device, command, header + data, "binary reply ends before its body CRC")
    body = data[:-2]
    (body_crc,) = struct.unpack_from("<H", data, len(data) - 2)
    expected = crc16(body)
    if body_crc != expected:
        raise ProtocolError(
            device, command, header + data, f"bad binary body CRC {body_crc:04X}: expected {expected:04X}"
        )
    return body


def parse_hex(text: str, *, device: str, command: bytes | str | None, what: str) -> int:
    """A fixed-width hex field (handle, status, count); anything but hex digits is a ``ProtocolError``."""
    if not text or not _HEX_TEXT.issuperset(text):
        raise ProtocolError(device, command, text, f"{what} {text!r} is not hexadecimal")
    return int(text, 16)


#: ROM images are written in 64-byte chunks at addresses 0x0000, 0x0040, … (``PVWR``).
ROM_CHUNK_SIZE: Final = 64
#: ``PVWR`` takes a 4-hex-digit address; NDI tool definition files are at most 1 KiB (16 chunks).
ROM_MAX_SIZE: Final = 1024


def rom_chunks(rom: bytes) -> list[tuple[int, str]]:
    """``(address, 128 upper-case hex digits)`` for each 64-byte chunk; the last is zero-padded.

    An empty image or one over 1024 bytes is refused: ndicapi silently truncates larger files, which would
    load a different tool than the file describes.
    """
    if not rom:
        raise ValueError("a tool ROM image must not be empty")
    if len(rom) > ROM_MAX_SIZE:
        raise ValueError(f"a tool ROM image holds at most {ROM_MAX_SIZE} bytes, this one has {len(rom)}")
    chunks = []
    for address in range(0, len(rom), ROM_CHUNK_SIZE):
        chunk = rom[address : address + ROM_CHUNK_SIZE].ljust(ROM_CHUNK_SIZE, b"\x00")
        chunks.append((address, chunk.hex().upper()))
    return chunks
