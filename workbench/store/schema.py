"""Metadata tables. Models (pydantic) live with their services; these are only storage.

Migrations are numbered steps applied in order and recorded in ``schema_version``; a step only
ever adds (tables, columns), so an older reader keeps working while a newer one migrates.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

ingests = Table(
    "ingests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("source", Text, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("orphans", Integer, nullable=False),
    Column("rejects_file", Text),
    Column("ingested_by", String(200), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
)

audiences = Table(
    "audiences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("status", String(10), nullable=False),  # draft | active | archived
    Column("definition", Text, nullable=False),  # the SPEC 5 JSON, rules included
    Column("version", Integer, nullable=False),  # +1 on every saved edit: optimistic concurrency
    Column("created_by", String(200), nullable=False),
    Column("created_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("activated_on", Date),
    # Written by processing; allowed on an active audience (the freeze covers what defines it).
    Column("last_processed_on", Date),
    Column("size", Integer),
    Column("base", Integer),
    Column("holdout_size", Integer),  # of the size, members in the holdout (migration 10)
    # Stored so that listing audiences needs no query engine (migration 4).
    Column("summary", Text),  # JSON list of the targeting summary's lines
    Column("processing_error", Text),  # the last run that processed it failed for it
    Column("archived_on", Date),
    Index("ix_audiences_status", "status"),
)

audience_versions = Table(
    "audience_versions",
    metadata,
    Column("audience_id", Integer, ForeignKey("audiences.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", Text, nullable=False),
    Column("saved_by", String(200), nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
)

processing_runs = Table(
    "processing_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(10), nullable=False),  # running | succeeded | failed
    Column("date_from", Date, nullable=False),
    Column("date_to", Date, nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("audiences", Integer),
    Column("error", Text),
    Column("notebook", Text),  # the executed notebook: the audit record
)

# One row per audience and processed day; re-processing a day replaces its row.
audience_history = Table(
    "audience_history",
    metadata,
    Column("audience_id", Integer, ForeignKey("audiences.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("size", Integer, nullable=False),
    Column("base", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("run_id", Integer, ForeignKey("processing_runs.id"), nullable=False),
    Column("membership", Text, nullable=False),  # Parquet file of the day's members, per run
    # Of the size, members in the holdout (migration 10). NULL: processed before holdouts
    # existed, so every member is in the treatment and the membership file has no flag.
    Column("holdout", Integer),
)

composition = Table(
    "composition",
    metadata,
    Column("audience_id", Integer, ForeignKey("audiences.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("attribute", String(200), primary_key=True),
    Column("bucket", String(200), primary_key=True),
    Column("position", Integer, nullable=False),  # display order of the bucket
    Column("count", Integer, nullable=False),
    Column("base_count", Integer, nullable=False),
)

# One row per version of a kind of customer data. Ingest writes a new Parquet file and records
# it here in one transaction; the newest row of a kind is current. A job pins the current row of
# every kind at its start (a snapshot) and reads only those files to its end.
customer_data = Table(
    "customer_data",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("file", Text, nullable=False),  # relative to the home
    Column("columns", Text, nullable=False),  # JSON {column: type}, in file order
    Column("rows", Integer, nullable=False),
    Column("choices", Text, nullable=False),  # JSON {column: [most frequent values]} or null
    Column("ingest_id", Integer, ForeignKey("ingests.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_customer_data_kind", "kind", "id"),
)

# Exports (migration 5). Secrets are stored sealed with the home's key (secrets.py), never
# in clear; the configuration is the SPEC 7 JSON as saved, plus the ids it resolves to.
destinations = Table(
    "destinations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("type", String(20), nullable=False),  # sftp
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("username", String(200), nullable=False),
    Column("host_key", Text, nullable=False),  # pinned, "type base64"
    Column("sealed_password", Text),
    Column("sealed_private_key", Text),
    Column("sealed_passphrase", Text),
    # Migration 11, destination kinds: a kind other than SFTP keeps its fields as JSON in
    # ``settings`` (S3: bucket, prefix, region, endpoint, access key id) and its secrets in
    # ``sealed_settings`` (a JSON object of each secret sealed on its own); its SFTP columns
    # hold what lists show (host: the bucket, path: the prefix, username: the key id).
    Column("settings", Text),
    Column("sealed_settings", Text),
    Column("version", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

encryptions = Table(
    "encryptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("type", String(20), nullable=False),  # pgp
    Column("keys", Text, nullable=False),  # JSON list of armored public keys
    Column("key_info", Text, nullable=False),  # JSON list: fingerprint, user ids, expiry
    Column("version", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Webhook and Slack notice targets (migration 12): named like destinations; the URL and the
# signing secret sealed with the home's key (write-only), the URL's host kept plain to show.
notice_targets = Table(
    "notice_targets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("type", String(20), nullable=False),  # webhook | slack
    Column("host", String(255), nullable=False),  # the URL's host only: what may be shown
    Column("sealed_url", Text, nullable=False),
    Column("sealed_secret", Text),  # webhooks only: the HMAC signing secret
    Column("version", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # A removed target's id is never given to the next one: the audit trail names targets by
    # id ("notice #4"), and two targets must not share one (SQLite reuses the largest id
    # without AUTOINCREMENT; PostgreSQL's sequences never do).
    sqlite_autoincrement=True,
)

exports = Table(
    "exports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("audience_id", Integer, ForeignKey("audiences.id"), nullable=False),
    # No foreign keys: a destination or encryption may be removed once only canceled exports
    # use it (the service checks), and a canceled export is never updated again.
    Column("destination_id", Integer, nullable=False),
    Column("encryption_id", Integer),
    Column("state", String(10), nullable=False),  # active | paused | canceled
    Column("config", Text, nullable=False),  # the SPEC 7 JSON as saved
    Column("version", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_exports_audience", "audience_id"),
)

# One row per run of an export (migration 6). A run is claimed by one process at a time with a
# conditional UPDATE (state and lease), so two schedulers, or a scheduler and `export run`,
# never deliver it twice; a lease that expires lets the next claimer take over a crashed run.
export_runs = Table(
    "export_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("export_id", Integer, ForeignKey("exports.id"), nullable=False),
    Column("state", String(12), nullable=False),  # scheduled|in_progress|complete|failed|canceled
    Column("scheduled_for", DateTime(timezone=True), nullable=False),  # UTC
    Column("trigger", String(10), nullable=False),  # schedule | manual
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True)),  # a failed attempt's retry (back-off)
    Column("attempts", Integer, nullable=False),
    Column("rows", Integer),
    Column("bytes", Integer),
    Column("as_of", Date),
    Column("file_name", Text),
    Column("details", Text),  # JSON: destination, key fingerprints, snapshot (never a secret)
    Column("notebook", Text),
    Column("error", Text),
    # The temporary file an attempt uploads under, while it may be on the server (migration
    # 7): set before the upload starts, cleared once it is renamed into place or removed; what
    # a killed attempt left is swept by the next contact with the destination.
    Column("partial", Text),
)
# One run per export and occurrence: two schedulers creating the same runs make one. Runs
# started by hand are not occurrences (two may start in the same instant).
ONE_OCCURRENCE = Index("ix_export_runs_occurrence", export_runs.c.export_id,
                       export_runs.c.scheduled_for, unique=True,
                       sqlite_where=export_runs.c.trigger == "schedule")


@compiles(CreateIndex, "postgresql")
def _partial_on_postgresql(create, compiler, **kw):
    """The same partial index on PostgreSQL. Its ``postgresql_where`` is set here, when DDL is
    compiled for PostgreSQL, and not above: naming it at import loads SQLAlchemy's PostgreSQL
    dialect (~20 ms) in every process, SQLite homes included (`audience list` pays it)."""
    if create.element is ONE_OCCURRENCE:
        ONE_OCCURRENCE.dialect_options["postgresql"]["where"] = export_runs.c.trigger == "schedule"
    return compiler.visit_create_index(create, **kw)

# At most one unfinished run started by hand per export (migration 7): two "Run now" at once
# make one run, on SQLite and PostgreSQL alike; the second is refused naming the first. Runs
# left doubled by an older version are canceled first, keeping the newest.
ONE_RUN_BY_HAND = [
    """
