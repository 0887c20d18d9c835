"""Job states and the one function that changes them.

    queued -> running -> completed
                      -> failed (a retry is due at next_attempt_at) -> running -> ...
                      -> dead (not retryable, or out of retries; `jobs retry` re-queues it)
                      -> cancelled
    queued / failed -> cancelled;  running -> queued (a stopping worker gives the job back)

Every state change goes through `transition`, inside a `BEGIN IMMEDIATE` transaction, and appends
its events to the log in that same transaction (a transactional outbox). A running job holds a
lease (pid, host, token, heartbeat, until): only the holder of the token ends the attempt, and a
lease that lapsed (its process died) is taken over by the next worker (`reap`).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import JobError
from ..retry import job_retries
from .events import Event, append_event, iso, now_iso, parse_iso

__all__ = [
    "STATES", "Lease", "transition", "lease_is_live", "reserve", "reserve_job", "start", "heartbeat",
    "cancel_asked", "call_off", "fail", "complete", "cancelled", "release", "refuse", "request_cancel",
    "revive", "reap", "pending",
]

STATES = ("queued", "running", "failed", "completed", "dead", "cancelled")

#: state -> the states it may change to (None: a new job).
_NEXT: dict[str | None, set[str]] = {
    "new": {"queued"},  # a row being written, in the same transaction
    "queued": {"running", "cancelled", "dead"},
    "running": {"completed", "failed", "dead", "cancelled", "queued"},
    "failed": {"running", "cancelled", "queued", "failed"},  # failed -> failed: a waiting retry is called off
    "dead": {"queued", "running"},
    "cancelled": {"queued", "running"},
    "completed": set(),
}

HOST = socket.gethostname()

_NO_LEASE = {"lease_pid": None, "lease_host": None, "lease_token": None, "lease_heartbeat": None, "lease_until": None}


@dataclass(frozen=True)
class Lease:
    """A process's hold on one job: only the holder of `token` may end its attempt."""

    job_id: str
    token: str
    pid: int
    host: str

    @classmethod
    def new(cls, job_id: str) -> "Lease":
        return cls(job_id, uuid.uuid4().hex, os.getpid(), HOST)

    def fields(self, settings: Settings) -> dict[str, Any]:
        now = time.time()
        return {"lease_pid": self.pid, "lease_host": self.host, "lease_token": self.token, "lease_heartbeat": iso(now), "lease_until": iso(now + settings.lease_seconds)}


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id runs on this machine (one we may not signal counts as running)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_is_live(row: dict[str, Any], now: float | None = None) -> bool:
    """Whether a job's lease is held by a live process (not expired; on this host, its pid exists)."""
    if not row.get("lease_token"):
        return False
    until = parse_iso(row.get("lease_until"))
    if until is None or until < (now if now is not None else time.time()):
        return False
    return not (row.get("lease_host") == HOST and not pid_alive(row.get("lease_pid")))


def _row(conn: sqlite3.Connection, job_id: str) -> dict[str, Any]:
    cur = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
    row = cur.fetchone()
    if row is None:
        raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
    return dict(zip([d[0] for d in cur.description], row))


def transition(conn: sqlite3.Connection, job: dict[str, Any], to: str, events: list[tuple[str, dict[str, Any]]], **fields: Any) -> list[Event]:
    """Change a job's state (inside the caller's transaction) and append its events.

    Args:
        conn: A connection inside `JobStore.write()`.
        job: The job's row as read in this transaction (None-safe for a new job: {"status": None}).
        to: The new state.
        events: (type, data) to append, in order.
        **fields: Other columns to set.

    Raises:
        JobError: `to` cannot follow the job's state.
    """
    if to not in _NEXT.get(job.get("status"), set()):
        raise JobError(f"job '{job.get('id')}' is {job.get('status')}: it cannot become {to}")
    fields = {**fields, "status": to}
    conn.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", [*fields.values(), job["id"]])
    out = []
    for type_, data in events:
        out.append(Event(append_event(conn, type_, job["id"], data), type_, job["id"], data, now_iso()))
    job.update(fields)
    return out


