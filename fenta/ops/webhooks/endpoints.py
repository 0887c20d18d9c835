"""Webhook endpoints (receivers: URL, secret, subscribed events) and the tables webhooks keep in fenta.db.

Secrets live in `webhook_endpoints` and nowhere else: never in events, job rows, bodies, delivery
rows or logs.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from ...database import PREFIX_MATCH, prefix_pattern
from ...errors import URLError, WebhookError
from ...netguard import Resolver, checked_addresses, parse_url
from ...policy import TRUSTED, Policy
from .signing import check_secret, generate_secret

__all__ = [
    "EVENT_TYPES", "DEFAULT_EVENTS", "Endpoint", "ensure_tables", "check_url", "add_endpoint",
    "list_endpoints", "get_endpoint", "remove_endpoint",
]

#: Event types an endpoint can subscribe to (the payloads are the event log's, see fenta.engine.events).
EVENT_TYPES = (
    "job.queued",
    "job.started",
    "job.retrying",
    "job.completed",
    "job.failed",
    "job.dead",
    "job.cancelled",
    "quota.warning",
    "video.published",
)
#: What an endpoint gets when `--events` is not given: the hosted service's events.
DEFAULT_EVENTS = ("job.started", "job.completed", "job.failed", "quota.warning")

_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS webhook_endpoints (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,               -- whsec_...; only ever read to sign
        events TEXT NOT NULL,               -- JSON list of event types
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        after_event_id INTEGER NOT NULL DEFAULT 0,  -- events up to this id happened before the endpoint existed
        created_at REAL NOT NULL,
        trusted INTEGER NOT NULL DEFAULT 1  -- 0: added by an untrusted entry point (no private receivers)
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_event_endpoint ON webhook_deliveries(event_id, endpoint_id)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_at)",
]
_NAMES = ["webhook_endpoints", "webhook_deliveries_event_endpoint", "webhook_deliveries_due"]

#: Columns fenta.ops adds to the engine's `webhook_deliveries` outbox table.
_DELIVERY_COLUMNS = [
    ("webhook_deliveries", "endpoint_id", "TEXT"),
    ("webhook_deliveries", "event_id", "INTEGER"),
    ("webhook_deliveries", "job_id", "TEXT"),
    ("webhook_deliveries", "last_status", "INTEGER"),
    ("webhook_deliveries", "last_error", "TEXT"),
    ("webhook_deliveries", "lease_until", "REAL"),
    ("webhook_deliveries", "updated_at", "REAL"),
    ("webhook_deliveries", "delivered_at", "REAL"),
    ("webhook_deliveries", "claim_token", "TEXT"),  # who holds the lease: final updates check it still does
]
#: Columns added to `webhook_endpoints` since it was first created (after the table exists).
_ENDPOINT_COLUMNS = [("webhook_endpoints", "trusted", "INTEGER NOT NULL DEFAULT 1")]


def ensure_tables(store: Any) -> None:
    """Create the endpoints table and the outbox's extra columns when missing (idempotent, additive)."""
    from .._db import ensure

    ensure(store, "webhooks", statements=_STATEMENTS, names=_NAMES, columns=_DELIVERY_COLUMNS)
    ensure(store, "webhooks-endpoint-columns", columns=_ENDPOINT_COLUMNS)


@dataclass
class Endpoint:
    """A receiver. `secret` is only read to sign; it is never printed after `add`."""

    id: str
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: float
    secret: str = ""
    after_event_id: int = 0
    #: Added by the local user (True), or through an untrusted entry point: then it is sent only to
    #: public addresses (or FENTA_ALLOW_PRIVATE_URLS), checked again at every delivery.
    trusted: bool = True

    def public(self) -> dict[str, Any]:
        """Everything but the secret (for lists and JSON)."""
        return {
            "id": self.id, "url": self.url, "events": self.events, "enabled": self.enabled,
            "disabled_reason": self.disabled_reason, "created_at": self.created_at, "trusted": self.trusted,
        }

    def __repr__(self) -> str:  # never show the secret
        return f"Endpoint(id={self.id!r}, url={self.url!r}, events={self.events!r}, enabled={self.enabled!r})"


