"""One GCS 2.0 controller on one transport: commands, queries, and the latched error behind them.

A GCS controller answers queries and stays silent on set commands; a failed set command only latches an
error code. So ``send`` always follows the command with ``ERR?`` and raises the typed error for a
non-zero code, while a query whose answer parses completely has, by construction, succeeded and costs one
round trip (``POS?`` is the hot path of every readback). A query whose answer is missing or garbled is
explained by one ``ERR?`` after the input is flushed: an invalid axis then reads as ``GcsInvalidAxis``
rather than as a bare timeout. ``check_queries=True`` restores pipython's habit of ``ERR?`` after every
query, at twice the cost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

from drivers.errors import ProtocolError, TransportError, TransportTimeout
from drivers.pi_gcs.errors import gcs_error
from drivers.pi_gcs.gcs import (
    CONTROLLER_READY,
    MOTION_STATUS,
    STOP_ALL,
    build_line,
    decode_line,
    line_is_last,
    parse_axis_flags,
    parse_axis_floats,
    parse_int,
    parse_motion_status,
    parse_ready,
)
from drivers.transport.base import Transport

log = logging.getLogger(__name__)

T = TypeVar("T")

_ERR_QUERY = b"ERR?\n"


class GcsConnection:
    """Commands to the controller behind ``transport`` (a TCP socket to port 50000, or RS-232).

    ``max_reply_lines`` bounds one reply (``HLP?`` is the longest, ~100 lines); a controller streaming more
    than that is treated as garbled rather than read forever.
    """

    def __init__(
        self, transport: Transport, *, check_queries: bool = False, max_reply_lines: int = 512
    ) -> None:
        if max_reply_lines < 1:
            raise ValueError(f"max_reply_lines must be at least 1, got {max_reply_lines}")
        self._transport = transport
        self.check_queries = check_queries
        self.max_reply_lines = max_reply_lines
        self._lock = threading.Lock()

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def device(self) -> str:
        return self._transport.device

    # -- set commands ----------------------------------------------------------------------------------
    def send(self, command: str, *args: str, device: str | None = None, allow: Collection[int] = ()) -> int:
        """Write ``command args`` and check ``ERR?``; returns the code when it is 0 or in ``allow``.

        ``allow`` lists codes the caller expects (10 after ``STP``/``HLT``); any other non-zero code raises
        the typed ``GcsError`` for it.
        """
        line = build_line(command, *args)
        label = self.device if device is None else device
        text = line[:-1].decode("ascii")
        with self._lock:
            try:
                self._transport.write(line)
                code = self._error_code(label)
            except (ProtocolError, TransportTimeout):
                self._resync(label)
                raise
        if code and code not in allow:
            raise gcs_error(label, text, code)
        return code

    def stop_all(self, *, device: str | None = None) -> int:
        """``#24`` (one byte, no reply), then ``ERR?``; returns the code (10 when the stop took effect)."""
        label = self.device if device is None else device
        with self._lock:
            try:
                self._transport.write(STOP_ALL)
                code = self._error_code(label)
            except (ProtocolError, TransportTimeout):
                self._resync(label)
                raise
        if code not in (0, 10):
            raise gcs_error(label, "#24", code)
        return code

    def error_code(self, *, device: str | None = None) -> int:
        """``ERR?``: the latched error code, which the controller clears by answering."""
        label = self.device if device is None else device
        with self._lock:
            try:
                return self._error_code(label)
            except (ProtocolError, TransportTimeout):
                self._resync(label)
                raise

    # -- queries ---------------------------------------------------------------------------------------
    def query(self, command: str, *args: str, device: str | None = None) -> list[str]:
        """Every line of the reply to ``command args``, terminators removed."""
        line = build_line(command, *args)
        return self._query(line, self.device if device is None else device, lambda lines, raw: lines)

    def query_value(self, command: str, *args: str, device: str | None = None) -> str:
        """The reply to a query answered with one line (``*IDN?``, ``CSV?``, ``VLS?``, ``VMO?``)."""
        line = build_line(command, *args)
        label = self.device if device is None else device

        def single(lines: list[str], raw: bytes) -> str:
            if len(lines) != 1:
                raise ProtocolError(label, line, raw, f"expected a one-line reply, got {len(lines)} lines")
            return lines[0]

        return self._query(line, label, single)

    def query_floats(
        self, command: str, keys: Sequence[str], *, device: str | None = None, ask_keys: bool = True
    ) -> dict[str, float]:
        """``POS? X Y`` → ``{"X": …, "Y": …}``; the reply must answer exactly ``keys`` in order.

        ``ask_keys=False`` sends the bare query (``SPI?`` answers R, S, T without being asked for them).
        """
        line = build_line(command, *keys) if ask_keys else build_line(command)
        label = self.device if device is None else device
        return self._query(
            line,
            label,
            lambda lines, raw: parse_axis_floats(lines, keys, device=label, command=line, raw=raw),
        )

    def query_flags(self, command: str, keys: Sequence[str], *, device: str | None = None) -> dict[str, bool]:
        """``ONT? X Y`` → ``{"X": True, "Y": False}`` (values 0/1); exactly ``keys`` in order."""
        line = build_line(command, *keys)
        label = self.device if device is None else device
        return self._query(
            line, label, lambda lines, raw: parse_axis_flags(lines, keys, device=label, command=line, raw=raw)
        )

    def motion_status(self, *, device: str | None = None) -> int:
        """``#5``: the bit mask of moving axes (0 = nothing moves)."""
        label = self.device if device is None else device

        def mask(lines: list[str], raw: bytes) -> int:
            if len(lines) != 1:
                raise ProtocolError(label, "#5", raw, f"expected one line, got {len(lines)}")
            return parse_motion_status(lines[0], device=label, raw=raw)

        return self._query(MOTION_STATUS, label, mask)

    def controller_ready(self, *, device: str | None = None) -> bool:
        """``#7``: True when the controller is ready for the next command (no ``ERR?`` follows)."""
        label = self.device if device is None else device
        with self._lock:
            try:
                self._transport.write(CONTROLLER_READY)
                raw = self._transport.read_until(b"\n", command=CONTROLLER_READY)
                return parse_ready(raw, device=label)
            except (ProtocolError, TransportTimeout):
                self._resync(label)
                raise

    # -- internals -------------------------------------------------------------------------------------
    def _query(self, line: bytes, label: str, parse: Callable[[list[str], bytes], T]) -> T:
        """Write, read the whole reply, parse it; on any failure resync and let ``ERR?`` explain."""
        with self._lock:
            try:
                self._transport.write(line)
                lines, raw = self._read_reply(line, label)
                value = parse(lines, raw)
                if self.check_queries:
                    code = self._error_code(label)
                    if code:
                        raise gcs_error(label, _text(line), code)
                return value
            except (ProtocolError, TransportTimeout) as failure:
                self._resync(label)
                self._explain(line, label, failure)
                raise

    def _read_reply(self, line: bytes, label: str) -> tuple[list[str], bytes]:
        read = self._transport.read_until
        lines: list[str] = []
        chunks: list[bytes] = []
        for _ in range(self.max_reply_lines):
            raw = read(b"\n", command=line)
            chunks.append(raw)
            lines.append(decode_line(raw, device=label, command=line))
            if line_is_last(raw):
                return lines, b"".join(chunks)
        raise ProtocolError(label, line, b"".join(chunks), f"reply longer than {self.max_reply_lines} lines")

    def _error_code(self, label: str) -> int:
        self._transport.write(_ERR_QUERY)
        raw = self._transport.read_until(b"\n", command=_ERR_QUERY)
        if not line_is_last(raw):
            raise ProtocolError(label, "ERR?", raw, "ERR? must be answered with one line")
        text = decode_line(raw, device=label, command="ERR?")
        return parse_int(text, device=label, command="ERR?", raw=raw)

    def _explain(self, line: bytes, label: str, failure: Exception) -> None:
        """After a failed query, ask ``ERR?``: a latched code explains the failure better than the bytes."""
        try:
            code = self._error_code(label)
        except (ProtocolError, TransportError):
            self._resync(label)
            return  # the controller cannot explain either; the original error stands
        if code:
            raise gcs_error(label, _text(line), code) from failure

    def _resync(self, label: str) -> None:
        """Drop what is left of a broken exchange so the next command reads its own reply."""
        try:
            stale = self._transport.flush_input()
        except TransportError:
            return
        if stale:
            log.warning("%s: discarded %r after a failed exchange", label, stale)

    def close(self) -> None:
        """Close the transport; idempotent."""
        self._transport.close()


def _text(line: bytes) -> str:
    if len(line) == 1:
        return {MOTION_STATUS: "#5", CONTROLLER_READY: "#7", STOP_ALL: "#24"}.get(line, repr(line))
    return line.rstrip(b"\n").decode("ascii", "replace")