def _write(store: Any):
    return store.write()


# ---------------------------------------------------------------- taking jobs


def _due_sql() -> str:
    return "(status = 'queued' OR (status = 'failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?)) AND cancel_requested = 0"


#: `batch_id` value for "only jobs that belong to no batch and no owner": a plain worker leaves a
#: batch's jobs to the batch's own process (`fenta batch` / `fenta batch resume`), which reports on
#: them, and an owned job (`owner`, e.g. a hosted row's local copy) to the kind of process that owns it.
NO_BATCH = ""


def _batch_filter(batch_id: str | None) -> tuple[str, tuple[Any, ...]]:
    if batch_id is None:
        return "", ()
    if batch_id == NO_BATCH:
        return " AND batch_id IS NULL AND owner IS NULL", ()
    return " AND batch_id = ?", (batch_id,)


def reserve(store: Any, settings: Settings, *, batch_id: str | None = None) -> tuple[dict[str, Any] | None, Lease | None, list[Event]]:
    """Lease the next due job (highest priority, then oldest) for this process.

    Lapsed leases of running jobs are reaped first. The job keeps its state until `start`.

    Args:
        batch_id: Take only jobs of this batch (`NO_BATCH`: only jobs of no batch and no owner; None: any job).

    Returns:
        (job row, lease, events of the reaping); row and lease are None when no job is due.
    """
    with _write(store) as conn:
        events = reap(conn, settings)
        only, args = _batch_filter(batch_id)
        cur = conn.execute(f"SELECT * FROM jobs WHERE {_due_sql()}{only} ORDER BY priority DESC, created_at, id LIMIT 50", (now_iso(), *args))
        cols = [d[0] for d in cur.description]
        for values in cur.fetchall():
            row = dict(zip(cols, values))
            if lease_is_live(row):
                continue
            lease = Lease.new(row["id"])
            fields = lease.fields(settings)
            conn.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", [*fields.values(), row["id"]])
            row.update(fields)
            return row, lease, events
        return None, None, events


def reserve_job(store: Any, job_id: str, settings: Settings, *, lease: Lease | None = None, allow: tuple[str, ...] = ("queued", "failed", "dead", "cancelled")) -> tuple[dict[str, Any], Lease]:
    """Lease one given job for this process (`fenta run`, `fenta resume`).

    Raises:
        JobError: the job is unknown, completed, in a state not in `allow`, or held by another live process.
    """
    with _write(store) as conn:
        row = _row(conn, job_id)
        if row["status"] == "running" and not (lease and row.get("lease_token") == lease.token):
            if lease_is_live(row):
                raise JobError(f"job '{job_id}' is running in process {row['lease_pid']} on {row['lease_host']}")
            reap(conn, settings, only=job_id)
            row = _row(conn, job_id)
        if row["status"] == "completed":
            raise JobError(f"job '{job_id}' already completed")
        if row["status"] not in allow:
            raise JobError(f"job '{job_id}' is {row['status']}")
        if lease_is_live(row) and not (lease and row.get("lease_token") == lease.token):
            raise JobError(f"job '{job_id}' is held by process {row['lease_pid']} on {row['lease_host']}")
        lease = lease or Lease.new(job_id)
        fields = lease.fields(settings)
        conn.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", [*fields.values(), job_id])
        row.update(fields)
        return row, lease


