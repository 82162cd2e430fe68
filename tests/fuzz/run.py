"""``make fuzz``: the fuzz properties with a large example budget; prints the cases run per protocol.

``HILCAL_FUZZ_EXAMPLES`` (examples per property, default 35000) sets the budget: each protocol has a
parser, a simulator and one or two session properties, so 35000 gives at least 10^5 cases per protocol.
"""

from __future__ import annotations

import os
import sys

import pytest

DEFAULT_EXAMPLES = "35000"


def main() -> int:
    os.environ.setdefault("HILCAL_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)
    here = os.path.dirname(os.path.abspath(__file__))
    return int(pytest.main([here, "-q", "-p", "no:cacheprovider", *sys.argv[1:]]))


if __name__ == "__main__":
    raise SystemExit(main())
