"""Wire faults for any served front-end: cut the link, mute, garble, truncate, rewrite or freeze a reply.

Every endpoint of a ``SimulatedRig`` is served through a ``FaultyFrontEnd``, so a test can spoil the
conversation of any device the same way, counted in replies (the N-th reply the device sends from now):

* ``cut``     — the line goes dead as if unplugged: the server hangs up (pty master closed, TCP closed);
* ``mute``    — the device still executes every command but none of its replies (or alerts) arrive;
* ``garble``  — one reply arrives with its characters corrupted (line noise; framing bytes kept);
* ``partial`` — one reply arrives cut short, without its terminator, and the device goes on normally;
* ``rewrite`` — one reply is replaced by a protocol-specific one (bad checksum, device error code);
* ``freeze``  — the device's firmware hangs: nothing it is sent is read or executed, nothing is answered;
* ``call``    — nothing is spoiled; a callback runs at that reply (a world fault, a signal, at a known
  point of the conversation).

Protocol knowledge (checksums, error replies) stays in the front-end packages; this layer moves bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from simulators.serve import FrontEnd, LinkCut, Session

FaultKind = Literal["cut", "mute", "garble", "partial", "rewrite", "freeze", "call"]
Rewrite = Callable[[bytes], bytes]
__all__ = ["FaultKind", "FaultyFrontEnd", "FaultySession", "LinkCut", "garble", "truncate"]

_TERMINATORS = b"\r\n"


@dataclass
class _Armed:
    kind: FaultKind
    at_reply: int
    rewrite: Rewrite | None
    callback: Callable[[], None] | None


SUBSTITUTE = 0x1A


def garble(reply: bytes) -> bytes:
    """Corrupt every third character, at least one (digits shift, letters change case, bytes flip a bit),
    and put ASCII SUB (0x1A, "substitute": the character used in place of one received in error) in the
    place of the first.

    Terminators are kept so the frame still ends where the client expects: this is noise on the data, not a
    framing fault (``partial`` is that). The SUB makes every garbled reply one a careful client can detect:
    on a protocol without a checksum (PI GCS, UNIDOS, SCPI) a digit changed into another digit can give a
    reply that is valid and plausible, which no client can tell from the truth (docs/faults.md says so).
    """
    out = bytearray(reply)
    body = [i for i, byte in enumerate(out) if byte not in _TERMINATORS]
    chosen = set(body[1::3]) or set(body[:1])  # a one-character reply still gets its character spoiled
    for i, byte in enumerate(out):
        if i not in chosen:
            continue
        char = chr(byte)
        if char.isdigit():
            out[i] = ord(str((int(char) + 5) % 10))
        elif char.isalpha() and char.isascii():
            out[i] = ord(char.swapcase())
        else:
            out[i] = byte ^ 0x01 if (byte ^ 0x01) not in _TERMINATORS else byte ^ 0x02
    if chosen:
        out[min(chosen)] = SUBSTITUTE
    return bytes(out)


def truncate(reply: bytes) -> bytes:
    """The first half of a reply, never its terminator."""
    return reply.rstrip(_TERMINATORS)[: max(1, len(reply) // 2)]


class FaultyFrontEnd:
    """Wraps a front-end; counts the replies of all its sessions and spoils the armed one."""

    def __init__(self, frontend: FrontEnd, name: str = "") -> None:
        self.frontend = frontend
        self.name = name
        self._lock = threading.Lock()
        self._replies = 0
        self._armed: _Armed | None = None
        self.mode: Literal["ok", "mute", "freeze", "cut"] = "ok"
        self.fired_at: int | None = None

    @property
    def replies(self) -> int:
        """Replies sent so far (what ``after_replies`` counts)."""
        return self._replies

    def arm(
        self,
        kind: FaultKind,
        *,
        after_replies: int = 0,
        rewrite: Rewrite | None = None,
        callback: Callable[[], None] | None = None,
    ) -> None:
        """Spoil the reply ``after_replies + 1`` replies from now (0: the next one)."""
        if kind == "rewrite" and rewrite is None:
            raise ValueError("a rewrite fault needs the rewrite function")
        if kind == "call" and callback is None:
            raise ValueError("a call fault needs the callback")
        with self._lock:
            self._armed = _Armed(kind, self._replies + after_replies + 1, rewrite, callback)

    def cut(self) -> None:
        """Hang up now: every server of this front-end closes its side at its next read."""
        with self._lock:
            self.mode = "cut"

    def freeze(self) -> None:
        """Stop reading and answering now (the firmware hangs)."""
        with self._lock:
            self.mode = "freeze"

    def session(self) -> FaultySession:
        return FaultySession(self, self.frontend.session())

    def _spoil(self, reply: bytes) -> bytes:
        """Count one reply and apply the armed fault if this is its turn."""
        callback: Callable[[], None] | None = None
        with self._lock:
            self._replies += 1
            armed = self._armed
            if armed is None or self._replies < armed.at_reply:
                return reply
            self._armed = None
            self.fired_at = self._replies
            if armed.kind == "call":
                callback = armed.callback
            elif armed.kind in ("cut", "mute", "freeze"):
                self.mode = armed.kind
                reply = b""
            elif armed.kind == "garble":
                reply = garble(reply)
            elif armed.kind == "partial":
                reply = truncate(reply)
            else:
                assert armed.rewrite is not None
                reply = armed.rewrite(reply)
        if callback is not None:
            callback()
        return reply


class FaultySession:
    """One connection through a ``FaultyFrontEnd``."""

    def __init__(self, owner: FaultyFrontEnd, inner: Session) -> None:
        self._owner = owner
        self._inner = inner

    def feed(self, data: bytes) -> bytes:
        mode = self._owner.mode
        if mode == "cut":
            raise LinkCut(self._owner.name)
        if mode == "freeze":
            return b""
        out = self._inner.feed(data)
        if self._owner.mode == "mute":
            return b""
        if out:
            out = self._owner._spoil(out)
            if self._owner.mode == "cut":
                raise LinkCut(self._owner.name)
        return out

    def poll(self) -> bytes:
        mode = self._owner.mode
        if mode == "cut":
            raise LinkCut(self._owner.name)
        if mode != "ok":
            return b""
        return self._inner.poll()
