"""The webhook outbox: new events become `webhook_deliveries` rows (one per event and endpoint).

    event log ──(cursor "webhooks")──▶ webhook_deliveries ──▶ fenta.ops.webhooks.delivery

Also lists the rows and queues an event again (`fenta webhooks deliveries`, `redeliver`).
"""

from __future__ import annotations

import re
import sqlite3
import time
from typing import Any

from ...errors import WebhookError
from .endpoints import EVENT_TYPES, Endpoint, ensure_tables, list_endpoints
from .signing import body_for

__all__ = ["CURSOR", "sync_outbox", "deliveries", "redeliver"]

#: The event-log cursor this reader keeps.
CURSOR = "webhooks"


#: The largest event id SQLite can hold (a signed 64-bit integer).
_MAX_EVENT_ID = 2**63 - 1


def _event_id(text: str) -> int:
    m = re.fullmatch(r"(?:evt_)?(\d+)", text.strip())
    if not m:
        raise WebhookError(f"'{text}' is not an event id (a number, or evt_<number> as in the webhook-id header)", field="EVENT_ID")
    if len(m.group(1)) > 19 or int(m.group(1)) > _MAX_EVENT_ID:
        raise WebhookError(f"'{text}' is too large for an event id (at most {_MAX_EVENT_ID})", field="EVENT_ID")
    return int(m.group(1))


def _insert(conn: sqlite3.Connection, ep: Endpoint, event_id: int, type: str, job_id: str | None, body: str, now: float) -> bool:
    cur = conn.execute(
        "INSERT OR IGNORE INTO webhook_deliveries (event, url, body, status, attempts, next_at, created_at, endpoint_id, event_id, job_id, updated_at) "
        "VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?)",
        (type, ep.url, body, now, now, ep.id, event_id, job_id, now),
    )
    return cur.rowcount > 0


def _hosted_video(store: Any, type: str, job_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """`job.completed` of a job pushed to the hosted project: `videoUrl` is the signed Storage URL of its
    video (fenta.ops.sync) instead of the local file:// URL."""
    if type != "job.completed":
        return data
    from ..sync.state import signed_video_url

    url = signed_video_url(store, job_id)
    return {**data, "videoUrl": url} if url else data


def sync_outbox(store: Any, *, now: float | None = None, batch: int = 500) -> int:
    """Turn new events into outbox rows (one per event and subscribed, enabled endpoint).

    Reads the event log from this reader's cursor and moves the cursor in the same transaction as
    the rows it adds, so a crash adds nothing twice and loses nothing; rows are also unique per
    (event, endpoint). Returns how many rows were added.
    """
    from ...engine.events import get_cursor, read_events, set_cursor

    ensure_tables(store)
    now = time.time() if now is None else now
    added = 0
    while True:
        with store.write() as conn:
            endpoints = [ep for ep in list_endpoints(store) if ep.enabled]
            cursor = get_cursor(store, CURSOR)
            events = read_events(store, since_id=cursor, types=EVENT_TYPES, limit=batch)
            for ev in events:
                body = None
                for ep in endpoints:
                    if ev.type in ep.events and ev.id > ep.after_event_id:
                        body = body or body_for(ev.type, ev.created_at, _hosted_video(store, ev.type, ev.job_id, ev.data))
                        added += _insert(conn, ep, ev.id, ev.type, ev.job_id, body, now)
            if events:
                set_cursor(store, CURSOR, events[-1].id)
        if len(events) < batch:
            return added


def deliveries(store: Any, *, status: str | None = None, event_id: int | None = None, job_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Outbox rows, newest first: id, event id, type, endpoint, url, status, attempts, last HTTP status, error, times."""
    ensure_tables(store)
    where, args = [], []
    if status:
        where.append("status = ?")
        args.append(status)
    if event_id is not None:
        where.append("event_id = ?")
        args.append(event_id)
    if job_id is not None:
        where.append("job_id = ?")
        args.append(job_id)
    q = (
        "SELECT id, event_id, event AS type, job_id, endpoint_id, url, status, attempts, last_status, last_error, next_at, created_at, delivered_at "
        f"FROM webhook_deliveries {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ?"
    )
    return [dict(r) for r in store.db.query(q, [*args, limit])]


def redeliver(store: Any, event: str, *, now: float | None = None) -> list[int]:
    """Queue an event again for its endpoints (its failed or delivered rows go back to pending, with
    a fresh set of attempts); an event that has no rows yet is queued for every enabled endpoint
    subscribed to its type. Returns the outbox row ids.

    Raises:
        WebhookError: no such event, or no endpoint to send it to.
    """
    from ...engine.events import read_events

    ensure_tables(store)
    event_id = _event_id(event)
    now = time.time() if now is None else now
    found = read_events(store, since_id=event_id - 1, limit=1)
    if not found or found[0].id != event_id:
        raise WebhookError(f"no event {event_id} in the event log", field="EVENT_ID")
    ev = found[0]
    with store.write() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM webhook_deliveries WHERE event_id = ?", (event_id,))]
        if ids:
            conn.execute(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_at = ?, "
                "lease_until = NULL, claim_token = NULL, updated_at = ? "
                f"WHERE id IN ({','.join('?' * len(ids))})",
                (now, now, *ids),
            )
    if not ids:
        body = body_for(ev.type, ev.created_at, _hosted_video(store, ev.type, ev.job_id, ev.data))
        with store.write() as conn:
            for ep in list_endpoints(store):
                if ep.enabled and ev.type in ep.events:
                    _insert(conn, ep, ev.id, ev.type, ev.job_id, body, now)
            ids = [r[0] for r in conn.execute("SELECT id FROM webhook_deliveries WHERE event_id = ?", (event_id,))]
    if not ids:
        raise WebhookError(f"no enabled endpoint takes {ev.type} events (see `fenta webhooks list`)", field="EVENT_ID")
    return ids
