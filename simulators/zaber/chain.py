"""A daisy chain of Zaber ASCII devices behind one port: bytes in, reply bytes out.

The chain is transport-free (``feed(bytes) -> bytes``), so tests can check every reply byte for byte and the
same object can sit behind a pty, a TCP socket or an in-process transport. Each connection gets its own
``ZaberSession`` (its own partial-line buffer and alert subscriptions); the chain itself serialises command
execution with a lock because a pty server and a TCP server may share it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Literal

from simulators.world import World
from simulators.zaber.device import ZaberDeviceSim
from simulators.zaber.protocol import format_alert, format_reply, parse_command

_LINE_END = re.compile(rb"[\r\n]")
#: A line longer than this without a terminator is noise; the buffer is dropped rather than grow forever.
MAX_LINE_BYTES = 4096


class ZaberSession:
    """One client's conversation: buffers partial lines and delivers the alerts its commands subscribed to."""

    def __init__(self, chain: ZaberChainSimulator) -> None:
        self._chain = chain
        self._buffer = b""
        self._watches: list[tuple[int, int]] = []

    def feed(self, data: bytes) -> bytes:
        """Consume bytes; return any due alerts followed by the replies to every completed command line."""
        out = [self.poll()]
        lines = _LINE_END.split(self._buffer + data)
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_LINE_BYTES:
            self._buffer = b""
        for line in lines:
            if line.strip():
                out.append(self._chain.execute(line, self))
        return b"".join(out)

    def poll(self) -> bytes:
        """Alerts (``!AA X IDLE WF``) for subscribed axes that have come to rest since the last call."""
        if not self._watches:
            return b""
        out, pending = self._chain.alerts_for(self._watches)
        self._watches = pending
        return out

    def watch(self, address: int, axis: int) -> None:
        if (address, axis) not in self._watches:
            self._watches.append((address, axis))


WireFault = Literal["garble", "truncate", "silence"]


def _spoil(reply: bytes, kind: WireFault) -> bytes:
    if kind == "silence":
        return b""
    if kind == "truncate":
        return reply[: max(1, len(reply) // 2)]
    return reply.replace(b" OK ", b" 0K ").replace(b" IDLE ", b" ID#E ", 1)[:-6] + b"\r\n"


class ZaberChainSimulator:
    """The devices at addresses 1..99 on one chain, all looking at ``world``.

    ``feed``/``poll`` use a built-in session, which is what a single in-process client needs; servers call
    ``session()`` once per connection.
    """

    def __init__(self, world: World, devices: Mapping[int, ZaberDeviceSim]) -> None:
        if not devices:
            raise ValueError("a chain needs at least one device")
        for address, device in devices.items():
            if not 1 <= address <= 99:
                raise ValueError(f"Zaber device addresses are 1..99, got {address}")
            device.attach(world)
        self.world = world
        self.devices: dict[int, ZaberDeviceSim] = dict(sorted(devices.items()))
        self._lock = threading.Lock()
        self._default_session = ZaberSession(self)
        self._commands_seen = 0
        self._wire_fault: tuple[WireFault, int] | None = None

    def inject_wire_fault(self, kind: WireFault, *, after_commands: int = 0) -> None:
        """Spoil one reply on the wire, ``after_commands`` commands from now (a noisy cable, a brown-out).

        ``garble`` corrupts the reply's fields, ``truncate`` cuts it before its terminator, ``silence``
        drops it. The device itself keeps working; only that reply is lost or damaged.
        """
        with self._lock:
            self._wire_fault = (kind, self._commands_seen + after_commands)

    def session(self) -> ZaberSession:
        return ZaberSession(self)

    def feed(self, data: bytes) -> bytes:
        return self._default_session.feed(data)

    def poll(self) -> bytes:
        return self._default_session.poll()

    def execute(self, line: bytes, session: ZaberSession | None = None) -> bytes:
        """Run one command line (no terminator) and return the replies, one per answering device."""
        cmd = parse_command(line.decode("ascii", errors="replace"))
        if cmd is None:
            return b""
        if cmd.address == 0:
            addressed = list(self.devices.items())
        elif cmd.address in self.devices:
            addressed = [(cmd.address, self.devices[cmd.address])]
        else:
            return b""  # nobody on the chain has that address, so nobody answers
        replies: list[bytes] = []
        with self._lock:
            for address, device in addressed:
                outcome = device.handle(cmd)
                checksum = cmd.checksummed or bool(device.comm_checksum)
                replies.append(
                    format_reply(
                        address,
                        cmd.axis,
                        cmd.message_id,
                        outcome.flag,
                        outcome.status,
                        outcome.warning,
                        outcome.data,
                        checksum=checksum,
                    )
                )
                if outcome.started_motion and device.comm_alert and session is not None:
                    axes = range(1, len(device.stages) + 1) if cmd.axis == 0 else [cmd.axis]
                    for axis in axes:
                        session.watch(address, axis)
            self._commands_seen += 1
            reply = b"".join(replies)
            if self._wire_fault is not None and self._commands_seen > self._wire_fault[1]:
                kind, _ = self._wire_fault
                self._wire_fault = None
                reply = _spoil(reply, kind)
        return reply

    def alerts_for(self, watches: list[tuple[int, int]]) -> tuple[bytes, list[tuple[int, int]]]:
        """Alerts for the watched axes that are idle now, and the watches still pending."""
        out: list[bytes] = []
        pending: list[tuple[int, int]] = []
        with self._lock:
            for address, axis in watches:
                device = self.devices[address]
                status, warning = device.status(axis)
                if status == "BUSY":
                    pending.append((address, axis))
                else:
                    checksum = bool(device.comm_checksum)
                    out.append(format_alert(address, axis, status, warning, checksum=checksum))
        return b"".join(out), pending

    def __repr__(self) -> str:
        return f"ZaberChainSimulator(devices={self.devices})"
