"""Serving a front-end over a pty and over TCP to raw pyserial / socket clients; no thread or fd leaks."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import serial

from simulators.clock import VirtualClock
from simulators.serve import PtyServer, TcpServer
from simulators.zaber import ZaberChainSimulator

pytestmark = pytest.mark.usefixtures("no_leaks")

TIMEOUT_S = 2.0


@pytest.fixture
def pty_server(chain: ZaberChainSimulator) -> Iterator[PtyServer]:
    server = PtyServer(chain).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def tcp_server(chain: ZaberChainSimulator) -> Iterator[TcpServer]:
    server = TcpServer(chain).start()
    try:
        yield server
    finally:
        server.close()


def exchange(port: serial.SerialBase, command: bytes) -> bytes:
    port.write(command)
    return bytes(port.readline())


def test_pty_round_trip_with_pyserial(pty_server: PtyServer, clock: VirtualClock) -> None:
    assert pty_server.path.startswith("/dev/pts/")
    with serial.Serial(pty_server.path, timeout=TIMEOUT_S) as port:
        assert exchange(port, b"/1 0\r\n") == b"@01 0 OK IDLE WR 0\r\n"
        assert exchange(port, b"/1 0 home\r") == b"@01 0 OK BUSY WR 0\r\n"
        clock.sleep(1.1)
        port.write(b"/1 0 7 get p")  # a command split over two writes
        assert exchange(port, b"os\n") == b"@01 0 07 OK IDLE -- 0\r\n"
    with serial.Serial(pty_server.path, timeout=TIMEOUT_S) as port:  # a second client, later
        assert exchange(port, b"/1 0 get system.serial\r\n") == b"@01 0 OK IDLE -- 4242\r\n"


def test_tcp_round_trip_with_pyserial_url(tcp_server: TcpServer) -> None:
    assert tcp_server.url == f"socket://127.0.0.1:{tcp_server.port}" and tcp_server.port > 0
    port = serial.serial_for_url(tcp_server.url, timeout=TIMEOUT_S)
    try:
        assert exchange(port, b"/1 0\r\n") == b"@01 0 OK IDLE WR 0\r\n"
        port.write(b"/1 0 get p")  # partial line, then this client leaves
    finally:
        port.close()
    port = serial.serial_for_url(tcp_server.url, timeout=TIMEOUT_S)
    try:  # a fresh session: the first client's half line is gone
        assert exchange(port, b"/1 0 get pos\r\n") == b"@01 0 OK IDLE WR 64000\r\n"
    finally:
        port.close()


def test_tcp_raw_socket_client(tcp_server: TcpServer) -> None:
    with socket.create_connection(("127.0.0.1", tcp_server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"/1 0 get device.id\n/1 0 get version\n")
        data = b""
        while data.count(b"\r\n") < 2:
            data += sock.recv(4096)
    assert data == b"@01 0 OK IDLE WR 50081\r\n@01 0 OK IDLE WR 7.32\r\n"


def test_server_delivers_alerts_unprompted(pty_server: PtyServer, clock: VirtualClock) -> None:
    with serial.Serial(pty_server.path, timeout=TIMEOUT_S) as port:
        exchange(port, b"/1 home\n")
        clock.sleep(2.0)
        assert exchange(port, b"/1 set comm.alert 1\n") == b"@01 0 OK IDLE -- 0\r\n"
        assert exchange(port, b"/1 move abs 100\n") == b"@01 0 OK BUSY -- 0\r\n"
        clock.sleep(1.0)
        assert port.readline() == b"!01 1 IDLE --\r\n"  # sent by the server's poll, nothing asked


@pytest.mark.parametrize("kind", [PtyServer, TcpServer])
def test_start_and_close_are_idempotent(
    chain: ZaberChainSimulator,
    kind: type[PtyServer | TcpServer],
) -> None:
    never_started = kind(chain)
    never_started.close()
    server = kind(chain)
    assert server.start() is server.start()
    assert server.running
    server.close()
    server.close()
    assert not server.running
    with pytest.raises(RuntimeError, match="closed"):
        server.start()
    with kind(chain) as entered:
        assert entered.running


def test_many_servers_come_and_go_cleanly(chain: ZaberChainSimulator) -> None:
    for _ in range(10):
        with PtyServer(chain) as pty, TcpServer(chain) as tcp:
            assert pty.running and tcp.running
