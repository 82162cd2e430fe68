"""The one byte-channel interface every driver talks through.

A transport moves bytes; it knows nothing of any protocol except where a reply ends (a terminator or a
byte count). Every write and every completed read is offered to listeners with its direction and its
monotonic time, which is how the journal records each exchange as it happens.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from drivers.errors import TransportError

Direction = Literal["tx", "rx"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One recorded chunk on the wire."""

    device: str
    direction: Direction
    data: bytes
    t_monotonic: float


ExchangeListener = Callable[[Exchange], None]


class Transport(ABC):
    """Write bytes; read a line, up to a terminator, or exactly n bytes; all with timeouts.

    ``device`` is the name used in every error, so a timeout says which instrument went quiet.
    Reads are wall-clock bounded even on a virtual-clock rig: they wait for real bytes.
    """

    def __init__(self, device: str, timeout_s: float = 1.0) -> None:
        self.device = device
        self.timeout_s = timeout_s
        self._listeners: list[ExchangeListener] = []
        self._closed = False

    # -- recording -----------------------------------------------------------------------------
    def add_listener(self, listener: ExchangeListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ExchangeListener) -> None:
        self._listeners.remove(listener)

    def _notify(self, direction: Direction, data: bytes) -> None:
        if self._listeners:
            exchange = Exchange(self.device, direction, data, time.monotonic())
            for listener in self._listeners:
                listener(exchange)

    # -- public API ----------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._ensure_open()
        self._write(data)
        self._notify("tx", data)

    def read_until(
        self, terminator: bytes = b"\n", *, command: bytes | None = None, timeout_s: float | None = None
    ) -> bytes:
        """Read up to and including ``terminator``; ``command`` only labels a timeout error."""
        self._ensure_open()
        data = self._read_until(terminator, self.timeout_s if timeout_s is None else timeout_s, command)
        self._notify("rx", data)
        return data

    def read_line(self, *, command: bytes | None = None, timeout_s: float | None = None) -> bytes:
        return self.read_until(b"\n", command=command, timeout_s=timeout_s)

    def read_exactly(
        self, count: int, *, command: bytes | None = None, timeout_s: float | None = None
    ) -> bytes:
        self._ensure_open()
        data = self._read_exactly(count, self.timeout_s if timeout_s is None else timeout_s, command)
        self._notify("rx", data)
        return data

    def query(self, data: bytes, terminator: bytes = b"\n", *, timeout_s: float | None = None) -> bytes:
        self.write(data)
        return self.read_until(terminator, command=data, timeout_s=timeout_s)

    def flush_input(self) -> bytes:
        """Discard and return whatever unread bytes are waiting (stale replies after a fault)."""
        self._ensure_open()
        stale = self._discard_input()
        if stale:
            self._notify("rx", stale)
        return stale

    def close(self) -> None:
        """Idempotent: closing twice is harmless, so cleanup paths can always call it."""
        if not self._closed:
            self._closed = True
            self._close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise TransportError(self.device, "transport is closed")

    # -- backend hooks -------------------------------------------------------------------------
    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abstractmethod
    def _read_until(self, terminator: bytes, timeout_s: float, command: bytes | None) -> bytes: ...

    @abstractmethod
    def _read_exactly(self, count: int, timeout_s: float, command: bytes | None) -> bytes: ...

    @abstractmethod
    def _discard_input(self) -> bytes: ...

    @abstractmethod
    def _close(self) -> None: ...


class BufferedTransport(Transport):
    """A transport over a stream that hands out whatever bytes have arrived.

    Reading in chunks into one buffer, instead of a byte at a time as ``serial.readline`` does, is what
    keeps a driver query within a few microseconds of the raw round trip.
    """

    def __init__(self, device: str, timeout_s: float = 1.0) -> None:
        super().__init__(device, timeout_s)
        self._buffer = bytearray()

    @abstractmethod
    def _receive(self, wait_s: float) -> bytes:
        """Return the bytes available now, waiting at most ``wait_s`` for the first one."""

    def _read_until(self, terminator: bytes, timeout_s: float, command: bytes | None) -> bytes:
        from drivers.errors import TransportTimeout

        buffer = self._buffer
        index = buffer.find(terminator)
        if index < 0:
            deadline = time.monotonic() + timeout_s
            start = 0
            while index < 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransportTimeout(self.device, command, bytes(buffer), timeout_s)
                start = max(0, len(buffer) - len(terminator) + 1)
                buffer += self._receive(remaining)
                index = buffer.find(terminator, start)
        end = index + len(terminator)
        data = bytes(buffer[:end])
        del buffer[:end]
        return data

    def _read_exactly(self, count: int, timeout_s: float, command: bytes | None) -> bytes:
        from drivers.errors import TransportTimeout

        buffer = self._buffer
        deadline = time.monotonic() + timeout_s
        while len(buffer) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportTimeout(self.device, command, bytes(buffer), timeout_s)
            buffer += self._receive(remaining)
        data = bytes(buffer[:count])
        del buffer[:count]
        return data

    def _discard_input(self) -> bytes:
        stale = bytes(self._buffer) + self._receive(0.0)
        self._buffer.clear()
        return stale
