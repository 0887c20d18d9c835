"""The local job store: one SQLite file (WAL, busy timeout) through sqlite-utils.

Tables: jobs, node_runs, artifacts, node_cache, usage_records, quota_limits,
schedules, webhook_deliveries, provider_tasks, events (the event log, see `events`) and cursors
(how far each reader of the log got). Nothing here ever holds an API key.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

__all__ = ["JobStore", "new_job_id"]

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
    batch_id TEXT
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
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    workflow_file TEXT NOT NULL,
    cron TEXT NOT NULL,
    vars TEXT NOT NULL DEFAULT '{}',
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL,
    created_at REAL NOT NULL
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
"""

_JSON_COLUMNS = {"document", "vars", "output", "result", "options"}

#: Columns added after the first release: (table, column, declaration), added to older files on open.
_ADDED_COLUMNS = [
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
]

#: Indexes on added columns (created after the columns exist).
_INDEXES = "CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(status, priority, created_at);"


def new_job_id() -> str:
    """A short, sortable, unique job id."""
    return time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


_TABLES = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA)


def _statements(script: str) -> list[str]:
    """The statements of a script (executescript would commit the caller's transaction first)."""
    return [s.strip() for s in script.split(";") if s.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in s.splitlines())]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _schema_is_current(conn: sqlite3.Connection) -> bool:
    """Whether every table, added column and index exists already (the usual case: nothing to write)."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    if not set(_TABLES) <= names or "jobs_queue" not in names:
        return False
    return all(column in _columns(conn, table) for table, column, _ in _ADDED_COLUMNS)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobStore:
    """Jobs, node checkpoints, artifacts and usage in `fenta.db`.

    Args:
        path: The database file; its folder is created when missing.

    Raises:
        PathError: the folder or the file cannot be created, opened or written (`FENTA_HOME`).
    """

    def __init__(self, path: str | Path) -> None:
        from ..errors import PathError

        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA busy_timeout = 30000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                if not _schema_is_current(conn):
                    # One process creates or upgrades the schema; the others wait, then find it done.
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        for statement in _statements(_SCHEMA):
                            conn.execute(statement)
                        for table, column, decl in _ADDED_COLUMNS:
                            if column not in _columns(conn, table):
                                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
                        for statement in _statements(_INDEXES):
                            conn.execute(statement)
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
            except BaseException:
                conn.close()
                raise
        except (OSError, sqlite3.Error) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise PathError(f"cannot open the job store {self.path}: {reason} (set FENTA_HOME to a folder you can write)") from None
        self.db = sqlite_utils.Database(conn)

    def close(self) -> None:
        self.db.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A BEGIN IMMEDIATE transaction, for read-then-write sequences."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _decode(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        return {k: (json.loads(v) if k in _JSON_COLUMNS and isinstance(v, str) else v) for k, v in row.items()}

    # ------------------------------------------------------------------ jobs

    def create_job(self, *, job_id: str, name: str, workflow_hash: str, file: str | None, document: dict, vars: dict, out_dir: str, options: dict | None = None) -> None:
        self.db["jobs"].insert(
            {
                "id": job_id,
                "workflow_name": name,
                "workflow_hash": workflow_hash,
                "workflow_file": file,
                "document": json.dumps(document, default=str, ensure_ascii=False),
                "vars": json.dumps(vars, default=str, ensure_ascii=False),
                "out_dir": out_dir,
                "status": "queued",
                "attempt": 0,
                "created_at": time.time(),
                "options": json.dumps(options or {}, default=str, ensure_ascii=False),
            }
        )

    def replace_workflow(self, job_id: str, *, name: str, workflow_hash: str, document: dict, vars: dict) -> None:
        """Store a re-read workflow for a job (`fenta resume --reload`)."""
        self.update_job(
            job_id,
            workflow_name=name,
            workflow_hash=workflow_hash,
            document=json.dumps(document, default=str, ensure_ascii=False),
            vars=json.dumps(vars, default=str, ensure_ascii=False),
        )

    def update_job(self, job_id: str, **fields: Any) -> None:
        self.db["jobs"].update(job_id, fields)

    def claim_job(self, job_id: str, *, lease_seconds: float = 3600) -> dict[str, Any]:
        """Mark a job running under this process; refuse when another live process holds it."""
        from ..errors import JobError

        with self.write() as conn:
            row = conn.execute("SELECT status, lease_pid, attempt FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
            status, pid, attempt = row
            if status == "completed":
                raise JobError(f"job '{job_id}' already completed")
            if status == "running" and pid != os.getpid() and _pid_alive(pid):
                raise JobError(f"job '{job_id}' is running in process {pid}")
            new_attempt = (attempt or 0) + 1
            conn.execute(
                "UPDATE jobs SET status='running', lease_pid=?, lease_until=?, attempt=?, error=NULL, retryable=NULL, "
                "started_at=COALESCE(started_at, ?) WHERE id=?",
                (os.getpid(), time.time() + lease_seconds, new_attempt, time.time(), job_id),
            )
        return self.get_job(job_id)  # type: ignore[return-value]

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
        if not rows:
            rows = list(self.db.query("SELECT * FROM jobs WHERE id LIKE ? ORDER BY created_at DESC", [job_id + "%"]))
            if len(rows) != 1:
                return None
        return self._decode(rows[0])

    def live_jobs(self) -> list[dict[str, Any]]:
        """Jobs marked running whose process is still alive (id, started_at, lease_pid)."""
        rows = self.db.query("SELECT id, started_at, lease_pid FROM jobs WHERE status = 'running'")
        return [r for r in rows if _pid_alive(r["lease_pid"])]

    def list_jobs(self, limit: int = 20, status: str | None = None) -> list[dict[str, Any]]:
        where = "WHERE status = ?" if status else ""
        args: list[Any] = [status] if status else []
        q = f"SELECT id, workflow_name, status, progress, current_node, cost, error, created_at, finished_at FROM jobs {where} ORDER BY created_at DESC LIMIT ?"
        return list(self.db.query(q, [*args, limit]))

    # ------------------------------------------------------------------ node runs

    def node_started(self, job_id: str, node_id: str, node_type: str, cache_key: str) -> None:
        self.db.conn.execute(
            "INSERT INTO node_runs (job_id, node_id, node_type, cache_key, status, attempt, started_at) "
            "VALUES (?, ?, ?, ?, 'running', 1, ?) ON CONFLICT(job_id, node_id) DO UPDATE SET "
            "status='running', attempt=attempt+1, cache_key=excluded.cache_key, started_at=excluded.started_at, error=NULL",
            (job_id, node_id, node_type, cache_key, time.time()),
        )

    def node_finished(self, job_id: str, node_id: str, node_type: str, *, status: str, cache_key: str, output: dict | None = None, error: str | None = None, seconds: float = 0.0) -> None:
        now = time.time()
        self.db.conn.execute(
            "INSERT INTO node_runs (job_id, node_id, node_type, cache_key, status, attempt, started_at, finished_at, seconds, output, error) "
            "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?) ON CONFLICT(job_id, node_id) DO UPDATE SET "
            "status=excluded.status, cache_key=excluded.cache_key, finished_at=excluded.finished_at, seconds=excluded.seconds, "
            "output=excluded.output, error=excluded.error",
            (job_id, node_id, node_type, cache_key, status, now - seconds, now, seconds, json.dumps(output) if output is not None else None, error),
        )

    def node_runs(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM node_runs WHERE job_id = ? ORDER BY started_at", [job_id])
        return [self._decode(r) for r in rows]  # type: ignore[misc]

    def checkpoints(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Finished node outputs of a job, by node id (what `resume` reuses)."""
        rows = self.db.query(
            "SELECT node_id, cache_key, output FROM node_runs WHERE job_id = ? AND status IN ('completed', 'cached') AND output IS NOT NULL",
            [job_id],
        )
        return {r["node_id"]: {"key": r["cache_key"], "output": json.loads(r["output"])} for r in rows}

    # ------------------------------------------------------------------ cache index

    def cache_get(self, key: str) -> dict[str, Any] | None:
        row = self.db.conn.execute("SELECT output FROM node_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.db.conn.execute("UPDATE node_cache SET used_at = ? WHERE key = ?", (time.time(), key))
        return json.loads(row[0])

    def cache_put(self, key: str, node_type: str, output: dict[str, Any]) -> None:
        now = time.time()
        self.db.conn.execute(
            "INSERT OR REPLACE INTO node_cache (key, node_type, output, created_at, used_at) VALUES (?, ?, ?, ?, ?)",
            (key, node_type, json.dumps(output), now, now),
        )

    def cache_drop(self, key: str) -> None:
        self.db.conn.execute("DELETE FROM node_cache WHERE key = ?", (key,))

    # ------------------------------------------------------------------ artifacts and usage

    def add_artifact(self, job_id: str, kind: str, path: str, *, duration: float | None = None) -> None:
        size = os.path.getsize(path) if os.path.exists(path) else None
        self.db["artifacts"].upsert(
            {"job_id": job_id, "kind": kind, "path": path, "bytes": size, "duration": duration, "created_at": time.time()},
            pk=("job_id", "kind", "path"),
        )

    def artifact_owners(self, path: str) -> set[str]:
        """Ids of the jobs that published a file at `path`."""
        return {r[0] for r in self.db.conn.execute("SELECT DISTINCT job_id FROM artifacts WHERE path = ?", (path,))}

    def artifacts(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT kind, path, bytes, duration FROM artifacts WHERE job_id = ? ORDER BY kind", [job_id]))

    def record_usage(self, *, provider: str, model: str | None = None, units: str | None = None, quantity: float | None = None, cost: float | None = None, job_id: str | None = None, node_id: str | None = None) -> None:
        self.db["usage_records"].insert(
            {"job_id": job_id, "node_id": node_id, "provider": provider, "model": model, "units": units, "quantity": quantity, "cost": cost, "created_at": time.time()}
        )

    # ------------------------------------------------------------------ provider tasks (paid, asynchronous)

    def provider_task(self, key: str) -> dict[str, Any] | None:
        """The stored task for a request key (hash of provider + model + request), if any."""
        rows = list(self.db.query("SELECT * FROM provider_tasks WHERE key = ?", [key]))
        return self._decode(rows[0]) if rows else None

    def provider_task_by_id(self, provider: str, task_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM provider_tasks WHERE provider = ? AND task_id = ? ORDER BY updated_at DESC LIMIT 1", [provider, task_id]))
        return self._decode(rows[0]) if rows else None

    def save_provider_task(self, *, key: str, provider: str, task_id: str, status: str, result: dict | None = None, job_id: str | None = None, node_id: str | None = None) -> None:
        """Record a just-submitted task (replacing a failed one under the same key); committed at once."""
        now = time.time()
        self.db.conn.execute(
            "INSERT OR REPLACE INTO provider_tasks (key, provider, task_id, job_id, node_id, status, result, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, provider, task_id, job_id, node_id, status, json.dumps(result) if result is not None else None, now, now),
        )

    def delete_provider_task(self, key: str) -> None:
        self.db.conn.execute("DELETE FROM provider_tasks WHERE key = ?", (key,))

    def update_provider_task(self, key: str, *, status: str | None = None, result: dict | None = None, keep_final: bool = False) -> None:
        """Change a task's status and/or merge fields into its result.

        With `keep_final`, a task already 'succeeded' or 'failed' keeps that status (a slower poller
        must not undo what a callback recorded in between).
        """
        with self.write() as conn:
            row = conn.execute("SELECT status, result FROM provider_tasks WHERE key = ?", (key,)).fetchone()
            if row is None:
                return
            merged = {**(json.loads(row[1]) if row[1] else {}), **(result or {})}
            if keep_final and row[0] in ("succeeded", "failed"):
                status = row[0]
            conn.execute(
                "UPDATE provider_tasks SET status = ?, result = ?, updated_at = ? WHERE key = ?",
                (status or row[0], json.dumps(merged), time.time(), key),
            )
