"""Jobs from Python: list, get, events, retry, cancel and watch them (the `fenta jobs` commands call these).

    import fenta
    job_id = fenta.submit(fenta.load("workflow.yaml"), out="renders")   # queued
    fenta.jobs.Worker(until_empty=True).run()          # what `fenta worker` runs: quotas, usage, webhooks
    job = fenta.jobs.get(job_id)                       # row, nodes with timings, attempts, artifacts
    for ev in fenta.jobs.watch(since_id=0, until_empty=True):
        print(ev.id, ev.type, ev.data)

States: queued -> running -> completed | failed (a retry is due) | dead | cancelled. Every change
is an event in the log (`fenta.Event`); `watch` follows the log like any other reader.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .config import Settings
from .engine.events import Event, follow, last_event_id, read_events
from .engine.leases import lease_is_live
from .engine.lifecycle import NO_BATCH, pending, request_cancel, revive
from .engine.queue import submit
from .engine.records import STATES, Job
from .engine.store import JobStore
from .errors import JobError
from .ops.serving import Worker

__all__ = ["submit", "Worker", "list", "get", "events", "retry", "cancel", "watch", "active", "STATES"]

#: The columns `list` shows of each job.
_LISTED = (
    "id",
    "workflow_name",
    "status",
    "attempt",
    "priority",
    "progress",
    "current_node",
    "cost",
    "error",
    "retryable",
    "next_attempt_at",
    "created_at",
    "started_at",
    "finished_at",
)
#: The columns `active` shows of each job.
_ACTIVE = (
    "id",
    "workflow_name",
    "status",
    "attempt",
    "priority",
    "progress",
    "current_node",
    "error",
    "next_attempt_at",
    "created_at",
    "started_at",
    "finished_at",
)
#: What a job's row shown to users leaves out: the stored workflow, and the lease's secret.
_HIDDEN = ("document", "lease_token")


@contextmanager
def _store(settings: Settings | None) -> Iterator[JobStore]:
    store = JobStore((settings or Settings.from_env()).db_path)
    try:
        yield store
    finally:
        store.close()


def _find(store: JobStore, job_id: str) -> Job:
    job = store.get_job(job_id)
    if job is None:
        raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
    return job


def _shown(job: Job, columns: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A job as users see it: a dict of its row (`columns` only, when given), without `_HIDDEN`."""
    row = job.to_dict()
    return {k: row[k] for k in columns} if columns else {k: v for k, v in row.items() if k not in _HIDDEN}


def list(
    *, status: str | None = None, limit: int = 20, settings: Settings | None = None
) -> builtins.list[dict[str, Any]]:  # noqa: A001
    """The newest jobs (optionally in one state), newest first.

    Raises:
        JobError: `status` is not a job state.
    """
    if status is not None and status not in STATES:
        raise JobError(f"unknown state '{status}': choose {', '.join(STATES)}")
    with _store(settings) as store:
        return [_shown(job, _LISTED) for job in store.list_jobs(limit=limit, status=status)]


def active(*, recent_seconds: float = 600, settings: Settings | None = None) -> builtins.list[dict[str, Any]]:
    """Jobs queued, running or waiting for a retry, then those that ended in the last `recent_seconds`."""
    with _store(settings) as store:
        return [_shown(job, _ACTIVE) for job in store.active_jobs(ended_since=time.time() - recent_seconds)]


def _attempts(evs: builtins.list[Event]) -> builtins.list[dict[str, Any]]:
    """Each attempt's start, end, outcome and the wait before the next, read from the job's events."""
    out: builtins.list[dict[str, Any]] = []
    for ev in evs:
        if ev.type == "job.started":
            out.append(
                {
                    "attempt": len(out) + 1,
                    "started_at": ev.created_at,
                    "ended_at": None,
                    "outcome": "running",
                    "error": None,
                    "wait_seconds": None,
                }
            )
        elif (
            out
            and out[-1]["ended_at"] is None
            and ev.type in ("job.completed", "job.failed", "job.cancelled", "job.queued")
        ):
            outcome = {
                "job.completed": "completed",
                "job.failed": "failed",
                "job.cancelled": "cancelled",
                "job.queued": "given back",
            }[ev.type]
            out[-1].update(ended_at=ev.created_at, outcome=outcome, error=ev.data.get("error"))
        elif out and ev.type == "job.retrying":
            out[-1]["wait_seconds"] = ev.data.get("delaySeconds")
        elif out and ev.type == "job.dead" and out[-1]["outcome"] == "failed":
            out[-1]["outcome"] = "dead"
    return out