def start(store: Any, lease: Lease, *, fresh_budget: bool = False, max_retries: int | None = None) -> tuple[dict[str, Any], list[Event]]:
    """Begin an attempt of a reserved job: running, attempt + 1, `job.started`.

    Args:
        fresh_budget: Count retries from this attempt on (`fenta resume`).
        max_retries: Store this retry budget with the job.
    """
    with _write(store) as conn:
        row = _row(conn, lease.job_id)
        if row.get("lease_token") != lease.token:
            raise JobError(f"job '{lease.job_id}' was taken by another process")
        now = time.time()
        extra: dict[str, Any] = {"retry_from": row["attempt"] or 0} if fresh_budget else {}
        if max_retries is not None:
            extra["max_retries"] = max_retries
        data = {"jobId": row["id"], "workflowId": row["workflow_name"], "timestamp": iso(now)}
        events = transition(
            conn, row, "running", [("job.started", data)],
            attempt=(row["attempt"] or 0) + 1, error=None, retryable=None, next_attempt_at=None, cancel_requested=0,
            current_node=None, finished_at=None, started_at=row["started_at"] or now, **extra,
        )
        return row, events


def heartbeat(store: Any, lease: Lease, settings: Settings) -> tuple[bool, bool]:
    """Renew a lease; (still held, cancel requested)."""
    now = time.time()
    cur = store.db.conn.execute(
        "UPDATE jobs SET lease_heartbeat = ?, lease_until = ? WHERE id = ? AND lease_token = ?",
        (iso(now), iso(now + settings.lease_seconds), lease.job_id, lease.token),
    )
    if cur.rowcount != 1:
        return False, False
    row = store.db.conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (lease.job_id,)).fetchone()
    return True, bool(row and row[0])


def cancel_asked(store: Any, lease: Lease) -> tuple[bool, bool]:
    """(still held, cancel requested), read only."""
    row = store.db.conn.execute("SELECT lease_token, cancel_requested FROM jobs WHERE id = ?", (lease.job_id,)).fetchone()
    return bool(row and row[0] == lease.token), bool(row and row[1])


# ---------------------------------------------------------------- ending attempts


def _held(conn: sqlite3.Connection, lease: Lease) -> dict[str, Any] | None:
    row = _row(conn, lease.job_id)
    return row if row.get("lease_token") == lease.token else None


def _fail_row(conn: sqlite3.Connection, row: dict[str, Any], settings: Settings, error: str, retryable: bool, *, retry_after: float | None = None, keep_lease: Lease | None = None, interrupted: bool = False) -> list[Event]:
    """End a running attempt that failed: retry due later, `dead`, or (interrupted) waiting for a person.

    The budget is the job's own (`fenta.retry.job_retries`: stored when it was queued), counted from
    `retry_from` (the attempt `fenta jobs retry` or `fenta resume` started afresh at)."""
    now = time.time()
    used = (row["attempt"] or 0) - (row.get("retry_from") or 0)
    own = {"max_retries": row.get("max_retries"), "base_seconds": row.get("retry_base")}
    budget = job_retries(settings, asked=own)
    common = {"error": error, "retryable": int(bool(retryable)), "current_node": None, "finished_at": now}
    failed = ("job.failed", {"jobId": row["id"], "error": error, "retryable": bool(retryable)})
    if interrupted:
        return transition(conn, row, "failed", [failed], next_attempt_at=None, **common, **_NO_LEASE)
    delay = budget.wait_before(used, settings, retry_after) if retryable else None
    if delay is not None:
        retrying = ("job.retrying", {"jobId": row["id"], "attempt": (row["attempt"] or 0) + 1, "delaySeconds": round(delay, 3), "error": error})
        lease = keep_lease.fields(settings) if keep_lease else _NO_LEASE
        return transition(conn, row, "failed", [failed, retrying], next_attempt_at=iso(now + delay), **common, **lease)
    why = error if not retryable else f"{error} (gave up after {used} attempt{'s' if used != 1 else ''})"
    return transition(conn, row, "dead", [failed, ("job.dead", {"jobId": row["id"], "error": why})], next_attempt_at=None, **common, **_NO_LEASE)


def fail(store: Any, lease: Lease, settings: Settings, error: str, retryable: bool, *, retry_after: float | None = None, keep_lease: bool = False, interrupted: bool = False) -> tuple[dict[str, Any] | None, list[Event]]:
    """End the holder's attempt as failed (see `_fail_row`); (row, events), row None when the lease was lost."""
    with _write(store) as conn:
        row = _held(conn, lease)
        if row is None or row["status"] != "running":
            return None, []
        events = _fail_row(conn, row, settings, error, retryable, retry_after=retry_after, keep_lease=lease if keep_lease else None, interrupted=interrupted)
        return row, events


