"""Taking a job: the claim (a lease on the next due job, or on one given job), the start of its
attempt, the heartbeat that keeps the lease, and how many jobs a worker may still take."""

from __future__ import annotations

import time
from typing import Any

from ...config import Settings
from ...errors import JobError, QuotaError
from ..clock import iso
from ..leases import Lease, lease_is_live
from ..records import Event, Job, JobState
from ..store import JobStore
from .endings import refuse_job
from .recovery import reap
from .rules import Admit, Change, require, transition

__all__ = ["reserve", "reserve_job", "start", "heartbeat", "cancel_asked", "pending"]

QUEUED, RUNNING, FAILED = JobState.QUEUED, JobState.RUNNING, JobState.FAILED
COMPLETED, DEAD, CANCELLED = JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED


def reserve(
    store: JobStore, settings: Settings, *, batch_id: str | None = None, admit: Admit | None = None
) -> tuple[Job | None, Lease | None, list[Event]]:
    """Claim the next due job (highest priority, then oldest) for this process: lease it.

    Lapsed leases of running jobs are reaped first. The job keeps its state until `start`.

    Args:
        batch_id: Take only jobs of this batch (`NO_BATCH`: only jobs of no batch and no owner; None:
            any job).
        admit: Run inside the claim's transaction for the job about to be leased (see `Admit`).

    Returns:
        (job, lease, events of the reaping and of refused jobs); job and lease are None when none is due.
    """
    with store.write() as tx:
        events = reap(tx, settings)
        for job in tx.due_jobs(batch_id=batch_id):
            if lease_is_live(job):
                continue
            if admit is not None:
                try:
                    with tx.savepoint():  # a refusal undoes what the hook wrote for this job, nothing else
                        admit(tx, job)
                except QuotaError as e:
                    events += refuse_job(tx, job, str(e))[1]
                    continue
            lease = Lease.new(job.id)
            tx.update_job(job.id, **lease.fields(settings))
            return require(tx, job.id), lease, events
        return None, None, events


def reserve_job(
    store: JobStore,
    job_id: str,
    settings: Settings,
    *,
    lease: Lease | None = None,
    allow: tuple[JobState, ...] = (QUEUED, FAILED, DEAD, CANCELLED),
    admit: Admit | None = None,
) -> tuple[Job, Lease]:
    """Lease one given job for this process (`fenta run`, `fenta resume`).

    Args:
        admit: Run inside the transaction with the job about to be leased (see `Admit`); a `QuotaError`
            it raises is raised here and nothing changes (the job keeps its state).

    Raises:
        JobError: the job is unknown, completed, in a state not in `allow`, or held by another live process.
        QuotaError: `admit` refused the job.
    """
    with store.write() as tx:
        job = require(tx, job_id)
        ours = lease is not None and job.lease_token == lease.token
        if job.status == RUNNING and not ours:
            if lease_is_live(job):
                raise JobError(f"job '{job_id}' is running in process {job.lease_pid} on {job.lease_host}")
            reap(tx, settings, only=job_id)
            job = require(tx, job_id)
        if job.status == COMPLETED:
            raise JobError(f"job '{job_id}' already completed")
        if job.status not in allow:
            raise JobError(f"job '{job_id}' is {job.status}")
        if lease_is_live(job) and not ours:
            raise JobError(f"job '{job_id}' is held by process {job.lease_pid} on {job.lease_host}")
        if admit is not None:
            admit(tx, job)
        lease = lease or Lease.new(job_id)
        tx.update_job(job_id, **lease.fields(settings))
        return require(tx, job_id), lease


def start(
    store: JobStore, lease: Lease, *, fresh_budget: bool = False, max_retries: int | None = None
) -> Change:
    """Begin an attempt of a reserved job: running, attempt + 1, `job.started`.

    Args:
        fresh_budget: Count retries from this attempt on (`fenta resume`).
        max_retries: Store this retry budget with the job.

    Raises:
        JobError: another process took the job.
    """
    with store.write() as tx:
        job = require(tx, lease.job_id)
        if job.lease_token != lease.token:
            raise JobError(f"job '{lease.job_id}' was taken by another process")
        now = time.time()
        extra: dict[str, Any] = {"retry_from": job.attempt} if fresh_budget else {}
        if max_retries is not None:
            extra["max_retries"] = max_retries
        data = {"jobId": job.id, "workflowId": job.workflow_name, "timestamp": iso(now)}
        return transition(
            tx,
            job,
            RUNNING,
            [("job.started", data)],
            attempt=job.attempt + 1,
            error=None,
            retryable=None,
            next_attempt_at=None,
            cancel_requested=0,
            current_node=None,
            finished_at=None,
            started_at=job.started_at or now,
            **extra,
        )


def heartbeat(store: JobStore, lease: Lease, settings: Settings) -> tuple[bool, bool]:
    """Renew a lease; (still held, cancel requested)."""
    if not store.renew_lease(lease, settings):
        return False, False
    return cancel_asked(store, lease)


def cancel_asked(store: JobStore, lease: Lease) -> tuple[bool, bool]:
    """(still held, cancel requested), read only."""
    holder = store.lease_holder(lease.job_id)
    if holder is None:
        return False, False
    token, cancel = holder
    return token == lease.token, cancel


def pending(store: JobStore, *, batch_id: str | None = None) -> int:
    """Jobs a worker may still have to run: queued, waiting for a retry, or running without a live lease
    (not those held by another live process); with `batch_id`, only that batch's (`NO_BATCH`: only
    jobs of no batch and no owner)."""
    return sum(
        1
        for job in store.open_jobs(batch_id=batch_id)
        if not (job.status == FAILED and job.next_attempt_at is None) and not lease_is_live(job)
    )
