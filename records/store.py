"""The results store: write a finished run once, read a device's history fast; SQLite or PostgreSQL.

The same code serves both: an embedded SQLite file by default, one PostgreSQL database for a multi-room
centre (``postgresql+psycopg://…``). The schema is brought to the newest Alembic revision when a store is
opened (under a lock, so several rooms starting at once migrate it once). Writing a run is idempotent and
safe against concurrent writers: a run is inserted with ``ON CONFLICT DO NOTHING`` on its id in the same
transaction as its metrics, so two processes recording one run leave exactly one copy, and a run that was
resumed (new journal head) replaces its earlier rows.

Every write that matters to a QA programme leaves a row in the append-only ``audit_log`` in the same
transaction: a run recorded, a run re-recorded with a new journal head (a re-run; the signatures of its
earlier head are voided), a signature, a baseline marked.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from records.run_folder import DeviceSeen, NotARun, RunRecord, read_run_folder
from records.schema import audit_log, baselines, devices, metrics, run_devices, runs, signatures

DB_ENV = "HILCAL_DB"
DEFAULT_DB_FILE = "qa-record.sqlite"
MIGRATIONS = Path(__file__).with_name("migrations")
#: Arbitrary constant: the PostgreSQL advisory lock that serialises schema migrations across rooms.
MIGRATION_LOCK = 61217


def default_url(runs_dir: Path = Path("runs")) -> str:
    """``$HILCAL_DB`` if set, else an SQLite file beside the run folders."""
    return os.environ.get(DB_ENV) or f"sqlite:///{runs_dir / DEFAULT_DB_FILE}"


class StoreError(Exception):
    """The store cannot be opened or written (a bad URL, a server that is not there)."""


@dataclass(frozen=True)
class MetricPoint:
    """One point of a device's metric history."""

    run_id: str
    performed_at: datetime
    value: float
    expanded_uncertainty: float
    unit: str
    tolerance_limit: float | None
    outcome: str | None


@dataclass(frozen=True)
class SeriesKey:
    device_id: int
    device_key: str
    sequence: str
    metric: str
    description: str
    unit: str
    points: int


@dataclass(frozen=True)
class BaselineDeviation:
    metric: str
    value: float
    unit: str
    baseline: float
    baseline_run: str

    @property
    def deviation(self) -> float:
        return self.value - self.baseline


@dataclass(frozen=True)
class SignatureRow:
    """A signature as stored, with the run's journal head as the QA record holds it now."""

    id: int
    run_id: str
    signed_by: str
    role: str
    signed_at: datetime
    journal_sha256: str
    journal_records: int
    results_sha256: str | None
    note: str
    voided_at: datetime | None
    void_reason: str | None
    run_journal_sha256: str | None
    run_journal_records: int | None
    run_dir: str


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    run_id: str | None
    detail: dict[str, Any]


@dataclass
class ImportReport:
    recorded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<folder>: why"


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception as err:
        raise StoreError(f"database URL {url!r}: {err}") from err
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 60, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _immediate(connection: Connection) -> None:
            # Take the write lock at BEGIN: two writers then queue instead of failing on lock upgrade.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise StoreError(f"database URL {url!r}: expected sqlite:///<file> or postgresql+psycopg://…")


