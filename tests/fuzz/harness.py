"""What every fuzz property shares: the example budget, the outcome rule, the time bound and the counts.

The budget comes from ``HILCAL_FUZZ_EXAMPLES`` (examples per property; 200 in ``make test``, set by
``make fuzz`` through ``tests/fuzz/run.py``). ``deadline=None`` keeps slow CI machines from flaking; the
time bound is asserted per case instead (``CASE_BOUND_S``), on inputs up to ``MAX_INPUT`` bytes.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from drivers.errors import HilcalDriverError

EXAMPLES = int(os.environ.get("HILCAL_FUZZ_EXAMPLES", "200"))
#: Largest input a case builds; long enough that a quadratic parser would blow the time bound.
MAX_INPUT = 65536
#: Wall-clock bound of one case: parsing 64 kB takes milliseconds in a linear parser.
CASE_BOUND_S = 1.0
#: Extra time allowed per command line in one input (32 k empty lines are 32 k error replies).
PER_COMMAND_S = 1e-4

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

#: Cases run per protocol in this process (printed by the runner and the terminal summary).
COUNTS: Counter[str] = Counter()

T = TypeVar("T")


@contextmanager
def bounded(protocol: str, commands: int = 0) -> Iterator[None]:
    """Count one case for ``protocol`` and fail it if it takes longer than ``CASE_BOUND_S`` plus
    ``PER_COMMAND_S`` for each of ``commands`` command lines (a simulator answers every one of them)."""
    COUNTS[protocol] += 1
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    bound = CASE_BOUND_S + PER_COMMAND_S * commands
    assert elapsed < bound, f"{protocol}: one case took {elapsed:.2f} s (bound {bound:.2f} s)"


def typed_or_value(call: Callable[[], T]) -> T | HilcalDriverError:
    """Run ``call``; only a value or one of the driver's typed errors may come out."""
    try:
        return call()
    except HilcalDriverError as err:
        return err


def assert_finite(value: Any, where: str) -> None:
    """Every float reachable in ``value`` (tuples, named tuples, dataclasses) is finite."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float):
        assert math.isfinite(value), f"{where}: non-finite measurement {value!r}"
    elif isinstance(value, (tuple, list)):
        for item in value:
            assert_finite(item, where)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            assert_finite(getattr(value, name), f"{where}.{name}")


# -- input strategies -------------------------------------------------------------------------------
#: Numbers a device should never send, spliced into otherwise valid replies.
BAD_NUMBERS = (
    "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1E+999", "9" * 400, "9" * 5000, "1" * 16384 + ".",
    "1_000", " 1", "0x10", "", "-", ".", "1e", "+-1", "١٢٣", "1.2.3", "4294967296", "-9223372036854775809",
)  # fmt: skip
bad_numbers = st.sampled_from(BAD_NUMBERS)


def noise(max_size: int = 256) -> st.SearchStrategy[bytes]:
    """Random bytes, sometimes a long run of one byte (digits, dots, separators) up to ``MAX_INPUT``."""
    runs = st.builds(
        lambda unit, n: unit * n,
        st.sampled_from([b"9", b"1.", b";", b",", b" ", b"\r", b"\n", b"E", b"\x00", b"\xff", b"01 "]),
        st.integers(1, MAX_INPUT // 2),
    )
    return st.one_of(st.binary(max_size=max_size), runs)
