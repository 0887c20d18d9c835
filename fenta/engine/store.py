"""The local job store: one SQLite file (WAL, busy timeout) through sqlite-utils.

Tables: jobs, node_runs, artifacts, node_cache, usage_records, quota_limits,
schedules, webhook_deliveries, provider_tasks, events (the event log, see `events`) and cursors
(how far each reader of the log got). Nothing here ever holds an API key.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..database import PREFIX_MATCH, open_database, prefix_pattern
from .lifecycle import pid_alive
from .tables import ensure_schema

__all__ = ["JobStore", "new_job_id"]

_JSON_COLUMNS = {"document", "vars", "output", "result", "options"}


def new_job_id() -> str:
    """A short, sortable, unique job id."""
    return time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


class JobStore:
    """Jobs, node checkpoints, artifacts and usage in `fenta.db`.

    Args:
        path: The database file; its folder is created when missing.

    Raises:
        PathError: the folder or the file cannot be created, opened or written (`FENTA_HOME`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = open_database(self.path, "the job store", ensure=ensure_schema)

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
        """Set columns of a job. State changes go through `fenta.engine.lifecycle.transition`
        (which appends their events); this is for everything else."""
        self.db["jobs"].update(job_id, fields)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
        if not rows:
            query = f"SELECT * FROM jobs WHERE id {PREFIX_MATCH} ORDER BY created_at DESC"
            rows = list(self.db.query(query, [prefix_pattern(job_id)]))
            if len(rows) != 1:
                return None
        return self._decode(rows[0])

    def live_jobs(self) -> list[dict[str, Any]]:
        """Jobs marked running whose process is still alive (id, started_at, lease_pid)."""
        rows = self.db.query("SELECT id, started_at, lease_pid FROM jobs WHERE status = 'running'")
        return [r for r in rows if pid_alive(r["lease_pid"])]

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

    # ------------------------------------------------------------------ scripts written (Script.Gen)

    def recent_scripts(self, since: float, limit: int = 50) -> list[dict[str, Any]]:
        """Hooks and titles of scripts written since `since` (a Unix time), newest first."""
        return list(self.db.query("SELECT topic, title, hook, created_at FROM script_history WHERE created_at >= ? ORDER BY created_at DESC LIMIT ?", [since, limit]))

    def remember_script(self, *, topic: str, title: str | None, hook: str | None, job_id: str | None) -> None:
        self.db.conn.execute("INSERT INTO script_history (topic, title, hook, job_id, created_at) VALUES (?, ?, ?, ?, ?)", (topic, title, hook, job_id, time.time()))

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
