"""Serve a protocol front-end over a pseudo-terminal or a TCP socket, so unmodified clients can connect.

A pty looks like a serial port to pyserial (``serial.Serial("/dev/pts/N")``); TCP gives the
``socket://127.0.0.1:PORT`` URL that ``serial.serial_for_url`` understands, which is also how Zaber's
Ethernet controllers are reached. Each server owns one daemon thread that waits in ``select`` and answers in
one ``os.read``/``feed``/``write`` round, so a driver's round-trip time measures the driver, not us.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import tty
from types import TracebackType
from typing import Protocol

log = logging.getLogger(__name__)

#: How often an idle server thread wakes to deliver unsolicited messages (alerts).
POLL_INTERVAL_S = 0.05
#: How long a reply may wait for a client that does not read before it is dropped.
WRITE_TIMEOUT_S = 1.0
_READ_SIZE = 4096


class LinkCut(Exception):
    """Raised by a session to make its server hang up, as an unplugged cable or a dead adapter would."""


class Session(Protocol):
    """One connection's view of a front-end."""

    def feed(self, data: bytes) -> bytes: ...

    def poll(self) -> bytes: ...


class FrontEnd(Protocol):
    """A protocol front-end that can open a session per connection (``ZaberChainSimulator`` is one)."""

    def session(self) -> Session: ...


class _Server:
    """Start/close bookkeeping shared by both servers: idempotent, context manager, wake pipe, one thread."""

    def __init__(self, frontend: FrontEnd) -> None:
        self.frontend = frontend
        self._thread: threading.Thread | None = None
        self._wake_r = -1
        self._wake_w = -1
        self._closed = False

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._closed

    def start(self) -> _Server:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} was closed; create a new one")
        if self._thread is None:
            self._wake_r, self._wake_w = os.pipe()
            try:
                self._open()
            except BaseException:
                self._close_pipe()
                raise
            self._thread = threading.Thread(target=self._guarded_run, name=repr(self), daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=5.0)
        alive = self._thread.is_alive()
        self._release()
        self._close_pipe()
        if alive:
            raise RuntimeError(f"{self!r}: server thread did not stop")

    def _close_pipe(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = -1

    def _guarded_run(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("%r: server thread failed", self)

    def _open(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Server:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class PtyServer(_Server):
    """A pseudo-terminal whose slave end (``.path``, ``/dev/pts/N``) behaves like the device's serial port.

    The server keeps its own handle on the slave open so that clients may open and close the port repeatedly;
    one session serves every client of the pty, as one serial line would.
    """

    def __init__(self, frontend: FrontEnd) -> None:
        super().__init__(frontend)
        self._master = -1
        self._slave = -1
        self.path = ""

    def start(self) -> PtyServer:
        super().start()
        return self

    def __enter__(self) -> PtyServer:
        return self.start()

    def _open(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: bytes pass as on a serial line
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)

    def _run(self) -> None:
        try:
            self._serve()
        except LinkCut:
            log.info("%r: link cut", self)
            self._hang_up()

    def _serve(self) -> None:
        session = self.frontend.session()
        master, wake = self._master, self._wake_r
        while True:
            ready, _, _ = select.select([master, wake], [], [], POLL_INTERVAL_S)
            if wake in ready:
                return
            if master in ready:
                try:
                    data = os.read(master, _READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    continue
                out = session.feed(data)
            else:
                out = session.poll()
            if out:
                self._write(out)

    def _hang_up(self) -> None:
        """Close the master (and our slave handle): the client's next read fails as on an unplugged line."""
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                _, writable, _ = select.select([], [self._master], [], WRITE_TIMEOUT_S)
                if not writable:
                    log.warning("%r: client is not reading; dropped %d reply bytes", self, len(view))
                    return

    def _release(self) -> None:
        self._hang_up()

    def __repr__(self) -> str:
        return f"PtyServer({self.path or 'not started'})"


class TcpServer(_Server):
    """A TCP listener (``.port``, ``.url`` = ``socket://HOST:PORT``) serving one client at a time.

    Clients are served sequentially; each connection gets a fresh session. A second client waits in the
    listen backlog until the first disconnects.
    """

    def __init__(self, frontend: FrontEnd, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(frontend)
        self.host = host
        self._requested_port = port
        self.port = 0
        self._listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def start(self) -> TcpServer:
        super().start()
        return self

    def __enter__(self) -> TcpServer:
        return self.start()

    def _open(self) -> None:
        self._listener = socket.create_server((self.host, self._requested_port))
        self.port = self._listener.getsockname()[1]

    def _run(self) -> None:
        assert self._listener is not None
        listener, wake = self._listener, self._wake_r
        conn: socket.socket | None = None
        session: Session | None = None
        try:
            while True:
                watched: list[int | socket.socket] = [wake, conn if conn is not None else listener]
                ready, _, _ = select.select(watched, [], [], POLL_INTERVAL_S)
                if wake in ready:
                    return
                if conn is None:
                    if listener in ready:
                        conn, _ = listener.accept()
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        conn.settimeout(WRITE_TIMEOUT_S)
                        session = self.frontend.session()
                    continue
                assert session is not None
                if conn in ready:
                    try:
                        data = conn.recv(_READ_SIZE)
                    except OSError:
                        data = b""
                    if not data:
                        conn.close()
                        conn = session = None
                        continue
                    out = session.feed(data)
                else:
                    out = session.poll()
                if out:
                    try:
                        conn.sendall(out)
                    except OSError:
                        log.warning("%r: client stopped reading; connection dropped", self)
                        conn.close()
                        conn = session = None
        except LinkCut:
            log.info("%r: link cut", self)
            self._release()
        finally:
            if conn is not None:
                conn.close()

    def _release(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __repr__(self) -> str:
        return f"TcpServer({self.host}:{self.port or self._requested_port})"
