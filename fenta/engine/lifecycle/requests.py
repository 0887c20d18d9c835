"""What someone asks of a job from outside the process running it: cancel it (`fenta jobs cancel`),
or run it again with a fresh retry budget (`fenta jobs retry`)."""

from __future__ import annotations

from ...errors import JobError
from ..leases import lease_is_live
from ..records import JobState
from ..store import JobStore
from .endings import cancel_job
from .rules import NO_LEASE, Change, require, transition

__all__ = ["request_cancel", "revive"]


def request_cancel(store: JobStore, job_id: str) -> Change:
    """Cancel a job: a queued or waiting one at once, a running one by asking its process (it stops
    within `poll_seconds`), one whose process died at once.

    Raises:
        JobError: unknown, or already completed, dead or cancelled.
    """
    with store.write() as tx:
        job = require(tx, job_id)
        if job.status.is_terminal:
            raise JobError(f"job '{job.id}' is already {job.status}: nothing to cancel")
        if job.status == JobState.RUNNING and lease_is_live(job):
            tx.update_job(job.id, cancel_requested=True)
            return require(tx, job.id), []
        return cancel_job(tx, job, cancel_requested=True)


def revive(store: JobStore, job_id: str) -> Change:
    """Re-queue a dead, failed or cancelled job with a fresh retry budget (`fenta jobs retry`).

    Raises:
        JobError: unknown, queued, running, completed, or held by a live `fenta run`.
    """
    with store.write() as tx:
        job = require(tx, job_id)
        if job.status not in (JobState.DEAD, JobState.FAILED, JobState.CANCELLED):
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
            JobState.QUEUED,
            [("job.queued", data)],
            retry_from=job.attempt,
            error=None,
            retryable=None,
            next_attempt_at=None,
            cancel_requested=False,
            finished_at=None,
            **NO_LEASE,
        )