class ResultsStore:
    """The QA record. Open with ``ResultsStore.open(url)``; close with ``close()`` or a ``with`` block."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | None = None) -> ResultsStore:
        engine = _engine(url or default_url())
        try:
            _migrate(engine)
        except Exception as err:
            engine.dispose()
            raise StoreError(f"cannot open the QA record at {engine.url!r}: {err}") from err
        return cls(engine)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------
    def record_folder(self, run_dir: Path) -> bool:
        """Record a run folder; False when the store already holds it as it is now."""
        return self.record(read_run_folder(run_dir))

    def record(self, run: RunRecord) -> bool:
        """Write one run with its devices and metrics in one transaction; idempotent."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(runs.c.journal_sha256, runs.c.journal_records)
                .where(runs.c.run_id == run.run_id)
                .with_for_update()  # a second writer of a resumed run waits here, then sees it recorded
            ).first()
            if existing is not None and tuple(existing) == (run.journal_sha256, run.journal_records):
                return False
            ids = {device.name: _device_id(conn, device, run.rig, now) for device in run.devices}
            tested = run.device_under_test()
            if len(tested) == 1:
                target: int | None = ids.get(tested[0].name) or _device_id(conn, tested[0], run.rig, now)
            elif tested:
                target = _device_id(conn, _assembly(tested, run.rig), run.rig, now)
            else:
                target = None
            row = _run_row(run, target, now)
            if existing is not None:  # a resumed run: its new end replaces what was recorded before
                conn.execute(delete(metrics).where(metrics.c.run_id == run.run_id))
                conn.execute(delete(run_devices).where(run_devices.c.run_id == run.run_id))
                conn.execute(update(runs).where(runs.c.run_id == run.run_id).values(**row))
                voided = _void_signatures(conn, run, now)
                _audit(
                    conn,
                    now,
                    system_actor(),
                    "re-recorded",
                    run.run_id,
                    {
                        "previous_journal_sha256": existing[0],
                        "previous_journal_records": existing[1],
                        **_run_detail(run),
                        "voided_signatures": voided,
                    },
                )
            elif not _insert_run(conn, row):
                return False  # another writer recorded it first
            else:
                _audit(conn, now, system_actor(), "recorded", run.run_id, _run_detail(run))
            if ids:
                conn.execute(
                    run_devices.insert(),
                    [
                        {
                            "run_id": run.run_id,
                            "name": d.name,
                            "device_id": ids[d.name],
                            "certificate": d.certificate,
                        }
                        for d in run.devices
                    ],
                )
            if run.metrics:
                conn.execute(
                    metrics.insert(),
                    [
                        {
                            **metric.model_dump(),
                            "run_id": run.run_id,
                            "device_id": target,
                            "sequence": run.sequence,
                            "performed_at": run.performed_at,
                        }
                        for metric in run.metrics
                    ],
                )
        return True

    def import_runs(self, root: Path) -> ImportReport:
        """Record every run folder under ``root`` (rebuilds the store from the journals' run folders)."""
        report = ImportReport()
        for run_dir in sorted(p.parent for p in root.rglob("run.json")):
            try:
                written = self.record_folder(run_dir)
            except NotARun as err:
                report.skipped.append(str(err))
                continue
            (report.recorded if written else report.unchanged).append(run_dir.name)
        return report

    def mark_baseline(self, run_id: str, by: str, note: str = "") -> tuple[str, str]:
        """Make a completed run the baseline of its device and sequence; returns (device key, sequence)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(runs.c.device_id, runs.c.sequence, runs.c.state, devices.c.key)
                .join(devices, devices.c.id == runs.c.device_id)
                .where(runs.c.run_id == run_id)
            ).first()
            if row is None:
                raise StoreError(f"run {run_id!r} is not in the QA record (or names no device under test)")
            if row.state != "completed":
                raise StoreError(f"run {run_id!r} ended {row.state}: only a completed run can be a baseline")
            where = (baselines.c.device_id == row.device_id) & (baselines.c.sequence == row.sequence)
            previous = conn.execute(select(baselines.c.run_id).where(where)).scalar()
            conn.execute(delete(baselines).where(where))
            now = datetime.now(UTC)
            conn.execute(
                baselines.insert().values(
                    device_id=row.device_id,
                    sequence=row.sequence,
                    run_id=run_id,
                    marked_at=now,
                    marked_by=by,
                    note=note,
                )
            )
            detail = {"device": row.key, "sequence": row.sequence, "note": note, "replaces": previous}
            _audit(conn, now, by, "baseline", run_id, detail)
        return row.key, row.sequence

    def sign(
        self,
        run_id: str,
        by: str,
        role: str,
        journal_sha256: str,
        journal_records: int,
        results_sha256: str | None,
        note: str = "",
    ) -> SignatureRow:
        """Record who approved a run as seen (its journal head); refused if the record holds another."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            run = conn.execute(
                select(runs.c.journal_sha256, runs.c.journal_records, runs.c.state, runs.c.run_dir)
                .where(runs.c.run_id == run_id)
                .with_for_update()
            ).first()
            if run is None:
                raise StoreError(f"run {run_id!r} is not in the QA record: record it first (db import)")
            if (run.journal_sha256, run.journal_records) != (journal_sha256, journal_records):
                raise StoreError(
                    f"run {run_id!r}: the QA record holds journal head {run.journal_sha256} "
                    f"({run.journal_records} records) but the signer saw {journal_sha256} "
                    f"({journal_records} records)"
                )
            values = {
                "run_id": run_id,
                "signed_by": by,
                "role": role,
                "signed_at": now,
                "journal_sha256": journal_sha256,
                "journal_records": journal_records,
                "results_sha256": results_sha256,
                "note": note,
            }
            insert = signatures.insert().values(**values).returning(signatures.c.id)
            new_id = conn.execute(insert).scalar_one()
            detail = {
                "signature": int(new_id),
                "role": role,
                "journal_sha256": journal_sha256,
                "journal_records": journal_records,
                "results_sha256": results_sha256,
                "note": note,
            }
            _audit(conn, now, by, "signed", run_id, detail)
        return SignatureRow(
            int(new_id), run_id, by, role, now, journal_sha256, journal_records, results_sha256, note,
            None, None, journal_sha256, journal_records, run.run_dir,
        )  # fmt: skip

    def signatures(self, run_id: str | None = None, since: datetime | None = None) -> list[SignatureRow]:
        """Signatures oldest first, each with its run's journal head as recorded now."""
        query = (
            select(
                signatures,
                runs.c.journal_sha256.label("run_journal_sha256"),
                runs.c.journal_records.label("run_journal_records"),
                runs.c.run_dir,
            )
            .join(runs, runs.c.run_id == signatures.c.run_id)
            .order_by(signatures.c.signed_at, signatures.c.id)
        )
        if run_id is not None:
            query = query.where(signatures.c.run_id == run_id)
        if since is not None:
            query = query.where(signatures.c.signed_at >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            SignatureRow(
                id=int(r.id),
                run_id=r.run_id,
                signed_by=r.signed_by,
                role=r.role,
                signed_at=as_utc(r.signed_at),
                journal_sha256=r.journal_sha256,
                journal_records=r.journal_records,
                results_sha256=r.results_sha256,
                note=r.note,
                voided_at=as_utc(r.voided_at) if r.voided_at is not None else None,
                void_reason=r.void_reason,
                run_journal_sha256=r.run_journal_sha256,
                run_journal_records=r.run_journal_records,
                run_dir=r.run_dir,
            )
            for r in rows
        ]

    def audit(
        self, since: datetime | None = None, run_id: str | None = None, actions: Sequence[str] = ()
    ) -> list[AuditEntry]:
        """The audit log oldest first, optionally from a date, for one run, or for some actions only."""
        query = select(audit_log).order_by(audit_log.c.at, audit_log.c.id)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if run_id is not None:
            query = query.where(audit_log.c.run_id == run_id)
        if actions:
            query = query.where(audit_log.c.action.in_(list(actions)))
        with self.engine.connect() as conn:
            return [
                AuditEntry(int(r.id), as_utc(r.at), r.actor, r.action, r.run_id, dict(r.detail or {}))
                for r in conn.execute(query)
            ]

    def run_dir(self, run_id: str) -> str | None:
        """Where the run folder was when the run was recorded (on the machine that recorded it)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(runs.c.run_dir).where(runs.c.run_id == run_id)).scalar()
        return None if value is None else str(value)

    # -- reading ---------------------------------------------------------------------------------
    def series_keys(
        self, device: str | None = None, metric: str | None = None, kind: str = "verdict"
    ) -> list[SeriesKey]:
        """Every (device, sequence, metric) with a history; ``device`` matches a key or a rig name part."""
        query = (
            select(
                metrics.c.device_id,
                devices.c.key,
                metrics.c.sequence,
                metrics.c.metric,
                func.max(metrics.c.description),
                func.max(metrics.c.unit),
                func.count(),
            )
            .join(devices, devices.c.id == metrics.c.device_id)
            .where(metrics.c.kind == kind)
            .group_by(metrics.c.device_id, devices.c.key, metrics.c.sequence, metrics.c.metric)
            .order_by(devices.c.key, metrics.c.sequence, metrics.c.metric)
        )
        if device:
            query = query.where(devices.c.key.contains(device))
        if metric:
            query = query.where(metrics.c.metric == metric)
        with self.engine.connect() as conn:
            return [SeriesKey(*row) for row in conn.execute(query)]

    def series(self, device_id: int, sequence: str, metric: str, kind: str = "verdict") -> list[MetricPoint]:
        """One device's history of one metric, oldest first (one indexed range scan).

        Of one kind only, like ``series_keys``: a sequence may report a name both as a verdict and as an
        informative value (the polarity test's verdict |P_pol − 1| and P_pol itself).
        """
        query = (
            select(
                metrics.c.run_id,
                metrics.c.performed_at,
                metrics.c.value,
                metrics.c.standard_uncertainty * metrics.c.coverage_factor,
                metrics.c.unit,
                metrics.c.tolerance_limit,
                metrics.c.outcome,
            )
            .where(
                (metrics.c.device_id == device_id)
                & (metrics.c.metric == metric)
                & (metrics.c.sequence == sequence)
                & (metrics.c.kind == kind)
            )
            .order_by(metrics.c.performed_at)
        )
        with self.engine.connect() as conn:
            return [
                MetricPoint(row[0], as_utc(row[1]), row[2], row[3], row[4], row[5], row[6])
                for row in conn.execute(query)
            ]

    def baseline(self, device_id: int, sequence: str) -> tuple[str, datetime] | None:
        """The baseline run of a device and sequence and when it was performed, if one is marked."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(baselines.c.run_id, runs.c.performed_at)
                .join(runs, runs.c.run_id == baselines.c.run_id)
                .where((baselines.c.device_id == device_id) & (baselines.c.sequence == sequence))
            ).first()
        return None if row is None else (row[0], as_utc(row[1]))

    def baseline_deviation(self, run_id: str) -> list[BaselineDeviation]:
        """A run's verdict metrics against its device's baseline (TG-142 states many tests that way)."""
        with self.engine.connect() as conn:
            run = conn.execute(
                select(runs.c.device_id, runs.c.sequence).where(runs.c.run_id == run_id)
            ).first()
            if run is None or run.device_id is None:
                return []
            base = conn.execute(
                select(baselines.c.run_id).where(
                    (baselines.c.device_id == run.device_id) & (baselines.c.sequence == run.sequence)
                )
            ).scalar()
            if base is None or base == run_id:
                return []
            rows = conn.execute(
                select(metrics.c.run_id, metrics.c.metric, metrics.c.value, metrics.c.unit).where(
                    metrics.c.run_id.in_([run_id, base]) & (metrics.c.kind == "verdict")
                )
            ).all()
        reference = {row.metric: row.value for row in rows if row.run_id == base}
        return [
            BaselineDeviation(row.metric, row.value, row.unit, reference[row.metric], base)
            for row in rows
            if row.run_id == run_id and row.metric in reference
        ]

    def run_rows(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        query = (
            select(runs, devices.c.key.label("device_key"))
            .outerjoin(devices, devices.c.id == runs.c.device_id)
            .order_by(runs.c.performed_at)
        )
        if since is not None:
            query = query.where(runs.c.performed_at >= since)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield dict(row._mapping)

    def count(self, table: str) -> int:
        tables = {
            "runs": runs,
            "metrics": metrics,
            "devices": devices,
            "baselines": baselines,
            "signatures": signatures,
            "audit_log": audit_log,
        }
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tables[table])).scalar_one())


