"""A commissioning session: several sequences on one rig, one after another, each its own traceable run.

A session file lists the steps (sequence and parameters). Every step gets its own run directory, journal
and report, so one failed step never hides or corrupts another's record; the session index ties them
together. ``hilcal run`` without ``--sequence`` runs the built-in session on the built-in rig.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controller.config import RigConfig, read_structured_file
from controller.errors import ConfigError, describe_validation_errors
from controller.session import RunOutcome, new_run_id

DEFAULT_SESSION = Path(__file__).with_name("default_session.yaml")


class SessionStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sequence: str
    params: dict[str, Any] = Field(default_factory=dict)
    title: str = ""


class SessionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    steps: list[SessionStep] = Field(min_length=1)


def load_session(path: Path | None = None) -> SessionFile:
    """Load a session file; every step's sequence and parameters are validated before anything runs."""
    from sequences import get_sequence

    source = path or DEFAULT_SESSION
    raw = read_structured_file(source)
    try:
        session = SessionFile.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"session file {str(source)!r}", describe_validation_errors(err.errors())) from err
    problems: list[str] = []
    for index, step in enumerate(session.steps):
        try:
            sequence = get_sequence(step.sequence)
        except KeyError as err:
            problems.append(
                f"steps.{index}.sequence = {step.sequence!r}: expected {err.args[0].split('; ')[1]}"
            )
            continue
        try:
            sequence.parse_params(step.params, f"steps.{index}.params")
        except ConfigError as err:
            problems.extend(f"steps.{index}.params.{p}" for p in err.problems)
    if problems:
        raise ConfigError(f"session file {str(source)!r}", problems)
    return session


def run_session(
    session: SessionFile,
    rig_config: RigConfig,
    run_step: Callable[[SessionStep], RunOutcome],
    runs_dir: Path,
) -> tuple[Path, list[tuple[SessionStep, RunOutcome]]]:
    """Run every step (a faulted step does not stop the next: each starts from a fresh connection)."""
    outcomes = [(step, run_step(step)) for step in session.steps]
    index = runs_dir / f"session-{new_run_id()}.json"
    runs_dir.mkdir(parents=True, exist_ok=True)
    index.write_text(
        json.dumps(
            {
                "session": session.name,
                "rig": rig_config.name,
                "steps": [
                    {
                        "sequence": step.sequence,
                        "run_id": outcome.run_id,
                        "run_dir": str(outcome.run_dir),
                        "state": outcome.summary.state,
                        "outcome": outcome.result.outcome.value if outcome.result else None,
                        "error": outcome.summary.error,
                    }
                    for step, outcome in outcomes
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return index, outcomes
