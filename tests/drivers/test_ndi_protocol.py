"""NDI Combined API framing and reply parsers, byte for byte against recorded transcripts.

Every literal below is a byte string we recorded from (or computed and checked against) ndicapi 3.7.6
talking to a Combined API device simulator; framing and CRC follow the public ndicapi source
(PlusToolkit/ndicapi). The builders at the top make replies the same way
for cases the transcripts do not cover; they use their own bitwise CRC, checked here against the
driver's table-driven one, and are shared with the connection and tracker tests.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import pytest

from drivers.errors import ProtocolError, TransportTimeout
from drivers.ndi import (
    ERROR_CODES,
    NdiError,
    build_command,
    crc16,
    parse_bx,
    parse_handle,
    parse_handle_status,
    parse_text_reply,
    parse_tx,
    rom_chunks,
    tool_status,
)
from drivers.ndi.frames import HandleReport
from drivers.ndi.framing import check_binary_body, parse_binary_header
from drivers.transport.expected import ExpectedProtocolTransport

Script = list[tuple[bytes | None, bytes | None]]


# -- wire builders shared by the NDI tests ----------------------------------------------------------
def reference_crc(data: bytes) -> int:
    """CRC-16/ARC, bit by bit (poly 0xA001 reflected, init 0; check value 0xBB3D for b"123456789")."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def command(text_: str) -> bytes:
    raw = text_.encode()
    return raw + b"%04X\r" % reference_crc(raw)


def text(payload: str) -> bytes:
    raw = payload.encode()
    return raw + b"%04X\r" % reference_crc(raw)


def binary(body: bytes) -> bytes:
    header = struct.pack("<HH", 0xA5C4, len(body))
    return header + struct.pack("<H", reference_crc(header)) + body + struct.pack("<H", reference_crc(body))


Quaternion = tuple[float, float, float, float]
Vector = tuple[float, float, float]
IDENTITY: Quaternion = (1.0, 0.0, 0.0, 0.0)


def bx_valid(handle: int, q: Quaternion, t: Vector, err: float, status: int = 0x31, frame: int = 0) -> bytes:
    return bytes([handle, 0x01]) + struct.pack("<8f", *q, *t, err) + struct.pack("<II", status, frame)


def bx_missing(handle: int, status: int = 0x31, frame: int = 0) -> bytes:
    return bytes([handle, 0x02]) + struct.pack("<II", status, frame)


def bx_disabled(handle: int) -> bytes:
    return bytes([handle, 0x04])


def bx_body(entries: Sequence[bytes], system_status: int = 0) -> bytes:
    return bytes([len(entries)]) + b"".join(entries) + struct.pack("<H", system_status)


def tx_valid(handle: int, q: Quaternion, t: Vector, err: float, status: int = 0x31, frame: int = 0) -> str:
    return (
        f"{handle:02X}"
        + "".join(f"{round(v * 1e4):+06d}" for v in q)
        + "".join(f"{round(v * 100):+07d}" for v in t)
        + f"{round(err * 1e4):+06d}"
        + f"{status:08X}{frame:08X}\n"
    )


def tx_missing(handle: int, status: int = 0x31, frame: int = 0) -> str:
    return f"{handle:02X}MISSING{status:08X}{frame:08X}\n"


def tx_payload(lines: Sequence[str], system_status: int = 0) -> str:
    return f"{len(lines):02X}" + "".join(lines) + f"{system_status:04X}"


class ScriptedTransport(ExpectedProtocolTransport):
    """``ExpectedProtocolTransport`` whose ``read_exactly`` also sees the scripted reply.

    The base class moves scripted bytes into its buffer only in ``read_until``; with its zero timeout,
    ``read_exactly`` (which binary ``BX`` replies need) would time out before looking.
    """

    def _read_exactly(self, count: int, timeout_s: float, command: bytes | None) -> bytes:
        self._buffer += self._receive(0)
        if len(self._buffer) < count:
            raise TransportTimeout(self.device, command, bytes(self._buffer), timeout_s)
        return super()._read_exactly(count, timeout_s, command)


