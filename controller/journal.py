"""Append-only run journal (JSON Lines): every command, reply, reading and result, as it happens.

Durability contract (docs/journal.md):
* each record is one ``os.write`` on an ``O_APPEND`` descriptor, so it reaches the kernel before the
  call returns: a killed process (SIGKILL, crash, Ctrl-C) loses nothing already written;
* the file is ``fsync``-ed at every result, at every state change of the run and at the end, so a
  power loss loses at most the raw exchanges since the last result;
* a record is never rewritten; a torn final line (power loss mid-write) is detected and reported by the
  reader, never silently dropped.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.clock import Clock
from drivers.transport.base import Exchange

JOURNAL_NAME = "journal.jsonl"


class Journal:
    def __init__(self, run_dir: Path, clock: Clock) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / JOURNAL_NAME
        self._clock = clock
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self._count = self._existing_records()
        self._dumps = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), default=_encode_default
        ).encode

    def _existing_records(self) -> int:
        with self.path.open("rb") as handle:
            return sum(1 for _ in handle)

    @property
    def records_written(self) -> int:
        return self._count

    def append(self, kind: str, durable: bool = False, **fields: Any) -> int:
        """Write one record through to the OS; ``durable`` also fsyncs (results, state changes)."""
        with self._lock:
            number = self._count
            record = {"n": number, "wall": time.time(), "clock": self._clock.now(), "kind": kind}
            record.update(fields)
            os.write(self._fd, (self._dumps(record) + "\n").encode("utf-8"))
            self._count = number + 1
            if durable:
                os.fsync(self._fd)
        return number

    def record_exchange(self, exchange: Exchange) -> None:
        """Transport listener: the raw bytes, byte-exact (latin-1 maps each byte to one code point)."""
        self.append(
            exchange.direction,
            device=exchange.device,
            data=exchange.data.decode("latin-1"),
            mono=exchange.t_monotonic,
        )

    def sync(self) -> None:
        with self._lock:
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


def _encode_default(value: object) -> object:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, Path):
        return str(value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"journal cannot encode {type(value).__name__}")


@dataclass(frozen=True)
class JournalContents:
    records: list[dict[str, Any]]
    torn_tail: str | None  # the partial last line a power loss can leave, kept for review

    def of_kind(self, *kinds: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.records if r["kind"] in kinds)


def read_journal(path: Path) -> JournalContents:
    """Read every complete record; a torn final line is returned separately, never guessed at."""
    records: list[dict[str, Any]] = []
    torn: str | None = None
    lines = path.read_bytes().split(b"\n")
    tail = lines.pop()  # after the final newline: b"" unless the last write was torn
    for number, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path}: record {number} is corrupt ({err}); the journal is append-only"
            ) from err
    if tail:
        torn = tail.decode("utf-8", "replace")
    return JournalContents(records, torn)
