"""The event log: every job state change appends one row to `events`, in the same transaction.

Readers (the CLI's progress, `fenta jobs watch`, the webhook outbox, hosted sync) follow the log with
their own cursor (`cursors` table); none of them is ever called from inside the runner. The process
that runs a job hands its events to its own reader through a `Bus`.

    with store.write() as tx:                          # the state change and its event commit together
        tx.update_job(job_id, status="completed")      # (`fenta.engine.lifecycle` decides it)
        tx.append_events(job_id, [("job.completed", {"jobId": job_id, ...})])

    for ev in read_events(store, since_id=get_cursor(store, "webhooks")):
        ...
        set_cursor(store, "webhooks", ev.id)

Types and payloads (`data`): see `TYPES`. The four the hosted service knows (`job.started`,
`job.completed`, `job.failed`, `quota.warning`) carry exactly its keys. The SQL is the store's
(`fenta.engine.store.events`); these functions are the readers' way in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from .clock import iso, now_iso, parse_iso
from .records import Event
from .store import JobStore, Tx

__all__ = [
    "Bus",
    "Sink",
    "Event",
    "TYPES",
    "LIVE_TYPES",
    "append_event",
    "read_events",
    "get_cursor",
    "set_cursor",
    "follow",
    "now_iso",
    "iso",
    "parse_iso",
    "last_event_id",
]

log = logging.getLogger("fenta")

#: Event type -> the keys of its `data`.
TYPES: dict[str, tuple[str, ...]] = {
    "job.queued": ("jobId", "workflowId", "priority"),
    "job.started": ("jobId", "workflowId", "timestamp"),
    "job.progress": ("jobId", "progress", "node"),
    "node.started": ("jobId", "node", "type"),
    "node.finished": ("jobId", "node", "status", "seconds"),
    "node.failed": ("jobId", "node", "error"),
    "job.retrying": ("jobId", "attempt", "delaySeconds", "error"),
    # + "published" ([{platform, postId, url}]) only when the job posted its video
    "job.completed": ("jobId", "videoUrl", "duration", "cost"),
    "job.failed": ("jobId", "error", "retryable"),
    "job.dead": ("jobId", "error"),
    "job.cancelled": ("jobId",),
    "quota.warning": ("orgId", "resource", "percentage"),
    # A publish node posted the video (once per post: not when it found the post an earlier job made).
    "video.published": ("jobId", "platform", "postId", "url"),
}

#: Live-only events (id 0): handed to the reader of the process that runs the job, never written
#: to the log: a node's progress, a node's message, the job's node plan, a retry countdown.
LIVE_TYPES: dict[str, tuple[str, ...]] = {
    "node.progress": ("jobId", "node", "fraction"),
    "message": ("jobId", "node", "level", "text"),
    "job.plan": ("jobId", "attempt", "nodes", "types"),
    "job.waiting": ("jobId", "seconds", "attempt", "error"),
}


def append_event(tx: Tx, type: str, job_id: str | None, data: dict[str, Any]) -> int:
    """Append one event inside the caller's transaction (`store.write()`); returns its id."""
    return tx.append_event(type, job_id, data).id


def read_events(
    store: JobStore,
    *,
    since_id: int = 0,
    job_id: str | None = None,
    types: Iterable[str] | None = None,
    limit: int = 1000,
) -> list[Event]:
    """Events with an id above `since_id`, oldest first.

    Args:
        job_id: Only this job's events.
        types: Only these types.
        limit: At most this many.
    """
    return store.read_events(since_id=since_id, job_id=job_id, types=types, limit=limit)


def last_event_id(store: JobStore) -> int:
    """The newest event's id (0 when the log is empty)."""
    return store.last_event_id()


def get_cursor(store: JobStore, name: str) -> int:
    """The last event id the reader `name` has handled (0 when it never ran)."""
    return store.cursor(name)


def set_cursor(store: JobStore, name: str, event_id: int) -> None:
    """Record that the reader `name` has handled every event up to `event_id`."""
    store.set_cursor(name, event_id)


def follow(
    store: JobStore,
    *,
    since_id: int = 0,
    job_id: str | None = None,
    types: Iterable[str] | None = None,
    poll_seconds: float = 0.5,
    until: Callable[[], bool] | None = None,
) -> Iterator[Event]:
    """Yield events as they are appended, forever or until `until()` is true between polls.

    Args:
        since_id: Start after this event id (0: from the beginning).
        poll_seconds: How long to sleep when nothing new arrived.
    """
    last = int(since_id)
    wanted = list(types or [])
    while True:
        batch = store.read_events(since_id=last, job_id=job_id, types=wanted or None)
        for ev in batch:
            last = ev.id
            yield ev
        if batch:
            continue
        if until is not None and until():
            # What was appended between the last read and the check still belongs to the stream.
            while batch := store.read_events(since_id=last, job_id=job_id, types=wanted or None):
                for ev in batch:
                    last = ev.id
                    yield ev
            return
        time.sleep(poll_seconds)


class Sink(Protocol):
    """Where the work of an attempt puts its events for this process's reader (a `Bus`; on a Dask
    worker, the client's live view)."""

    def put(self, *events: Event) -> None: ...


class Bus:
    """Hands events to one reader callback from a task of its own, in order.

    A slow reader never holds up a node, and a reader that raises is logged, never fails a job.
    """

    def __init__(self, on_event: Callable[[Event], None] | None) -> None:
        self.on_event = on_event
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> Bus:
        if self.on_event is not None:
            self.task = asyncio.get_running_loop().create_task(self._pump(), name="fenta-events")
        return self

    def put(self, *events: Event) -> None:
        if self.task is not None:
            for ev in events:
                self.queue.put_nowait(ev)

    async def _pump(self) -> None:
        while True:
            ev = await self.queue.get()
            if ev is None or self.on_event is None:
                return
            try:
                self.on_event(ev)
            except Exception:  # a reader's bug is the reader's: log it, keep going
                log.exception("an on_event callback failed on %s", ev.type)

    async def close(self) -> None:
        """Deliver what is queued, then stop."""
        if self.task is not None:
            self.queue.put_nowait(None)
            await asyncio.shield(self.task)
            self.task = None
