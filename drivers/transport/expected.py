"""A transport that plays a scripted conversation: the backbone of expected-protocol driver tests.

A test lists, in order, the exact bytes the driver must send and the bytes the device answers. Any
other write fails at once and names the step; a read with nothing scripted behaves like a silent device
(a ``TransportTimeout``); ``assert_done`` fails if the driver skipped a step. No simulator is involved,
so each driver is pinned to the protocol as written in the manual.
"""

from __future__ import annotations

from collections.abc import Iterable

from drivers.errors import TransportTimeout
from drivers.transport.base import BufferedTransport


class UnexpectedWrite(AssertionError):
    pass


class ScriptedTransport(BufferedTransport):
    """An instant transport whose replies come from a script: what a subclass's ``_write`` queues.

    Reads never wait: what is queued is there at once, and a read that the queue cannot satisfy is a
    silent device (``TransportTimeout``) straight away.
    """

    def __init__(self, device: str) -> None:
        super().__init__(device, timeout_s=0.0)
        self._incoming = bytearray()

    def _receive(self, wait_s: float) -> bytes:
        chunk = bytes(self._incoming)
        self._incoming.clear()
        return chunk

    def _read_until(self, terminator: bytes, timeout_s: float, command: bytes | None) -> bytes:
        self._buffer += self._receive(0)
        index = self._buffer.find(terminator)
        if index < 0:
            raise TransportTimeout(self.device, command, bytes(self._buffer), timeout_s)
        return super()._read_until(terminator, timeout_s, command)

    def _read_exactly(self, count: int, timeout_s: float, command: bytes | None) -> bytes:
        self._buffer += self._receive(0)
        if len(self._buffer) < count:
            raise TransportTimeout(self.device, command, bytes(self._buffer), timeout_s)
        return super()._read_exactly(count, timeout_s, command)

    def _close(self) -> None:
        pass


class ExpectedProtocolTransport(ScriptedTransport):
    def __init__(
        self, conversation: Iterable[tuple[bytes | None, bytes | None]], device: str = "dut"
    ) -> None:
        super().__init__(device)
        self._steps = list(conversation)
        self._position = 0
        # A step (None, reply) delivers bytes before any write: a greeting or an unsolicited line.
        self._deliver_unsolicited()

    def _deliver_unsolicited(self) -> None:
        while self._position < len(self._steps) and self._steps[self._position][0] is None:
            reply = self._steps[self._position][1]
            self._incoming += reply or b""
            self._position += 1

    def _write(self, data: bytes) -> None:
        if self._position >= len(self._steps):
            raise UnexpectedWrite(f"driver wrote {data!r} after the scripted conversation ended")
        expected, reply = self._steps[self._position]
        if data != expected:
            raise UnexpectedWrite(f"step {self._position}: driver wrote {data!r}, expected {expected!r}")
        self._position += 1
        self._incoming += reply or b""
        self._deliver_unsolicited()

    def assert_done(self) -> None:
        remaining = self._steps[self._position :]
        unread = bytes(self._buffer) + bytes(self._incoming)
        if remaining:
            raise AssertionError(f"driver stopped early; unsent steps: {remaining!r}")
        if unread:
            raise AssertionError(f"driver left reply bytes unread: {unread!r}")
