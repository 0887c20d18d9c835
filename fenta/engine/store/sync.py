"""The store's part about hosted sync (tables `sync_jobs`, `sync_meta`): which jobs to push to the
hosted project, how far each got, the last push and error.

    sync_jobs   one row per job to push: its hosted id, `dirty` (a generation number: new events bump
                it, a push that saw generation g clears it only if it is still g), the last event and
                usage record pushed, the files uploaded (object name -> size), TUS uploads in flight, the
                signed video URL, the last error
    sync_meta   last_push_at, last_error, last_error_at

Rows are dicts as stored (`files` and `uploads` JSON text). When and what to push is `fenta.ops.sync`'s.
"""

from __future__ import annotations

import json
from typing import Any

from ..tables import Schema
from .base import Sql

__all__ = ["SCHEMA", "SyncQueries"]

SCHEMA = Schema(
    tables="""
    CREATE TABLE IF NOT EXISTS sync_jobs (
        job_id TEXT PRIMARY KEY,            -- the local job
        remote_id TEXT NOT NULL,            -- the hosted row's id
        hosted INTEGER NOT NULL DEFAULT 0,  -- 1: claimed from the hosted queue (--hosted); -1: not ours
        dirty INTEGER NOT NULL DEFAULT 1,   -- 0: pushed; else a generation bumped by every new event
        events_done INTEGER NOT NULL DEFAULT 0,
        usage_done INTEGER NOT NULL DEFAULT 0,
        files TEXT NOT NULL DEFAULT '{}',   -- Storage object name -> size uploaded
        uploads TEXT NOT NULL DEFAULT '{}', -- name -> TUS upload URL (resumed by any process)
        video_url TEXT,                     -- signed Storage URL of the video
        row_pushed_at REAL,
        pushed_at REAL,
        last_error TEXT,
        last_error_at REAL,
        claim TEXT                          -- hosted: the claim token its row must still carry
    );
    CREATE TABLE IF NOT EXISTS sync_meta (key TEXT PRIMARY KEY, value TEXT)
    """,
    # The hosted worker's claim token of a hosted job (its row is changed only while that claim holds).
    columns=(("sync_jobs", "claim", "TEXT"),),
)

#: Columns of `sync_jobs` that `update_sync_job` sets (dicts are stored as JSON).
_SETTABLE = frozenset(
    {"files", "uploads", "video_url", "events_done", "usage_done", "last_error", "last_error_at"}
)

#: A job with something to push: dirty, or usage recorded after its last push (the usage reader adds
#: rows after `job.completed`, with no event of their own).
_DIRTY = (
    "SELECT s.* FROM sync_jobs s LEFT JOIN jobs j ON j.id = s.job_id WHERE s.hosted != -1 AND (s.dirty > 0"
    " OR EXISTS (SELECT 1 FROM usage_records u WHERE u.job_id = s.job_id AND u.id > s.usage_done))"
    " ORDER BY j.created_at, s.job_id"
)


class SyncQueries(Sql):
    """Hosted sync's push list and its notes."""

    def sync_job(self, job_id: str) -> dict[str, Any] | None:
        """A job's row on the push list."""
        return self._first("SELECT * FROM sync_jobs WHERE job_id = ?", (job_id,))

    def dirty_sync_jobs(self) -> list[dict[str, Any]]:
        """Jobs with something to push, oldest job first (see `_DIRTY`)."""
        return self._all(_DIRTY)

    def sync_job_count(self) -> int:
        return int(self._value("SELECT COUNT(*) FROM sync_jobs") or 0)

    def mark_sync_job(
        self, job_id: str, *, remote_id: str | None = None, hosted: bool = False, claim: str | None = None
    ) -> None:
        """Put a job on the push list (or bump its generation); `remote_id` maps it to a hosted row,
        which `claim` (a hosted worker's token) then holds."""
        mapped = ", remote_id = excluded.remote_id, hosted = excluded.hosted, claim = excluded.claim"
        self.conn.execute(
            "INSERT INTO sync_jobs (job_id, remote_id, hosted, dirty, claim) VALUES (?, ?, ?, 1, ?) "
            "ON CONFLICT(job_id) DO UPDATE SET dirty = sync_jobs.dirty + 1" + (mapped if remote_id else ""),
            (job_id, remote_id or job_id, int(hosted), claim),
        )

    def release_sync_job(self, job_id: str) -> None:
        """A hosted job no longer this worker's: never pushed again."""
        self.conn.execute("UPDATE sync_jobs SET hosted = -1, dirty = 0 WHERE job_id = ?", (job_id,))

    def forget_sync_job(self, job_id: str) -> None:
        self.conn.execute("DELETE FROM sync_jobs WHERE job_id = ?", (job_id,))

    def update_sync_job(self, job_id: str, **columns: Any) -> None:
        """Set columns of a job's row (`_SETTABLE`; dicts stored as JSON)."""
        unknown = set(columns) - _SETTABLE
        if unknown:
            raise ValueError(f"sync_jobs has no settable column {sorted(unknown)}")
        names = list(columns)
        values = [json.dumps(v) if isinstance(v, dict) else v for v in columns.values()]
        self.conn.execute(
            f"UPDATE sync_jobs SET {', '.join(f'{n} = ?' for n in names)} WHERE job_id = ?", (*values, job_id)
        )

    def sync_job_pushed(self, job_id: str, *, generation: int, now: float) -> None:
        """A push of the job's row at `generation` is done: clean unless new events came meanwhile."""
        self.conn.execute(
            "UPDATE sync_jobs SET dirty = CASE WHEN dirty = ? THEN 0 ELSE dirty END, row_pushed_at = ?,"
            " pushed_at = ?, last_error = NULL, last_error_at = NULL WHERE job_id = ?",
            (generation, now, now, job_id),
        )

    def sync_meta(self) -> dict[str, str]:
        """last_push_at, last_error, last_error_at (those set)."""
        return {r[0]: r[1] for r in self.conn.execute("SELECT key, value FROM sync_meta")}

    def set_sync_meta(self, key: str, value: str | None) -> None:
        self.conn.execute(
            "INSERT INTO sync_meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
