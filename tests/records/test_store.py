"""The QA record on both backends (SQLite file, real PostgreSQL server): nothing lost, nothing doubled."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from controller.config import load_rig_config
from controller.session import run_sequence
from records.run_folder import read_run_folder
from records.store import ResultsStore, StoreError


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory) -> dict[str, Path]:
    """Two real runs on the simulated rig: a completed ISO 230-2 run and a faulted one."""
    root = tmp_path_factory.mktemp("runs")
    done = run_sequence(
        load_rig_config(), "phantom-axis-iso230", {"runs": 2}, runs_dir=root, write_report=False
    )

    def stall(rig) -> None:
        rig.simulation.chains["phantom"].inject_wire_fault("garble", after_commands=60)

    faulted = run_sequence(
        load_rig_config(),
        "phantom-axis-iso230",
        {"runs": 2},
        runs_dir=root,
        write_report=False,
        on_rig_ready=stall,
    )
    assert done.summary.state == "completed" and faulted.summary.state == "faulted"
    return {"completed": done.run_dir, "faulted": faulted.run_dir}


def clone(source: Path, root: Path, run_id: str, *, serial: str | None = None) -> Path:
    """A copy of a run folder under another run id (and, optionally, a stage with another serial)."""
    target = root / run_id
    shutil.copytree(source, target)
    summary = json.loads((target / "results.json").read_text())
    summary["run_id"] = run_id
    (target / "results.json").write_text(json.dumps(summary))
    if serial is not None:
        journal = (target / "journal.jsonl").read_text()
        old = read_run_folder(source).devices[0].serial
        assert old, "the simulated stage reports a serial"
        (target / "journal.jsonl").write_text(journal.replace(f'"serial":"{old}"', f'"serial":"{serial}"'))
    return target


def test_a_run_is_recorded_once_with_its_metrics(store_url, real_runs):
    with ResultsStore.open(store_url) as store:
        assert store.record_folder(real_runs["completed"]) is True
        assert store.record_folder(real_runs["completed"]) is False  # idempotent
        assert store.record_folder(real_runs["faulted"]) is True
        assert store.count("runs") == 2
        rows = {row["run_id"]: row for row in store.run_rows()}
        completed = rows[real_runs["completed"].name]
        assert completed["state"] == "completed" and completed["outcome"] in ("PASS", "FAIL", "INCONCLUSIVE")
        assert rows[real_runs["faulted"].name]["state"] == "faulted"
        assert "ProtocolError" in (rows[real_runs["faulted"].name]["error"] or "")
        (key,) = [k for k in store.series_keys() if k.metric == "A"]
        assert key.device_key.count("/") == 2 and key.points == 1  # vendor/model/serial
        (point,) = store.series(key.device_id, key.sequence, "A")
        result = json.loads((real_runs["completed"] / "results.json").read_text())["results"][0]
        verdict = next(v for v in result["verdicts"] if v["metric"] == "A")
        assert point.value == pytest.approx(verdict["measured"]["value"])
        assert point.tolerance_limit == verdict["tolerance"]["limit"]


def test_a_resumed_run_replaces_what_was_recorded_before(store_url, real_runs, tmp_path):
    folder = clone(real_runs["completed"], tmp_path, "R-1")
    with ResultsStore.open(store_url) as store:
        store.record_folder(folder)
        before = store.count("metrics")
        summary = json.loads((folder / "results.json").read_text())
        summary["journal_sha256"] = "f" * 64  # the journal grew: the run was resumed and ended again
        summary["results"][0]["verdicts"] = summary["results"][0]["verdicts"][:1]
        (folder / "results.json").write_text(json.dumps(summary))
        assert store.record_folder(folder) is True
        assert store.count("runs") == 1
        assert store.count("metrics") == before - 2  # two verdicts fewer, nothing doubled


def test_import_rebuilds_the_record_from_run_folders(store_url, real_runs, tmp_path):
    for index in range(3):
        clone(real_runs["completed"], tmp_path / "runs", f"I-{index}")
    with ResultsStore.open(store_url) as store:
        report = store.import_runs(tmp_path / "runs")
        assert sorted(report.recorded) == ["I-0", "I-1", "I-2"]
        again = store.import_runs(tmp_path / "runs")
        assert again.recorded == [] and len(again.unchanged) == 3


def test_a_swapped_stage_starts_a_new_history(store_url, real_runs, tmp_path):
    with ResultsStore.open(store_url) as store:
        store.record_folder(clone(real_runs["completed"], tmp_path, "S-1"))
        store.record_folder(clone(real_runs["completed"], tmp_path, "S-2", serial="99999"))
        keys = [k for k in store.series_keys(metric="A")]
        assert len(keys) == 2 and {k.points for k in keys} == {1}
        assert any(k.device_key.endswith("/99999") for k in keys)


def test_baseline_deviation_and_refusals(store_url, real_runs, tmp_path):
    first = clone(real_runs["completed"], tmp_path, "B-1")
    later = clone(real_runs["completed"], tmp_path, "B-2")
    summary = json.loads((later / "results.json").read_text())
    summary["results"][0]["verdicts"][0]["measured"]["value"] += 0.125
    summary["journal_sha256"] = "e" * 64
    (later / "results.json").write_text(json.dumps(summary))
    with ResultsStore.open(store_url) as store:
        store.record_folder(first)
        store.record_folder(later)
        store.record_folder(real_runs["faulted"])
        with pytest.raises(StoreError, match="ended faulted"):
            store.mark_baseline(real_runs["faulted"].name, "A. Physicist")
        with pytest.raises(StoreError, match="not in the QA record"):
            store.mark_baseline("nope", "A. Physicist")
        store.mark_baseline("B-1", "A. Physicist", "commissioning")
        deviations = {d.metric: d for d in store.baseline_deviation("B-2")}
        metric = summary["results"][0]["verdicts"][0]["metric"]
        assert deviations[metric].deviation == pytest.approx(0.125)
        assert store.baseline_deviation("B-1") == []  # the baseline is not compared with itself


def test_a_store_that_cannot_be_written_loses_nothing(tmp_path):
    class Down:
        def record_folder(self, run_dir: Path) -> bool:
            raise ConnectionError("server closed the connection")

    outcome = run_sequence(
        load_rig_config(), "phantom-axis-iso230", {"runs": 2}, runs_dir=tmp_path / "runs", write_report=False,
        store=Down(),
    )  # fmt: skip
    assert outcome.summary.state == "completed" and not outcome.recorded
    assert "server closed the connection" in (outcome.record_error or "")
    with ResultsStore.open(f"sqlite:///{tmp_path / 'later.sqlite'}") as store:
        assert store.import_runs(tmp_path / "runs").recorded == [outcome.run_id]


def test_the_schema_is_migrated_to_the_newest_revision(store_url):
    with ResultsStore.open(store_url) as store, store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
    with ResultsStore.open(store_url) as again:  # reopening an up-to-date record changes nothing
        assert again.count("runs") == 0


def test_the_migrations_build_exactly_the_schema_the_code_uses(store_url):
    """Alembic's autogenerate finds nothing to add: schema.py and the migrations agree on both backends."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from records.schema import metadata

    with ResultsStore.open(store_url) as store, store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_a_bad_url_is_named():
    with pytest.raises(StoreError, match="mysql://x"):
        ResultsStore.open("mysql://x")


