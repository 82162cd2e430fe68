"""Counts for the fuzz suite: each property's wall time is charged to the protocol whose cases it ran, and
the per-protocol table (cases, untyped exceptions, hangs, non-finite values, wall time, rate) is printed at
the end of the session (by ``run.py`` under ``make fuzz``, in the terminal summary under plain pytest).

Logging is switched off while a fuzz test runs: a driver logs every discarded reply (up to 64 kB each), and
pytest would format and keep every record of a 10^5-case property. Logging never raises into the caller,
so this hides nothing the properties check.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fuzz.harness import COUNTS, EXAMPLES, FAILURES, OUTCOMES

#: Wall seconds of the fuzz tests per protocol (hypothesis' generation included).
WALL: Counter[str] = Counter()
#: Set by ``run.py``, which prints the table itself after pytest's own output.
RUNNER_ENV = "HILCAL_FUZZ_RUNNER"


def _per_protocol() -> Counter[str]:
    totals: Counter[str] = Counter()
    for (protocol, _), count in COUNTS.items():
        totals[protocol] += count
    return totals


@pytest.fixture(autouse=True)
def _quiet_logging() -> Iterator[None]:
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    before = _per_protocol()
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        elapsed = time.perf_counter() - start
        grown = [p for p, n in _per_protocol().items() if n > before.get(p, 0)]
        for protocol in grown:
            WALL[protocol] += elapsed / len(grown)


KINDS = ("parser", "session", "simulator")
HEAD = "protocol          cases   parser  session simulator untyped hangs non-finite   wall s  cases/s"


def _row(name: str, cases: int, kinds: list[int] | None, failed: list[int], wall: float) -> str:
    by_kind = "".join(f"{n:>9d}" for n in kinds) if kinds else " " * 27
    rate = cases / wall if wall else 0.0
    untyped, hangs, non_finite = failed
    outcomes = f"{untyped:>7d} {hangs:>5d} {non_finite:>10d}"
    return f"{name:14s}{cases:>9d}{by_kind} {outcomes} {wall:>8.1f} {rate:>8.0f}"


def table() -> list[str]:
    """One line per protocol: cases by property kind, failing cases by outcome, wall time and cases/s."""
    totals = _per_protocol()
    rule = "-" * len(HEAD)
    lines = [HEAD, rule]
    for protocol in sorted(totals):
        kinds = [COUNTS.get((protocol, k), 0) for k in KINDS]
        failed = [FAILURES.get((protocol, o), 0) for o in OUTCOMES]
        lines.append(_row(protocol, totals[protocol], kinds, failed, WALL.get(protocol, 0.0)))
    failed = [sum(n for (_, o), n in FAILURES.items() if o == outcome) for outcome in OUTCOMES]
    lines += [rule, _row("total", sum(totals.values()), None, failed, sum(WALL.values()))]
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS or os.environ.get(RUNNER_ENV):
        return
    terminalreporter.section(f"fuzz cases per protocol (HILCAL_FUZZ_EXAMPLES={EXAMPLES})")
    for line in table():
        terminalreporter.write_line(line)