def complete(store: Any, lease: Lease, *, video: str | None, duration: float | None, cost: float) -> tuple[dict[str, Any] | None, list[Event]]:
    """End the holder's attempt as completed (`job.completed`; videoUrl is the video's file:// URL)."""
    with _write(store) as conn:
        row = _held(conn, lease)
        if row is None or row["status"] != "running":
            return None, []
        url = Path(video).resolve().as_uri() if video else None
        data = {"jobId": row["id"], "videoUrl": url, "duration": duration, "cost": cost}
        events = transition(conn, row, "completed", [("job.completed", data)], progress=1.0, current_node=None, finished_at=time.time(), cost=cost, error=None, retryable=None, next_attempt_at=None, **_NO_LEASE)
        return row, events


def cancelled(store: Any, lease: Lease) -> tuple[dict[str, Any] | None, list[Event]]:
    """End the holder's attempt as cancelled (a cancel request was honoured)."""
    with _write(store) as conn:
        row = _held(conn, lease)
        if row is None or row["status"] not in ("running", "queued", "failed"):
            return None, []
        events = transition(conn, row, "cancelled", [("job.cancelled", {"jobId": row["id"]})], error="cancelled", current_node=None, finished_at=time.time(), next_attempt_at=None, **_NO_LEASE)
        return row, events


def release(store: Any, lease: Lease) -> tuple[dict[str, Any] | None, list[Event]]:
    """Give a running job back to the queue (its worker is stopping); the attempt does not count."""
    with _write(store) as conn:
        row = _held(conn, lease)
        if row is None:
            return None, []
        if row["status"] != "running":  # only reserved: drop the lease
            conn.execute("UPDATE jobs SET lease_pid = NULL, lease_host = NULL, lease_token = NULL, lease_heartbeat = NULL, lease_until = NULL WHERE id = ?", (row["id"],))
            return row, []
        data = {"jobId": row["id"], "workflowId": row["workflow_name"], "priority": row["priority"] or 0}
        events = transition(conn, row, "queued", [("job.queued", data)], attempt=max(0, (row["attempt"] or 1) - 1), current_node=None, **_NO_LEASE)
        return row, events


def call_off(store: Any, lease: Lease, error: str) -> list[Event]:
    """A retry this process was waiting for is called off (Ctrl-C): the job waits for a person."""
    with _write(store) as conn:
        row = _held(conn, lease)
        if row is None or row["status"] != "failed":
            return []
        return transition(conn, row, "failed", [("job.failed", {"jobId": row["id"], "error": error, "retryable": True})], error=error, next_attempt_at=None, **_NO_LEASE)


def refuse(store: Any, lease: Lease, error: str) -> tuple[dict[str, Any] | None, list[Event]]:
    """A reserved job that must not run (over a quota): dead with the reason, nothing ran."""
    with _write(store) as conn:
        row = _held(conn, lease)
        if row is None:
            return None, []
        failed = ("job.failed", {"jobId": row["id"], "error": error, "retryable": False})
        events = transition(conn, row, "dead", [failed, ("job.dead", {"jobId": row["id"], "error": error})], error=error, retryable=0, finished_at=time.time(), next_attempt_at=None, **_NO_LEASE)
        return row, events


# ---------------------------------------------------------------- from other processes


def request_cancel(store: Any, job_id: str) -> tuple[dict[str, Any], list[Event]]:
    """Cancel a job: a queued or waiting one at once, a running one by asking its process (it stops
    within `poll_seconds`), one whose process died at once.

    Raises:
        JobError: unknown, or already completed, dead or cancelled.
    """
    with _write(store) as conn:
        row = _row(conn, job_id)
        if row["status"] in ("completed", "dead", "cancelled"):
            raise JobError(f"job '{row['id']}' is already {row['status']}: nothing to cancel")
        if row["status"] == "running" and lease_is_live(row):
            conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (row["id"],))
            row["cancel_requested"] = 1
            return row, []
        events = transition(conn, row, "cancelled", [("job.cancelled", {"jobId": row["id"]})], error="cancelled", current_node=None, finished_at=time.time(), next_attempt_at=None, cancel_requested=1, **_NO_LEASE)
        return row, events