def _migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _device_id(conn: Connection, device: DeviceSeen, rig: str, now: datetime) -> int:
    values = {
        "key": device.key(rig),
        "vendor": device.vendor,
        "model": device.model,
        "serial": device.serial,
        "firmware": device.firmware,
        "role": device.role,
        "first_seen": now,
        "last_seen": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(devices).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[devices.c.key],
        set_={"last_seen": statement.excluded.last_seen, "firmware": statement.excluded.firmware},
    ).returning(devices.c.id)
    return int(conn.execute(statement).scalar_one())


def _assembly(parts: Sequence[DeviceSeen], rig: str) -> DeviceSeen:
    """Several devices tested as one (the three axes of a water tank): their keys joined."""
    return DeviceSeen(
        name="+".join(p.name for p in parts), role="assembly", serial="+".join(p.key(rig) for p in parts)
    )


def _insert_run(conn: Connection, row: dict[str, Any]) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(runs)
        .values(**row)
        .on_conflict_do_nothing(index_elements=[runs.c.run_id])
        .returning(runs.c.run_id)
    )
    return conn.execute(statement).scalar() is not None


def _run_row(run: RunRecord, device_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "rig": run.rig,
        "sequence": run.sequence,
        "title": run.title,
        "state": run.state,
        "outcome": run.outcome,
        "simulated": run.simulated,
        "performed_at": run.performed_at,
        "ended_at": run.ended_at,
        "device_id": device_id,
        "device_name": run.device_name,
        "profile": run.profile,
        "run_dir": run.run_dir,
        "journal_sha256": run.journal_sha256,
        "journal_records": run.journal_records,
        "error": run.error,
        "params": run.params,
        "recorded_at": now,
    }


