"""Table headers carry the unit of every key suffix the sequences use (issue 12: units on every number).

The keys are those of the sequences' results tables; before, ``deviation_pct``, ``dose_Gy``,
``amplitude_pC`` and ``voltage_v`` showed no unit and ``inverse_charge_per_nC`` read
"inverse charge per (nC)".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import load_rig_config
from controller.report_format import split_unit, table_view
from controller.session import run_sequence


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("deviation_pct", ("deviation", "%")),
        ("u_rel_pct", ("u rel", "%")),
        ("dose_Gy", ("dose", "Gy")),
        ("amplitude_pC", ("amplitude", "pC")),
        ("voltage_v", ("voltage", "V")),
        ("bias_v", ("bias", "V")),
        ("inverse_charge_per_nC", ("inverse charge", "1/nC")),
        ("charge_nC", ("charge", "nC")),
        ("residual_percent", ("residual", "%")),
        ("offset_mm", ("offset", "mm")),
        ("ratio", ("ratio", "")),
    ],
)
def test_the_key_suffix_gives_the_unit(key: str, shown: tuple[str, str]) -> None:
    assert split_unit(key) == shown


def test_the_couch_readback_table_names_the_unit_of_each_row(tmp_path: Path) -> None:
    """couch-pose-readback's per-axis table mixes mm and deg rows, so no header can carry the unit: each row
    says it, next to the axis."""
    outcome = run_sequence(
        load_rig_config(None), "couch-pose-readback", {}, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    view = table_view("axes", outcome.result.tables["axes"])
    assert view is not None and view.headers[:3] == ["axis", "unit", "max abs"]
    units = {row[0]: row[1] for row in view.rows}
    assert units["lateral_mm"] == "mm" and units["couch_rotation_deg"] == "deg"
    assert set(units.values()) == {"mm", "deg"}
