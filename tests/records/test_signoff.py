"""Sign-off and the audit log on both backends: who signed which run state; a later change voids it."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from controller.cli import app
from controller.config import load_rig_config
from controller.session import run_sequence
from controller.verify import verify_run
from records.run_folder import read_run_folder
from records.signoff import SIGNOFF_FILE, read_signoffs
from records.store import MIGRATIONS, ResultsStore

runner = CliRunner()


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    outcome = run_sequence(
        load_rig_config(), "phantom-axis-iso230", {"runs": 2}, runs_dir=root, write_report=False
    )
    assert outcome.summary.state == "completed"
    return outcome.run_dir


@pytest.fixture
def run_dir(completed_run, tmp_path) -> Path:
    """A private copy (signing writes signoff.jsonl into the folder)."""
    return Path(shutil.copytree(completed_run, tmp_path / completed_run.name))


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


def test_sign_records_who_what_and_the_journal_head(store_url, run_dir):
    code, out = cli(
        "sign", str(run_dir), "--by", "A. Physicist", "--role", "QMP", "--note", "reviewed", "--db", store_url
    )
    assert code == 0, out
    report = verify_run(run_dir)
    (line,) = read_signoffs(run_dir)
    assert (line.by, line.role, line.note) == ("A. Physicist", "QMP", "reviewed")
    assert (line.journal_sha256, line.journal_records) == (report.head, report.records)
    raw = json.loads((run_dir / SIGNOFF_FILE).read_text().splitlines()[0])
    assert set(raw) == {"by", "role", "at", "journal_sha256", "journal_records", "note"}
    run_id = run_dir.name
    with ResultsStore.open(store_url) as store:
        (signature,) = store.signatures(run_id)
        assert (signature.signed_by, signature.journal_sha256) == ("A. Physicist", report.head)
        actions = [(e.action, e.actor) for e in store.audit(run_id=run_id)]
    assert actions[0][0] == "recorded"  # sign records the run first when the record does not hold it
    assert actions[1] == ("signed", "A. Physicist")
    code, out = cli("signatures", run_id, "--db", store_url)
    assert code == 0 and "VALID" in out and "VOID" not in out
    # Idempotent recording: signing again records nothing twice, adds a second signature.
    assert (
        cli(
            "sign",
            run_id,
            "--by",
            "B. Checker",
            "--role",
            "RSO",
            "--runs-dir",
            str(run_dir.parent),
            "--db",
            store_url,
        )[0]
        == 0
    )
    assert len(read_signoffs(run_dir)) == 2
    with ResultsStore.open(store_url) as store:
        assert [e.action for e in store.audit(run_id=run_id)] == ["recorded", "signed", "signed"]


def test_a_changed_run_voids_the_signature_and_cannot_be_signed(store_url, run_dir):
    assert cli("sign", str(run_dir), "--by", "A. Physicist", "--role", "QMP", "--db", store_url)[0] == 0
    results = json.loads((run_dir / "results.json").read_text())
    results["results"][0]["verdicts"][0]["measured"]["value"] = 0.001  # a "better" result typed in
    (run_dir / "results.json").write_text(json.dumps(results))
    code, out = cli("signatures", run_dir.name, "--db", store_url)
    assert code == 1, out
    assert "VOID" in out and "results.json" in out and "changed after it was signed" in out
    code, out = cli("sign", str(run_dir), "--by", "C. Other", "--role", "QMP", "--db", store_url)
    assert code == 1 and "cannot be signed" in out
    with ResultsStore.open(store_url) as store:
        assert len(store.signatures(run_dir.name)) == 1


def test_an_altered_journal_voids_the_signature(store_url, run_dir):
    assert cli("sign", str(run_dir), "--by", "A. Physicist", "--role", "QMP", "--db", store_url)[0] == 0
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n")  # the last record dropped
    code, out = cli("signatures", run_dir.name, "--db", store_url)
    assert code == 1 and "VOID" in out and "fails verification" in out


def test_a_record_edited_mid_journal_voids_the_signature_without_a_made_up_head(store_url, run_dir):
    """The chain breaks at the edited record, so no head can be read: the reason names the broken record
    and does not claim the journal "now ends at head None (0 records)"."""
    assert cli("sign", str(run_dir), "--by", "A. Physicist", "--role", "QMP", "--db", store_url)[0] == 0
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text().splitlines()
    middle = len(lines) // 2
    record = json.loads(lines[middle])
    record["edited"] = True
    lines[middle] = json.dumps(record)
    journal.write_text("\n".join(lines) + "\n")
    code, out = cli("signatures", run_dir.name, "--db", store_url)
    flat = " ".join(out.split())
    assert code == 1 and "VOID" in out and f"record {middle + 1}" in flat, out
    assert "head None" not in flat and "(0 records)" not in flat, out


def test_a_re_recorded_run_voids_earlier_signatures_and_the_audit_shows_the_re_run(store_url, run_dir):
    assert cli("sign", str(run_dir), "--by", "A. Physicist", "--role", "QMP", "--db", store_url)[0] == 0
    run = read_run_folder(run_dir)
    resumed = run.model_copy(
        update={"journal_sha256": "f" * 64, "journal_records": (run.journal_records or 0) + 7}
    )
    with ResultsStore.open(store_url) as store:
        assert store.record(resumed) is True
        (signature,) = store.signatures(run.run_id)
        assert signature.voided_at is not None and "f" * 64 in (signature.void_reason or "")
        (rerun,) = store.audit(run_id=run.run_id, actions=["re-recorded"])
        assert rerun.detail["previous_journal_sha256"] == run.journal_sha256
        assert rerun.detail["journal_sha256"] == "f" * 64
        assert rerun.detail["voided_signatures"] == [signature.id]
        assert store.record(resumed) is False  # recording the same end again changes nothing
        assert len(store.audit(run_id=run.run_id, actions=["re-recorded"])) == 1
    code, out = cli("signatures", run.run_id, "--db", store_url)
    assert code == 1 and "VOID" in out and "voided" in out
    code, out = cli("audit", "--db", store_url)
    assert code == 0
    assert "re-recorded" in out and "re-run" in out and "voided signature(s)" in out
    assert "signed" in out and "VOID" in out
    assert "recorded " not in out.replace("re-recorded", "")  # plain recordings only with --all
    assert "recorded" in cli("audit", "--all", "--db", store_url)[1]
    code, out = cli("audit", "--since", "2999-01-01", "--db", store_url)
    assert "no entries match" in out and "none match" in out


def test_the_audit_lists_a_test_repeated_the_same_day_as_a_re_run(store_url, run_dir):
    """A second run of a sequence on the same device the same (UTC) day is a re-run of the test (after a
    failure, say): `hilcal audit` lists it, naming the run it repeats, without --all. A run on another day
    (the next scheduled test) is not one."""
    first = read_run_folder(run_dir)
    again = first.model_copy(
        update={
            "run_id": first.run_id + "-again",
            "performed_at": first.performed_at + timedelta(minutes=30),
            "ended_at": first.ended_at + timedelta(minutes=30),
        }
    )
    later = first.model_copy(
        update={
            "run_id": first.run_id + "-later",
            "performed_at": first.performed_at + timedelta(days=3),
            "ended_at": first.ended_at + timedelta(days=3),
        }
    )
    with ResultsStore.open(store_url) as store:
        for record in (first, again, later):
            assert store.record(record) is True
    code, out = cli("audit", "--db", store_url)
    flat = " ".join(out.split())
    assert code == 0
    assert f"repeats {first.run_id}" in flat, out
    assert flat.count("re-run") == 1 and first.run_id + "-later" not in flat, out
    assert "repeats" in " ".join(cli("audit", "--all", "--db", store_url)[1].split())


def test_baseline_is_audited(store_url, run_dir):
    with ResultsStore.open(store_url) as store:
        store.record_folder(run_dir)
        store.mark_baseline(run_dir.name, "A. Physicist", "commissioning")
        (entry,) = store.audit(actions=["baseline"])
    assert (entry.actor, entry.run_id, entry.detail["note"]) == (
        "A. Physicist",
        run_dir.name,
        "commissioning",
    )


def test_the_audit_log_is_append_only(store_url, run_dir):
    with ResultsStore.open(store_url) as store:
        store.record_folder(run_dir)
        for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
                conn.execute(text(statement))
        assert store.count("audit_log") == 1
        assert store.audit()[0].actor != "someone else"


def test_unsigned_and_bad_input(store_url, run_dir, tmp_path):
    with ResultsStore.open(store_url) as store:
        store.record_folder(run_dir)
    code, out = cli("signatures", run_dir.name, "--db", store_url)
    assert code == 1 and "UNSIGNED" in out
    assert cli("sign", str(run_dir), "--by", " ", "--role", "QMP", "--db", store_url)[0] == 2
    assert cli("sign", "no-such-run", "--by", "A", "--role", "QMP", "--db", store_url)[0] == 2
    unended = tmp_path / "unended"
    shutil.copytree(run_dir, unended)
    (unended / "results.json").unlink()
    code, out = cli("sign", str(unended), "--by", "A", "--role", "QMP", "--db", store_url)
    assert code == 2 and "has not ended" in out
    assert cli("signatures", "no-such-run", "--db", store_url)[0] == 2


def test_a_record_at_revision_0001_upgrades_keeping_its_rows(store_url, run_dir):
    """Migration 0002 on a database last migrated to 0001 with a run in it (both backends)."""
    engine = create_engine(store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    run = read_run_folder(run_dir)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (key, vendor, model, serial, firmware, role, first_seen, last_seen) "
                "VALUES ('v/m/1', 'v', 'm', '1', '', 'axis', :t, :t)"
            ),
            {"t": run.performed_at},
        )
        device_id = conn.execute(text("SELECT id FROM devices")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO runs (run_id, rig, sequence, title, state, outcome, simulated, "
                "performed_at, ended_at, device_id, device_name, profile, run_dir, journal_sha256, "
                "journal_records, params, recorded_at) VALUES (:id, 'rig', :seq, '', 'completed', 'PASS', "
                "true, :t, :t, :dev, 'phantom_x', '', :dir, :head, :n, '{}', :t)"
            ),
            {
                "id": run.run_id,
                "seq": run.sequence,
                "t": run.performed_at,
                "dev": device_id,
                "dir": str(run_dir),
                "head": run.journal_sha256,
                "n": run.journal_records,
            },
        )
        conn.execute(
            text(
                "INSERT INTO metrics (run_id, device_id, sequence, metric, description, kind, value, "
                "standard_uncertainty, coverage_factor, unit, tolerance_limit, performed_at) "
                "VALUES (:id, :dev, :seq, 'A', '', 'verdict', 0.01, 0.001, 2, 'mm', 0.2, :t)"
            ),
            {"id": run.run_id, "dev": device_id, "seq": run.sequence, "t": run.performed_at},
        )
    engine.dispose()
    with ResultsStore.open(store_url) as store:  # opening brings it to head
        assert store.count("runs") == 1 and store.count("metrics") == 1 and store.count("devices") == 1
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT action_limit FROM metrics")).scalar() is None
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        assert store.count("signatures") == 0 and store.count("audit_log") == 0
        store.sign(
            run.run_id, "A. Physicist", "QMP", run.journal_sha256 or "", run.journal_records or 0, None
        )
        assert [e.action for e in store.audit()] == ["signed"]


def test_signing_refiles_the_report_with_the_sign_off_block(tmp_path):
    outcome = run_sequence(
        load_rig_config(), "phantom-axis-iso230", {"runs": 2}, runs_dir=tmp_path / "runs", write_report=True
    )
    report = outcome.run_dir / "report.html"
    assert "Not signed" in report.read_text(encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    args = ["sign", str(outcome.run_dir), "--by", "A. Physicist", "--role", "medical physicist", "--db", url]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    filed = report.read_text(encoding="utf-8")
    assert "A. Physicist" in filed and "medical physicist" in filed and "Not signed" not in filed