def revive(store: Any, job_id: str) -> tuple[dict[str, Any], list[Event]]:
    """Re-queue a dead, failed or cancelled job with a fresh retry budget (`fenta jobs retry`).

    Raises:
        JobError: unknown, queued, running, completed, or held by a live `fenta run`.
    """
    with _write(store) as conn:
        row = _row(conn, job_id)
        if row["status"] not in ("dead", "failed", "cancelled"):
            raise JobError(f"job '{row['id']}' is {row['status']}: only a dead, failed or cancelled job can be retried")
        if lease_is_live(row):
            raise JobError(f"job '{row['id']}' is held by process {row['lease_pid']} on {row['lease_host']} (a `fenta run` waiting to retry)")
        data = {"jobId": row["id"], "workflowId": row["workflow_name"], "priority": row["priority"] or 0}
        events = transition(conn, row, "queued", [("job.queued", data)], retry_from=row["attempt"] or 0, error=None, retryable=None, next_attempt_at=None, cancel_requested=0, finished_at=None, **_NO_LEASE)
        return row, events


def reap(conn: sqlite3.Connection, settings: Settings, *, only: str | None = None, owner: str | None = None) -> list[Event]:
    """Running jobs whose lease lapsed (their process died): a retryable failure each, or cancelled
    when a cancel was asked. Runs inside the caller's transaction.

    Args:
        only: This job only (whoever owns it).
        owner: Else the jobs of this owner (None: the jobs no one owns): an owned job is `dead` here,
            its owner runs its work again its own way (a hosted row goes to the next hosted worker).
    """
    if only:
        which, args = " AND id = ?", (only,)
    else:
        which, args = (" AND owner IS NULL", ()) if owner is None else (" AND owner = ?", (owner,))
    cur = conn.execute("SELECT * FROM jobs WHERE status = 'running'" + which, args)
    cols = [d[0] for d in cur.description]
    events: list[Event] = []
    now = time.time()
    for values in cur.fetchall():
        row = dict(zip(cols, values))
        if lease_is_live(row, now):
            continue
        if row.get("cancel_requested"):
            events += transition(conn, row, "cancelled", [("job.cancelled", {"jobId": row["id"]})], error="cancelled", current_node=None, finished_at=now, **_NO_LEASE)
            continue
        who = f"process {row.get('lease_pid')} on {row.get('lease_host')}" if row.get("lease_pid") else "its process"
        if row.get("owner"):
            events += _fail_row(conn, row, settings, f"{who} stopped while running it (lease lapsed); it is left to its owner ({row['owner']})", False)
        else:
            events += _fail_row(conn, row, settings, f"{who} stopped while running it (lease lapsed)", True)
    return events


def pending(store: Any, *, batch_id: str | None = None) -> int:
    """Jobs a worker may still have to run: queued, waiting for a retry, or running without a live lease
    (not those held by another live process); with `batch_id`, only that batch's (`NO_BATCH`: only
    jobs of no batch and no owner)."""
    only, args = _batch_filter(batch_id)
    rows = store.db.conn.execute(
        "SELECT status, lease_pid, lease_host, lease_token, lease_until, next_attempt_at FROM jobs WHERE status IN ('queued', 'failed', 'running') AND cancel_requested = 0" + only,
        args,
    ).fetchall()
    n = 0
    for status, pid, host, token, until, due in rows:
        held = lease_is_live({"lease_pid": pid, "lease_host": host, "lease_token": token, "lease_until": until})
        if status == "failed" and due is None:
            continue
        if not held:
            n += 1
    return n
