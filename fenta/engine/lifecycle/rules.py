"""The rules of a job's states: which state may follow which, and `transition`, the one function that
changes a job's state (and appends its events in the same transaction)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import JobError
from ..records import Event, Job, JobState
from ..store import Tx

__all__ = ["Admit", "Change", "NO_LEASE", "require", "transition", "queue_new"]

QUEUED, RUNNING, FAILED = JobState.QUEUED, JobState.RUNNING, JobState.FAILED
COMPLETED, DEAD, CANCELLED = JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED

#: state -> the states it may change to.
_NEXT: dict[JobState, set[JobState]] = {
    QUEUED: {RUNNING, CANCELLED, DEAD},
    RUNNING: {COMPLETED, FAILED, DEAD, CANCELLED, QUEUED},
    FAILED: {RUNNING, CANCELLED, QUEUED, FAILED},  # failed -> failed: a waiting retry is called off
    DEAD: {QUEUED, RUNNING},
    CANCELLED: {QUEUED, RUNNING},
    COMPLETED: set(),
}

#: The lease columns of a job held by no process.
NO_LEASE: dict[str, Any] = {
    "lease_pid": None,
    "lease_host": None,
    "lease_token": None,
    "lease_heartbeat": None,
    "lease_until": None,
}

#: A hook run inside the claim's transaction with the job about to be leased (`reserve(admit=...)`):
#: what it writes with `tx` (a quota reservation) commits with the claim; raising `QuotaError` refuses
#: the job (dead, nothing ran) and undoes what it wrote; raising anything else rolls the claim back.
Admit = Callable[[Tx, Job], None]

#: What a change gives: the job as it is now, and the events it appended.
Change = tuple[Job, list[Event]]


def require(tx: Tx, job_id: str) -> Job:
    """The job as this transaction reads it; a `JobError` naming the id when there is none."""
    job = tx.job(job_id)
    if job is None:
        raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
    return job


def transition(
    tx: Tx, job: Job, to: JobState, events: list[tuple[str, dict[str, Any]]], **fields: Any
) -> Change:
    """Change a job's state (inside the caller's transaction) and append its events.

    Args:
        tx: The transaction (`JobStore.write()`).
        job: The job as read in this transaction.
        to: The new state.
        events: (type, data) to append, in order.
        **fields: Other columns to set.

    Returns:
        (the job as it is now, the events appended).

    Raises:
        JobError: `to` cannot follow the job's state.
    """
    if to not in _NEXT[job.status]:
        raise JobError(f"job '{job.id}' is {job.status}: it cannot become {to}")
    tx.update_job(job.id, **fields, status=to)
    appended = tx.append_events(job.id, events)
    now = require(tx, job.id)
    if to != COMPLETED and now.lease_token is None:
        # Held by no process and not completed: what it reserved of the quotas was not used (a completed
        # job's reservation becomes its recorded use: `fenta.ops.quotas.track`).
        tx.release_quota(job.id)
    return now, appended


def queue_new(tx: Tx, **columns: Any) -> Change:
    """Write a new job, queued, with its `job.queued` event (inside the caller's transaction)."""
    tx.insert_job(**columns, status=QUEUED)
    job = require(tx, columns["id"])
    data = {"jobId": job.id, "workflowId": job.workflow_name, "priority": job.priority}
    return job, tx.append_events(job.id, [("job.queued", data)])
