"""pytest plugin for acceptance tests: run hilcal sequences on a rig and assert on their verdicts.

Installed with hilcal (entry point ``pytest11``). Fixtures:

* ``hilcal_rig`` — the rig configuration: ``--hilcal-rig FILE`` or the built-in simulated rig;
* ``hilcal_run`` — a callable ``hilcal_run(sequence, params=None, *, stage_errors=None, hook=None)`` that
  runs one sequence into the test's temporary directory and returns the ``RunOutcome``.

An acceptance test then reads like the procedure it checks::

    def test_phantom_axis_meets_clinical_limits(hilcal_run):
        outcome = hilcal_run("phantom-axis-iso230")
        assert outcome.result.outcome == "PASS", outcome.summary.error
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.config import RigConfig, load_rig_config
from controller.rig import Rig
from controller.session import RunOutcome, run_sequence


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hilcal")
    group.addoption("--hilcal-rig", default=None, help="rig file for acceptance tests (default: simulated)")


@pytest.fixture
def hilcal_rig(request: pytest.FixtureRequest) -> RigConfig:
    path = request.config.getoption("--hilcal-rig")
    return load_rig_config(Path(path) if path else None)


@pytest.fixture
def hilcal_run(hilcal_rig: RigConfig, tmp_path: Path) -> Callable[..., RunOutcome]:
    def run(
        sequence: str,
        params: dict[str, Any] | None = None,
        *,
        stage_errors: dict[str, dict[str, float]] | None = None,
        hook: Callable[[Rig], None] | None = None,
        report: bool = False,
    ) -> RunOutcome:
        config = hilcal_rig
        if stage_errors:
            if not config.simulated:
                raise pytest.UsageError("stage_errors can only be injected into a simulated rig")
            raw = config.model_dump(mode="json")
            for stage, errors in stage_errors.items():
                raw["simulation"]["stages"][stage].update(errors)
            config = RigConfig.model_validate(raw)
        return run_sequence(
            config, sequence, params, runs_dir=tmp_path / "runs", write_report=report, on_rig_ready=hook
        )

    return run
