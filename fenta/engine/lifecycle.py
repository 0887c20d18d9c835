"""Job states and the one function that changes them: the rules of the job core.

    queued -> running -> completed
                      -> failed (a retry is due at next_attempt_at) -> running -> ...
                      -> dead (not retryable, or out of retries; `jobs retry` re-queues it)
                      -> cancelled
    queued / failed -> cancelled;  running -> queued (a stopping worker gives the job back)

Every state change goes through `transition`, inside a `BEGIN IMMEDIATE` transaction (`store.write()`),
and appends its events to the log in that same transaction (a transactional outbox). A running job
holds a lease (`fenta.engine.leases`): only the holder of the token ends the attempt, and a lease that
lapsed (its process died) is taken over by the next worker (`reap`). The rules live here (which state
may follow which, the retry budget, the events of each change); the SQL is the store's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import JobError, QuotaError
from ..retry import job_retries
from .clock import iso
from .leases import Lease, lease_is_live
from .records import Event, Job, JobState
from .store import NO_BATCH, JobStore, Tx

__all__ = [
    "NO_BATCH",
    "Admit",
    "transition",
    "queue_new",
    "reserve",
    "reserve_job",
    "start",
    "heartbeat",
    "cancel_asked",
    "call_off",
    "fail",
    "complete",
    "cancelled",
    "release",
    "refuse",
    "request_cancel",
    "revive",
    "reap",
    "pending",
]

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

_NO_LEASE: dict[str, Any] = {
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

Change = tuple[Job, list[Event]]


def _require(tx: Tx, job_id: str) -> Job:
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
    now = _require(tx, job.id)
    if to != COMPLETED and now.lease_token is None:
        # Held by no process and not completed: what it reserved of the quotas was not used (a completed
        # job's reservation becomes its recorded use: `fenta.ops.quotas.track`).
        tx.release_quota(job.id)
    return now, appended


def queue_new(tx: Tx, **columns: Any) -> Change:
    """Write a new job, queued, with its `job.queued` event (inside the caller's transaction)."""
    tx.insert_job(**columns, status=QUEUED)
    job = _require(tx, columns["id"])
    data = {"jobId": job.id, "workflowId": job.workflow_name, "priority": job.priority}
    return job, tx.append_events(job.id, [("job.queued", data)])


# ---------------------------------------------------------------- taking jobs


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
                    events += _refuse(tx, job, str(e))[1]
                    continue
            lease = Lease.new(job.id)
            tx.update_job(job.id, **lease.fields(settings))
            return _require(tx, job.id), lease, events
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
        job = _require(tx, job_id)
        ours = lease is not None and job.lease_token == lease.token
        if job.status == RUNNING and not ours:
            if lease_is_live(job):
                raise JobError(f"job '{job_id}' is running in process {job.lease_pid} on {job.lease_host}")
            reap(tx, settings, only=job_id)
            job = _require(tx, job_id)
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
        return _require(tx, job_id), lease


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
        job = _require(tx, lease.job_id)
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


# ---------------------------------------------------------------- ending attempts


def _held(tx: Tx, lease: Lease) -> Job | None:
    job = _require(tx, lease.job_id)
    return job if job.lease_token == lease.token else None


def _fail(
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
        return transition(tx, job, FAILED, [failed], next_attempt_at=None, **common, **_NO_LEASE)
    delay = budget.wait_before(used, settings, retry_after) if retryable else None
    if delay is not None:
        retrying = (
            "job.retrying",
            {"jobId": job.id, "attempt": job.attempt + 1, "delaySeconds": round(delay, 3), "error": error},
        )
        lease = keep_lease.fields(settings) if keep_lease else _NO_LEASE
        return transition(
            tx, job, FAILED, [failed, retrying], next_attempt_at=iso(now + delay), **common, **lease
        )
    why = error if not retryable else f"{error} (gave up after {used} attempt{'s' if used != 1 else ''})"
    dead = ("job.dead", {"jobId": job.id, "error": why})
    return transition(tx, job, DEAD, [failed, dead], next_attempt_at=None, **common, **_NO_LEASE)


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
    """End the holder's attempt as failed (see `_fail`); (job, events), job None when the lease was lost."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None or job.status != RUNNING:
            return None, []
        return _fail(
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
            **_NO_LEASE,
        )


def _cancel(tx: Tx, job: Job, **extra: Any) -> Change:
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
        **_NO_LEASE,
    )


def cancelled(store: JobStore, lease: Lease) -> tuple[Job | None, list[Event]]:
    """End the holder's attempt as cancelled (a cancel request was honoured)."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None or job.status not in (RUNNING, QUEUED, FAILED):
            return None, []
        return _cancel(tx, job)


def release(store: JobStore, lease: Lease) -> tuple[Job | None, list[Event]]:
    """Give a running job back to the queue (its worker is stopping); the attempt does not count."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None:
            return None, []
        if job.status != RUNNING:  # only reserved: drop the lease, and what it held of the quotas
            tx.update_job(job.id, **_NO_LEASE)
            tx.release_quota(job.id)
            return _require(tx, job.id), []
        data = {"jobId": job.id, "workflowId": job.workflow_name, "priority": job.priority}
        return transition(
            tx,
            job,
            QUEUED,
            [("job.queued", data)],
            attempt=max(0, (job.attempt or 1) - 1),
            current_node=None,
            **_NO_LEASE,
        )


def call_off(store: JobStore, lease: Lease, error: str) -> list[Event]:
    """A retry this process was waiting for is called off (Ctrl-C): the job waits for a person."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None or job.status != FAILED:
            return []
        failed = ("job.failed", {"jobId": job.id, "error": error, "retryable": True})
        return transition(tx, job, FAILED, [failed], error=error, next_attempt_at=None, **_NO_LEASE)[1]


def _refuse(tx: Tx, job: Job, error: str) -> Change:
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
        **_NO_LEASE,
    )


def refuse(store: JobStore, lease: Lease, error: str) -> tuple[Job | None, list[Event]]:
    """A reserved job that must not run (over a quota): dead with the reason, nothing ran."""
    with store.write() as tx:
        job = _held(tx, lease)
        if job is None:
            return None, []
        return _refuse(tx, job, error)


# ---------------------------------------------------------------- from other processes


def request_cancel(store: JobStore, job_id: str) -> Change:
    """Cancel a job: a queued or waiting one at once, a running one by asking its process (it stops
    within `poll_seconds`), one whose process died at once.

    Raises:
        JobError: unknown, or already completed, dead or cancelled.
    """
    with store.write() as tx:
        job = _require(tx, job_id)
        if job.status.is_terminal:
            raise JobError(f"job '{job.id}' is already {job.status}: nothing to cancel")
        if job.status == RUNNING and lease_is_live(job):
            tx.update_job(job.id, cancel_requested=True)
            return _require(tx, job.id), []
        return _cancel(tx, job, cancel_requested=True)


def revive(store: JobStore, job_id: str) -> Change:
    """Re-queue a dead, failed or cancelled job with a fresh retry budget (`fenta jobs retry`).

    Raises:
        JobError: unknown, queued, running, completed, or held by a live `fenta run`.
    """
    with store.write() as tx:
        job = _require(tx, job_id)
        if job.status not in (DEAD, FAILED, CANCELLED):
            raise JobError(
                f"job '{job.id}' is {job.status}: only a dead, failed or cancelled job can be retried"
            )
        if lease_is_live(job):
            raise JobError(
                f"job '{job.id}' is held by process {job.lease_pid} on {job.lease_host} (a `fenta run` "
                "waiting to retry)"
            )
        data = {"jobId": job.id, "workflowId": job.workflow_name, "priority": job.priority}
        return transition(
            tx,
            job,
            QUEUED,
            [("job.queued", data)],
            retry_from=job.attempt,
            error=None,
            retryable=None,
            next_attempt_at=None,
            cancel_requested=False,
            finished_at=None,
            **_NO_LEASE,
        )


def reap(tx: Tx, settings: Settings, *, only: str | None = None, owner: str | None = None) -> list[Event]:
    """Running jobs whose lease lapsed (their process died): a retryable failure each, or cancelled
    when a cancel was asked. Runs inside the caller's transaction.

    Args:
        only: This job only (whoever owns it).
        owner: Else the jobs of this owner (None: the jobs no one owns): an owned job is `dead` here,
            its owner runs its work again its own way (a hosted row goes to the next hosted worker).
    """
    events: list[Event] = []
    now = time.time()
    for job in tx.running_jobs(only):
        if (only is None and job.owner != owner) or lease_is_live(job, now):
            continue
        if job.cancel_requested:
            events += transition(
                tx,
                job,
                CANCELLED,
                [("job.cancelled", {"jobId": job.id})],
                error="cancelled",
                current_node=None,
                finished_at=now,
                **_NO_LEASE,
            )[1]
            continue
        who = f"process {job.lease_pid} on {job.lease_host}" if job.lease_pid else "its process"
        if job.owner:
            error = f"{who} stopped while running it (lease lapsed); it is left to its owner ({job.owner})"
            events += _fail(tx, job, settings, error, False)[1]
        else:
            events += _fail(tx, job, settings, f"{who} stopped while running it (lease lapsed)", True)[1]
    return events


def pending(store: JobStore, *, batch_id: str | None = None) -> int:
    """Jobs a worker may still have to run: queued, waiting for a retry, or running without a live lease
    (not those held by another live process); with `batch_id`, only that batch's (`NO_BATCH`: only
    jobs of no batch and no owner)."""
    return sum(
        1
        for job in store.open_jobs(batch_id=batch_id)
        if not (job.status == FAILED and job.next_attempt_at is None) and not lease_is_live(job)
    )