def _writer(url: str, folders: list[str]) -> None:
    with ResultsStore.open(url) as store:
        for folder in folders:
            store.record_folder(Path(folder))


def test_concurrent_writers_neither_lose_nor_double_a_run(store_url, real_runs, tmp_path):
    """Four rooms' processes record 24 runs, each run by two of them at once, in different orders."""
    folders = [str(clone(real_runs["completed"], tmp_path, f"C-{index:02d}")) for index in range(24)]
    plans = [folders[:12], folders[12:], folders[6:18][::-1], folders[:6] + folders[18:]]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(store_url, plan)) for plan in plans]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    with ResultsStore.open(store_url) as store:
        per_run = len(read_run_folder(Path(folders[0])).metrics)
        assert store.count("runs") == 24
        assert store.count("metrics") == 24 * per_run
        assert store.count("devices") == 1


def test_the_certificate_and_identity_of_each_device_are_recorded_with_the_run(tmp_path):
    raw = load_rig_config().model_dump(mode="json")
    certificate = {"id": "PSDL-2025-0417", "issued": "2025-01-10", "expires": "2099-01-10",
                   "coefficient": 5.38e7, "unit": "Gy/C", "issuer": "a national standards lab"}  # fmt: skip
    raw["devices"]["electrometer_6517b"]["certificate"] = certificate
    from controller.config import RigConfig
    from records.schema import devices, run_devices

    with ResultsStore.open(f"sqlite:///{tmp_path / 'qa.sqlite'}") as store:
        outcome = run_sequence(
            RigConfig.model_validate(raw), "electrometer-leakage-reproducibility", {"readings": 5},
            runs_dir=tmp_path / "runs", write_report=False, store=store,
        )  # fmt: skip
        assert outcome.recorded
        with store.engine.connect() as conn:
            (row,) = conn.execute(
                run_devices.select().where(run_devices.c.name == "electrometer_6517b")
            ).mappings()
            device = conn.execute(devices.select().where(devices.c.id == row["device_id"])).mappings().one()
    assert row["certificate"]["id"] == "PSDL-2025-0417" and row["certificate"]["expires"] == "2099-01-10"
    assert device["model"] == "6517B" and device["serial"] and device["key"].endswith(device["serial"])


