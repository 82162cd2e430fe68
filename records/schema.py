"""The QA record's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL.

A *device* is what the device says it is (vendor, model, serial): a swapped stage or chamber is a new
device and starts a new history. A *run* is one run folder. A *metric* row is one verdict or informative
value of a run, with the date the QA was performed copied onto it so a trend is one indexed range scan.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: Bigint on PostgreSQL (10^6 metric rows and growing), integer on SQLite (where only INTEGER autoincrements).
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

devices = Table(
    "devices",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column(
        "key", String(400), nullable=False, unique=True, doc="vendor/model/serial, or rig/name if unknown"
    ),
    Column("vendor", String(200), nullable=False, default=""),
    Column("model", String(200), nullable=False, default=""),
    Column("serial", String(200), nullable=False, default=""),
    Column("firmware", String(200), nullable=False, default=""),
    Column("role", String(40), nullable=False, default=""),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(100), primary_key=True),
    Column("rig", String(200), nullable=False),
    Column("sequence", String(200), nullable=False),
    Column("title", String(400), nullable=False, default=""),
    Column("state", String(20), nullable=False, doc="completed, aborted or faulted"),
    Column("outcome", String(20), nullable=True, doc="PASS, FAIL or INCONCLUSIVE when completed"),
    Column("simulated", Boolean, nullable=False),
    Column("performed_at", DateTime(timezone=True), nullable=False, doc="when the QA was done"),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("device_id", ROW_ID, ForeignKey("devices.id"), nullable=True, doc="the device under test"),
    Column("device_name", String(200), nullable=False, default=""),
    Column("profile", String(200), nullable=False, default=""),
    Column("run_dir", Text, nullable=False),
    Column("journal_sha256", String(64), nullable=True),
    Column("journal_records", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("params", JSON, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
Index("runs_by_device_sequence", runs.c.device_id, runs.c.sequence, runs.c.performed_at)
Index("runs_by_time", runs.c.performed_at)

run_devices = Table(
    "run_devices",
    metadata,
    Column("run_id", String(100), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(200), primary_key=True, doc="rig device name"),
    Column("device_id", ROW_ID, ForeignKey("devices.id"), nullable=False),
    Column("certificate", JSON, nullable=True, doc="calibration certificate as recorded with the run"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("run_id", String(100), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("device_id", ROW_ID, ForeignKey("devices.id"), nullable=True),
    Column("sequence", String(200), nullable=False),
    Column("metric", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("kind", String(20), nullable=False, doc="verdict or informative"),
    Column("value", Float, nullable=False),
    Column("standard_uncertainty", Float, nullable=False),
    Column("coverage_factor", Float, nullable=False),
    Column("unit", String(40), nullable=False),
    Column("tolerance_limit", Float, nullable=True),
    Column("action_limit", Float, nullable=True, doc="action level when the tolerance states one"),
    Column("tolerance_source", Text, nullable=True),
    Column("rule", String(20), nullable=True),
    Column("outcome", String(20), nullable=True),
    Column("performed_at", DateTime(timezone=True), nullable=False),
)
Index("metrics_trend", metrics.c.device_id, metrics.c.metric, metrics.c.performed_at)
Index("metrics_by_run", metrics.c.run_id)

baselines = Table(
    "baselines",
    metadata,
    Column("device_id", ROW_ID, ForeignKey("devices.id"), primary_key=True),
    Column("sequence", String(200), primary_key=True),
    Column("run_id", String(100), ForeignKey("runs.run_id"), nullable=False),
    Column("marked_at", DateTime(timezone=True), nullable=False),
    Column("marked_by", String(200), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

signatures = Table(
    "signatures",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("run_id", String(100), ForeignKey("runs.run_id"), nullable=False),
    Column("signed_by", String(200), nullable=False),
    Column("role", String(200), nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Column("journal_sha256", String(64), nullable=False, doc="journal head the signer saw"),
    Column("journal_records", Integer, nullable=False),
    Column("results_sha256", String(64), nullable=True, doc="SHA-256 of results.json the signer saw"),
    Column("note", Text, nullable=False, default=""),
    Column("voided_at", DateTime(timezone=True), nullable=True, doc="set when the run was re-recorded"),
    Column("void_reason", Text, nullable=True),
)
Index("signatures_by_run", signatures.c.run_id)

#: Append-only: the migration adds triggers that refuse UPDATE and DELETE on both backends.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False, doc="recorded, re-recorded, signed, baseline"),
    Column("run_id", String(100), nullable=True, doc="no foreign key: the log outlives anything it names"),
    Column("detail", JSON, nullable=False),
)
Index("audit_by_time", audit_log.c.at)
Index("audit_by_run", audit_log.c.run_id)
