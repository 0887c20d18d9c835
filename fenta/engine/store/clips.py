"""The store's part about footage already shown: which stock clips a workflow's jobs used (table
`clip_history`), so a daily schedule does not show yesterday's ocean shot again (`Input.Stock`'s
`avoid_recent_days`).

Rows are written when a node picks its clips, before the job ends, so the next row of a batch
already sees them. A job that died or was cancelled no longer counts. On a Dask worker the client's
rows are seeded into the scratch store (without a job) and the rows the worker wrote come back with
the job's other records (`JobStore.export_records` / `import_records`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .base import Sql

__all__ = ["CLIP_HISTORY_DAYS", "ClipQueries"]

#: How far back the history a Dask worker gets reaches (the longest `avoid_recent_days`).
CLIP_HISTORY_DAYS = 365


class ClipQueries(Sql):
    """Clips used by a workflow's jobs."""

    def recent_clips(
        self, workflow: str, since: float, *, exclude_job: str | None = None, limit: int = 5000
    ) -> list[dict[str, Any]]:
        """Clips (provider, clip_id, job_id, created_at) the workflow's jobs used since `since` (a Unix
        time), newest first; not those of `exclude_job` (the job asking: its own retry may pick them
        again), nor of jobs that died or were cancelled."""
        return self._all(
            "SELECT c.provider, c.clip_id, c.job_id, c.created_at FROM clip_history c"
            " LEFT JOIN jobs j ON j.id = c.job_id"
            " WHERE c.workflow = ? AND c.created_at >= ? AND (c.job_id IS NULL OR c.job_id != ?)"
            " AND COALESCE(j.status, '') NOT IN ('dead', 'cancelled')"
            " ORDER BY c.created_at DESC LIMIT ?",
            (workflow, since, exclude_job or "", limit),
        )

    def remember_clips(
        self,
        *,
        workflow: str,
        provider: str,
        clip_ids: Iterable[str],
        job_id: str | None,
        node_id: str | None,
        created_at: float | None = None,
    ) -> None:
        """Record the clips a node of a job picked (replacing what that node recorded before)."""
        if job_id is not None:
            self.conn.execute(
                "DELETE FROM clip_history WHERE job_id = ? AND node_id IS ? AND provider = ?",
                (job_id, node_id, provider),
            )
        at = created_at if created_at is not None else time.time()
        self.conn.executemany(
            "INSERT INTO clip_history (workflow, provider, clip_id, job_id, node_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(workflow, provider, str(c), job_id, node_id, at) for c in clip_ids],
        )

    def clips_of_job(self, job_id: str) -> list[dict[str, Any]]:
        """A job's rows as stored (what travels back from a Dask worker)."""
        return self._all(
            "SELECT workflow, provider, clip_id, node_id, created_at FROM clip_history WHERE job_id = ?",
            (job_id,),
        )
