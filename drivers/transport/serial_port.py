"""Serial transport over pyserial's ``serial_for_url``.

One class covers a device path (``/dev/ttyUSB0``), a pty (``/dev/pts/7``), ``socket://host:port``,
``rfc2217://host:port`` and ``loop://``: pyserial picks the backend from the URL.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select

import serial

from drivers.errors import TransportError
from drivers.transport.base import BufferedTransport


class SerialTransport(BufferedTransport):
    def __init__(
        self,
        url: str,
        *,
        device: str,
        baudrate: int = 115200,
        timeout_s: float = 1.0,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
    ) -> None:
        super().__init__(device, timeout_s)
        self.url = url
        try:
            self._port = serial.serial_for_url(
                url,
                baudrate=baudrate,
                bytesize=bytesize,
                parity=parity,
                stopbits=stopbits,
                timeout=min(timeout_s, 0.05),
                write_timeout=timeout_s,
            )
        except (serial.SerialException, ValueError, OSError) as err:
            raise TransportError(device, f"cannot open serial URL {url!r}: {err}") from err
        #: A device or pty has a descriptor of its own: read it with ``select`` + ``os.read`` (two system
        #: calls a reply) instead of pyserial's ``in_waiting``/``read`` dance (about six). Other URL
        #: schemes (``socket://``, ``rfc2217://``, ``loop://``) keep pyserial's read.
        fd = getattr(self._port, "fd", None)
        self._fd: int | None = fd if isinstance(fd, int) and fd >= 0 else None

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as err:
            raise TransportError(self.device, f"write of {data!r} failed: {err}") from err

    def _receive(self, wait_s: float) -> bytes:
        if self._fd is not None:
            return self._receive_fd(self._fd, wait_s)
        port = self._port
        try:
            waiting = port.in_waiting
            if waiting:
                return bytes(port.read(waiting))
            if wait_s <= 0:
                return b""
            first = bytes(port.read(1))  # blocks up to the port's short poll timeout
            if first:
                waiting = port.in_waiting
                if waiting:
                    return first + bytes(port.read(waiting))
            return first
        except (serial.SerialException, OSError) as err:
            raise TransportError(self.device, f"read failed: {err}") from err

    def _receive_fd(self, fd: int, wait_s: float) -> bytes:
        """Whatever has arrived, waiting at most the port's short poll (0.05 s) for the first byte."""
        try:
            ready, _, _ = select.select([fd], [], [], min(max(wait_s, 0.0), 0.05))
            if not ready:
                return b""
            data = os.read(fd, 4096)
        except InterruptedError:
            return b""
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return b""
            raise TransportError(self.device, f"read failed: {err}") from err
        if not data:  # readable but nothing to read: the other end has gone (as pyserial reports it)
            raise TransportError(
                self.device,
                "read failed: the device reports data but returned none "
                "(disconnected, or another program has the port open)",
            )
        return data

    def _close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):  # closing a vanished port
            self._port.close()