def get(job_id: str, *, settings: Settings | None = None) -> dict[str, Any]:
    """One job (a unique prefix of its id is enough): `job` (its row, without the stored workflow),
    `nodes` (per-node status, runs and timings), `attempts`, `artifacts` and `published` (the posts it
    made: platform, postId, url).

    Raises:
        JobError: no such job.
    """
    with _store(settings) as store:
        found = _find(store, job_id)
        nodes = store.node_runs(found.id)
        arts = store.artifacts(found.id)
        types = [
            "job.started",
            "job.completed",
            "job.failed",
            "job.cancelled",
            "job.queued",
            "job.retrying",
            "job.dead",
        ]
        evs = read_events(store, job_id=found.id, types=types, limit=100000)
        posts = read_events(store, job_id=found.id, types=["video.published"], limit=1000)
    job = _shown(found)
    # Each node's row as stored (node_id, node_type, status, attempt, started_at, finished_at, seconds,
    # output, error), plus: node, type, runs (times it ran) and offset (seconds after the job started).
    timings = [
        {
            **r,
            "node": r["node_id"],
            "type": r["node_type"],
            "runs": r["attempt"],
            "offset": (r["started_at"] - job["started_at"])
            if r["started_at"] and job.get("started_at")
            else None,
        }
        for r in nodes
    ]
    published = [{k: v for k, v in ev.data.items() if k != "jobId"} for ev in posts]
    return {
        "job": job,
        "nodes": timings,
        "attempts": _attempts(evs),
        "artifacts": arts,
        "published": published,
    }


def events(job_id: str, *, since_id: int = 0, settings: Settings | None = None) -> builtins.list[Event]:
    """One job's events, oldest first.

    Raises:
        JobError: no such job.
    """
    with _store(settings) as store:
        return read_events(store, job_id=_find(store, job_id).id, since_id=since_id, limit=1000000)


def retry(job_id: str, *, settings: Settings | None = None) -> dict[str, Any]:
    """Put a dead, failed or cancelled job back on the queue with a fresh retry budget; its row.

    Raises:
        JobError: no such job, or it is queued, running or completed.
    """
    with _store(settings) as store:
        job, _ = revive(store, _find(store, job_id).id)
    return _shown(job)


def cancel(job_id: str, *, wait: float = 5.0, settings: Settings | None = None) -> dict[str, Any]:
    """Cancel a job: a queued or waiting one at once; a running one is asked to stop (its FFmpeg is
    killed and its partial outputs removed) and this waits up to `wait` seconds for it. Returns
    the job's row (its `status` is `cancelled` once done, still `running` if it did not stop in time).

    Raises:
        JobError: no such job, or it already completed, died or was cancelled.
    """
    settings = settings or Settings.from_env()
    with _store(settings) as store:
        job, _ = request_cancel(store, _find(store, job_id).id)
        deadline = time.monotonic() + wait
        while job.status == "running" and time.monotonic() < deadline:
            time.sleep(min(0.05, settings.poll_seconds))
            job = _find(store, job.id)
    return _shown(job)


def watch(
    *,
    since_id: int | None = None,
    job_id: str | None = None,
    until_empty: bool = False,
    settings: Settings | None = None,
) -> Iterator[Event]:
    """Follow the event log: yield every event appended from now on (or after `since_id`).

    Args:
        since_id: Start after this event id (0: the whole log; None: only new events).
        job_id: Only this job's events.
        until_empty: Stop once nothing is queued, running or waiting for a retry. Rows of a batch
            count only while a live process runs that batch: a killed batch's rows wait for
            `fenta batch resume`, which no worker does for them.
    """
    from .ops import batch_store

    settings = settings or Settings.from_env()
    with _store(settings) as store:
        start = last_event_id(store) if since_id is None else since_id

        def idle() -> bool:
            if not until_empty:
                return False
            # One snapshot: a worker claiming the last queued job between two reads would look like none.
            with store.snapshot():
                live = batch_store.live_batches(store)
                # Held: running, or claimed by a live process and about to start. An owned job (a hosted
                # row's local copy) counts only while its process lives: no plain worker ends it.
                claimed = [j for j in store.open_jobs() if j.status != "running" and lease_is_live(j)]
                if any(
                    j.batch_id in live or (j.batch_id is None and (j.owner is None or lease_is_live(j)))
                    for j in [*store.running_jobs(), *claimed]
                ):
                    return False
                waiting = [pending(store, batch_id=b) for b in (NO_BATCH, *live)]
            return not any(waiting)

        yield from follow(
            store,
            since_id=start,
            job_id=job_id,
            poll_seconds=settings.poll_seconds,
            until=idle if until_empty else None,
        )
