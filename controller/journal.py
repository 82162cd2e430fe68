"""Hash-chained, append-only journal (JSON Lines): every command, reply, reading and result, as it happens.

Durability contract (docs/journal.md):
* each record is one ``os.write`` on an ``O_APPEND`` descriptor, so it reaches the kernel before the
  call returns: a killed process (SIGKILL, crash, Ctrl-C) loses nothing already written;
* the file is ``fsync``-ed at every result, at every state change of the run and at the end, so a
  power loss loses at most the raw exchanges since the last result;
* a record is never rewritten; a torn final line (power loss mid-write) is detected and reported by the
  reader, never silently dropped, and a reopened journal closes it off with a ``torn_tail`` record
  instead of gluing the next record onto it.

Tamper evidence: every record carries ``prev``, the SHA-256 of the previous record's exact bytes (the
first record chains to ``GENESIS``). Changing, inserting or deleting any record breaks the chain at the
next one; the head hash (SHA-256 of the last record) pins the whole file, so a sign-off or
``results.json`` that states it detects a truncated or rewritten tail as well.
"""

from __future__ import annotations

import hashlib
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
#: What the first record's ``prev`` holds: no record precedes it.
GENESIS = "0" * 64
#: The record kind a reopened journal writes to close off a torn final line (its bytes in ``data``).
TORN_TAIL = "torn_tail"


def record_hash(line: bytes) -> str:
    """SHA-256 of one record's exact bytes (without its newline): the next record's ``prev``."""
    return hashlib.sha256(line).hexdigest()


class JournalIntegrityError(ValueError):
    """The journal is not what was written: a record was changed, inserted, deleted or is unreadable."""

    def __init__(self, path: Path, record: int, reason: str) -> None:
        super().__init__(f"{path}: journal integrity broken at record {record}: {reason}")
        self.path = path
        self.record = record
        self.reason = reason


class Journal:
    def __init__(self, run_dir: Path, clock: Clock) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / JOURNAL_NAME
        self._clock = clock
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self._dumps = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), default=_encode_default
        ).encode
        existing = _parse(self.path, self.path.read_bytes(), verify=False)
        self._count = len(existing.records)
        self._head = existing.head
        self._size = os.fstat(self._fd).st_size
        if existing.torn_tail is not None:
            # Terminate the partial line so the next record starts a line of its own, and say so.
            os.write(self._fd, b"\n")
            self._size += 1
            self.append(TORN_TAIL, durable=True, data=existing.torn_tail, bytes=len(existing.torn_tail))

    @property
    def records_written(self) -> int:
        return self._count

    @property
    def head(self) -> str:
        """SHA-256 of the last record written (``GENESIS`` for an empty journal)."""
        return self._head

    def append(self, kind: str, durable: bool = False, **fields: Any) -> int:
        """Write one record through to the OS; ``durable`` also fsyncs (results, state changes)."""
        with self._lock:
            self._reconcile()
            number = self._count
            record = {
                "n": number,
                "prev": self._head,
                "wall": time.time(),
                "clock": self._clock.now(),
                "kind": kind,
            }
            record.update(fields)
            line = self._dumps(record).encode("utf-8")
            os.write(self._fd, line + b"\n")
            self._head = record_hash(line)
            self._count = number + 1
            self._size += len(line) + 1
            if durable:
                os.fsync(self._fd)
        return number

    def _reconcile(self) -> None:
        """Make the head and count the file's own if a record reached the file but not the bookkeeping.

        Ctrl-C or SIGTERM raises in the main thread between any two bytecodes, whichever thread the OS
        delivered the signal to: one landing after a write but before the head moved would make the next
        record repeat its number and prev. The file's size says so; the journal then reads its own tail.
        """
        size = os.fstat(self._fd).st_size
        if size != self._size:
            contents = _parse(self.path, self.path.read_bytes(), verify=False)
            self._count, self._head, self._size = len(contents.records), contents.head, size

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
    head: str = GENESIS  # SHA-256 of the last complete record
    chained: bool = True  # False for a journal written before records carried ``prev``

    def of_kind(self, *kinds: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.records if r["kind"] in kinds)


def read_journal(path: Path, verify: bool = True) -> JournalContents:
    """Read every complete record, checking the hash chain; a torn final line is returned separately.

    Raises ``JournalIntegrityError`` naming the first record that does not follow from the one before
    it (changed, inserted, deleted or unreadable). ``verify=False`` only parses, for a reader that wants
    to show a broken journal's contents anyway.
    """
    return _parse(path, path.read_bytes(), verify=verify)


def _parse(path: Path, raw: bytes, *, verify: bool) -> JournalContents:
    records: list[dict[str, Any]] = []
    lines = raw.split(b"\n")
    tail = lines.pop()  # after the final newline: b"" unless the last write was torn
    head = GENESIS
    chained: bool | None = None
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            if _acknowledged_torn(lines, number):
                continue  # a torn line closed off by the next record (a reopened journal)
            reason = f"line {number + 1} is not a record ({err})"
            raise JournalIntegrityError(path, len(records), reason) from err
        if not isinstance(record, dict) or "kind" not in record or "n" not in record:
            raise JournalIntegrityError(path, len(records), f"line {number + 1} is not a journal record")
        if _acknowledged_torn(lines, number):
            continue  # a complete-looking line that was still cut off before its newline
        if chained is None:
            chained = "prev" in record
        if verify and chained:
            if record.get("n") != len(records):
                raise JournalIntegrityError(
                    path, len(records), f"record numbered {record.get('n')!r}, expected {len(records)}"
                )
            if record.get("prev") != head:
                raise JournalIntegrityError(
                    path,
                    len(records),
                    "its prev hash does not match the record before it "
                    "(a record was changed, inserted or deleted)",
                )
        records.append(record)
        head = record_hash(line)
    if verify and chained is False:
        raise JournalIntegrityError(path, 0, "records carry no hash chain (written before hilcal 0.2)")
    torn = tail.decode("utf-8", "replace") if tail else None
    return JournalContents(records, torn, head, chained is not False)


def _acknowledged_torn(lines: list[bytes], number: int) -> bool:
    """Whether line ``number`` is the torn line that the next record (kind ``torn_tail``) closes off."""
    if number + 1 >= len(lines):
        return False
    try:
        following = json.loads(lines[number + 1])
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return (
        isinstance(following, dict)
        and following.get("kind") == TORN_TAIL
        and following.get("data") == lines[number].decode("utf-8", "replace")
    )
