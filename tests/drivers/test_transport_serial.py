"""SerialTransport on pyserial URLs: a loopback, and a pty answered by a tiny Zaber-speaking thread."""

from __future__ import annotations

import os
import threading
import tty
from collections.abc import Iterator

import pytest

from drivers.clock import WallClock
from drivers.errors import TransportError, TransportTimeout
from drivers.transport import open_transport
from drivers.transport.serial_port import SerialTransport
from drivers.zaber import ZaberAxis, ZaberConnection

REPLIES = {
    b"/1 1": b"@01 1 OK IDLE -- 0\r\n",
    b"/1 1 warnings": b"@01 1 OK IDLE -- 00\r\n",
    b"/1 1 get limit.min": b"@01 1 OK IDLE -- 0\r\n",
    b"/1 1 get limit.max": b"@01 1 OK IDLE -- 3048000\r\n",
    b"/1 0 get deviceid": b"@01 0 OK IDLE -- 50081\r\n",
    b"/1 0 get system.serial": b"@01 0 OK IDLE -- 41234\r\n",
    b"/1 0 get version": b"@01 0 OK IDLE -- 7.32\r\n",
    b"/1 0 get version.build": b"@01 0 OK IDLE -- 12345\r\n",
    b"/1 1 get pos": b"#01 1 split\r\n@01 1 OK IDLE -- 7500\r\n",
}


@pytest.fixture
def zaber_pty() -> Iterator[str]:
    """A pty whose far end answers REPLIES line by line, in one write each (as a device would)."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)

    def answer() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                reply = REPLIES.get(line)
                if reply is not None:
                    os.write(master, reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)
        thread.join(timeout=5)


def test_zaber_axis_over_a_real_pty(zaber_pty: str) -> None:
    transport = open_transport(zaber_pty, device="pty-chain", timeout_s=2.0)
    assert isinstance(transport, SerialTransport)
    with transport:
        axis = ZaberAxis(
            ZaberConnection(transport), name="x", address=1, axis=1, microstep_size_um=0.1, clock=WallClock()
        )
        axis.connect()
        assert axis.state == "ready"
        assert [axis.position_mm() for _ in range(50)] == [pytest.approx(0.75)] * 50
    assert transport.closed


def test_silent_pty_times_out_naming_device_and_command(zaber_pty: str) -> None:
    with SerialTransport(zaber_pty, device="pty-chain", timeout_s=0.05) as transport:
        transport.write(b"/9 9 nothing\n")
        with pytest.raises(TransportTimeout, match=r"pty-chain: timed out after 0\.050 s") as caught:
            transport.read_line(command=b"/9 9 nothing\n")
        assert caught.value.command == b"/9 9 nothing\n"


def test_loopback_url_reads_in_chunks_and_flushes() -> None:
    with SerialTransport("loop://", device="loop") as transport:
        transport.write(b"one\r\ntwo\r\nthr")
        assert transport.read_line() == b"one\r\n"
        assert transport.read_until(b"\r\n") == b"two\r\n"
        assert transport.flush_input() == b"thr"
        transport.write(b"abcdef")
        assert transport.read_exactly(4) == b"abcd"
        transport.flush_input()


def test_close_is_idempotent_and_closed_transport_refuses_io() -> None:
    transport = SerialTransport("loop://", device="loop")
    transport.close()
    transport.close()
    with pytest.raises(TransportError, match="loop: transport is closed"):
        transport.write(b"x")


def test_unopenable_url_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot open serial URL"):
        SerialTransport("/dev/does-not-exist-hilcal", device="ghost")
