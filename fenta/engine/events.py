"""The event log: every job state change appends one row to `events`, in the same transaction.

Readers (the CLI's progress, `fenta jobs watch`, the webhook outbox, hosted sync) follow the log with
their own cursor (`cursors` table); none of them is ever called from inside the runner.

    with store.write() as conn:                       # the state change and its event commit together
        conn.execute("UPDATE jobs SET status = 'completed' WHERE id = ?", (job_id,))
        append_event(conn, "job.completed", job_id, {"jobId": job_id, ...})

    for ev in read_events(store, since_id=get_cursor(store, "webhooks")):
        ...
        set_cursor(store, "webhooks", ev.id)

Types and payloads (`data`): see `TYPES`. The four the hosted service knows (`job.started`,
`job.completed`, `job.failed`, `quota.warning`) carry exactly its keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .clock import iso, now_iso, parse_iso

if TYPE_CHECKING:
    from .store import JobStore

__all__ = ["Bus", "Event", "TYPES", "LIVE_TYPES", "append_event", "read_events", "get_cursor", "set_cursor", "follow", "now_iso", "iso", "parse_iso", "last_event_id"]

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
    "job.completed": ("jobId", "videoUrl", "duration", "cost"),
    "job.failed": ("jobId", "error", "retryable"),
    "job.dead": ("jobId", "error"),
    "job.cancelled": ("jobId",),
    "quota.warning": ("orgId", "resource", "percentage"),
}

#: Live-only events (id 0): handed to the reader of the process that runs the job, never written
#: to the log: a node's progress, a node's message, the job's node plan, a retry countdown.
LIVE_TYPES: dict[str, tuple[str, ...]] = {
    "node.progress": ("jobId", "node", "fraction"),
    "message": ("jobId", "node", "level", "text"),
    "job.plan": ("jobId", "attempt", "nodes", "types"),
    "job.waiting": ("jobId", "seconds", "attempt", "error"),
}


@dataclass
class Event:
    """One row of the event log (or, with `id` 0, a live-only notice such as a node's progress).

    Attributes:
        id: The row id, increasing; 0 for events that are never written to the log.
        type: `job.started`, `node.finished`, ... (see `TYPES`).
        job_id: The job it is about (None for `quota.warning`).
        data: The payload (JSON object).
        created_at: ISO 8601 UTC, milliseconds, 'Z'.
    """

    id: int
    type: str
    job_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    @property
    def kind(self) -> str:
        """The event type (older name)."""
        return self.type

    @property
    def node(self) -> str | None:
        """The node id it is about, if any."""
        return self.data.get("node")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "jobId": self.job_id, "data": self.data, "createdAt": self.created_at}


def append_event(conn: sqlite3.Connection, type: str, job_id: str | None, data: dict[str, Any]) -> int:
    """Append one event inside the caller's transaction; returns its id."""
    cur = conn.execute(
        "INSERT INTO events (job_id, type, data, created_at) VALUES (?, ?, ?, ?)",
        (job_id, type, json.dumps(data, default=str, ensure_ascii=False), now_iso()),
    )
    return int(cur.lastrowid or 0)


def _row(r: tuple) -> Event:
    return Event(id=r[0], type=r[2], job_id=r[1], data=json.loads(r[3]), created_at=r[4])


def read_events(store: "JobStore", *, since_id: int = 0, job_id: str | None = None, types: Iterable[str] | None = None, limit: int = 1000) -> list[Event]:
    """Events with an id above `since_id`, oldest first.

    Args:
        job_id: Only this job's events.
        types: Only these types.
        limit: At most this many.
    """
    where, args = ["id > ?"], [int(since_id)]
    if job_id is not None:
        where.append("job_id = ?")
        args.append(job_id)
    wanted = list(types or [])
    if wanted:
        where.append(f"type IN ({', '.join('?' for _ in wanted)})")
        args += wanted
    q = f"SELECT id, job_id, type, data, created_at FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
    return [_row(r) for r in store.db.conn.execute(q, [*args, int(limit)])]


def last_event_id(store: "JobStore") -> int:
    """The newest event's id (0 when the log is empty)."""
    row = store.db.conn.execute("SELECT MAX(id) FROM events").fetchone()
    return int(row[0] or 0)


def get_cursor(store: "JobStore", name: str) -> int:
    """The last event id the reader `name` has handled (0 when it never ran)."""
    row = store.db.conn.execute("SELECT event_id FROM cursors WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def set_cursor(store: "JobStore", name: str, event_id: int) -> None:
    """Record that the reader `name` has handled every event up to `event_id`."""
    store.db.conn.execute(
        "INSERT INTO cursors (name, event_id, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET event_id = excluded.event_id, updated_at = excluded.updated_at",
        (name, int(event_id), now_iso()),
    )


def follow(
    store: "JobStore",
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
        batch = read_events(store, since_id=last, job_id=job_id, types=wanted or None)
        for ev in batch:
            last = ev.id
            yield ev
        if batch:
            continue
        if until is not None and until():
            # What was appended between the last read and the check still belongs to the stream.
            while batch := read_events(store, since_id=last, job_id=job_id, types=wanted or None):
                for ev in batch:
                    last = ev.id
                    yield ev
            return
        time.sleep(poll_seconds)


class Bus:
    """Hands events to one reader callback from a task of its own, in order.

    A slow reader never holds up a node, and a reader that raises is logged, never fails a job.
    """

    def __init__(self, on_event: Callable[[Event], None] | None) -> None:
        self.on_event = on_event
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> "Bus":
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
