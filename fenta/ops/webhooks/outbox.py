"""The webhook outbox: new events become `webhook_deliveries` rows (one per event and endpoint).

    event log ──(cursor "webhooks")──▶ webhook_deliveries ──▶ fenta.ops.webhooks.delivery

Also lists the rows and queues an event again (`fenta webhooks deliveries`, `redeliver`).
"""

from __future__ import annotations

import re
import time
from typing import Any

from ...errors import WebhookError
from .endpoints import EVENT_TYPES
from .signing import body_for

__all__ = ["CURSOR", "sync_outbox", "deliveries", "redeliver"]

#: The event-log cursor this reader keeps.
CURSOR = "webhooks"


#: The largest event id SQLite can hold (a signed 64-bit integer).
_MAX_EVENT_ID = 2**63 - 1


def _event_id(text: str) -> int:
    m = re.fullmatch(r"(?:evt_)?(\d+)", text.strip())
    if not m:
        raise WebhookError(
            f"'{text}' is not an event id (a number, or evt_<number> as in the webhook-id header)",
            field="EVENT_ID",
        )
    if len(m.group(1)) > 19 or int(m.group(1)) > _MAX_EVENT_ID:
        raise WebhookError(
            f"'{text}' is too large for an event id (at most {_MAX_EVENT_ID})", field="EVENT_ID"
        )
    return int(m.group(1))


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
    now = time.time() if now is None else now
    added = 0
    while True:
        with store.write() as tx:
            endpoints = [ep for ep in tx.endpoints() if ep.enabled]
            events = tx.read_events(since_id=tx.cursor(CURSOR), types=EVENT_TYPES, limit=batch)
            for ev in events:
                body = None
                for ep in endpoints:
                    if ev.type in ep.events and ev.id > ep.after_event_id:
                        if body is None:
                            data = _hosted_video(tx, ev.type, ev.job_id, ev.data)
                            body = body_for(ev.type, ev.created_at, data)
                        added += tx.add_delivery(
                            ep, event_id=ev.id, type=ev.type, job_id=ev.job_id, body=body, now=now
                        )
            if events:
                tx.set_cursor(CURSOR, events[-1].id)
        if len(events) < batch:
            return added


def deliveries(
    store: Any,
    *,
    status: str | None = None,
    event_id: int | None = None,
    job_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Outbox rows, newest first: id, event id, type, endpoint, url, status, attempts, last HTTP status,
    error, times."""
    return store.deliveries(status=status, event_id=event_id, job_id=job_id, limit=limit)


def redeliver(store: Any, event: str, *, now: float | None = None) -> list[int]:
    """Queue an event again for its endpoints (its failed or delivered rows go back to pending, with
    a fresh set of attempts); an event that has no rows yet is queued for every enabled endpoint
    subscribed to its type. Returns the outbox row ids.

    Raises:
        WebhookError: no such event, or no endpoint to send it to.
    """
    event_id = _event_id(event)
    now = time.time() if now is None else now
    found = store.read_events(since_id=event_id - 1, limit=1)
    if not found or found[0].id != event_id:
        raise WebhookError(f"no event {event_id} in the event log", field="EVENT_ID")
    ev = found[0]
    with store.write() as tx:
        ids = tx.delivery_ids(event_id)
        if ids:
            tx.requeue_deliveries(ids, now=now)
    if not ids:
        body = body_for(ev.type, ev.created_at, _hosted_video(store, ev.type, ev.job_id, ev.data))
        with store.write() as tx:
            for ep in tx.endpoints():
                if ep.enabled and ev.type in ep.events:
                    tx.add_delivery(ep, event_id=ev.id, type=ev.type, job_id=ev.job_id, body=body, now=now)
            ids = tx.delivery_ids(event_id)
    if not ids:
        raise WebhookError(
            f"no enabled endpoint takes {ev.type} events (see `fenta webhooks list`)", field="EVENT_ID"
        )
    return ids