UPDATE export_runs SET state = 'canceled',
    error = 'canceled: another run of this export was started by hand at the same time'
WHERE "trigger" = 'manual' AND state IN ('scheduled', 'in_progress') AND id NOT IN (
    SELECT max(id) FROM export_runs WHERE "trigger" = 'manual'
    AND state IN ('scheduled', 'in_progress') GROUP BY export_id)
""",
    """
CREATE UNIQUE INDEX IF NOT EXISTS ix_export_runs_one_by_hand ON export_runs (export_id)
WHERE "trigger" = 'manual' AND state IN ('scheduled', 'in_progress')
""",
]

# Facts about this workbench (migration 7): its id, which names its temporary files on the
# servers it delivers to (so that it sweeps its own leftovers and never another's).
workbench_meta = Table(
    "workbench_meta",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Text, nullable=False),
)

# The audit trail (migration 8): one row per change, who, when (UTC), through which entry point
# (``workbench/audit.py``). ``audience_id`` and ``export_id`` name the audience and export a
# change concerns, so that an audience's trail lists its exports' and runs' changes too.
# ``changes`` is JSON {field: [before, after]} of the fields that changed; never a secret.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user", String(200), nullable=False),
    Column("via", String(10), nullable=False),  # python | cli | page | api | scheduler
    Column("action", String(40), nullable=False),  # audience.update, export.pause, ...
    Column("subject", String(20), nullable=False),  # audience | export | run | ...
    Column("subject_id", Integer),
    Column("audience_id", Integer),
    Column("export_id", Integer),
    Column("changes", Text, nullable=False),
    Index("ix_audit_at", "at"),
    Index("ix_audit_audience", "audience_id"),
    Index("ix_audit_export", "export_id"),
)

# Changes the workbench service answered, by the idempotency key their client sent (migration
# 9): a client that retries after a lost answer (the service restarted) gets the same answer,
# and the change is not made twice.
service_requests = Table(
    "service_requests",
    metadata,
    Column("user_name", String(200), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("call", String(100), nullable=False),
    Column("status", Integer),  # null while the change is being made
    Column("answer", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# A canceled export is read-only for good, whatever path tries to change it.
EXPORT_CANCELED_SQLITE = """
CREATE TRIGGER IF NOT EXISTS exports_frozen_when_canceled
BEFORE UPDATE ON exports WHEN OLD.state = 'canceled'
BEGIN
    SELECT RAISE(ABORT, 'export is canceled');
