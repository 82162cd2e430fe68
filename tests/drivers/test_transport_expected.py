"""The scripted transport that the expected-protocol tests rely on: it must fail loudly on every deviation."""

from __future__ import annotations

import pytest

from drivers.errors import TransportTimeout
from drivers.transport.base import Exchange
from drivers.transport.expected import ExpectedProtocolTransport, UnexpectedWrite


def test_scripted_exchange_and_listener_record() -> None:
    seen: list[Exchange] = []
    transport = ExpectedProtocolTransport([(b"ping\n", b"pong\r\n")], device="dut")
    transport.add_listener(seen.append)
    assert transport.query(b"ping\n") == b"pong\r\n"
    assert [(e.device, e.direction, e.data) for e in seen] == [
        ("dut", "tx", b"ping\n"),
        ("dut", "rx", b"pong\r\n"),
    ]
    transport.assert_done()


def test_wrong_write_names_the_step() -> None:
    transport = ExpectedProtocolTransport([(b"a\n", b"1\n")])
    with pytest.raises(UnexpectedWrite, match=r"step 0: driver wrote b'b\\n', expected b'a\\n'"):
        transport.write(b"b\n")


def test_write_after_the_script_ends_fails() -> None:
    transport = ExpectedProtocolTransport([])
    with pytest.raises(UnexpectedWrite, match="after the scripted conversation ended"):
        transport.write(b"x\n")


def test_assert_done_catches_unsent_steps_and_unread_replies() -> None:
    transport = ExpectedProtocolTransport([(b"a\n", b"1\n"), (b"b\n", b"2\n")])
    with pytest.raises(AssertionError, match="unsent steps"):
        transport.assert_done()
    transport.write(b"a\n")
    transport.write(b"b\n")
    assert transport.read_line() == b"1\n"
    with pytest.raises(AssertionError, match="unread"):
        transport.assert_done()


def test_unsolicited_lines_and_silence() -> None:
    transport = ExpectedProtocolTransport([(None, b"hello\n"), (b"q\n", None)])
    assert transport.read_line() == b"hello\n"
    transport.write(b"q\n")
    with pytest.raises(TransportTimeout) as caught:
        transport.read_line(command=b"q\n")
    assert caught.value.command == b"q\n"
    transport.assert_done()


def test_partial_line_times_out_with_the_bytes_received() -> None:
    transport = ExpectedProtocolTransport([(b"q\n", b"par")])
    transport.write(b"q\n")
    with pytest.raises(TransportTimeout) as caught:
        transport.read_line(command=b"q\n")
    assert caught.value.received == b"par"
    assert transport.flush_input() == b"par"
    transport.assert_done()


def test_read_exactly_serves_scripted_binary_replies_and_times_out_when_short():
    from drivers.errors import TransportTimeout
    from drivers.transport.expected import ExpectedProtocolTransport

    transport = ExpectedProtocolTransport([(b"BX:0801\r", b"\xc4\xa5\x10\x00rest")], device="tracker")
    transport.write(b"BX:0801\r")
    assert transport.read_exactly(4) == b"\xc4\xa5\x10\x00"
    with pytest.raises(TransportTimeout, match="tracker"):
        transport.read_exactly(10)
