"""Serial transport over pyserial's ``serial_for_url``.

One class covers a device path (``/dev/ttyUSB0``), a pty (``/dev/pts/7``), ``socket://host:port``,
``rfc2217://host:port`` and ``loop://``: pyserial picks the backend from the URL.
"""

from __future__ import annotations

import contextlib

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

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as err:
            raise TransportError(self.device, f"write of {data!r} failed: {err}") from err

    def _receive(self, wait_s: float) -> bytes:
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

    def _close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):  # closing a vanished port
            self._port.close()
