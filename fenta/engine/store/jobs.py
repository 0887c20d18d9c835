"""The store's questions and statements about jobs (the `jobs` table).

State changes are not made here: `fenta.engine.lifecycle` decides them (which state may follow which,
the retry budget, the events each change appends) and writes them through `update_job` inside a
transaction.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

from ...config import Settings
from ...database import PREFIX_MATCH, prefix_pattern
from ..clock import iso
from ..leases import Lease, pid_alive
from ..records import Job, JobState
from .base import Sql, dumps

__all__ = ["JobQueries", "NO_BATCH"]

#: `batch_id` value for "only jobs that belong to no batch and no owner": a plain worker leaves a
#: batch's jobs to the batch's own process (`fenta batch` / `fenta batch resume`), which reports on
#: them, and an owned job (`owner`, e.g. a hosted row's local copy) to the kind of process that owns it.
NO_BATCH = ""

_JSON_COLUMNS = ("document", "vars", "options")

#: A job is due: queued, or failed with its retry's time come, and not asked to cancel.
_DUE = (
    "(status = 'queued' OR (status = 'failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?))"
    " AND cancel_requested = 0"
)

#: The columns of a job in a page of `fenta serve`'s list.
_PAGE_COLUMNS = (
    "id, workflow_name, status, attempt, priority, progress, current_node, cost, error, retryable, "
    "next_attempt_at, created_at, started_at, finished_at, options, schedule_id"
)


def _scope(batch_id: str | None) -> tuple[str, tuple[Any, ...]]:
    """SQL (and its arguments) narrowing a query to a batch's jobs (see `NO_BATCH`; None: any job)."""
    if batch_id is None:
        return "", ()
    if batch_id == NO_BATCH:
        return " AND batch_id IS NULL AND owner IS NULL", ()
    return " AND batch_id = ?", (batch_id,)


def _column(name: str, value: Any) -> Any:
    """A value as the `jobs` table keeps it."""
    if name in _JSON_COLUMNS and not isinstance(value, str):
        return dumps(value if value is not None else {})
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


