"""Prints the fuzz cases run per protocol at the end of the session (driver sessions, parsers, simulator)."""

from __future__ import annotations

from typing import Any

from tests.fuzz.harness import COUNTS, EXAMPLES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    totals: dict[str, int] = {}
    for key, count in COUNTS.items():
        protocol = key.split("-", 1)[-1]
        totals[protocol] = totals.get(protocol, 0) + count
    terminalreporter.section(f"fuzz cases per protocol (HILCAL_FUZZ_EXAMPLES={EXAMPLES})")
    for protocol in sorted(totals):
        parts = ", ".join(f"{k}={COUNTS[k]}" for k in sorted(COUNTS) if k.split("-", 1)[-1] == protocol)
        terminalreporter.write_line(f"{protocol:15s} {totals[protocol]:>9d}  ({parts})")
