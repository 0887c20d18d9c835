"""The SQLite tables of `fenta.db`, and creating or upgrading them when a store opens.

Each concept of the store declares its tables as a `Schema` (the job core's is `SCHEMA`, here; the
tables of schedules, webhooks, batches and hosted sync are in their modules of `fenta.engine.store`).
Opening is safe for many processes at once: when anything is missing, one process adds it inside
`BEGIN IMMEDIATE` while the others wait, then find it done.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Schema", "SCHEMA", "ensure_schema"]


@dataclass(frozen=True)
class Schema:
    """The tables of one concept: `tables` (CREATE TABLE IF NOT EXISTS ...; statements separated by
    ';'), `columns` added since a table was first made ((table, column, declaration): added to older
    files), and `indexes` (CREATE [UNIQUE] INDEX IF NOT EXISTS ..., made once the columns exist)."""

    tables: str = ""
    columns: tuple[tuple[str, str, str], ...] = ()
    indexes: str = ""

    @property
    def names(self) -> set[str]:
        """The tables and indexes it creates."""
        script = self.tables + self.indexes
        return set(re.findall(r"CREATE (?:UNIQUE )?(?:TABLE|INDEX) IF NOT EXISTS (\w+)", script))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    workflow_name TEXT NOT NULL,
    workflow_hash TEXT NOT NULL,
    workflow_file TEXT,
    document TEXT NOT NULL,
    vars TEXT NOT NULL,
    out_dir TEXT NOT NULL,
    status TEXT NOT NULL,            -- queued | running | failed (retry due) | completed | dead | cancelled
    attempt INTEGER NOT NULL DEFAULT 0, -- attempts started so far
    progress REAL NOT NULL DEFAULT 0,
    current_node TEXT,
    error TEXT,
    retryable INTEGER,
    cost REAL NOT NULL DEFAULT 0,
    lease_pid INTEGER,
    lease_until TEXT,                -- ISO 8601 UTC: the lease lapses then unless heartbeated
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    options TEXT NOT NULL DEFAULT '{}', -- how it was run: name, preview, overwrite, var overrides
    priority INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER,
    retry_base REAL,                 -- seconds of the first retry wait (None: the setting)
    retry_from INTEGER NOT NULL DEFAULT 0, -- the attempt a fresh retry budget began after (`jobs retry`)
    next_attempt_at TEXT,            -- a failed job is due again then (ISO 8601 UTC)
    lease_host TEXT,
    lease_heartbeat TEXT,
    lease_token TEXT,                -- one per claim: only the holder may end the attempt
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    schedule_id TEXT,
    batch_id TEXT,
    owner TEXT                       -- the kind of process alone running it (e.g. hosted), or NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS node_runs (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    node_id TEXT NOT NULL,
    node_type TEXT NOT NULL,
    cache_key TEXT,
    status TEXT NOT NULL,            -- pending | running | completed | cached | failed | skipped
    attempt INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    finished_at REAL,
    seconds REAL,
    output TEXT,
    error TEXT,
    PRIMARY KEY (job_id, node_id)
);
CREATE TABLE IF NOT EXISTS artifacts (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER,
    duration REAL,
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, kind, path)
);
CREATE TABLE IF NOT EXISTS node_cache (
    key TEXT PRIMARY KEY,
    node_type TEXT NOT NULL,
    output TEXT NOT NULL,
    created_at REAL NOT NULL,
    used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT,
    node_id TEXT,
    provider TEXT NOT NULL,
    model TEXT,
    units TEXT,
    quantity REAL,
    cost REAL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS quota_limits (
    resource TEXT PRIMARY KEY,
    period TEXT NOT NULL,
    max_value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS quota_reservations (   -- what a claimed job holds of a resource until it ends
    job_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    amount REAL NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, resource)
);
CREATE TABLE IF NOT EXISTS quota_warnings (       -- the thresholds warned about, once per period each
    resource TEXT NOT NULL,
    period_start REAL NOT NULL,
    threshold INTEGER NOT NULL,
    event_id INTEGER,
    created_at REAL NOT NULL,
    PRIMARY KEY (resource, period_start, threshold)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT,
    type TEXT NOT NULL,
    data TEXT NOT NULL,              -- JSON
    created_at TEXT NOT NULL         -- ISO 8601 UTC, ms, 'Z'
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS script_history (   -- what Script.Gen wrote, so it does not repeat itself
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    title TEXT,
    hook TEXT,
    job_id TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS script_history_created ON script_history(created_at);
CREATE TABLE IF NOT EXISTS clip_history (     -- stock clips a workflow's jobs used (no deja vu)
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    provider TEXT NOT NULL,
    clip_id TEXT NOT NULL,
    job_id TEXT,
    node_id TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS clip_history_workflow ON clip_history(workflow, created_at);
CREATE TABLE IF NOT EXISTS provider_tasks (
    key TEXT PRIMARY KEY,            -- hash of provider + request, so a re-run finds it
    provider TEXT NOT NULL,
    task_id TEXT NOT NULL,
    job_id TEXT,
    node_id TEXT,
    status TEXT NOT NULL,
    result TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS provider_state (   -- the last values a provider reported about itself
    provider TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (provider, key)
);
"""