class JobQueries(Sql):
    """Reading and writing job rows."""

    # ------------------------------------------------------------------ writing

    def insert_job(self, **columns: Any) -> None:
        """Write a new job row (`lifecycle.queue_new` gives it its state and its `job.queued`)."""
        names = list(columns)
        self.conn.execute(
            f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [_column(n, columns[n]) for n in names],
        )

    def create_job(
        self,
        *,
        job_id: str,
        name: str,
        workflow_hash: str,
        file: str | None,
        document: dict[str, Any],
        vars: dict[str, Any],
        out_dir: str,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Write a queued job row without its `job.queued` event (a scratch store's copy; tests)."""
        self.insert_job(
            id=job_id,
            workflow_name=name,
            workflow_hash=workflow_hash,
            workflow_file=file,
            document=document,
            vars=vars,
            out_dir=out_dir,
            status=JobState.QUEUED,
            attempt=0,
            created_at=time.time(),
            options=options or {},
        )

    def update_job(self, job_id: str, **columns: Any) -> None:
        """Set columns of a job (dicts are stored as JSON). A state change goes through
        `fenta.engine.lifecycle`, which appends its events; this is its statement, and for the rest."""
        if not columns:
            return
        names = list(columns)
        self.conn.execute(
            f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
            [*(_column(n, columns[n]) for n in names), job_id],
        )

    def replace_workflow(
        self, job_id: str, *, name: str, workflow_hash: str, document: dict[str, Any], vars: dict[str, Any]
    ) -> None:
        """Store a re-read workflow for a job (`fenta resume --reload`)."""
        self.update_job(job_id, workflow_name=name, workflow_hash=workflow_hash, document=document, vars=vars)

    def renew_lease(self, lease: Lease, settings: Settings) -> bool:
        """Move the lease's heartbeat to now and its end `lease_seconds` on; False when it is not held."""
        now = time.time()
        cur = self.conn.execute(
            "UPDATE jobs SET lease_heartbeat = ?, lease_until = ? WHERE id = ? AND lease_token = ?",
            (iso(now), iso(now + settings.lease_seconds), lease.job_id, lease.token),
        )
        return cur.rowcount == 1

    def set_progress(self, job_id: str, progress: float, *, while_running: bool = False) -> None:
        """The job's progress (0..1); `while_running`: only if it still runs (news from elsewhere)."""
        only = " AND status = 'running'" if while_running else ""
        self.conn.execute(f"UPDATE jobs SET progress = ? WHERE id = ?{only}", (progress, job_id))

    def set_current_node(self, job_id: str, node: str | None, *, while_running: bool = False) -> None:
        """The node the job runs now; `while_running`: only if it still runs (news from elsewhere)."""
        only = " AND status = 'running'" if while_running else ""
        self.conn.execute(f"UPDATE jobs SET current_node = ? WHERE id = ?{only}", (node, job_id))

    # ------------------------------------------------------------------ one job

    def job(self, job_id: str) -> Job | None:
        """The job with exactly this id."""
        row = self._first("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(row) if row else None

    def get_job(self, job_id: str) -> Job | None:
        """The job with this id, else the one job whose id starts with it (None: none, or several)."""
        job = self.job(job_id)
        if job is not None:
            return job
        rows = self._all(
            f"SELECT * FROM jobs WHERE id {PREFIX_MATCH} ORDER BY created_at DESC LIMIT 2",
            (prefix_pattern(job_id),),
        )
        return Job.from_row(rows[0]) if len(rows) == 1 else None

    def job_ids_starting(self, prefix: str, limit: int = 4) -> list[str]:
        """Ids of the newest jobs whose id starts with `prefix`."""
        rows = self.conn.execute(
            f"SELECT id FROM jobs WHERE id {PREFIX_MATCH} ORDER BY created_at DESC LIMIT ?",
            (prefix_pattern(prefix), limit),
        )
        return [r[0] for r in rows]

    def job_status(self, job_id: str) -> str | None:
        """The state of the job with exactly this id, as stored (a cheap read for a stream that polls)."""
        value = self._value("SELECT status FROM jobs WHERE id = ?", (job_id,))
        return str(value) if value is not None else None

    def lease_holder(self, job_id: str) -> tuple[str | None, bool] | None:
        """(the lease's token, whether a cancel was asked) of a job; None when there is no such job."""
        row = self.conn.execute(
            "SELECT lease_token, cancel_requested FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return (row[0], bool(row[1])) if row else None

    # ------------------------------------------------------------------ lists

    def _jobs(self, where: str, args: tuple[Any, ...] = (), tail: str = "") -> list[Job]:
        return [Job.from_row(r) for r in self._all(f"SELECT * FROM jobs WHERE {where}{tail}", args)]

    def list_jobs(self, limit: int = 20, status: str | None = None) -> list[Job]:
        """The newest jobs (optionally in one state), newest first."""
        where, args = ("status = ?", (str(status),)) if status else ("1", ())
        return self._jobs(where, (*args, limit), " ORDER BY created_at DESC, id DESC LIMIT ?")

    def jobs_page(
        self, *, status: str | None, workflow: str | None, after: tuple[float, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """A page of jobs newest first (created_at, then id, descending) after the keyset position
        `after`, as `fenta serve` lists them (`_PAGE_COLUMNS`, as stored)."""
        where: list[str] = ["1"]
        args: list[Any] = []
        for name, value in (("status", status), ("workflow_name", workflow)):
            if value:
                where.append(f"{name} = ?")
                args.append(value)
        if after is not None:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            args += [after[0], after[0], after[1]]
        return self._all(
            f"SELECT {_PAGE_COLUMNS} FROM jobs WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (*args, limit),
        )

    def active_jobs(self, *, ended_since: float) -> list[Job]:
        """Jobs running, waiting for a retry or queued (in that order, then by priority and age), then
        those that ended since `ended_since`."""
        order = (
            " ORDER BY CASE status WHEN 'running' THEN 0 WHEN 'failed' THEN 1 WHEN 'queued' THEN 2 ELSE 3 "
            "END,"
            " priority DESC, created_at"
        )
        where = (
            "status IN ('queued', 'running') OR (status = 'failed' AND next_attempt_at IS NOT NULL)"
            " OR finished_at >= ?"
        )
        return self._jobs(where, (ended_since,), order)

    def due_jobs(self, *, batch_id: str | None = None, limit: int = 50) -> list[Job]:
        """Jobs due to run now (see `_DUE`), highest priority first, then oldest (`_scope` for `batch_id`)."""
        only, args = _scope(batch_id)
        return self._jobs(
            _DUE + only, (iso(time.time()), *args, limit), " ORDER BY priority DESC, created_at, id LIMIT ?"
        )

    def running_jobs(self, job_id: str | None = None) -> list[Job]:
        """Jobs marked running (only `job_id`, when given), whoever holds them."""
        if job_id is not None:
            return self._jobs("status = 'running' AND id = ?", (job_id,))
        return self._jobs("status = 'running'")

    def live_jobs(self) -> list[Job]:
        """Jobs marked running whose process (on this host) is still alive."""
        return [j for j in self.running_jobs() if pid_alive(j.lease_pid)]

    def open_jobs(self, *, batch_id: str | None = None) -> list[Job]:
        """Jobs queued, failed or running that no one asked to cancel (`_scope` for `batch_id`)."""
        only, args = _scope(batch_id)
        return self._jobs("status IN ('queued', 'failed', 'running') AND cancel_requested = 0" + only, args)

    def jobs_of_batch(self, batch_id: str) -> list[Job]:
        """Every job of one batch."""
        return self._jobs("batch_id = ?", (batch_id,))

    def waiting_by_batch(self) -> dict[str, int]:
        """batch id -> its jobs queued or waiting for a retry (not asked to cancel)."""
        rows = self.conn.execute(
            "SELECT batch_id, COUNT(*) FROM jobs WHERE batch_id IS NOT NULL AND cancel_requested = 0"
            " AND (status = 'queued' OR (status = 'failed' AND next_attempt_at IS NOT NULL))"
            " GROUP BY batch_id ORDER BY batch_id"
        )
        return {r[0]: int(r[1]) for r in rows}
