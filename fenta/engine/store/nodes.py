"""The store's part about what nodes made: node runs (checkpoints), the cache index, artifacts and
the scripts Script.Gen wrote (tables `node_runs`, `node_cache`, `artifacts`, `script_history`)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from .base import Sql

__all__ = ["NodeQueries"]


class NodeQueries(Sql):
    """Node runs, the cache index, artifacts and scripts written."""

    # ------------------------------------------------------------------ node runs

    def node_started(self, job_id: str, node_id: str, node_type: str, cache_key: str) -> None:
        self.conn.execute(
            "INSERT INTO node_runs (job_id, node_id, node_type, cache_key, status, attempt, started_at)"
            " VALUES (?, ?, ?, ?, 'running', 1, ?) ON CONFLICT(job_id, node_id) DO UPDATE SET "
            "status='running',"
            " attempt=attempt+1, cache_key=excluded.cache_key, started_at=excluded.started_at, error=NULL",
            (job_id, node_id, node_type, cache_key, time.time()),
        )

    def node_finished(
        self,
        job_id: str,
        node_id: str,
        node_type: str,
        *,
        status: str,
        cache_key: str | None,
        output: dict[str, Any] | None = None,
        error: str | None = None,
        seconds: float = 0.0,
    ) -> None:
        now = time.time()
        self.conn.execute(
            "INSERT INTO node_runs (job_id, node_id, node_type, cache_key, status, attempt, started_at,"
            " finished_at, seconds, output, error) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)"
            " ON CONFLICT(job_id, node_id) DO UPDATE SET status=excluded.status, "
            "cache_key=excluded.cache_key,"
            " finished_at=excluded.finished_at, seconds=excluded.seconds, output=excluded.output, "
            "error=excluded.error",
            (
                job_id,
                node_id,
                node_type,
                cache_key,
                status,
                now - seconds,
                now,
                seconds,
                json.dumps(output) if output is not None else None,
                error,
            ),
        )

    def put_node_run(self, job_id: str, run: dict[str, Any]) -> None:
        """A node run as another store recorded it (a Dask worker's times: when each node ran there)."""
        self.conn.execute(
            "INSERT INTO node_runs (job_id, node_id, node_type, cache_key, status, attempt, started_at, "
            "finished_at,"
            " seconds, output, error) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT(job_id, node_id)"
            " DO UPDATE SET status=excluded.status, cache_key=excluded.cache_key, "
            "attempt=node_runs.attempt+1,"
            " started_at=excluded.started_at, finished_at=excluded.finished_at, seconds=excluded.seconds,"
            " output=excluded.output, error=excluded.error",
            (
                job_id,
                run["node_id"],
                run["node_type"],
                run["cache_key"],
                run["status"],
                run.get("started_at"),
                run.get("finished_at"),
                run.get("seconds"),
                run.get("output"),
                run.get("error"),
            ),
        )

    def node_runs(self, job_id: str) -> list[dict[str, Any]]:
        """A job's node rows (output decoded), in the order they started."""
        rows = self._all("SELECT * FROM node_runs WHERE job_id = ? ORDER BY started_at", (job_id,))
        for r in rows:
            if isinstance(r.get("output"), str):
                r["output"] = json.loads(r["output"])
        return rows

    def raw_node_runs(self, job_id: str) -> list[dict[str, Any]]:
        """A job's node rows as stored (what travels back from a Dask worker)."""
        return self._all(
            "SELECT node_id, node_type, cache_key, status, started_at, finished_at, seconds, output, error"
            " FROM node_runs WHERE job_id = ?",
            (job_id,),
        )

    def checkpoints(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Finished node outputs of a job, by node id (what `resume` reuses)."""
        rows = self.conn.execute(
            "SELECT node_id, cache_key, output FROM node_runs WHERE job_id = ?"
            " AND status IN ('completed', 'cached') AND output IS NOT NULL",
            (job_id,),
        )
        return {r[0]: {"key": r[1], "output": json.loads(r[2])} for r in rows}

    def last_failed_node(self, job_id: str) -> dict[str, Any] | None:
        """The node of a job that failed last (node_id, node_type, error)."""
        return self._first(
            "SELECT node_id, node_type, error FROM node_runs WHERE job_id = ? AND status = 'failed'"
            " ORDER BY finished_at DESC LIMIT 1",
            (job_id,),
        )

    # ------------------------------------------------------------------ the cache index

    def cache_get(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT output FROM node_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.conn.execute("UPDATE node_cache SET used_at = ? WHERE key = ?", (time.time(), key))
        output: dict[str, Any] = json.loads(row[0])
        return output

    def cache_put(self, key: str, node_type: str, output: dict[str, Any]) -> None:
        now = time.time()
        self.conn.execute(
            "INSERT OR REPLACE INTO node_cache (key, node_type, output, created_at, used_at) VALUES (?, ?, "
            "?, ?, ?)",
            (key, node_type, json.dumps(output), now, now),
        )

    def cache_drop(self, key: str) -> None:
        self.conn.execute("DELETE FROM node_cache WHERE key = ?", (key,))

    def cache_entries(self) -> list[tuple[str, dict[str, Any], float]]:
        """(key, output, last used) of every cache entry."""
        return [
            (r[0], json.loads(r[1]), r[2])
            for r in self.conn.execute("SELECT key, output, used_at FROM node_cache")
        ]

    def cache_drop_unused(self, key: str, *, since: float) -> bool:
        """Drop an entry unless it was used at or after `since`; whether it was dropped."""
        return (
            self.conn.execute("DELETE FROM node_cache WHERE key = ? AND used_at < ?", (key, since)).rowcount
            > 0
        )

    # ------------------------------------------------------------------ artifacts

    def add_artifact(self, job_id: str, kind: str, path: str, *, duration: float | None = None) -> None:
        size = os.path.getsize(path) if os.path.exists(path) else None
        self.conn.execute(
            "INSERT INTO artifacts (job_id, kind, path, bytes, duration, created_at) VALUES (?, ?, ?, ?, ?, "
            "?)"
            " ON CONFLICT(job_id, kind, path) DO UPDATE SET bytes = excluded.bytes, duration = "
            "excluded.duration,"
            " created_at = excluded.created_at",
            (job_id, kind, path, size, duration, time.time()),
        )

    def remove_artifact(self, job_id: str, path: str) -> None:
        self.conn.execute("DELETE FROM artifacts WHERE job_id = ? AND path = ?", (job_id, path))

    def artifact_owners(self, path: str) -> set[str]:
        """Ids of the jobs that published a file at `path`."""
        return {
            r[0] for r in self.conn.execute("SELECT DISTINCT job_id FROM artifacts WHERE path = ?", (path,))
        }

    def artifacts(self, job_id: str) -> list[dict[str, Any]]:
        return self._all(
            "SELECT kind, path, bytes, duration FROM artifacts WHERE job_id = ? ORDER BY kind", (job_id,)
        )

    def workflow_file_of_artifact(self, path: str) -> str | None:
        """The workflow file of the job that published `path` last (None: unknown, or not from a file)."""
        value = self._value(
            "SELECT j.workflow_file FROM artifacts a JOIN jobs j ON j.id = a.job_id WHERE a.path = ?"
            " ORDER BY a.created_at DESC LIMIT 1",
            (path,),
        )
        return value if isinstance(value, str) else None

    # ------------------------------------------------------------------ scripts written (Script.Gen)

    def recent_scripts(self, since: float, limit: int = 50) -> list[dict[str, Any]]:
        """Hooks and titles of scripts written since `since` (a Unix time), newest first."""
        return self._all(
            "SELECT topic, title, hook, created_at FROM script_history WHERE created_at >= ?"
            " ORDER BY created_at DESC LIMIT ?",
            (since, limit),
        )

    def remember_script(
        self,
        *,
        topic: str,
        title: str | None,
        hook: str | None,
        job_id: str | None,
        created_at: float | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO script_history (topic, title, hook, job_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (topic, title, hook, job_id, created_at if created_at is not None else time.time()),
        )

    def scripts_of_job(self, job_id: str) -> list[dict[str, Any]]:
        return self._all(
            "SELECT topic, title, hook, created_at FROM script_history WHERE job_id = ?", (job_id,)
        )