#: The verified BX frame (§2): handle 1 valid, identity, t = (10, −20, −1500) mm, error 0.1234, port
#: status 0x31, frame 0x4B. 53 bytes; header CRC 0x4330, body CRC 0x7B6D.
VERIFIED_BX = bytes.fromhex(
    "c4 a5 2d 00 30 43  01  01 01  00 00 80 3f 00 00 00 00 00 00 00 00 00 00 00 00"
    "00 00 20 41 00 00 a0 c1 00 80 bb c4 24 b9 fc 3d  31 00 00 00  4b 00 00 00  00 00  6d 7b"
)
#: The verified TX reply to ``TX:0801`` for the same pose (§2).
VERIFIED_TX = b"0101+10000+00000+00000+00000+001000-002000-150000+012340000003100000035\n0000E8FA\r"


# -- CRC ------------------------------------------------------------------------------------------------
def test_crc_check_value_and_ndicapi_constants() -> None:
    assert crc16(b"123456789") == 0xBB3D
    for data, expected in [
        (b"INIT:", 0xE3A5),
        (b"OKAY", 0xA896),
        (b"RESET", 0xBE6F),
        (b"VER:0", 0x65EE),
        (b"GETINFO:Features.Firmware.Version", 0x0492),
    ]:
        assert crc16(data) == expected == reference_crc(data)


def test_table_crc_matches_the_bitwise_reference() -> None:
    data = bytes(range(256)) * 3
    for end in (0, 1, 2, 17, 255, 256, 700):
        assert crc16(data[:end]) == reference_crc(data[:end])
    assert crc16(b"6789", crc16(b"12345")) == 0xBB3D  # continuation


def test_crc_residue_property_of_a_binary_header() -> None:
    header = VERIFIED_BX[:4]
    assert crc16(header + struct.pack("<H", crc16(header))) == 0


# -- commands -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "args", "wire"),
    [
        ("INIT", "", b"INIT:E3A5\r"),
        ("VER", "0", b"VER:065EE\r"),
        ("APIREV", "", b"APIREV:443E\r"),
        ("PHSR", "01", b"PHSR:01E03E\r"),
        ("PHSR", "02", b"PHSR:02E17E\r"),
        ("PHSR", "03", b"PHSR:0321BF\r"),
        ("PHSR", "04", b"PHSR:04E3FE\r"),
        ("PHRQ", "*********1****", b"PHRQ:*********1****A4C1\r"),
        ("PINIT", "01", b"PINIT:0131EA\r"),
        ("PENA", "01D", b"PENA:01D6D3B\r"),
        ("TSTART", "", b"TSTART:5423\r"),
        ("TSTOP", "", b"TSTOP:2C14\r"),
        ("BX", "0801", b"BX:080100EC\r"),
        ("TX", "0801", b"TX:0801C19B\r"),
        ("BEEP", "1", b"BEEP:18404\r"),
        ("COMM", "50000", b"COMM:500000048\r"),
    ],
)
def test_commands_match_the_transcript(name: str, args: str, wire: bytes) -> None:
    assert build_command(name, args) == wire


@pytest.mark.parametrize(
    ("name", "args"), [("", ""), ("init", ""), ("IN IT", ""), ("PINIT", "0 1"), ("X", "\r")]
)
def test_malformed_commands_are_refused_before_any_byte(name: str, args: str) -> None:
    with pytest.raises(ValueError):
        build_command(name, args)


# -- text replies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "payload"),
    [
        (b"OKAYA896\r", "OKAY"),
        (b"001414\r", "00"),
        (b"01D4D5\r", "01"),
        (b"010100101AF\r", "0101001"),
        (b"010101191AE\r", "0101011"),
        (b"0101031F1AF\r", "0101031"),
        (b"G.001.0056001\r", "G.001.005"),
        (b"1D4C1\r", "1"),
    ],
)
def test_text_replies_from_the_transcript(raw: bytes, payload: str) -> None:
    assert parse_text_reply(raw, device="vega", command=b"X") == payload


def test_multi_line_ver_reply() -> None:
    ver = (
        "Polaris Vega Control Firmware\nNDI S/N: P9-00000\nCharacterization Date: 01/01/20\n"
        "Freeze Tag: Polaris Vega 009\nFreeze Date: 01/01/20\n(C) Northern Digital Inc.\n"
    )
    assert parse_text_reply(ver.encode() + b"1EC4\r", device="vega", command=b"VER:065EE\r") == ver


