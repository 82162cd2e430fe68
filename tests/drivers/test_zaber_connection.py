"""ZaberConnection against scripted bytes: every command and reply is pinned, terminators included."""

from __future__ import annotations

import pytest

from drivers.errors import DeviceRejected, ProtocolError, TransportError, TransportTimeout
from drivers.transport.expected import ExpectedProtocolTransport
from drivers.zaber import ZaberConnection

Script = list[tuple[bytes | None, bytes | None]]


def connect(script: Script, **options: bool) -> tuple[ZaberConnection, ExpectedProtocolTransport]:
    transport = ExpectedProtocolTransport(script, device="chain-A")
    return ZaberConnection(transport, **options), transport


def test_plain_get_pos() -> None:
    conn, transport = connect([(b"/1 1 get pos\n", b"@01 1 OK IDLE -- 7500\r\n")])
    reply = conn.command(1, 1, "get pos")
    assert reply.data == "7500" and reply.status == "IDLE" and reply.info == () and reply.alerts == ()
    transport.assert_done()


def test_checksum_and_message_id_vector() -> None:
    conn, transport = connect(
        [(b"/1 0 00 get pos:2D\n", b"@01 0 00 OK IDLE -- 7500:71\r\n")], checksums=True, message_ids=True
    )
    reply = conn.command(1, 0, "get pos")
    assert (reply.message_id, reply.data) == (0, "7500")
    transport.assert_done()


def test_reply_without_checksum_is_accepted_when_commands_carry_one() -> None:
    conn, transport = connect([(b"/1 0 get pos:AD\n", b"@01 0 OK IDLE -- 7500\r\n")], checksums=True)
    assert conn.command(1, 0, "get pos").data == "7500"
    transport.assert_done()


def test_message_ids_cycle_00_to_99_then_wrap() -> None:
    script: Script = [(b"/1 1 %02d\n" % i, b"@01 1 %02d OK IDLE -- 0\r\n" % i) for i in range(100)]
    script.append((b"/1 1 00\n", b"@01 1 00 OK IDLE -- 0\r\n"))
    conn, transport = connect(script, message_ids=True)
    ids = [conn.command(1, 1).message_id for _ in range(101)]
    assert ids == [*range(100), 0]
    transport.assert_done()


def test_info_and_alert_lines_before_the_reply_are_collected_not_mistaken() -> None:
    conn, transport = connect(
        [
            (
                b"/1 1 get pos\n",
                b"#01 1 a note from the device\r\n!01 2 IDLE --\r\n@01 1 OK IDLE -- 7500\r\n",
            )
        ]
    )
    reply = conn.command(1, 1, "get pos")
    assert reply.data == "7500"
    assert reply.info == ("#01 1 a note from the device",)
    assert reply.alerts == ("!01 2 IDLE --",)
    assert conn.drain_alerts() == ("!01 2 IDLE --",)
    assert conn.drain_alerts() == ()
    transport.assert_done()


def test_unsolicited_alert_waiting_before_a_command_is_tolerated() -> None:
    conn, transport = connect([(None, b"!01 1 IDLE --\r\n"), (b"/1 1\n", b"@01 1 OK IDLE -- 0\r\n")])
    assert conn.command(1, 1).alerts == ("!01 1 IDLE --",)
    transport.assert_done()


@pytest.mark.parametrize("code", ["BADDATA", "BADCOMMAND", "STATUSBUSY", "BADAXIS"])
def test_rejection_raises_device_rejected_with_reason(code: str) -> None:
    conn, transport = connect([(b"/1 1 move abs 99999999\n", b"@01 1 RJ IDLE -- %s\r\n" % code.encode())])
    with pytest.raises(DeviceRejected) as caught:
        conn.command(1, 1, "move abs 99999999", device="phantom-x")
    err = caught.value
    assert (err.device, err.command, err.code) == ("phantom-x", "/1 1 move abs 99999999", code)
    assert err.detail and code in str(err)
    transport.assert_done()


