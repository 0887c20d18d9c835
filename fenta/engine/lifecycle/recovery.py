"""Recovering the jobs of processes that died: a running job whose lease lapsed is failed (retryably,
so it runs again), or cancelled when a cancel was asked, or left `dead` to its owner. Every claim
reaps first (`claims.reserve`), inside its own transaction."""

from __future__ import annotations

import time

from ...config import Settings
from ..leases import lease_is_live
from ..records import Event, JobState
from ..store import Tx
from .endings import fail_job
from .rules import NO_LEASE, transition

__all__ = ["reap"]


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
                JobState.CANCELLED,
                [("job.cancelled", {"jobId": job.id})],
                error="cancelled",
                current_node=None,
                finished_at=now,
                **NO_LEASE,
            )[1]
            continue
        who = f"process {job.lease_pid} on {job.lease_host}" if job.lease_pid else "its process"
        if job.owner:
            error = f"{who} stopped while running it (lease lapsed); it is left to its owner ({job.owner})"
            events += fail_job(tx, job, settings, error, False)[1]
        else:
            events += fail_job(tx, job, settings, f"{who} stopped while running it (lease lapsed)", True)[1]
    return events
