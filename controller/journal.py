"""Hash-chained, append-only journal (JSON Lines): every command, reply, reading and result, as it happens.

Durability contract (docs/journal.md):
* each record is one ``os.write`` on an ``O_APPEND`` descriptor, so it reaches the kernel before the
  call returns: a killed process (SIGKILL, crash, Ctrl-C) loses nothing already written;
* the file is ``fsync``-ed at every result, at every state change of the run and at the end, and — by
  the ``fsync`` setting — also at every ``Checkpoint`` (group commit, the default: a background thread
  fsyncs what was written up to the checkpoint while the run goes on) or after every record (the caller
  waits), so a power loss loses at most the records since the last checkpoint and the one fsync then in
  flight (or none, or since the last state change);
* a record is never rewritten; a torn final line (power loss mid-write) is detected and reported by the
  reader, never silently dropped, and a reopened journal closes it off with a ``torn_tail`` record
  instead of gluing the next record onto it.

Tamper evidence: every record carries ``prev``, the SHA-256 of the previous record's exact bytes (the
first record chains to ``GENESIS``). Changing, inserting or deleting any record breaks the chain at the
next one; the head hash (SHA-256 of the last record) pins the whole file, so a sign-off or
``results.json`` that states it detects a truncated or rewritten tail as well.

Encoding: a record is ``{"n", "prev", "wall", "clock", "kind", **fields}`` as one line of compact JSON
written by ``orjson``, or by the stdlib ``json`` where orjson's line would not read back the same (NaN and
infinities, ints past 64 bits); the verifier hashes the bytes as they are in the file and never
re-encodes, so journals written by either (and by earlier hilcal) verify alike (docs/journal.md,
"Encoding").
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
from typing import Any, Literal

import orjson

from drivers.clock import Clock
from drivers.transport.base import Exchange

JOURNAL_NAME = "journal.jsonl"
#: What the first record's ``prev`` holds: no record precedes it.
GENESIS = "0" * 64
#: The record kind a reopened journal writes to close off a torn final line (its bytes in ``data``).
TORN_TAIL = "torn_tail"

#: When the journal fsyncs beyond results, state changes and close (docs/journal.md, "Durability modes"):
#: ``checkpoint`` also at every ``Checkpoint`` message (one fsync for all records since the last),
#: ``record`` after every record, ``state`` only at those points.
FsyncMode = Literal["checkpoint", "record", "state"]
FSYNC_MODES: tuple[FsyncMode, ...] = ("checkpoint", "record", "state")


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
    def __init__(self, run_dir: Path, clock: Clock, *, fsync: FsyncMode = "checkpoint") -> None:
        if fsync not in FSYNC_MODES:
            raise ValueError(f"journal fsync mode {fsync!r}: expected one of {', '.join(FSYNC_MODES)}")
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / JOURNAL_NAME
        self.fsync_mode: FsyncMode = fsync
        self._clock = clock
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        existing = _parse(self.path, self.path.read_bytes(), verify=False)
        self._count = len(existing.records)
        self._head = existing.head
        self._size = os.fstat(self._fd).st_size
        self._synced = self._size  # bytes known to be on disk (the file as found counts as synced)
        #: Group commit beside the run: a checkpoint asks for the bytes so far to be synced and goes on;
        #: this thread fsyncs them (one call covers every request since the last), so a scan point never
        #: waits for the disk. Results, state changes and close still sync in the caller.
        self._wanted = self._size
        self._sync_cv = threading.Condition(threading.Lock())
        self._syncer: threading.Thread | None = None
        self._stopping = False
        #: Set before a write and cleared once the bookkeeping follows it: an interrupt in between leaves
        #: it set, and the next append re-reads the file's tail (``_reconcile``).
        self._dirty = False
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
        """Write one record through to the OS; ``durable`` also fsyncs (results, state changes).

        The record is built once and encoded once (``encode_record``). With ``fsync`` ``checkpoint`` the
        ``msg`` record of a ``Checkpoint`` commits everything since the last fsync; with ``record`` every
        record does.
        """
        with self._lock:
            if self._dirty:
                self._reconcile()
            number = self._count
            record = {
                "n": number,
                "prev": self._head,
                "wall": time.time(),
                "clock": self._clock.now(),
                "kind": kind,
                **fields,  # a field named like a header field replaces it in place, as ``update`` did
            }
            data = encode_record(record, 0 if "n" in fields or "prev" in fields else _HEADER_PREFIX)
            self._dirty = True
            os.write(self._fd, data)
            self._head = _sha256(data[:-1]).hexdigest()
            self._count = number + 1
            self._size += len(data)
            self._dirty = False
            if durable or self.fsync_mode == "record":
                self._commit()
            elif self.fsync_mode == "checkpoint" and kind == "msg" and _is_checkpoint(fields):
                self._request_commit()
        return number

    def _commit(self) -> None:
        """fsync everything written since the last fsync, now (one call covers them all)."""
        if self._synced != self._size:
            self._fsync_now()

    def _fsync_now(self) -> None:
        """fsync in the caller (its lock held) and tell waiters the bytes so far are on disk."""
        size = self._size
        os.fsync(self._fd)
        with self._sync_cv:
            self._synced = max(self._synced, size)
            self._sync_cv.notify_all()

    def _request_commit(self) -> None:
        """Ask the syncer to fsync what is written so far; return at once (group commit at a checkpoint)."""
        with self._sync_cv:
            if self._size <= max(self._synced, self._wanted):
                return
            self._wanted = self._size
            if self._syncer is None:
                self._syncer = threading.Thread(target=self._sync_loop, name="journal-sync", daemon=True)
                self._syncer.start()
            self._sync_cv.notify_all()

    def _sync_loop(self) -> None:
        while True:
            with self._sync_cv:
                while not self._stopping and self._wanted <= self._synced:
                    self._sync_cv.wait()
                if self._wanted <= self._synced:
                    return
                target = self._wanted
            os.fsync(self._fd)  # outside the lock: appends go on while the disk works
            with self._sync_cv:
                self._synced = max(self._synced, target)
                self._sync_cv.notify_all()

    def wait_committed(self, timeout: float | None = None) -> bool:
        """Block until every group commit asked for so far is on disk (tests, and before a review)."""
        with self._sync_cv:
            return self._sync_cv.wait_for(lambda: self._synced >= self._wanted, timeout)

    def _stop_syncer(self) -> None:
        with self._sync_cv:
            self._stopping = True
            self._sync_cv.notify_all()
            syncer = self._syncer
        if syncer is not None:
            syncer.join()

    def _reconcile(self) -> None:
        """Make the head and count the file's own if a record reached the file but not the bookkeeping.

        Ctrl-C or SIGTERM raises in the main thread between any two bytecodes, whichever thread the OS
        delivered the signal to: one landing after a write but before the head moved would make the next
        record repeat its number and prev. ``append`` marks the journal dirty before its write and clean
        after the bookkeeping, so an interrupt anywhere between leaves the mark; the file's size then says
        whether the record got out, and the journal reads its own tail.
        """
        size = os.fstat(self._fd).st_size
        if size != self._size:
            contents = _parse(self.path, self.path.read_bytes(), verify=False)
            self._count, self._head, self._size = len(contents.records), contents.head, size
        self._dirty = False

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
            self._fsync_now()

    def close(self) -> None:
        self._stop_syncer()  # its last fsync (if one was asked for) finishes before the descriptor goes
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


_ORJSON_OPTIONS = (
    orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)
_INF = float("inf")
#: ``{"n":0,"prev":"`` and 64 hex digits: the shortest header prefix, which holds no ``null``.
_HEADER_PREFIX = 79
#: Bound once: ``append`` runs for every record, six times per scan point.
_sha256 = hashlib.sha256


def encode_record(record: dict[str, Any], start: int = 0) -> bytes:
    """One record's line with its newline, JSON that reads back as exactly ``record``.

    orjson writes it, except where its output would not read back the same: NaN and infinities, which
    it writes as ``null``, and what it refuses (an int past 64 bits, a non-string key). Those records are
    written by the stdlib encoder (``NaN``, ``Infinity``, as every hilcal journal has). A ``null`` in the
    output (after ``start``: ``append`` skips the number and the previous hash) is the only sign a
    non-finite float may be there, so only such a record is looked through. orjson spells a few floats
    otherwise than the stdlib (``1e-7`` for ``1e-07``, ``0.00001`` for ``1e-05``); both read back as the
    same float, and the chain hashes the bytes as written (docs/journal.md, "Encoding").
    """
    try:
        out = orjson.dumps(record, default=_encode_default, option=_ORJSON_OPTIONS)
    except TypeError:
        return _stdlib_encode(record).encode("utf-8") + b"\n"
    if out.find(b"null", start) >= 0 and _holds_non_finite(record):
        return _stdlib_encode(record).encode("utf-8") + b"\n"
    return out


def _holds_non_finite(value: Any) -> bool:
    """Whether ``value`` holds a NaN or an infinity orjson would write as ``null``.

    True too for anything but dicts, lists, tuples, strings, ints, bools, None and floats (a model, an
    array: what ``_encode_default`` converts, where a NaN could hide), so such a record errs towards the
    stdlib, whose bytes read back the same.
    """
    kind = type(value)
    if kind is float:
        return not -_INF < value < _INF  # NaN too
    if kind is str or kind is int or kind is bool or value is None:
        return False
    if kind is dict:
        return any(_holds_non_finite(item) for item in value.values())
    if kind is list or kind is tuple:
        return any(_holds_non_finite(item) for item in value)
    return True


def _is_checkpoint(fields: dict[str, Any]) -> bool:
    message = fields.get("message")
    return isinstance(message, dict) and message.get("type") == "Checkpoint"


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


#: The encoder that defines a record's bytes (and encodes whatever orjson would write otherwise).
_stdlib_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_encode_default).encode


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