def system_actor() -> str:
    """Who recorded a run when no person is named: the OS user on this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"[:200]


def _audit(
    conn: Connection, at: datetime, actor: str, action: str, run_id: str | None, detail: dict[str, Any]
) -> None:
    conn.execute(
        audit_log.insert().values(at=at, actor=actor[:200], action=action, run_id=run_id, detail=detail)
    )


def _run_detail(run: RunRecord) -> dict[str, Any]:
    return {
        "journal_sha256": run.journal_sha256,
        "journal_records": run.journal_records,
        "state": run.state,
        "outcome": run.outcome,
        "sequence": run.sequence,
        "run_dir": run.run_dir,
    }


def _void_signatures(conn: Connection, run: RunRecord, now: datetime) -> list[int]:
    """Signatures of an earlier journal head of this run: voided, with the reason, never deleted."""
    stale = (
        (signatures.c.run_id == run.run_id)
        & signatures.c.voided_at.is_(None)
        & (
            (signatures.c.journal_sha256 != (run.journal_sha256 or ""))
            | (signatures.c.journal_records != (run.journal_records or -1))
        )
    )
    ids = [int(i) for i in conn.execute(select(signatures.c.id).where(stale)).scalars()]
    if ids:
        reason = (
            f"run re-recorded at {now.isoformat(timespec='seconds')} with journal head {run.journal_sha256} "
            f"({run.journal_records} records)"
        )
        voiding = update(signatures).where(signatures.c.id.in_(ids))
        conn.execute(voiding.values(voided_at=now, void_reason=reason))
    return ids


def as_utc(moment: datetime) -> datetime:
    """A stored time in UTC: SQLite hands timestamps back without a zone; they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