END
"""
EXPORT_CANCELED_POSTGRESQL = [
    """
CREATE OR REPLACE FUNCTION exports_frozen_when_canceled() RETURNS trigger AS $$
BEGIN
    IF OLD.state = 'canceled' THEN
        RAISE EXCEPTION 'export is canceled';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
""",
    """
CREATE OR REPLACE TRIGGER exports_frozen_when_canceled BEFORE UPDATE ON exports
FOR EACH ROW EXECUTE FUNCTION exports_frozen_when_canceled()
""",
]

# An active audience is frozen in the store itself, whatever code path tries to change it.
AUDIENCE_FREEZE_SQLITE = """
CREATE TRIGGER IF NOT EXISTS audiences_frozen_when_active
BEFORE UPDATE OF name, description, status, definition, version ON audiences
WHEN OLD.status = 'active'
BEGIN
    SELECT RAISE(ABORT, 'audience is active and frozen');
END
"""
# Migration 4: an active audience may be archived (its only way out), nothing else; an archived
# one is frozen for good; neither can be deleted.
AUDIENCE_FREEZE_SQLITE_4 = [
    "DROP TRIGGER IF EXISTS audiences_frozen_when_active",
    """
CREATE TRIGGER IF NOT EXISTS audiences_frozen_when_active
BEFORE UPDATE OF name, description, status, definition, version ON audiences
WHEN OLD.status = 'archived' OR (OLD.status = 'active' AND NOT (
    NEW.status = 'archived' AND NEW.name IS OLD.name AND NEW.description IS OLD.description
    AND NEW.definition IS OLD.definition AND NEW.version IS OLD.version))
