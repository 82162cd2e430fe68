"""NdiConnection against scripted bytes: each command as sent, each reply as read, errors and resync.

Literals come from the transcript we recorded of ndicapi 3.7.6 and scikit-surgerynditracker 1.0.6;
replies it does not show are built with the bitwise-CRC builders in ``test_ndi_protocol``.
"""

from __future__ import annotations

import logging

import pytest

from drivers.errors import ProtocolError, TransportTimeout
from drivers.ndi import NdiConnection, NdiError
from drivers.ndi.connection import PHSR_TO_FREE
from tests.drivers.test_ndi_protocol import (
    VERIFIED_BX,
    VERIFIED_TX,
    Script,
    ScriptedTransport,
    binary,
    bx_body,
    bx_missing,
    command,
    text,
)

OKAY = b"OKAYA896\r"


def connect(script: Script) -> tuple[NdiConnection, ScriptedTransport]:
    transport = ScriptedTransport(script, device="vega-port")
    return NdiConnection(transport), transport


def test_every_command_byte_for_byte() -> None:
    ver = "Polaris Vega Control Firmware\nFreeze Tag: Polaris Vega 009\n"
    connection, transport = connect(
        [
            (b"INIT:E3A5\r", OKAY),
            (b"VER:065EE\r", text(ver)),
            (b"APIREV:443E\r", b"G.001.0056001\r"),
            (b"PHSR:01E03E\r", b"001414\r"),
            (b"PHSR:02E17E\r", b"010100101AF\r"),
            (command("PHF:01"), OKAY),
            (b"PHRQ:*********1****A4C1\r", b"01D4D5\r"),
            (b"PINIT:0131EA\r", OKAY),
            (b"PHSR:0321BF\r", b"010101191AE\r"),
            (b"PENA:01D6D3B\r", OKAY),
            (command("PENA:02S"), OKAY),
            (b"PHSR:04E3FE\r", b"0101031F1AF\r"),
            (b"TSTART:5423\r", OKAY),
            (b"BX:080100EC\r", VERIFIED_BX),
            (b"TX:0801C19B\r", VERIFIED_TX),
            (b"BEEP:18404\r", b"1D4C1\r"),
            (command("BEEP:3"), text("0")),
            (b"TSTOP:2C14\r", OKAY),
        ]
    )
    connection.initialize()
    assert connection.version(0) == ver
    assert connection.api_revision() == "G.001.005"
    assert connection.handle_status(PHSR_TO_FREE) == ()
    assert connection.handle_status(2) == ((1, 0x001),)
    connection.free_handle(1)
    assert connection.request_handle() == 1
    connection.initialize_handle(1)
    assert connection.handle_status(3) == ((1, 0x011),)
    connection.enable_handle(1)
    connection.enable_handle(2, "S")
    assert connection.handle_status(4) == ((1, 0x031),)
    connection.start_tracking()
    bx = connection.bx()
    tx = connection.tx()
    assert bx.handles[0].translation_mm == tx.handles[0].translation_mm == (10.0, -20.0, -1500.0)
    assert connection.beep() is True
    assert connection.beep(3) is False
    connection.stop_tracking()
    transport.assert_done()


def test_pvwr_writes_64_byte_chunks_in_upper_hex() -> None:
    # The transcript's first PVWR: handle 01, address 0000, 64 zero bytes.
    rom = bytes(64) + bytes(range(0xA0, 0xE0)) + b"\x01\x02"
    second = "".join(f"{b:02X}" for b in range(0xA0, 0xE0))
    connection, transport = connect(
        [
            (b"PVWR:010000" + b"0" * 128 + b"E5DE\r", OKAY),
            (command(f"PVWR:010040{second}"), OKAY),
            (command("PVWR:010080" + "0102" + "00" * 62), OKAY),
        ]
    )
    assert connection.write_rom(1, rom) == 3
    transport.assert_done()


def test_pvwr_refusal_stops_at_the_failing_chunk() -> None:
    line = command("PVWR:090000" + "00" * 64)
    connection, transport = connect([(line, b"ERROR2BEE82\r")])
    with pytest.raises(NdiError) as caught:
        connection.write_rom(9, bytes(200))
    assert caught.value.ndi_code == 0x2B and caught.value.command == "PVWR:090000" + "00" * 64
    transport.assert_done()


def test_arguments_are_checked_before_any_byte() -> None:
    connection, transport = connect([])
    for call in (
        lambda: connection.version(10),
        lambda: connection.handle_status(5),
        lambda: connection.free_handle(0),
        lambda: connection.initialize_handle(0x100),
        lambda: connection.enable_handle(1, "X"),  # type: ignore[arg-type]
        lambda: connection.beep(0),
        lambda: connection.beep(10),
        lambda: connection.write_rom(1, b""),
        lambda: connection.write_rom(1, bytes(1025)),
    ):
        with pytest.raises(ValueError):
            call()
    transport.assert_done()


