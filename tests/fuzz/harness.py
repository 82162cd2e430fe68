"""What every fuzz property shares: the example budget, the outcome rule, the time bound and the counts.

The budget comes from ``HILCAL_FUZZ_EXAMPLES`` (examples per property; 200 in ``make test``, set by
``make fuzz`` through ``tests/fuzz/run.py``). ``deadline=None`` keeps slow CI machines from flaking; the
CPU-time bound is asserted per case instead (``CASE_BOUND_S``), on inputs up to ``MAX_INPUT`` bytes, and a
wall-clock watchdog (``HANG_S``, SIGALRM) turns a case that never returns (or sleeps) into a counted
failure instead of a stuck run.

Every case runs inside ``bounded``, which counts it and classifies how it failed, if it did: an untyped
exception (anything but ``HilcalDriverError`` out of a driver or simulator), a hang (over the time bound or
stopped by the watchdog) or a non-finite measurement. ``run.py`` and the terminal summary print the counts.
"""

from __future__ import annotations

import functools
import gc
import math
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from drivers.errors import HilcalDriverError

EXAMPLES = int(os.environ.get("HILCAL_FUZZ_EXAMPLES", "200"))
#: Largest input a case builds; long enough that a quadratic parser would blow the time bound.
MAX_INPUT = 65536
#: CPU-time bound of one case: parsing 64 kB takes milliseconds in a linear parser. CPU time, not wall
#: time, so that ``nice -n 15`` on a busy machine does not turn a descheduled case into a failure, and
#: without the garbage collector's pauses (see ``_GC_SECONDS``).
CASE_BOUND_S = 1.0
#: Extra time allowed per command line in one input (32 k empty lines are 32 k error replies).
PER_COMMAND_S = 1e-4
#: A case still running after this long is stopped by the watchdog and counted as a hang.
HANG_S = 20.0

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

#: Cases run in this process, keyed (protocol, property kind): "parser", "session" or "simulator".
COUNTS: Counter[tuple[str, str]] = Counter()
#: Failing cases per (protocol, outcome): "untyped", "hang" or "non-finite" (shrink replays included).
FAILURES: Counter[tuple[str, str]] = Counter()
OUTCOMES = ("untyped", "hang", "non-finite")

T = TypeVar("T")


class NonFinite(AssertionError):
    """A driver handed out a NaN or an infinity as a measurement."""


class Hang(BaseException):
    """Raised by the watchdog; a ``BaseException``, so no ``except Exception`` under test can swallow it."""


class OverTime(AssertionError):
    """A case returned, but after its time bound (a quadratic parser, a retry loop on the wall clock)."""


#: CPU seconds spent in the cyclic garbage collector so far. A full collection walks every object
#: hypothesis keeps (10^5 examples' worth: about a second), which is the harness's cost, not the parser's.
_GC_SECONDS = [0.0, 0.0]  # total, start of the collection under way


def _gc_clock(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _GC_SECONDS[1] = time.process_time()
    else:
        _GC_SECONDS[0] += time.process_time() - _GC_SECONDS[1]


gc.callbacks.append(_gc_clock)


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang(f"case still running after {HANG_S:g} s")


@contextmanager
def _watchdog() -> Iterator[None]:
    """SIGALRM after ``HANG_S``; only possible on the main thread (where pytest runs), else a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # pytest-timeout (signal method) may have its own SIGALRM armed for the whole test: put it back after.
    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, min(HANG_S, outer) if outer else HANG_S)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))


def _outcome(error: BaseException) -> str | None:
    if isinstance(error, (Hang, OverTime)):
        return "hang"
    if isinstance(error, NonFinite):
        return "non-finite"
    if isinstance(error, HilcalDriverError) or not isinstance(error, Exception):
        return None  # a typed error, or hypothesis/pytest control flow (StopTest, KeyboardInterrupt)
    return "untyped"


@contextmanager
def bounded(protocol: str, kind: str, commands: int = 0) -> Iterator[None]:
    """Count one ``kind`` case for ``protocol``; fail it (and count why) on an untyped exception, a
    non-finite value, or a run over ``CASE_BOUND_S`` plus ``PER_COMMAND_S`` per command line in it."""
    COUNTS[protocol, kind] += 1
    start, collected = time.process_time(), _GC_SECONDS[0]
    try:
        with _watchdog():
            yield
        elapsed = time.process_time() - start - (_GC_SECONDS[0] - collected)
        bound = CASE_BOUND_S + PER_COMMAND_S * commands
        if elapsed >= bound:
            raise OverTime(f"{protocol}: one case took {elapsed:.2f} s (bound {bound:.2f} s)")
    except BaseException as error:
        outcome = _outcome(error)
        if outcome is not None:
            FAILURES[protocol, outcome] += 1
        raise


def typed_or_value(call: Callable[[], T]) -> T | HilcalDriverError:
    """Run ``call``; only a value or one of the driver's typed errors may come out."""
    try:
        return call()
    except HilcalDriverError as err:
        return err


def assert_finite(value: Any, where: str) -> None:
    """Every float reachable in ``value`` (tuples, lists, dicts, dataclasses) is finite."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NonFinite(f"{where}: non-finite measurement {value!r}")
    elif isinstance(value, (tuple, list)):
        for item in value:
            assert_finite(item, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_finite(item, f"{where}[{key!r}]")
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            assert_finite(getattr(value, name), f"{where}.{name}")


# -- input strategies -------------------------------------------------------------------------------
#: Numbers a device should never send, spliced into otherwise valid replies.
BAD_NUMBERS = (
    "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1E+999", "9" * 400, "9" * 5000, "1" * 16384 + ".",
    "1_000", " 1", "0x10", "", "-", ".", "1e", "+-1", "١٢٣", "1.2.3", "4294967296", "-9223372036854775809",
    "1e308", "-1.7976931348623157e308", "1e-320",
)  # fmt: skip
bad_numbers = st.sampled_from(BAD_NUMBERS)


@functools.cache
def noise(max_size: int = 256) -> st.SearchStrategy[bytes]:
    """Random bytes, sometimes a long run of one byte (digits, dots, separators) up to ``MAX_INPUT``."""
    runs = st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(
            [b"9", b"1.", b";", b",", b" ", b"\r", b"\n", b" \n", b"E", b"\x00", b"\xff", b"01 "]
        ),
        st.integers(1, MAX_INPUT // 2),
    )
    return st.one_of(st.binary(max_size=max_size), runs)
