"""A rotating slice of the fault matrix in the normal suite (``make faults`` runs all of it).

The slice changes with the day (seed = days since the epoch) so every cell comes round; a failing day is
reproduced with ``HILCAL_FAULTS_SEED=<seed shown> python tests/faults/run.py --sample 6 --seed <seed>``.
"""

from __future__ import annotations

import os
import time

from tests.faults import run


def test_a_seeded_slice_of_the_fault_matrix_holds(tmp_path, capsys) -> None:
    seed = int(os.environ.get("HILCAL_FAULTS_SEED", int(time.time() // 86400)))
    status = run.main(["--sample", "6", "--seed", str(seed), "--keep", str(tmp_path)])
    printed = capsys.readouterr().out
    assert status == 0, f"seed {seed}:\n{printed}"
    assert "cells hold" in printed
