"""``make fuzz``: the fuzz properties with a large example budget, then the per-protocol table.

``HILCAL_FUZZ_EXAMPLES`` (examples per property, default 35000) sets the budget: every protocol has a
parser, a simulator and one or two session properties, so 35000 gives at least 10^5 cases per protocol.
Extra arguments go to pytest (``-k pi_gcs``). pytest-timeout is off: one property runs for minutes.
Exits non-zero when a property failed, or (full run at the default budget) a protocol ran fewer than
``MIN_CASES`` cases.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

DEFAULT_EXAMPLES = "35000"
MIN_CASES = 100_000


def main() -> int:
    os.environ.setdefault("HILCAL_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)
    os.environ["HILCAL_FUZZ_RUNNER"] = "1"
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    sys.path.insert(0, root)
    start = time.perf_counter()
    status = int(pytest.main([here, "-q", "-p", "no:cacheprovider", "-o", "timeout=0", *sys.argv[1:]]))
    wall = time.perf_counter() - start

    from tests.fuzz import conftest
    from tests.fuzz.harness import COUNTS

    examples = os.environ["HILCAL_FUZZ_EXAMPLES"]
    print(f"\nfuzz: HILCAL_FUZZ_EXAMPLES={examples} per property, {wall:.0f} s in all, pytest exit {status}")
    for line in conftest.table():
        print(line)
    totals = {p: sum(n for (q, _), n in COUNTS.items() if q == p) for p, _ in COUNTS}
    short = [p for p, n in totals.items() if n < MIN_CASES]
    if examples == DEFAULT_EXAMPLES and short and status == 0 and not sys.argv[1:]:  # -k: a part only
        print(f"fewer than {MIN_CASES} cases for {short}")
        return 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