def test_a_metric_reported_as_verdict_and_informative_trends_once_per_run(store_url, tmp_path):
    """The polarity sequence reports P_pol twice: the verdict |P_pol − 1| and P_pol itself (informative).

    Two runs of it (as `make run` twice does) must give a trend of two verdict points, not four points
    with each run twice (which `hilcal trends` once refused with "run id(s) … appear more than once").
    """
    from records.history import trend_series

    with ResultsStore.open(store_url) as store:
        outcomes = []
        for _ in range(2):
            outcomes.append(
                run_sequence(
                    load_rig_config(),
                    "chamber-polarity-recombination",
                    {},
                    runs_dir=tmp_path / "runs",
                    write_report=False,
                    store=store,
                )
            )
        assert all(o.recorded for o in outcomes)
        kinds = {m.kind for m in read_run_folder(outcomes[0].run_dir).metrics if m.metric == "P_pol"}
        assert kinds == {"verdict", "informative"}  # the case under test is still there
        (key,) = store.series_keys(metric="P_pol")
        history = store.series(key.device_id, key.sequence, "P_pol")
        assert [p.run_id for p in history] == [o.run_id for o in outcomes]
        assert all(p.tolerance_limit is not None for p in history)  # the verdict rows, not P_pol ≈ 1
        (series,) = trend_series(store, metric="P_pol")
        assert [p.run_id for p in series.analysis.points] == [o.run_id for o in outcomes]


def _rig_with_chamber(serial: str, expires: str = "2099-01-10"):
    from controller.config import RigConfig

    raw = load_rig_config().model_dump(mode="json")
    raw["devices"]["electrometer_6517b"]["chamber"] = {
        "vendor": "PTW", "model": "TN30013", "serial": serial,
        "certificate": {"id": f"ADCL-{serial}", "issued": "2025-01-10", "expires": expires,
                        "coefficient": 5.38e7, "unit": "Gy/C"},
    }  # fmt: skip
    return RigConfig.model_validate(raw)


def test_a_swapped_chamber_starts_a_new_history_and_its_certificate_is_recorded(store_url, tmp_path):
    """The chamber cannot say what it is: the rig file does, and its serial keys the history too."""
    from records.schema import devices, run_devices

    with ResultsStore.open(store_url) as store:
        for serial in ("008101", "008101", "008102"):  # two runs with one chamber, then it is swapped
            outcome = run_sequence(
                _rig_with_chamber(serial),
                "electrometer-leakage-reproducibility",
                {"readings": 5},
                runs_dir=tmp_path / "runs",
                write_report=False,
                store=store,
            )
            assert outcome.recorded
        keys = [k for k in store.series_keys(metric="CoV") if "6517B" in k.device_key]
        assert sorted((k.device_key.rsplit("+", 1)[-1], k.points) for k in keys) == [
            ("PTW/TN30013/008101", 2),
            ("PTW/TN30013/008102", 1),
        ]
        with store.engine.connect() as conn:
            rows = conn.execute(run_devices.select().where(run_devices.c.run_id == outcome.run_id)).mappings()
            chamber = next(r for r in rows if r["name"] == "electrometer_6517b.chamber")
            where = devices.c.id == chamber["device_id"]
            device = conn.execute(devices.select().where(where)).mappings().one()
    assert chamber["certificate"]["id"] == "ADCL-008102"
    assert (device["vendor"], device["model"], device["serial"], device["role"]) == (
        "PTW", "TN30013", "008102", "chamber",
    )  # fmt: skip


def test_failed_and_aborted_runs_are_recorded_at_their_end_and_a_resume_replaces_it(store_url, tmp_path):
    from controller.config import RigConfig
    from controller.session import ProgressSink, resume_run

    class InterruptAt(ProgressSink):
        def advance(self, index, label):
            if index == 60:
                raise KeyboardInterrupt  # Ctrl-C, or SIGTERM as the CLI maps it

    worn = load_rig_config().model_dump(mode="json")
    worn["simulation"]["stages"]["phantom_x"]["backlash_mm"] = 0.5  # B far beyond its 0.2 mm limit
    with ResultsStore.open(store_url) as store:
        failed = run_sequence(
            RigConfig.model_validate(worn), "phantom-axis-iso230", {"runs": 2},
            runs_dir=tmp_path, write_report=False, store=store,
        )  # fmt: skip
        aborted = run_sequence(
            load_rig_config(), "phantom-axis-iso230", {"runs": 2},
            runs_dir=tmp_path, write_report=False, store=store, progress=InterruptAt(),
        )  # fmt: skip
        assert failed.recorded and aborted.recorded and aborted.summary.state == "aborted"
        rows = {row["run_id"]: row for row in store.run_rows()}
        assert (rows[failed.run_id]["state"], rows[failed.run_id]["outcome"]) == ("completed", "FAIL")
        assert (rows[aborted.run_id]["state"], rows[aborted.run_id]["outcome"]) == ("aborted", None)
        resumed = resume_run(aborted.run_dir, write_report=False, store=store)
        assert resumed.recorded and resumed.summary.state == "completed"
        rows = {row["run_id"]: row for row in store.run_rows()}
        assert len(rows) == 2 and rows[aborted.run_id]["state"] == "completed"
        assert rows[aborted.run_id]["journal_sha256"] == resumed.summary.journal_sha256
        assert [e.action for e in store.audit(run_id=aborted.run_id)] == ["recorded", "re-recorded"]