#: Columns added after the first release: (table, column, declaration), added to older files on open.
_ADDED_COLUMNS = (
    ("jobs", "options", "TEXT NOT NULL DEFAULT '{}'"),
    ("jobs", "priority", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "max_retries", "INTEGER"),
    ("jobs", "retry_base", "REAL"),
    ("jobs", "retry_from", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "next_attempt_at", "TEXT"),
    ("jobs", "lease_host", "TEXT"),
    ("jobs", "lease_heartbeat", "TEXT"),
    ("jobs", "lease_token", "TEXT"),
    ("jobs", "cancel_requested", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "schedule_id", "TEXT"),
    ("jobs", "batch_id", "TEXT"),
    ("jobs", "owner", "TEXT"),
)

#: Indexes on added columns (created after the columns exist).
_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(status, priority, created_at);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id, created_at);
CREATE INDEX IF NOT EXISTS usage_records_job ON usage_records(job_id, provider, units);
CREATE INDEX IF NOT EXISTS usage_records_job ON usage_records(job_id, provider, units);
"""


#: The job core's tables: jobs, node runs, artifacts, the cache index, usage, the event log and its
#: cursors, scripts written, provider tasks and state, quota limits, reservations and the warnings sent.
SCHEMA = Schema(_SCHEMA, _ADDED_COLUMNS, _INDEXES)


def _statements(script: str) -> list[str]:
    """The statements of a script (executescript would commit the caller's transaction first); its
    comments go first, as they may hold a ';'."""
    return [s.strip() for s in re.sub(r"--[^\n]*", "", script).split(";") if s.strip()]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _schema_is_current(conn: sqlite3.Connection, schemas: list[Schema]) -> bool:
    """Whether every table, added column and index exists already (the usual case: nothing to write)."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    if not set[str]().union(*(s.names for s in schemas)) <= names:
        return False
    return all(column in _columns(conn, table) for s in schemas for table, column, _ in s.columns)


def ensure_schema(conn: sqlite3.Connection, schemas: Iterable[Schema] = (SCHEMA,)) -> None:
    """Create missing tables, columns and indexes (nothing is written when all exist): every schema's
    tables first, then the columns (a column may be added to another concept's table), then indexes."""
    wanted = list(schemas)
    if _schema_is_current(conn, wanted):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in (st for s in wanted for st in _statements(s.tables)):
            conn.execute(statement)
        for table, column, decl in (c for s in wanted for c in s.columns):
            if column not in _columns(conn, table):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        for statement in (st for s in wanted for st in _statements(s.indexes)):
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