@pytest.mark.parametrize(
    ("raw", "code", "meaning"),
    [
        (b"ERROR0C4E42\r", 0x0C, "invalid while in the current mode"),
        (b"ERROR016BC2\r", 0x01, "invalid command"),
        (b"ERROR046802\r", 0x04, "invalid CRC"),
        (b"ERROR2BEE82\r", 0x2B, "not been allocated"),
        (text("ERROR0D"), 0x0D, "no tool assigned"),
        (text("ERROR0E"), 0x0E, "not initialised"),
        (text("ERROR34"), 0x34, "no such user parameter"),
        (text("ERROR7E"), 0x7E, "not in our table"),
    ],
)
def test_error_replies_become_typed_errors(raw: bytes, code: int, meaning: str) -> None:
    with pytest.raises(NdiError) as caught:
        parse_text_reply(raw, device="vega", command=b"BX:080100EC\r")
    err = caught.value
    assert (err.ndi_code, err.code, err.device, err.command) == (code, f"ERROR{code:02X}", "vega", "BX:0801")
    assert meaning in err.text and meaning in str(err)


def test_error_table_covers_the_researched_codes() -> None:
    for code in (0x01, 0x04, 0x0C, 0x0D, 0x0E, 0x2B, 0x34):
        assert code in ERROR_CODES


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"OKAYA897\r", "bad reply CRC A897"),
        (b"OKAYa896\r", "not 4 upper-case hex"),
        (b"OKAYA896", "payload, 4 hex CRC digits and CR"),
        (b"OK\r", "payload, 4 hex CRC digits and CR"),
        (text("ERROR"), "two-digit hex code"),
        (text("ERRORZZ"), "two-digit hex code"),
        (b"\xffOKAY" + b"%04X\r" % reference_crc(b"\xffOKAY"), "not ASCII"),
    ],
)
def test_garbled_text_replies_name_device_command_and_bytes(raw: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_text_reply(raw, device="vega", command=b"INIT:E3A5\r")
    err = caught.value
    assert reason in err.reason
    assert (err.device, err.command, err.reply) == ("vega", b"INIT:E3A5\r", raw)


# -- binary envelope ------------------------------------------------------------------------------------
def test_verified_bx_envelope() -> None:
    assert len(VERIFIED_BX) == 53 and binary(VERIFIED_BX[6:-2]) == VERIFIED_BX
    assert parse_binary_header(VERIFIED_BX[:6], device="vega", command="BX") == 45
    assert check_binary_body(VERIFIED_BX[6:], device="vega", command="BX") == VERIFIED_BX[6:-2]


def test_bad_binary_header_and_body_crcs() -> None:
    bad_header = VERIFIED_BX[:4] + b"\x31\x43"
    with pytest.raises(ProtocolError, match="bad binary header CRC 4331: expected 4330"):
        parse_binary_header(bad_header, device="vega", command="BX")
    with pytest.raises(ProtocolError, match="must start with C4 A5"):
        parse_binary_header(b"\xa5\xc4" + VERIFIED_BX[2:6], device="vega", command="BX")
    bad_body = VERIFIED_BX[6:-1] + b"\x7c"
    with pytest.raises(ProtocolError, match="bad binary body CRC 7C6D: expected 7B6D") as caught:
        check_binary_body(bad_body, device="vega", command="BX", header=VERIFIED_BX[:6])
    assert caught.value.reply == VERIFIED_BX[:6] + bad_body


# -- BX -------------------------------------------------------------------------------------------------
def test_verified_bx_frame_one_tool() -> None:
    reply = parse_bx(VERIFIED_BX[6:-2], device="vega")
    assert reply.system_status == 0
    (report,) = reply.handles
    assert (report.handle, report.state, report.port_status, report.frame_number) == (1, "valid", 0x31, 0x4B)
    assert report.rotation == (1.0, 0.0, 0.0, 0.0)
    assert report.translation_mm == (10.0, -20.0, -1500.0)
    assert report.rms_error_mm == pytest.approx(0.1234, abs=1e-7)
    assert tool_status(report) == "ok"


def test_bx_frame_three_tools_one_missing_one_disabled() -> None:
    q = (0.5, 0.5, -0.5, 0.5)
    body = bx_body(
        [
            bx_valid(0x01, q, (1.5, 2.25, -1800.0), 0.25, frame=1000),
            bx_missing(0x02, frame=1000),
            bx_disabled(0x03),
        ],
        system_status=0x0040,
    )
    reply = parse_bx(body, device="vega")
    valid, missing, disabled = reply.handles
    assert reply.system_status == 0x0040
    assert (valid.rotation, valid.translation_mm, valid.rms_error_mm) == (q, (1.5, 2.25, -1800.0), 0.25)
    assert (missing.state, missing.port_status, missing.frame_number) == ("missing", 0x31, 1000)
    assert all(math.isnan(v) for v in (*missing.rotation, *missing.translation_mm, missing.rms_error_mm))
    assert (disabled.state, disabled.port_status, disabled.frame_number) == ("disabled", None, None)
    assert [tool_status(r) for r in reply.handles] == ["ok", "missing", "disabled"]
    assert reply.handle(2) is missing and reply.handle(9) is None


def test_bx_with_no_handles() -> None:
    reply = parse_bx(bx_body([]), device="vega")
    assert reply.handles == () and reply.system_status == 0


@pytest.mark.parametrize(
    ("port_status", "state", "expected"),
    [
        (0x31, "valid", "ok"),
        (0x71, "valid", "out_of_volume"),  # reported only because of option 0x0800
        (0xB1, "valid", "partially_out_of_volume"),
        (0xF1, "valid", "out_of_volume"),
        (0x31, "missing", "missing"),
        (0x71, "missing", "out_of_volume"),
    ],
)
def test_port_status_bits_map_to_role_statuses(port_status: int, state: str, expected: str) -> None:
    entry = (
        bx_valid(1, IDENTITY, (0, 0, 0), 0.1, port_status) if state == "valid" else bx_missing(1, port_status)
    )
    (report,) = parse_bx(bx_body([entry]), device="vega").handles
    assert tool_status(report) == expected


def test_unoccupied_handle_is_missing_to_the_role() -> None:
    report = HandleReport(1, "unoccupied", IDENTITY, (0.0, 0.0, 0.0), 0.0, None, None)
    assert tool_status(report) == "missing"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (bx_body([bx_valid(1, IDENTITY, (0, 0, 0), 0.1)])[:-3], "ends early"),
        (bx_body([bx_missing(1)]) + b"\x00", "after the system status"),
        (bx_body([bytes([1, 0x03])]), "unknown status byte 0x03"),
        (bytes([2]) + bx_missing(1), "ends early: 11 bytes for 2 handle"),
        (bytes([2]) + bx_missing(1) + b"\x00\x00", "handle 00 has unknown status byte 0x00"),
    ],
)
def test_garbled_bx_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as caught:
        parse_bx(body, device="vega", command="BX:0801")
    assert caught.value.reply == body and caught.value.command == "BX:0801"