def test_error_reply_is_typed_and_labelled_with_the_callers_name() -> None:
    connection, transport = connect([(b"PINIT:0131EA\r", text("ERROR0D"))])
    with pytest.raises(NdiError) as caught:
        connection.initialize_handle(1, device="tracker")
    err = caught.value
    assert (err.device, err.command, err.code, err.ndi_code) == ("tracker", "PINIT:01", "ERROR0D", 0x0D)
    assert "no tool assigned" in str(err)
    transport.assert_done()


def test_error_reply_to_bx_is_an_ndi_error_not_a_bad_crc() -> None:
    connection, transport = connect([(b"BX:080100EC\r", b"ERROR0C4E42\r")])
    with pytest.raises(NdiError) as caught:
        connection.bx()
    assert caught.value.ndi_code == 0x0C and caught.value.command == "BX:0801"
    transport.assert_done()


def test_short_text_reply_to_bx_is_refused() -> None:
    connection, transport = connect([(b"BX:080100EC\r", OKAY)])
    with pytest.raises(ProtocolError, match="expected a binary reply, got text 'OKAY'"):
        connection.bx()
    transport.assert_done()


def test_bad_crc_names_device_command_and_bytes_and_resyncs() -> None:
    connection, transport = connect(
        [
            (b"INIT:E3A5\r", b"OKAYA897\rstale"),
            (b"TSTART:5423\r", OKAY),
        ]
    )
    with pytest.raises(ProtocolError) as caught:
        connection.initialize()
    err = caught.value
    assert (err.device, err.command, err.reply) == ("vega-port", b"INIT:E3A5\r", b"OKAYA897\r")
    assert "bad reply CRC A897" in str(err)
    connection.start_tracking()  # the stale bytes were flushed: this reads its own reply
    transport.assert_done()


def test_bad_binary_crcs_and_garbage_header() -> None:
    bad_body = VERIFIED_BX[:-1] + b"\x00"
    bad_header = VERIFIED_BX[:5] + b"\x00" + VERIFIED_BX[6:]
    connection, transport = connect(
        [
            (b"BX:080100EC\r", bad_body),
            (b"BX:080100EC\r", bad_header),
            (b"BX:080100EC\r", b"\xc4\xa5\x00\r\x00\x00garbage\r"),
            (b"BX:080100EC\r", b"OK\rAY\r\x00\x00"),
        ]
    )
    with pytest.raises(ProtocolError, match="bad binary body CRC") as caught:
        connection.bx()
    assert caught.value.reply == bad_body and caught.value.command == b"BX:080100EC\r"
    with pytest.raises(ProtocolError, match="bad binary header CRC"):
        connection.bx()
    with pytest.raises(ProtocolError, match="bad binary header CRC"):
        connection.bx()
    with pytest.raises(ProtocolError, match="neither binary nor a single text message"):
        connection.bx()
    transport.assert_done()  # every broken reply was flushed


def test_bx_body_that_does_not_parse() -> None:
    connection, transport = connect([(b"BX:080100EC\r", binary(bx_body([bx_missing(1)]) + b"\x01"))])
    with pytest.raises(ProtocolError, match="after the system status"):
        connection.bx()
    transport.assert_done()


def test_silence_is_a_timeout_carrying_the_command() -> None:
    connection, transport = connect([(b"TSTOP:2C14\r", None), (b"BX:080100EC\r", VERIFIED_BX[:20])])
    with pytest.raises(TransportTimeout) as caught:
        connection.stop_tracking()
    assert caught.value.command == b"TSTOP:2C14\r"
    with pytest.raises(TransportTimeout) as partial:
        connection.bx()
    assert partial.value.received == VERIFIED_BX[6:20]
    transport.assert_done()


def test_unexpected_payloads_for_okay_and_beep() -> None:
    connection, transport = connect([(b"TSTART:5423\r", text("01")), (b"BEEP:18404\r", text("2"))])
    with pytest.raises(ProtocolError, match="expected OKAY"):
        connection.start_tracking()
    with pytest.raises(ProtocolError, match="expected 0 .busy. or 1"):
        connection.beep()
    transport.assert_done()


def test_warning_reply_is_accepted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    connection, transport = connect([(b"PINIT:0131EA\r", text("WARNING02"))])
    with caplog.at_level(logging.WARNING, logger="drivers.ndi.connection"):
        connection.initialize_handle(1)
    assert "WARNING02" in caplog.text
    transport.assert_done()


def test_bx_with_no_enabled_handles() -> None:
    connection, transport = connect([(b"BX:080100EC\r", binary(bx_body([], system_status=0x20)))])
    reply = connection.bx()
    assert reply.handles == () and reply.system_status == 0x20
    transport.assert_done()


def test_close_is_idempotent() -> None:
    connection, transport = connect([])
    connection.close()
    connection.close()
    assert transport.closed
