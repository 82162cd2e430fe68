"""CI's blind test: every registered scenario, a few fixed-seed rigs each, and the campaign gate must hold.

A small campaign cannot prove a 95 % coverage claim (``make validate`` runs ≥ 200 rigs per scenario for
that); what it does catch on every commit is a task that faults, any false accept among its rigs, and a
coverage so far below the claim that even a handful of rigs refutes it (2 misses in 4 rigs does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from validation.campaign import validate
from validation.scenarios import SCENARIOS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: Rigs per scenario and the first seed: fixed, so a failure here reproduces with ``run_task(key, seed)``.
RIGS = 4
BASE_SEED = 9000


def test_every_scenario_holds_its_claims(tmp_path: Path):
    assert SCENARIOS, "no validation scenario is registered"
    outcome = validate(sorted(SCENARIOS), rigs=RIGS, base_seed=BASE_SEED, out_dir=tmp_path, progress=False)
    assert set(outcome.table["scenario"]) == set(SCENARIOS)
    assert outcome.scores.tasks == RIGS * len(SCENARIOS)
    if not outcome.gate.passed:
        reasons = "\n  ".join(outcome.gate.reasons)
        pytest.fail(f"validation gate fails:\n  {reasons}\nreport: {tmp_path / 'report.html'}", pytrace=False)