BEGIN
    SELECT RAISE(ABORT, 'audience is active and frozen');
END
""",
    """
CREATE TRIGGER IF NOT EXISTS audiences_kept_when_active
BEFORE DELETE ON audiences WHEN OLD.status <> 'draft'
BEGIN
    SELECT RAISE(ABORT, 'audience is active and frozen');
END
""",
]
AUDIENCE_FREEZE_POSTGRESQL = [
    """
CREATE OR REPLACE FUNCTION audiences_frozen_when_active() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'active' AND (NEW.name, NEW.description, NEW.status, NEW.definition,
            NEW.version) IS DISTINCT FROM (OLD.name, OLD.description, OLD.status,
            OLD.definition, OLD.version) THEN
        RAISE EXCEPTION 'audience is active and frozen';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
""",
    """
CREATE OR REPLACE TRIGGER audiences_frozen_when_active BEFORE UPDATE ON audiences
FOR EACH ROW EXECUTE FUNCTION audiences_frozen_when_active()
""",
]
AUDIENCE_FREEZE_POSTGRESQL_4 = [
    """
CREATE OR REPLACE FUNCTION audiences_frozen_when_active() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'audience is active and frozen';
        END IF;
        RETURN OLD;
    END IF;
    IF (OLD.status = 'archived' AND (NEW.name, NEW.description, NEW.status, NEW.definition,
            NEW.version) IS DISTINCT FROM (OLD.name, OLD.description, OLD.status,
            OLD.definition, OLD.version))
       OR (OLD.status = 'active' AND ((NEW.name, NEW.description, NEW.definition, NEW.version)
            IS DISTINCT FROM (OLD.name, OLD.description, OLD.definition, OLD.version)
            OR NEW.status NOT IN ('active', 'archived'))) THEN
        RAISE EXCEPTION 'audience is active and frozen';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
""",
    """
CREATE OR REPLACE TRIGGER audiences_kept_when_active BEFORE DELETE ON audiences
FOR EACH ROW EXECUTE FUNCTION audiences_frozen_when_active()
""",
]

# (version, tables it creates, DDL statements per dialect). Append new steps; never edit a
# released one.
MIGRATIONS: list[tuple[int, list[Table], dict[str, list[str]]]] = [
    (1, [ingests], {}),
    (2, [audiences, audience_versions],
     {"sqlite": [AUDIENCE_FREEZE_SQLITE], "postgresql": AUDIENCE_FREEZE_POSTGRESQL}),
    (3, [processing_runs, audience_history, composition], {}),
    (4, [customer_data], {"sqlite": AUDIENCE_FREEZE_SQLITE_4,
                          "postgresql": AUDIENCE_FREEZE_POSTGRESQL_4}),
    (5, [destinations, encryptions, exports], {"sqlite": [EXPORT_CANCELED_SQLITE],
                                               "postgresql": EXPORT_CANCELED_POSTGRESQL}),
    (6, [export_runs], {}),
    (7, [workbench_meta], {"sqlite": ONE_RUN_BY_HAND, "postgresql": ONE_RUN_BY_HAND}),
    (8, [audit], {}),
    (9, [service_requests], {}),
    (10, [], {}),  # holdout groups: the columns below
    (11, [], {}),  # destination kinds (S3): the columns below
    (12, [notice_targets], {}),  # self-contained: needs no other step's columns
]

# Columns added to existing tables, by migration step: (version, table, column name). A new
# home gets them from CREATE TABLE already; an older one gets ALTER TABLE ... ADD COLUMN.
ADDED_COLUMNS: list[tuple[int, Table, str]] = [
    (4, audiences, "summary"),
    (4, audiences, "processing_error"),
    (4, audiences, "archived_on"),
    (7, export_runs, "partial"),
    (10, audience_history, "holdout"),
    (10, audiences, "holdout_size"),
    (11, destinations, "settings"),
    (11, destinations, "sealed_settings"),
]