def _endpoint(row: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=row["id"], url=row["url"], events=json.loads(row["events"]), enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"], created_at=row["created_at"], secret=row["secret"],
        after_event_id=row["after_event_id"], trusted=bool(row.get("trusted", 1)),
    )


def check_url(url: str, policy: Policy = TRUSTED, resolve: Resolver | None = None) -> str:
    """`url` when it is a valid http(s) URL (host, IDNA, port) that `policy` may send to.

    The local user (`TRUSTED`) may name any receiver, their own network's included; an untrusted
    entry point (`Policy.untrusted`) only a host whose every address is public or inside the
    operator's FENTA_ALLOW_PRIVATE_URLS (the host is resolved now, and again at every delivery; a host
    that does not resolve yet is accepted: the delivery checks it).

    Raises:
        WebhookError: why not, naming the field URL.
    """
    try:
        parse_url(url)
        checked_addresses(url, policy, resolve)
    except URLError as e:
        if e.unresolved:
            # Not refused for that: a receiver's DNS may come later, and every delivery resolves, checks
            # and pins the address again before it sends anything.
            return url
        raise WebhookError(e.message, field="URL") from None
    return url


def _check_events(events: Iterable[str] | None) -> list[str]:
    if not events:
        return list(DEFAULT_EVENTS)
    out: list[str] = []
    for e in events:
        for name in (p.strip() for p in e.split(",")):
            if not name:
                continue
            if name not in EVENT_TYPES:
                raise WebhookError(f"unknown event '{name}': choose from {', '.join(EVENT_TYPES)}", field="--events")
            if name not in out:
                out.append(name)
    if not out:
        raise WebhookError("no event named", field="--events")
    return out


def add_endpoint(
    store: Any,
    url: str,
    *,
    events: Iterable[str] | None = None,
    secret: str | None = None,
    policy: Policy = TRUSTED,
) -> Endpoint:
    """Register a receiver for events from now on; generates a secret when none is given.

    `policy`: who asks. The local user may add a receiver on their own network; an untrusted entry
    point (the HTTP API to come) only a public one (`check_url`), and its deliveries are checked
    and pinned to the checked address every time.

    Raises:
        WebhookError: a bad URL, secret or event name (naming the field).
    """
    from ...engine.events import last_event_id

    ensure_tables(store)
    check_url(url, policy)
    names = _check_events(events)
    secret = check_secret(secret) if secret else generate_secret()
    ep_id = "ep_" + uuid.uuid4().hex[:12]
    now = time.time()
    after = last_event_id(store)
    store.db.conn.execute(
        "INSERT INTO webhook_endpoints (id, url, secret, events, enabled, after_event_id, created_at, "
        "trusted) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
        (ep_id, url, secret, json.dumps(names), after, now, int(policy.trusted)),
    )
    return Endpoint(ep_id, url, names, True, None, now, secret, after, policy.trusted)


def list_endpoints(store: Any) -> list[Endpoint]:
    ensure_tables(store)
    return [_endpoint(r) for r in store.db.query("SELECT * FROM webhook_endpoints ORDER BY created_at")]


def get_endpoint(store: Any, endpoint_id: str) -> Endpoint:
    """The endpoint with this id (or unique prefix). Raises WebhookError when there is none."""
    ensure_tables(store)
    rows = list(store.db.query("SELECT * FROM webhook_endpoints WHERE id = ?", [endpoint_id]))
    if not rows:
        query = f"SELECT * FROM webhook_endpoints WHERE id {PREFIX_MATCH}"
        rows = list(store.db.query(query, [prefix_pattern(endpoint_id)]))
    if len(rows) != 1:
        raise WebhookError(f"no webhook endpoint '{endpoint_id}' (see `fenta webhooks list`)", field="ID")
    return _endpoint(rows[0])


def remove_endpoint(store: Any, endpoint_id: str) -> Endpoint:
    """Forget an endpoint and its pending deliveries (delivered and failed ones stay listed)."""
    ep = get_endpoint(store, endpoint_id)
    with store.write() as conn:
        conn.execute("DELETE FROM webhook_endpoints WHERE id = ?", (ep.id,))
        conn.execute("DELETE FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'", (ep.id,))
    return ep
