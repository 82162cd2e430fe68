"""Transports over real channels: pyserial (pty, loop://, socket://) and pyvisa-py (TCPIP SOCKET, ASRL)."""

from __future__ import annotations

import os
import select
import socket
import threading
import tty
from collections.abc import Iterator

import pytest

from drivers.errors import TransportError, TransportTimeout
from drivers.transport import open_transport
from drivers.transport.base import Exchange
from drivers.transport.serial_port import SerialTransport
from drivers.transport.visa import VisaTransport


class LineEcho:
    """Answers every LF-terminated line with 'echo:<line>\\r\\n', over a pty or a TCP socket."""

    def __init__(self, read, write) -> None:
        self._read, self._write = read, write
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            chunk = self._read()
            if chunk is None:
                continue
            if chunk == b"":
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line == b"silent":
                    continue
                if line == b"partial":
                    self._write(b"par")
                    continue
                self._write(b"echo:" + line + b"\r\n")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@pytest.fixture
def pty_echo() -> Iterator[str]:
    master, slave = os.openpty()
    tty.setraw(slave)

    def read() -> bytes | None:
        ready, _, _ = select.select([master], [], [], 0.05)
        return os.read(master, 4096) if ready else None

    echo = LineEcho(read, lambda data: os.write(master, data))
    echo.start()
    try:
        yield os.ttyname(slave)
    finally:
        echo.stop()
        os.close(master)
        os.close(slave)


@pytest.fixture
def tcp_echo() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    conns: list[socket.socket] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conns.append(conn)
        conn.settimeout(0.05)

        def read() -> bytes | None:
            try:
                return conn.recv(4096)
            except TimeoutError:
                return None
            except OSError:
                return b""

        LineEcho(read, conn.sendall)._loop()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in conns:
            conn.close()
        thread.join(timeout=2)


def test_serial_query_over_pty_records_both_directions(pty_echo):
    transport = SerialTransport(pty_echo, device="stage", timeout_s=1.0)
    seen: list[Exchange] = []
    transport.add_listener(seen.append)
    try:
        assert transport.query(b"/1 0\n") == b"echo:/1 0\r\n"
        assert [(e.direction, e.data) for e in seen] == [("tx", b"/1 0\n"), ("rx", b"echo:/1 0\r\n")]
        assert seen[0].t_monotonic <= seen[1].t_monotonic
    finally:
        transport.close()
        transport.close()  # idempotent


def test_serial_timeout_names_device_command_and_partial_bytes(pty_echo):
    transport = SerialTransport(pty_echo, device="stage", timeout_s=0.2)
    try:
        with pytest.raises(TransportTimeout) as info:
            transport.query(b"partial\n")
        message = str(info.value)
        assert "stage" in message and "b'partial\\n'" in message and "b'par'" in message
        assert info.value.received == b"par"
    finally:
        transport.close()


def test_two_replies_in_one_chunk_are_split_at_the_terminator(pty_echo):
    transport = SerialTransport(pty_echo, device="stage")
    try:
        transport.write(b"a\nb\n")
        assert transport.read_until(b"\r\n") == b"echo:a\r\n"
        assert transport.read_until(b"\r\n") == b"echo:b\r\n"
    finally:
        transport.close()


def test_loop_url_and_read_exactly():
    transport = open_transport("loop://", device="loop")
    try:
        transport.write(b"\x01\x02\x03\x04")
        assert transport.read_exactly(3) == b"\x01\x02\x03"
        assert transport.flush_input() == b"\x04"
    finally:
        transport.close()


def test_socket_url_through_pyserial(tcp_echo):
    transport = open_transport(f"socket://127.0.0.1:{tcp_echo}", device="tcp")
    try:
        assert transport.query(b"hello\n") == b"echo:hello\r\n"
    finally:
        transport.close()


def test_visa_tcpip_socket_query(tcp_echo):
    transport = open_transport(f"TCPIP::127.0.0.1::{tcp_echo}::SOCKET", device="electrometer", timeout_s=1.0)
    assert isinstance(transport, VisaTransport)
    try:
        assert transport.query(b"*IDN?\n") == b"echo:*IDN?\r\n"
        with pytest.raises(TransportTimeout, match="electrometer"):
            transport.query(b"silent\n", timeout_s=0.2)
    finally:
        transport.close()


def test_visa_asrl_pty(pty_echo):
    transport = open_transport(f"ASRL{pty_echo}::INSTR", device="k6517b")
    try:
        assert transport.query(b":READ?\n") == b"echo::READ?\r\n"
    finally:
        transport.close()


def test_closed_transport_refuses_io(pty_echo):
    transport = SerialTransport(pty_echo, device="stage")
    transport.close()
    with pytest.raises(TransportError, match="stage: transport is closed"):
        transport.write(b"x\n")


def test_unopenable_port_names_device_and_url():
    with pytest.raises(TransportError, match=r"stage: cannot open serial URL '/dev/nonexistent-hilcal'"):
        SerialTransport("/dev/nonexistent-hilcal", device="stage")


def test_a_pty_whose_other_end_hangs_up_is_a_named_transport_error():
    """The descriptor path (select + os.read) reports a vanished peer as pyserial does: a TransportError
    naming the device, not an empty reply or a hang."""
    from drivers.errors import TransportError
    from drivers.transport.serial_port import SerialTransport

    master, slave = os.openpty()
    tty.setraw(slave)
    transport = SerialTransport(os.ttyname(slave), device="stage_x", timeout_s=0.5)
    os.close(slave)
    assert transport._fd is not None  # a pty is read through its own descriptor
    os.write(master, b"@01 0 OK IDLE -- 0\r\n")
    assert transport.read_until(b"\n") == b"@01 0 OK IDLE -- 0\r\n"
    os.close(master)  # the device side goes away
    with pytest.raises(TransportError, match="stage_x") as caught:
        transport.read_until(b"\n")
    assert "read failed" in str(caught.value), caught.value  # EIO from the pty, not a timeout
    transport.close()