# -- TX -------------------------------------------------------------------------------------------------
def test_verified_tx_frame() -> None:
    payload = parse_text_reply(VERIFIED_TX, device="vega", command=b"TX:0801C19B\r")
    (report,) = parse_tx(payload, device="vega").handles
    assert (report.handle, report.state, report.port_status, report.frame_number) == (1, "valid", 0x31, 0x35)
    assert report.rotation == (1.0, 0.0, 0.0, 0.0)
    assert report.translation_mm == (10.0, -20.0, -1500.0)
    assert report.rms_error_mm == 0.1234
    assert tx_payload([tx_valid(1, IDENTITY, (10, -20, -1500), 0.1234, frame=0x35)]) == payload


def test_tx_frame_three_tools_with_missing_and_disabled() -> None:
    q = (0.7071, 0.0, 0.7071, 0.0)
    payload = tx_payload(
        [
            tx_valid(0x01, q, (-12.34, 0.01, -1650.5), 0.0912, frame=77),
            tx_missing(0x02, 0x71, 77),
            "03DISABLED\n",
        ],
        system_status=0x0001,
    )
    reply = parse_tx(payload, device="vega")
    valid, missing, disabled = reply.handles
    assert reply.system_status == 1
    assert valid.rotation == q and valid.translation_mm == (-12.34, 0.01, -1650.5)
    assert valid.rms_error_mm == 0.0912 and valid.frame_number == 77
    assert (missing.state, missing.port_status, tool_status(missing)) == ("missing", 0x71, "out_of_volume")
    assert (disabled.state, disabled.port_status, disabled.frame_number) == ("disabled", None, None)


