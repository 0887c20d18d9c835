"""Outgoing webhooks, Standard Webhooks v1: endpoints, signing, the outbox and its delivery.

Events reach receivers from the event log (`fenta.engine.events`), never from inside the runner:

    event log ──(cursor "webhooks")──▶ webhook_deliveries (one row per event and endpoint) ──▶ POST

    endpoints   receivers (URL, secret, events, trust; rows in the store); `check_url`
    claims      one delivery at a time: a claim token, the lease kept while the request is in flight
    signing     secrets, `webhook-signature`, `webhook-id`, the body
    outbox      events -> delivery rows (cursor), listing, redeliver
    delivery    the POSTs: retry schedule, Retry-After, 410 Gone; `flush`

Any live fenta process (`run`, `worker`, `scheduler`) and `fenta webhooks deliver` move rows along.
Each request: `POST` with `webhook-id` (the event's id, the same on every retry), `webhook-timestamp`
(this attempt), `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`; body
`{"type", "timestamp", "data"}` where `data` is the event's payload.

Secrets live in `webhook_endpoints` in fenta.db and nowhere else: never in events, job rows, bodies,
delivery rows or logs.
"""

from __future__ import annotations

from .delivery import (
    RETRY_SCHEDULE,
    TIMEOUT,
    WAITING_FOR_PUSH,
    Attempt,
    deliver_due,
    flush,
    hosted_video_ready,
    next_delay,
    retry_after_seconds,
    send_test,
)
from .endpoints import (
    DEFAULT_EVENTS,
    EVENT_TYPES,
    Endpoint,
    add_endpoint,
    check_url,
    get_endpoint,
    list_endpoints,
    remove_endpoint,
)
from .outbox import CURSOR, deliveries, redeliver, sync_outbox
from .signing import body_for, check_secret, generate_secret, message_id, sign, signed_headers

__all__ = [
    "RETRY_SCHEDULE",
    "TIMEOUT",
    "WAITING_FOR_PUSH",
    "EVENT_TYPES",
    "DEFAULT_EVENTS",
    "CURSOR",
    "Endpoint",
    "Attempt",
    "generate_secret",
    "check_secret",
    "sign",
    "signed_headers",
    "message_id",
    "body_for",
    "check_url",
    "add_endpoint",
    "list_endpoints",
    "get_endpoint",
    "remove_endpoint",
    "sync_outbox",
    "deliver_due",
    "deliveries",
    "redeliver",
    "send_test",
    "flush",
    "next_delay",
    "retry_after_seconds",
    "hosted_video_ready",
]
