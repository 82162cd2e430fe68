"""One Zaber daisy chain: send a command, return its reply, and nothing slower than that.

Every axis on a chain shares one ``ZaberConnection`` because they share one byte stream: replies must
be read in the order commands were written, so the connection serialises each write-and-read behind a
lock. It is the hot path of every position read, which is why it does no work per call beyond building
one line, one read, one parse and three integer comparisons.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from drivers.errors import DeviceRejected, ProtocolError, TransportTimeout
from drivers.transport.base import Transport
from drivers.zaber.ascii import REJECTION_REASONS, ZaberReply, build_command, parse_reply

log = logging.getLogger(__name__)

#: Info and alert lines tolerated before one reply; more than this is a flood, not a conversation.
MAX_INTERLEAVED_LINES = 64


class ZaberConnection:
    """Commands to the devices on one transport (serial port, pty or TCP socket = one chain).

    ``checksums`` appends an LRC to every command (replies are verified whenever they carry one).
    ``message_ids`` tags every command with a cycling ``00``–``99`` ID that the reply must echo, so a late
    reply to an earlier, timed-out command cannot be taken for the current one.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        checksums: bool = False,
        message_ids: bool = False,
        alert_history: int = 256,
    ) -> None:
        self._transport = transport
        self.checksums = checksums
        self.message_ids = message_ids
        self._next_id = 0
        self._lock = threading.Lock()
        self._alerts: deque[str] = deque(maxlen=alert_history)

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def device(self) -> str:
        return self._transport.device

    def command(self, address: int, axis: int, text: str = "", *, device: str | None = None) -> ZaberReply:
        """Send ``text`` to ``address``/``axis`` and return the matching reply.

        ``text`` empty is the status poll. ``device`` names the caller (an axis) in errors; it defaults to
        the transport's name. Raises ``DeviceRejected`` on ``RJ``, ``ProtocolError`` on a reply that is
        garbled or answers someone else, and lets the transport's ``TransportTimeout`` through.
        """
        if not (1 <= address <= 99 and 0 <= axis <= 99):
            raise ValueError(
                f"address must be 1..99 (broadcast 0 is not supported: it draws one reply per device) "
                f"and axis 0..99; got address {address}, axis {axis}"
            )
        if "\n" in text or "\r" in text or ":" in text:
            raise ValueError(f"command text {text!r} must not contain line ends or ':'")
        label = self._transport.device if device is None else device
        with self._lock:
            if self.message_ids:
                message_id: int | None = self._next_id
                self._next_id = 0 if self._next_id == 99 else self._next_id + 1
            else:
                message_id = None
            line = build_command(address, axis, text, message_id=message_id, checksum=self.checksums)
            try:
                self._transport.write(line)
                reply = self._read_reply(line, address, axis, message_id, label)
            except (ProtocolError, TransportTimeout):
                self._resync(label)
                raise
        if reply.flag == "RJ":
            raise DeviceRejected(
                label, line.decode("ascii").rstrip(), reply.data, REJECTION_REASONS.get(reply.data, "")
            )
        return reply

    def _read_reply(
        self, line: bytes, address: int, axis: int, message_id: int | None, label: str
    ) -> ZaberReply:
        read = self._transport.read_until
        info: list[str] | None = None
        alerts: list[str] | None = None
        for _ in range(MAX_INTERLEAVED_LINES):
            raw = read(b"\n", command=line)
            marker = raw[:1]
            if marker == b"@":
                reply = parse_reply(raw, with_message_id=message_id is not None, device=label, command=line)
                if reply.address != address or reply.axis != axis or reply.message_id != message_id:
                    raise ProtocolError(
                        label,
                        line,
                        raw,
                        f"reply is from address {reply.address} axis {reply.axis} id {reply.message_id}, "
                        f"expected address {address} axis {axis} id {message_id}",
                    )
                if info is not None or alerts is not None:
                    reply = reply._replace(info=tuple(info or ()), alerts=tuple(alerts or ()))
                return reply
            text = raw.decode("ascii", "replace").rstrip("\r\n")
            if marker == b"#":
                log.debug("%s: info line %r before the reply to %r", label, text, line)
                info = [] if info is None else info
                info.append(text)
            elif marker == b"!":
                log.info("%s: alert %r", label, text)
                self._alerts.append(text)
                alerts = [] if alerts is None else alerts
                alerts.append(text)
            else:
                raise ProtocolError(
                    label, line, raw, "line is neither a reply ('@'), info ('#') nor alert ('!')"
                )
        raise ProtocolError(
            label, line, b"", f"more than {MAX_INTERLEAVED_LINES} info/alert lines and no reply"
        )

    def _resync(self, label: str) -> None:
        """Drop whatever is left of a broken exchange so the next command reads its own reply."""
        stale = self._transport.flush_input()
        if stale:
            log.warning("%s: discarded %r after a failed exchange", label, stale)

    def drain_alerts(self) -> tuple[str, ...]:
        """Alert lines (``!``) seen since the last drain, oldest first; the history is bounded."""
        with self._lock:
            alerts = tuple(self._alerts)
            self._alerts.clear()
        return alerts

    def close(self) -> None:
        """Close the transport; idempotent, like the transport's own ``close``."""
        self._transport.close()