@pytest.mark.parametrize(
    ("sent", "reply", "why"),
    [
        (b"/1 0 get pos\n", b"@01 0 OK IDLE\r\n", "too few fields"),
        (b"/1 1 get pos\n", b"@02 1 OK IDLE -- 7500\r\n", "from address 2"),
        (b"/1 1 get pos\n", b"@01 2 OK IDLE -- 7500\r\n", "axis 2"),
        (b"/1 1 get pos\n", b"@01 1 OK IDLE -- 7500:00\r\n", "bad checksum"),
        (b"/1 1 get pos\n", b"hello\r\n", "neither a reply"),
        (b"/1 1 get pos\n", b"@01 1 OK ID\r\n", "too few fields"),
    ],
)
def test_garbled_or_foreign_reply_is_a_protocol_error_naming_everything(
    sent: bytes, reply: bytes, why: str
) -> None:
    conn, transport = connect([(sent, reply)])
    address_axis = sent[1:4].split(b" ")
    with pytest.raises(ProtocolError) as caught:
        conn.command(int(address_axis[0]), int(address_axis[1]), "get pos", device="phantom-x")
    err = caught.value
    assert why in err.reason
    assert (err.device, err.command, err.reply) == ("phantom-x", sent, reply)
    transport.assert_done()


def test_wrong_message_id_is_a_protocol_error() -> None:
    conn, transport = connect([(b"/1 1 00 get pos\n", b"@01 1 07 OK IDLE -- 7500\r\n")], message_ids=True)
    with pytest.raises(ProtocolError, match="id 7, expected address 1 axis 1 id 0"):
        conn.command(1, 1, "get pos")
    transport.assert_done()


def test_silence_is_a_transport_timeout_naming_the_command() -> None:
    conn, transport = connect([(b"/1 1 get pos\n", None)])
    with pytest.raises(TransportTimeout) as caught:
        conn.command(1, 1, "get pos")
    assert caught.value.command == b"/1 1 get pos\n" and caught.value.received == b""
    assert "chain-A" in str(caught.value)
    transport.assert_done()


def test_truncated_reply_times_out_with_the_partial_bytes_and_is_discarded() -> None:
    conn, transport = connect(
        [(b"/1 1 get pos\n", b"@01 1 OK IDLE -- 75"), (b"/1 1 get pos\n", b"@01 1 OK IDLE -- 7500\r\n")]
    )
    with pytest.raises(TransportTimeout) as caught:
        conn.command(1, 1, "get pos")
    assert caught.value.received == b"@01 1 OK IDLE -- 75"
    # The partial line was flushed, so the next exchange reads its own reply.
    assert conn.command(1, 1, "get pos").data == "7500"
    transport.assert_done()


def test_after_a_protocol_error_leftover_lines_are_flushed() -> None:
    conn, transport = connect(
        [
            (b"/1 1 get pos\n", b"@02 1 OK IDLE -- 1\r\n@01 1 OK IDLE -- 7500\r\n"),
            (b"/1 1 get pos\n", b"@01 1 OK IDLE -- 7600\r\n"),
        ]
    )
    with pytest.raises(ProtocolError):
        conn.command(1, 1, "get pos")
    assert conn.command(1, 1, "get pos").data == "7600"
    transport.assert_done()


@pytest.mark.parametrize(
    ("address", "axis", "text"),
    [(0, 0, "get pos"), (100, 1, ""), (1, -1, ""), (1, 1, "get pos\n"), (1, 1, "set x 1:2")],
)
def test_bad_arguments_are_refused_before_any_byte(address: int, axis: int, text: str) -> None:
    conn, transport = connect([])
    with pytest.raises(ValueError):
        conn.command(address, axis, text)
    transport.assert_done()


def test_close_closes_the_transport() -> None:
    conn, transport = connect([])
    conn.close()
    conn.close()
    assert transport.closed
    with pytest.raises(TransportError, match="closed"):
        conn.command(1, 1, "get pos")
