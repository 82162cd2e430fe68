"""Mutated replies for whole-session fuzzing, with each protocol's checksum recomputed afterwards.

A mutation that breaks the Zaber LRC or the NDI CRC-16 would only ever test the checksum check; so after
flipping, cutting, extending or number-splicing a reply, ``reframe`` makes its checksum right again and
the mutation reaches the parser behind it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable

from hypothesis import strategies as st

from drivers.ndi.framing import crc16
from drivers.transport.expected import ScriptedTransport
from drivers.zaber.ascii import lrc
from tests.fuzz.harness import BAD_NUMBERS, MAX_INPUT

_NUMBER = re.compile(rb"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


KINDS = ("flip", "truncate", "extend", "insert", "number", "number", "float32")


def _edit(kind: str, seed: int, extra: bytes, bad: bytes, count: int) -> Callable[[bytes], bytes]:
    def apply(reply: bytes) -> bytes:
        if not reply:
            return extra
        data = bytearray(reply)
        position = seed % len(data)
        if kind == "flip":
            for i in range(count):
                data[(position + 7 * i) % len(data)] = (seed >> (8 * (i % 4))) & 0xFF
        elif kind == "truncate":
            del data[position:]
        elif kind == "extend":
            data[-1:-1] = extra
        elif kind == "insert":
            data[position:position] = extra
        elif kind == "number":
            matches = list(_NUMBER.finditer(reply))
            if matches:
                match = matches[seed % len(matches)]
                data[match.start() : match.end()] = bad
            else:
                data[position:position] = bad
        elif kind == "float32" and len(data) >= 4:
            value = (float("nan"), float("inf"), float("-inf"), 3.4e38)[seed % 4]
            struct.pack_into("<f", data, position - position % 4 if position + 4 <= len(data) else 0, value)
        return bytes(data)

    return apply


#: Built once: hypothesis validates a strategy the first time it is drawn from, so one built per draw
#: costs that validation on every example.
_MUTATION = st.builds(
    _edit,
    st.sampled_from(KINDS),
    st.integers(0, 2**32 - 1),
    st.one_of(st.binary(max_size=64), st.integers(1, MAX_INPUT // 4).map(lambda n: b"9" * n)),
    st.sampled_from(BAD_NUMBERS).map(lambda text: text.encode("utf-8")),
    st.integers(1, 4),
)


def mutation() -> st.SearchStrategy[Callable[[bytes], bytes]]:
    """One edit of a reply: flip bytes, truncate, extend, insert, or replace a number token."""
    return _MUTATION


# -- checksums made right again ---------------------------------------------------------------------
def reframe_zaber(reply: bytes) -> bytes:
    """Recompute ``:CC`` on a reply that carries one (``@…:CC\\r\\n``)."""
    body = reply.removesuffix(b"\r\n")
    if len(body) > 4 and body[-3:-2] == b":" and body[:1] in (b"@", b"!", b"#"):
        payload = body[1:-3]
        return body[:1] + payload + b":%02X\r\n" % lrc(payload)
    return reply


def reframe_ndi_text(reply: bytes) -> bytes:
    """Payload + CRC + CR with the CRC recomputed over whatever payload the mutation left."""
    payload = reply.removesuffix(b"\r")[:-4] if reply.endswith(b"\r") and len(reply) >= 5 else reply
    payload = payload.replace(b"\r", b"")
    return payload + b"%04X\r" % crc16(payload)


def reframe_ndi_binary(body: bytes) -> bytes:
    """A binary reply around ``body``: header with its length and CRC, body CRC; bodies over 64 kB cut."""
    body = body[:0xFFFF]
    header = b"\xc4\xa5" + struct.pack("<H", len(body))
    return header + struct.pack("<H", crc16(header)) + body + struct.pack("<H", crc16(body))


class ReplayTransport(ScriptedTransport):
    """Answers the n-th write with the n-th scripted reply, whatever was written.

    A mutated reply may send the driver down another path (a retry, a poll); the replay keeps answering,
    and when the script runs out the device falls silent (``TransportTimeout``), as a real one would.
    """

    def __init__(self, replies: Iterable[bytes | None], device: str = "fuzz") -> None:
        super().__init__(device)
        self._replies = list(replies)

    def _write(self, data: bytes) -> None:
        if self._replies:
            self._incoming += self._replies.pop(0) or b""