def test_tx_disabled_with_status_and_unoccupied() -> None:
    payload = tx_payload(["01DISABLED0000000100000002\n", "02UNOCCUPIED\n"])
    disabled, unoccupied = parse_tx(payload, device="vega").handles
    assert (disabled.state, disabled.port_status, disabled.frame_number) == ("disabled", 1, 2)
    assert (unoccupied.state, unoccupied.port_status) == ("unoccupied", None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", "ends inside the handle count"),
        ("0G", "not hexadecimal"),
        ("01", "ends inside the port handle"),
        ("01" + "01+10000+00000+00000+00000+001000-002000-15000X+0123400000031000000350000", "no transform"),
        ("0101+10000+00000+00000+00000+001000-002000-150000+0123400000031000000350000", "expected LF"),
        ("0101MISSING00000031\n0000", "ends inside the frame number"),
        ("0101MISSING0000003100000035\n000", "ends inside the system status"),
        ("0101MISSING0000003100000035\n00000", "after the system status"),
        ("0101MISSING0000003100000035\n00G0", "not hexadecimal"),
    ],
)
def test_garbled_tx_payloads(payload: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_tx(payload, device="vega", command="TX:0801")


# -- port handles ---------------------------------------------------------------------------------------
def test_phrq_and_phsr_replies() -> None:
    assert parse_handle("01", device="vega") == 1
    assert parse_handle("0A", device="vega") == 10
    assert parse_handle_status("00", device="vega") == ()
    assert parse_handle_status("0101031", device="vega") == ((1, 0x031),)
    assert parse_handle_status("020100103011", device="vega") == ((1, 0x001), (3, 0x011))


@pytest.mark.parametrize("payload", ["", "1", "001", "0G", "00"])
def test_garbled_phrq_replies(payload: str) -> None:
    with pytest.raises(ProtocolError):
        parse_handle(payload, device="vega")


@pytest.mark.parametrize("payload", ["", "0", "01010", "02010010301", "0101G01", "0G"])
def test_garbled_phsr_replies(payload: str) -> None:
    with pytest.raises(ProtocolError):
        parse_handle_status(payload, device="vega")


# -- ROM chunks -----------------------------------------------------------------------------------------
def test_rom_chunks_are_64_bytes_upper_hex_and_zero_padded() -> None:
    rom = bytes(range(256)) * 2 + bytes(range(240))  # 752 bytes → 12 chunks, the last 48 + 16 zeros
    chunks = rom_chunks(rom)
    assert [address for address, _ in chunks] == [64 * i for i in range(12)]
    assert all(len(data) == 128 and data == data.upper() for _, data in chunks)
    assert bytes.fromhex("".join(data for _, data in chunks)) == rom + bytes(16)
    assert rom_chunks(b"\xab") == [(0, "AB" + "00" * 63)]
    assert len(rom_chunks(bytes(1024))) == 16


@pytest.mark.parametrize("size", [0, 1025])
def test_rom_size_limits(size: int) -> None:
    with pytest.raises(ValueError):
        rom_chunks(bytes(size))


@pytest.mark.parametrize("index", range(8))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_valid_handle_with_a_non_finite_float_is_garbled_not_a_pose(index: int, bad: float) -> None:
    values = [1.0, 0.0, 0.0, 0.0, 10.0, -20.0, -1500.0, 0.1]
    values[index] = bad
    body = bx_body([bytes([1, 0x01]) + struct.pack("<8f", *values) + struct.pack("<II", 0x31, 7)])
    with pytest.raises(ProtocolError, match="vega: handle 01 is valid but its transform is not finite"):
        parse_bx(body, device="vega")
