"""Ending an attempt: failed (a retry due later, `dead`, or waiting for a person), completed,
cancelled, given back to the queue, or refused before it ran. Only the holder of the lease ends it:
each function here does nothing (and says so: job None) when the lease was lost."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ...config import Settings
from ...retry import job_retries
from ..clock import iso
from ..leases import Lease
from ..records import Event, Job, JobState
from ..store import JobStore, Tx
from .rules import NO_LEASE, Change, require, transition

__all__ = [
    "fail",
    "complete",
    "cancelled",
    "release",
    "call_off",
    "refuse",
    "fail_job",
    "cancel_job",
    "refuse_job",
]

QUEUED, RUNNING, FAILED = JobState.QUEUED, JobState.RUNNING, JobState.FAILED
COMPLETED, DEAD, CANCELLED = JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED


def _held(tx: Tx, lease: Lease) -> Job | None:
    job = require(tx, lease.job_id)
    return job if job.lease_token == lease.token else None


def fail_job(
    tx: Tx,
    job: Job,
    settings: Settings,
    error: str,
    retryable: bool,
    *,
    retry_after: float | None = None,
    keep_lease: Lease | None = None,
    interrupted: bool = False,
) -> Change:
    """End a running attempt that failed: retry due later, `dead`, or (interrupted) waiting for a person.

    The budget is the job's own (`fenta.retry.job_retries`: stored when it was queued), counted from
    `retry_from` (the attempt `fenta jobs retry` or `fenta resume` started afresh at)."""
    now = time.time()
    used = job.attempt - job.retry_from
    budget = job_retries(settings, asked={"max_retries": job.max_retries, "base_seconds": job.retry_base})
    common = {"error": error, "retryable": retryable, "current_node": None, "finished_at": now}
    failed = ("job.failed", {"jobId": job.id, "error": error, "retryable": retryable})
    if interrupted:
        return transition(tx, job, FAILED, [failed], next_attempt_at=None, **common, **NO_LEASE)
    delay = budget.wait_before(used, settings, retry_after) if retryable else None
    if delay is not None:
        retrying = (
            "job.retrying",
            {"jobId": job.id, "attempt": job.attempt + 1, "delaySeconds": round(delay, 3), "error": error},
        )
        lease = keep_lease.fields(settings) if keep_lease else NO_LEASE
        return transition(
            tx, job, FAILED, [failed, retrying], next_attempt_at=iso(now + delay), **common, **lease
        )
    why = error if not retryable else f"{error} (gave up after {used} attempt{'s' if used != 1 else ''})"
    dead = ("job.dead", {"jobId": job.id, "error": why})
    return transition(tx, job, DEAD, [failed, dead], next_attempt_at=None, **common, **NO_LEASE)


def fail(
    store: JobStore,
    lease: Lease,
    settings: Settings,
    error: str,
    retryable: bool,
    *,
    retry_after: float | None = None,
    keep_lease: bool = False,
    interrupted: bool = False,
) -> tuple[Job | None, list[Event]]:
    """End the holder's attempt as failed (see `fail_job`); (job, events), job None when the lease was
    lost."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None or job.status != RUNNING:
            return None, []
        return fail_job(
            tx,
            job,
            settings,
            error,
            retryable,
            retry_after=retry_after,
            keep_lease=lease if keep_lease else None,
            interrupted=interrupted,
        )


def complete(
    store: JobStore, lease: Lease, *, video: str | None, duration: float | None, cost: float
) -> tuple[Job | None, list[Event]]:
    """End the holder's attempt as completed (`job.completed`; videoUrl is the video's file:// URL; a job
    that posted its video also says where: `published`, its `video.published` events' data)."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None or job.status != RUNNING:
            return None, []
        url = Path(video).resolve().as_uri() if video else None
        data: dict[str, Any] = {"jobId": job.id, "videoUrl": url, "duration": duration, "cost": cost}
        posts = tx.read_events(job_id=job.id, types=["video.published"], limit=100)
        if posts:
            data["published"] = [{k: v for k, v in ev.data.items() if k != "jobId"} for ev in posts]
        return transition(
            tx,
            job,
            COMPLETED,
            [("job.completed", data)],
            progress=1.0,
            current_node=None,
            finished_at=time.time(),
            cost=cost,
            error=None,
            retryable=None,
            next_attempt_at=None,
            **NO_LEASE,
        )


def cancel_job(tx: Tx, job: Job, **extra: Any) -> Change:
    """Cancel a job now (inside the caller's transaction): `job.cancelled`, held by no process."""
    return transition(
        tx,
        job,
        CANCELLED,
        [("job.cancelled", {"jobId": job.id})],
        error="cancelled",
        current_node=None,
        finished_at=time.time(),
        next_attempt_at=None,
        **extra,
        **NO_LEASE,
    )


def cancelled(store: JobStore, lease: Lease) -> tuple[Job | None, list[Event]]:
    """End the holder's attempt as cancelled (a cancel request was honoured)."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None or job.status not in (RUNNING, QUEUED, FAILED):
            return None, []
        return cancel_job(tx, job)


def release(store: JobStore, lease: Lease) -> tuple[Job | None, list[Event]]:
    """Give a running job back to the queue (its worker is stopping); the attempt does not count."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None:
            return None, []
        if job.status != RUNNING:  # only reserved: drop the lease, and what it held of the quotas
            tx.update_job(job.id, **NO_LEASE)
            tx.release_quota(job.id)
            return require(tx, job.id), []
        data = {"jobId": job.id, "workflowId": job.workflow_name, "priority": job.priority}
        return transition(
            tx,
            job,
            QUEUED,
            [("job.queued", data)],
            attempt=max(0, (job.attempt or 1) - 1),
            current_node=None,
            **NO_LEASE,
        )


def call_off(store: JobStore, lease: Lease, error: str) -> list[Event]:
    """A retry this process was waiting for is called off (Ctrl-C): the job waits for a person."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None or job.status != FAILED:
            return []
        failed = ("job.failed", {"jobId": job.id, "error": error, "retryable": True})
        return transition(tx, job, FAILED, [failed], error=error, next_attempt_at=None, **NO_LEASE)[1]


def refuse_job(tx: Tx, job: Job, error: str) -> Change:
    """A job that must not run, dead with the reason (inside the caller's transaction)."""
    failed = ("job.failed", {"jobId": job.id, "error": error, "retryable": False})
    dead = ("job.dead", {"jobId": job.id, "error": error})
    return transition(
        tx,
        job,
        DEAD,
        [failed, dead],
        error=error,
        retryable=False,
        finished_at=time.time(),
        next_attempt_at=None,
        **NO_LEASE,
    )


def refuse(store: JobStore, lease: Lease, error: str) -> tuple[Job | None, list[Event]]:
    """A reserved job that must not run (over a quota): dead with the reason, nothing ran."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None:
            return None, []
        return refuse_job(tx, job, error)
