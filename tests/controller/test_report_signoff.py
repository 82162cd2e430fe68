"""The report's sign-off block voids a signature for any change ``hilcal verify`` finds (issue 12).

The journal head (the hash of its last record) does not move when a record in the middle of the journal is
edited, nor when a verdict in ``results.json`` is rewritten while its journal hash is left alone: the block
must still show such a signature VOID, with the reason, as ``hilcal signatures`` does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller.config import load_rig_config
from controller.report_signoff import read_signatures
from controller.session import run_sequence


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("signoff")
    outcome = run_sequence(
        load_rig_config(None), "phantom-axis-iso230", {}, runs_dir=runs, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    return outcome.run_dir


def signed_copy(source: Path, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    run = tmp_path / source.name
    shutil.copytree(source, run)
    return run, write_signature(run)


def write_signature(run: Path) -> dict[str, object]:
    """Sign ``run`` as ``hilcal sign`` would (one line in signoff.jsonl naming its head); its results.json."""
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    line = {
        "by": "A. Physicist",
        "role": "physicist",
        "at": "2026-01-05T10:00:00Z",
        "journal_sha256": results["journal_sha256"],
        "journal_records": results["journal_records"],
        "note": "reviewed",
    }
    (run / "signoff.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    return results


def test_an_unchanged_signed_run_is_valid(finished_run: Path, tmp_path: Path) -> None:
    run, results = signed_copy(finished_run, tmp_path)
    [view] = read_signatures(run, str(results["journal_sha256"]))
    assert view.valid, view.reason


def test_a_record_edited_in_the_middle_of_the_journal_voids_the_signature(
    finished_run: Path, tmp_path: Path
) -> None:
    run, results = signed_copy(finished_run, tmp_path)
    journal = run / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    middle = len(lines) // 2
    record = json.loads(lines[middle])
    record["edited"] = True  # the last record, so the head hash, stays as it was
    lines[middle] = json.dumps(record) + "\n"
    journal.write_text("".join(lines), encoding="utf-8")

    [view] = read_signatures(run, str(results["journal_sha256"]))
    assert not view.valid
    assert "fails verification" in view.reason and f"record {middle + 1}" in view.reason


def test_a_verdict_rewritten_in_results_json_voids_the_signature(finished_run: Path, tmp_path: Path) -> None:
    run, results = signed_copy(finished_run, tmp_path)
    summary = json.loads((run / "results.json").read_text(encoding="utf-8"))
    summary["results"][0]["verdicts"][0]["outcome"] = "FAIL"  # journal hash left as it was
    (run / "results.json").write_text(json.dumps(summary), encoding="utf-8")

    [view] = read_signatures(run, str(results["journal_sha256"]))
    assert not view.valid
    assert "results.json states results that differ" in view.reason
