"""Tracking replies (``BX`` binary, ``TX`` text) and port-handle replies (``PHRQ``, ``PHSR``), parsed.

Pure and strict: every field must be where the layout puts it and the whole reply must be consumed, or
the parser raises ``ProtocolError`` with the device, command and bytes. Both tracking formats become the
same ``TrackingReply``, so nothing above this module knows which one the tracker speaks.

Layouts for reply option 0x0801 (transforms and status, plus tools the tracker would not normally report,
i.e. out of volume); from the public ndicapi source (PlusToolkit/ndicapi), cross-checked with ndicapi's
``ndiBXHelper``/``ndiTXHelper``:

``BX`` body: ``u8`` handle count; per handle ``u8`` handle, ``u8`` handle status (0x01 valid, 0x02
missing, 0x04 disabled); valid: 8 × ``float32`` q0 qx qy qz tx ty tz error; valid or missing: ``u32``
port status and ``u32`` frame number; disabled: nothing more. Then ``u16`` system status.

``TX`` payload: 2 hex count; per handle 2 hex handle, then a 51-character transform (q: 4 × sign + 5
digits ÷ 10000; t: 3 × sign + 6 digits ÷ 100 mm; error: sign + 5 digits ÷ 10000), ``MISSING`` or
``DISABLED``, then 8 hex port status and 8 hex frame number, then LF. Then 4 hex system status.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from drivers.errors import ProtocolError
from drivers.ndi.framing import parse_hex
from drivers.roles.tracker import ToolStatus

HandleState = Literal["valid", "missing", "disabled", "unoccupied"]

#: ``BX`` handle status byte → state.
BX_HANDLE_STATES: Final[dict[int, HandleState]] = {0x01: "valid", 0x02: "missing", 0x04: "disabled"}

# Port status bits (ndicapi.h ``NDI_TOOL_IN_PORT`` … ``NDI_PARTIALLY_IN_VOLUME``).
PORT_OCCUPIED: Final = 0x01
PORT_INITIALIZED: Final = 0x10
PORT_ENABLED: Final = 0x20
PORT_OUT_OF_VOLUME: Final = 0x40
PORT_PARTIALLY_OUT_OF_VOLUME: Final = 0x80

#: System status bit that makes every pose in the reply untrustworthy (ndicapi.h ``NDI_HARDWARE_FAILURE``).
SYSTEM_HARDWARE_FAILURE: Final = 0x0010

#: Reply option sent with ``BX``/``TX``: 0x0001 transforms and status + 0x0800 out-of-volume tools.
TRACKING_REPLY_OPTION: Final = "0801"

_BX_HANDLE: Final = struct.Struct("<BB")
_BX_TRANSFORM: Final = struct.Struct("<8f")
_BX_PORT: Final = struct.Struct("<II")
_BX_SYSTEM: Final = struct.Struct("<H")
_TX_TRANSFORM_SIZE: Final = 51
#: (offset, width, divisor) of q0 qx qy qz, tx ty tz and the RMS error inside a TX transform.
_TX_FIELDS: Final = (
    (0, 6, 1e4),
    (6, 6, 1e4),
    (12, 6, 1e4),
    (18, 6, 1e4),
    (24, 7, 1e2),
    (31, 7, 1e2),
    (38, 7, 1e2),
    (45, 6, 1e4),
)
_DIGITS: Final = frozenset("0123456789")
_NAN4: Final = (math.nan, math.nan, math.nan, math.nan)
_NAN3: Final = (math.nan, math.nan, math.nan)


@dataclass(frozen=True, slots=True)
class HandleReport:
    """One port handle in one tracking reply.

    ``rotation``/``translation_mm``/``rms_error_mm`` come only with ``valid`` and are NaN otherwise;
    ``port_status``/``frame_number`` are None when the reply carries none (disabled, unoccupied).
    """

    handle: int
    state: HandleState
    rotation: tuple[float, float, float, float]
    translation_mm: tuple[float, float, float]
    rms_error_mm: float
    port_status: int | None
    frame_number: int | None


@dataclass(frozen=True, slots=True)
class TrackingReply:
    handles: tuple[HandleReport, ...]
    system_status: int

    def handle(self, number: int) -> HandleReport | None:
        for report in self.handles:
            if report.handle == number:
                return report
        return None


def tool_status(report: HandleReport) -> ToolStatus:
    """The role's status for a handle: out-of-volume bits win over valid/missing.

    A valid transform with bit 0x40 is reported because we ask for out-of-volume tools (option 0x0800); it
    lies outside the calibrated volume, so it is ``out_of_volume``, not ``ok``.
    """
    state = report.state
    if state == "disabled":
        return "disabled"
    if state == "unoccupied":
        return "missing"
    status = report.port_status or 0
    if status & PORT_OUT_OF_VOLUME:
        return "out_of_volume"
    if state == "missing":
        return "missing"
    if status & PORT_PARTIALLY_OUT_OF_VOLUME:
        return "partially_out_of_volume"
    return "ok"


# -- BX ---------------------------------------------------------------------------------------------
def parse_bx(body: bytes, *, device: str, command: bytes | str | None = "BX") -> TrackingReply:
    """A ``BX`` body (header and CRCs already checked) as a ``TrackingReply``."""

    def garbled(reason: str) -> ProtocolError:
        return ProtocolError(device, command, body, reason)

    if not body:
        raise garbled("BX body is empty")
    count = body[0]
    offset = 1
    reports: list[HandleReport] = []
    try:
        for _ in range(count):
            handle, code = _BX_HANDLE.unpack_from(body, offset)
            offset += 2
            state = BX_HANDLE_STATES.get(code)
            if state is None:
                raise garbled(f"handle {handle:02X} has unknown status byte 0x{code:02X}")
            if state == "disabled":
                reports.append(HandleReport(handle, state, _NAN4, _NAN3, math.nan, None, None))
                continue
            rotation, translation, error = _NAN4, _NAN3, math.nan
            if state == "valid":
                values = _BX_TRANSFORM.unpack_from(body, offset)
                if not all(map(math.isfinite, values)):
                    raise garbled(f"handle {handle:02X} is valid but its transform is not finite: {values}")
                q0, qx, qy, qz, tx, ty, tz, error = values
                offset += _BX_TRANSFORM.size
                rotation, translation = (q0, qx, qy, qz), (tx, ty, tz)
            port_status, frame = _BX_PORT.unpack_from(body, offset)
            offset += _BX_PORT.size
            reports.append(HandleReport(handle, state, rotation, translation, error, port_status, frame))
        (system_status,) = _BX_SYSTEM.unpack_from(body, offset)
    except struct.error:
        raise garbled(f"BX body ends early: {len(body)} bytes for {count} handle(s)") from None
    offset += _BX_SYSTEM.size
    if offset != len(body):
        raise garbled(f"BX body has {len(body) - offset} byte(s) after the system status")
    return TrackingReply(tuple(reports), system_status)


# -- TX ---------------------------------------------------------------------------------------------
def _signed(field: str) -> int | None:
    if len(field) < 2 or field[0] not in "+-" or not _DIGITS.issuperset(field[1:]):
        return None
    return int(field)


def _tx_transform(
    text: str,
) -> tuple[tuple[float, float, float, float], tuple[float, float, float], float] | None:
    if len(text) != _TX_TRANSFORM_SIZE:
        return None
    values = []
    for start, width, divisor in _TX_FIELDS:
        number = _signed(text[start : start + width])
        if number is None:
            return None
        values.append(number / divisor)
    q0, qx, qy, qz, tx, ty, tz, error = values
    return (q0, qx, qy, qz), (tx, ty, tz), error


def parse_tx(payload: str, *, device: str, command: bytes | str | None = "TX") -> TrackingReply:
    """A ``TX`` payload (CRC already checked and removed) as a ``TrackingReply``.

    ``DISABLED`` may be followed by port status and frame number or directly by LF (ndicapi reads both);
    ``UNOCCUPIED`` handles (wired ports with nothing plugged in) are kept with no status.
    """

    def garbled(reason: str) -> ProtocolError:
        return ProtocolError(device, command, payload, reason)

    def hex_field(start: int, width: int, what: str) -> int:
        field = payload[start : start + width]
        if len(field) != width:
            raise garbled(f"TX reply ends inside the {what}")
        return parse_hex(field, device=device, command=command, what=what)

    count = hex_field(0, 2, "handle count")
    position = 2
    reports: list[HandleReport] = []
    for _ in range(count):
        handle = hex_field(position, 2, "port handle")
        position += 2
        rotation, translation, error = _NAN4, _NAN3, math.nan
        state: HandleState
        if payload.startswith("MISSING", position):
            state, position = "missing", position + 7
        elif payload.startswith("DISABLED", position):
            state, position = "disabled", position + 8
        elif payload.startswith("UNOCCUPIED", position):
            state, position = "unoccupied", position + 10
        else:
            transform = _tx_transform(payload[position : position + _TX_TRANSFORM_SIZE])
            if transform is None:
                raise garbled(f"handle {handle:02X}: no transform, MISSING or DISABLED at offset {position}")
            state = "valid"
            rotation, translation, error = transform
            position += _TX_TRANSFORM_SIZE
        port_status: int | None = None
        frame: int | None = None
        if state in ("valid", "missing") or payload[position : position + 1] not in ("\n", ""):
            port_status = hex_field(position, 8, "port status")
            frame = hex_field(position + 8, 8, "frame number")
            position += 16
        if payload[position : position + 1] != "\n":
            raise garbled(f"handle {handle:02X}: expected LF at offset {position}")
        position += 1
        reports.append(HandleReport(handle, state, rotation, translation, error, port_status, frame))
    system_status = hex_field(position, 4, "system status")
    if position + 4 != len(payload):
        raise garbled(f"TX reply has {len(payload) - position - 4} character(s) after the system status")
    return TrackingReply(tuple(reports), system_status)


# -- port handles -----------------------------------------------------------------------------------
def parse_handle(payload: str, *, device: str, command: bytes | str | None = "PHRQ") -> int:
    """The ``PHRQ`` reply: exactly two hex digits, a handle in 0x01…0xFF."""
    if len(payload) != 2:
        raise ProtocolError(device, command, payload, "PHRQ must be answered with a two-digit handle")
    handle = parse_hex(payload, device=device, command=command, what="port handle")
    if handle == 0:
        raise ProtocolError(device, command, payload, "port handle 00 is not a handle")
    return handle


def parse_handle_status(
    payload: str, *, device: str, command: bytes | str | None = "PHSR"
) -> tuple[tuple[int, int], ...]:
    """The ``PHSR`` reply: 2 hex count, then per handle 2 hex handle + 3 hex status → ``(handle, status)``."""
    if len(payload) < 2:
        raise ProtocolError(device, command, payload, "PHSR reply is shorter than its handle count")
    count = parse_hex(payload[:2], device=device, command=command, what="handle count")
    if len(payload) != 2 + 5 * count:
        raise ProtocolError(
            device, command, payload, f"PHSR reply announces {count} handle(s) but is {len(payload)} long"
        )
    entries = []
    for index in range(count):
        start = 2 + 5 * index
        handle = parse_hex(payload[start : start + 2], device=device, command=command, what="port handle")
        status = parse_hex(payload[start + 2 : start + 5], device=device, command=command, what="status")
        entries.append((handle, status))
    return tuple(entries)


def frame_key(reports: Sequence[HandleReport]) -> tuple[int | None, ...]:
    """The frame numbers of a reply, in handle order: a new measurement changes at least one of them."""
    return tuple(report.frame_number for report in reports)
