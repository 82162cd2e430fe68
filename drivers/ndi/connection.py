"""One NDI tracker on one transport: send a command, check the reply's CRC, return what it says.

Every exchange is one command and one reply, serialised behind a lock. Text replies are read up to CR;
binary replies (``BX``) by their header's length. A reply with a bad CRC, or one that does not parse, is a
``ProtocolError`` naming the device, the command and the bytes; ``ERRORxx`` is an ``NdiError`` with the
code and its meaning. After a failed exchange the input is flushed, so the next command reads its own
reply and not the tail of a broken one.

The typed methods below are the commands this driver uses, with the exact arguments ndicapi sends (byte
transcripts we recorded from ndicapi 3.7.6 and scikit-surgerynditracker 1.0.6).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Final, Literal, NoReturn

from drivers.errors import ProtocolError, TransportError, TransportTimeout
from drivers.ndi.frames import (
    TRACKING_REPLY_OPTION,
    TrackingReply,
    parse_bx,
    parse_handle,
    parse_handle_status,
    parse_tx,
)
from drivers.ndi.framing import (
    BINARY_HEADER_SIZE,
    BINARY_START,
    CR,
    OKAY,
    build_command,
    check_binary_body,
    parse_binary_header,
    parse_text_reply,
    rom_chunks,
)
from drivers.transport.base import Transport

log = logging.getLogger(__name__)

#: ``PENA`` tracking priority: D dynamic (moving tool), S static (rarely moves), B button box (no markers).
TrackingPriority = Literal["D", "S", "B"]

# ``PHSR`` reply modes: which handles to list.
PHSR_ALL: Final = 0x00
PHSR_TO_FREE: Final = 0x01
PHSR_NOT_INITIALIZED: Final = 0x02
PHSR_NOT_ENABLED: Final = 0x03
PHSR_ENABLED: Final = 0x04

#: ``PHRQ`` arguments for a passive wireless tool: any hardware device (8 ×), any system type, tool type 1,
#: any port, no dummy tool. The exact string ndicapi-based clients send.
PHRQ_WIRELESS_TOOL: Final = "*********1****"

#: Commands the device may take seconds to answer (initialising the system or a tool, starting or stopping
#: the illuminators). Their replies are awaited at least this long: ndicapi's own serial timeout.
SLOW_REPLY_S: Final = 5.0

#: Resync: the line counts as quiet once no byte has arrived for this long.
RESYNC_QUIET_S: Final = 0.05
#: Resync gives up draining after this many bytes (a device that never stops talking is a fault upstream).
RESYNC_MAX_BYTES: Final = 65536
#: Marks an exchange interrupted before the size of its reply was known.
_UNKNOWN: Final = -1


class NdiConnection:
    """Commands to the tracker behind ``transport`` (``socket://host:8765`` for a Vega, or a serial port).

    ``device`` names in errors default to the transport's name; the tracker passes its own.
    """

    def __init__(self, transport: Transport, *, slow_reply_s: float = SLOW_REPLY_S) -> None:
        if not slow_reply_s > 0:
            raise ValueError(f"slow_reply_s must be positive, got {slow_reply_s!r}")
        self._transport = transport
        self.slow_reply_s = slow_reply_s
        self._lock = threading.Lock()
        #: Set when an exchange was interrupted (``KeyboardInterrupt``…): bytes still owed by its reply,
        #: ``_UNKNOWN`` if not known; the next exchange recovers first.
        self._interrupted: int | None = None

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def device(self) -> str:
        return self._transport.device

    # -- generic exchanges ---------------------------------------------------------------------------
    def command(self, name: str, args: str = "", *, device: str | None = None, slow: bool = False) -> str:
        """Send ``name:args`` and return the text reply's payload (CRC checked and removed).

        ``slow`` waits at least ``slow_reply_s`` for the reply. Raises ``NdiError`` on ``ERRORxx``,
        ``ProtocolError`` on a garbled reply or bad CRC, and lets the transport's timeout through.
        """
        line = build_command(name, args)
        label = self.device if device is None else device
        timeout = max(self._transport.timeout_s, self.slow_reply_s) if slow else None
        with self._lock:
            self._recover(label)
            try:
                self._transport.write(line)
                raw = self._transport.read_until(CR, command=line, timeout_s=timeout)
            except TransportTimeout:
                self._resync(label)
                raise
            except BaseException:
                self._interrupted = _UNKNOWN
                raise
            try:
                return parse_text_reply(raw, device=label, command=line)
            except ProtocolError:
                self._resync(label)
                raise

    def command_okay(
        self, name: str, args: str = "", *, device: str | None = None, slow: bool = False
    ) -> None:
        """A command whose only good answer is ``OKAY``.

        ``WARNINGxx`` (which NDI documents for a few commands, e.g. a tool definition that is legal but not
        optimal) is accepted and logged; any other payload is a ``ProtocolError``.
        """
        label = self.device if device is None else device
        payload = self.command(name, args, device=label, slow=slow)
        if payload == OKAY:
            return
        if payload.startswith("WARNING"):
            log.warning("%s: %s:%s answered %s", label, name, args, payload)
            return
        raise ProtocolError(label, f"{name}:{args}", payload, "expected OKAY")

    def binary(self, name: str, args: str = "", *, device: str | None = None) -> bytes:
        """Send ``name:args`` and return the body of its binary reply (header and body CRCs checked).

        The first six bytes decide: ``C4 A5`` starts a binary reply; anything else is read up to CR as
        text, so an ``ERRORxx`` refusal becomes an ``NdiError`` (ndicapi misreports it as a bad CRC).
        """
        line = build_command(name, args)
        label = self.device if device is None else device
        read_exactly = self._transport.read_exactly
        with self._lock:
            self._recover(label)
            owed: int | None = None  # body + CRC still to read, once the header has told us
            try:
                self._transport.write(line)
                header = read_exactly(BINARY_HEADER_SIZE, command=line)
                if header[:2] != BINARY_START:
                    self._text_instead_of_binary(header, line, label)
                length = parse_binary_header(header, device=label, command=line)
                owed = length + 2
                data = read_exactly(owed, command=line)
                owed = None
                return check_binary_body(data, device=label, command=line, header=header)
            except (ProtocolError, TransportTimeout):
                self._resync(label, owed)
                raise
            except BaseException:
                self._interrupted = _UNKNOWN if owed is None else owed
                raise

    def _text_instead_of_binary(self, head: bytes, line: bytes, label: str) -> NoReturn:
        """Read the rest of a text reply that arrived where a binary one was expected, and raise for it."""
        index = head.find(CR)
        if 0 <= index < len(head) - 1:
            raise ProtocolError(label, line, head, "reply is neither binary nor a single text message")
        raw = head if index >= 0 else head + self._transport.read_until(CR, command=line)
        payload = parse_text_reply(raw, device=label, command=line)  # raises NdiError for ERRORxx
        raise ProtocolError(label, line, raw, f"expected a binary reply, got text {payload!r}")

    def _recover(self, label: str) -> None:
        """Before a new command: finish off an exchange that was interrupted (Ctrl-C) mid-reply."""
        owed, self._interrupted = self._interrupted, None
        if owed is not None:
            self._resync(label, None if owed == _UNKNOWN else owed)

    def _resync(self, label: str, owed: int | None = None) -> None:
        """Drop what is left of a broken exchange so the next command reads its own reply.

        ``owed`` is what a binary reply's header still announces: that much is read first (the tail of a
        frame can arrive after the error), then the line is drained until quiet for ``RESYNC_QUIET_S``.
        Flushing at once instead leaves the tail of the frame to be read as the next command's reply.
        """
        transport = self._transport
        stale = bytearray()
        try:
            if owed:
                with contextlib.suppress(TransportTimeout):
                    stale += transport.read_exactly(owed)
            stale += transport.flush_input()
            while len(stale) < RESYNC_MAX_BYTES:
                try:
                    stale += transport.read_exactly(1, timeout_s=RESYNC_QUIET_S)
                except TransportTimeout:
                    break
                stale += transport.flush_input()
            stale += transport.flush_input()
        except TransportError:
            return
        if stale:
            log.warning("%s: discarded %r after a failed exchange", label, bytes(stale[:256]))

    # -- typed commands ------------------------------------------------------------------------------
    def initialize(self, *, device: str | None = None) -> None:
        """``INIT:``: stop tracking and initialise the system."""
        self.command_okay("INIT", device=device, slow=True)

    def version(self, kind: int = 0, *, device: str | None = None) -> str:
        """``VER:<kind>``; 0 is the control firmware text with its ``Freeze Tag:`` line."""
        if not 0 <= kind <= 9:
            raise ValueError(f"VER takes a reply type 0..9, got {kind}")
        return self.command("VER", str(kind), device=device)

    def api_revision(self, *, device: str | None = None) -> str:
        """``APIREV:``, e.g. ``G.001.005``."""
        return self.command("APIREV", device=device)

    def get_info(self, parameter: str, *, device: str | None = None) -> str:
        """``GETINFO:<parameter>`` → the parameter's value (the text between ``=`` and the first ``;``).

        The reply is ``<parameter>=<value>;<type>;…;<description>``, as ndicapi's probe reads it for
        ``Features.Firmware.Version``. Old firmware answers ``ERROR01`` (raised as ``NdiError``).
        """
        label = self.device if device is None else device
        payload = self.command("GETINFO", parameter, device=label)
        name, sep, rest = payload.partition("=")
        if not sep or name != parameter:
            raise ProtocolError(label, f"GETINFO:{parameter}", payload, f"expected {parameter}=<value>;…")
        return rest.split(";", 1)[0].strip()

    def handle_status(
        self, mode: int = PHSR_ALL, *, device: str | None = None
    ) -> tuple[tuple[int, int], ...]:
        """``PHSR:<mode>`` → ``(handle, status)`` pairs; status bits as in ``drivers.ndi.frames``."""
        if not 0 <= mode <= 4:
            raise ValueError(f"PHSR takes a mode 0..4, got {mode}")
        label = self.device if device is None else device
        args = f"{mode:02X}"
        return parse_handle_status(
            self.command("PHSR", args, device=label), device=label, command=f"PHSR:{args}"
        )

    def free_handle(self, handle: int, *, device: str | None = None) -> None:
        """``PHF:<hh>``: release a port handle."""
        self.command_okay("PHF", _handle_text(handle), device=device)

    def request_handle(self, *, device: str | None = None) -> int:
        """``PHRQ`` for a passive wireless tool → the new port handle."""
        label = self.device if device is None else device
        payload = self.command("PHRQ", PHRQ_WIRELESS_TOOL, device=label)
        return parse_handle(payload, device=label, command=f"PHRQ:{PHRQ_WIRELESS_TOOL}")

    def write_rom(self, handle: int, rom: bytes, *, device: str | None = None) -> int:
        """``PVWR:<hh><addr><128 hex>`` for each 64-byte chunk of ``rom``; returns the number of chunks."""
        prefix = _handle_text(handle)
        chunks = rom_chunks(rom)
        for address, data in chunks:
            self.command_okay("PVWR", f"{prefix}{address:04X}{data}", device=device)
        return len(chunks)

    def initialize_handle(self, handle: int, *, device: str | None = None) -> None:
        """``PINIT:<hh>``: initialise the tool loaded on a handle."""
        self.command_okay("PINIT", _handle_text(handle), device=device, slow=True)

    def enable_handle(
        self, handle: int, priority: TrackingPriority = "D", *, device: str | None = None
    ) -> None:
        """``PENA:<hh><priority>``: enable the handle for tracking."""
        if priority not in ("D", "S", "B"):
            raise ValueError(f"tracking priority must be D, S or B, got {priority!r}")
        self.command_okay("PENA", f"{_handle_text(handle)}{priority}", device=device)

    def start_tracking(self, *, device: str | None = None) -> None:
        """``TSTART:``."""
        self.command_okay("TSTART", device=device, slow=True)

    def stop_tracking(self, *, device: str | None = None) -> None:
        """``TSTOP:``."""
        self.command_okay("TSTOP", device=device, slow=True)

    def bx(self, *, device: str | None = None) -> TrackingReply:
        """``BX:0801``: every enabled handle, binary."""
        label = self.device if device is None else device
        body = self.binary("BX", TRACKING_REPLY_OPTION, device=label)
        return parse_bx(body, device=label, command=f"BX:{TRACKING_REPLY_OPTION}")

    def tx(self, *, device: str | None = None) -> TrackingReply:
        """``TX:0801``: every enabled handle, text."""
        label = self.device if device is None else device
        payload = self.command("TX", TRACKING_REPLY_OPTION, device=label)
        return parse_tx(payload, device=label, command=f"TX:{TRACKING_REPLY_OPTION}")

    def beep(self, count: int = 1, *, device: str | None = None) -> bool:
        """``BEEP:<n>`` (1..9); False when the tracker was busy and did not beep."""
        if not 1 <= count <= 9:
            raise ValueError(f"BEEP takes 1..9 beeps, got {count}")
        label = self.device if device is None else device
        payload = self.command("BEEP", str(count), device=label)
        if payload not in ("0", "1"):
            raise ProtocolError(label, f"BEEP:{count}", payload, "expected 0 (busy) or 1 (beeped)")
        return payload == "1"

    def close(self) -> None:
        """Close the transport; idempotent."""
        self._transport.close()


def _handle_text(handle: int) -> str:
    if not 0x01 <= handle <= 0xFF:
        raise ValueError(f"a port handle is 0x01..0xFF, got {handle}")
    return f"{handle:02X}"
