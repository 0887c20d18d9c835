"""The store's part about outgoing webhooks: receivers and the outbox (tables `webhook_endpoints`,
`webhook_deliveries`).

An outbox row is one event for one endpoint. A process sending it first claims it (`claim_deliveries`:
a claim token and a lease); every write that ends the attempt names the token, so a process whose claim
was taken over (its lease lapsed) changes nothing. Secrets live in `webhook_endpoints` and nowhere else.
The rules (which events, the retry schedule, what an answer means) are `fenta.ops.webhooks`'.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ...database import PREFIX_MATCH, prefix_pattern
from ..tables import Schema
from .base import Sql

__all__ = ["SCHEMA", "Endpoint", "DeliveryClaim", "OutboxTimes", "WebhookQueries"]

SCHEMA = Schema(
    tables="""
    CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event TEXT NOT NULL,
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL,
        created_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS webhook_endpoints (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,               -- whsec_...: only ever read to sign
        events TEXT NOT NULL,               -- JSON list of event types
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        after_event_id INTEGER NOT NULL DEFAULT 0,  -- events up to this id came before the endpoint
        created_at REAL NOT NULL,
        trusted INTEGER NOT NULL DEFAULT 1  -- 0: added by an untrusted entry point (no private receivers)
    )
    """,
    columns=(
        ("webhook_deliveries", "endpoint_id", "TEXT"),
        ("webhook_deliveries", "event_id", "INTEGER"),
        ("webhook_deliveries", "job_id", "TEXT"),
        ("webhook_deliveries", "last_status", "INTEGER"),
        ("webhook_deliveries", "last_error", "TEXT"),
        ("webhook_deliveries", "lease_until", "REAL"),
        ("webhook_deliveries", "updated_at", "REAL"),
        ("webhook_deliveries", "delivered_at", "REAL"),
        ("webhook_deliveries", "claim_token", "TEXT"),  # who holds the lease: the final update checks it
        ("webhook_endpoints", "trusted", "INTEGER NOT NULL DEFAULT 1"),
    ),
    indexes="""
    CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_event_endpoint
        ON webhook_deliveries(event_id, endpoint_id);
    CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_at)
    """,
)


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

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Endpoint:
        return cls(
            id=row["id"],
            url=row["url"],
            events=json.loads(row["events"]),
            enabled=bool(row["enabled"]),
            disabled_reason=row["disabled_reason"],
            created_at=row["created_at"],
            secret=row["secret"],
            after_event_id=row["after_event_id"],
            trusted=bool(row.get("trusted", 1)),
        )

    def public(self) -> dict[str, Any]:
        """Everything but the secret (for lists and JSON)."""
        return {
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "created_at": self.created_at,
            "trusted": self.trusted,
        }

    def __repr__(self) -> str:  # never show the secret
        return f"Endpoint(id={self.id!r}, url={self.url!r}, events={self.events!r}, enabled={self.enabled!r})"


@dataclass(frozen=True)
class DeliveryClaim:
    """One outbox row claimed for one attempt, with its endpoint's url, secret and trust; `claim` is the
    token every write that ends the attempt must name."""

    id: int
    event_id: int | None
    event: str
    body: str
    attempts: int
    endpoint_id: str
    job_id: str | None
    url: str
    trusted: bool
    claim: str
    secret: str = field(default="", repr=False)


class OutboxTimes(NamedTuple):
    """When pending deliveries (of one job, or all) come due: the next one due, the earliest time one
    can be claimed (a held one once its lease lapses), and the latest lease held (0: none)."""

    next_due: float | None
    next_free: float | None
    held_until: float


_CLAIMED = (
    "SELECT d.id, d.event_id, d.event, d.body, d.attempts, d.endpoint_id, d.job_id,"
    " e.url, e.secret, e.trusted"
    " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
)
#: The columns of a delivery as `fenta webhooks deliveries` lists it.
_LISTED = (
    "id, event_id, event AS type, job_id, endpoint_id, url, status, attempts, last_status, last_error,"
    " next_at, created_at, delivered_at"
)


def _marks(values: list[Any]) -> str:
    return ",".join("?" * len(values))


class WebhookQueries(Sql):
    """Webhook endpoints and outbox rows."""

    # ------------------------------------------------------------------ endpoints

    def add_endpoint(self, ep: Endpoint) -> None:
        self.conn.execute(
            "INSERT INTO webhook_endpoints (id, url, secret, events, enabled, after_event_id, created_at, "
            "trusted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ep.id,
                ep.url,
                ep.secret,
                json.dumps(ep.events),
                int(ep.enabled),
                ep.after_event_id,
                ep.created_at,
                int(ep.trusted),
            ),
        )

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint, oldest first."""
        return [
            Endpoint.from_row(r) for r in self._all("SELECT * FROM webhook_endpoints ORDER BY created_at")
        ]

    def endpoints_named(self, ref: str) -> list[Endpoint]:
        """The endpoint whose id is `ref`, else those whose id starts with it."""
        rows = self._all("SELECT * FROM webhook_endpoints WHERE id = ?", (ref,))
        if not rows:
            rows = self._all(
                f"SELECT * FROM webhook_endpoints WHERE id {PREFIX_MATCH}", (prefix_pattern(ref),)
            )
        return [Endpoint.from_row(r) for r in rows]

    def remove_endpoint(self, endpoint_id: str) -> None:
        """Forget an endpoint and its pending deliveries (call it inside a transaction)."""
        self.conn.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
        self.conn.execute(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'", (endpoint_id,)
        )

    def disable_endpoint(self, endpoint_id: str, reason: str, *, now: float, but: int) -> None:
        """Disable an endpoint (it answered 410 Gone) and fail its other pending deliveries than `but`."""
        self.conn.execute(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ?",
            (reason, endpoint_id),
        )
        self.conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed',"
            " last_error = 'the endpoint was disabled (410 Gone)',"
            " next_at = NULL, updated_at = ? WHERE endpoint_id = ? AND status = 'pending' AND id != ?",
            (now, endpoint_id, but),
        )

    # ------------------------------------------------------------------ the outbox

    def add_delivery(
        self, ep: Endpoint, *, event_id: int, type: str, job_id: str | None, body: str, now: float
    ) -> bool:
        """A pending delivery of an event to an endpoint, due now; False when there is one already."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO webhook_deliveries"
            " (event, url, body, status, attempts, next_at, created_at, endpoint_id, event_id, job_id,"
            " updated_at)"
            " VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?)",
            (type, ep.url, body, now, now, ep.id, event_id, job_id, now),
        )
        return cur.rowcount > 0

    def delivery_ids(self, event_id: int) -> list[int]:
        """The outbox rows of one event."""
        rows = self.conn.execute("SELECT id FROM webhook_deliveries WHERE event_id = ?", (event_id,))
        return [int(r[0]) for r in rows]

    def requeue_deliveries(self, ids: list[int], *, now: float) -> None:
        """Put deliveries back to pending, due now, with a fresh set of attempts and no claim."""
        self.conn.execute(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_at = ?, lease_until = NULL,"
            f" claim_token = NULL, updated_at = ? WHERE id IN ({_marks(ids)})",
            (now, now, *ids),
        )

    def deliveries(
        self,
        *,
        status: str | None = None,
        event_id: int | None = None,
        job_id: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Outbox rows, newest first (see `_LISTED`)."""
        where, args = ["1"], []
        for name, value in (("status", status or None), ("event_id", event_id), ("job_id", job_id)):
            if value is not None:
                where.append(f"{name} = ?")
                args.append(value)
        q = f"SELECT {_LISTED} FROM webhook_deliveries WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        return self._all(q, (*args, limit))

    def claim_deliveries(
        self,
        now: float,
        *,
        lease: float,
        job_id: str | None = None,
        ids: Iterable[int] | None = None,
        exclude: Iterable[int] = (),
        limit: int = 1,
    ) -> list[DeliveryClaim]:
        """Claim up to `limit` due deliveries (pending, due, not leased, endpoint enabled), oldest due
        first, each with a fresh token and a lease until `now + lease` (a read, then writes: call it
        inside a transaction)."""
        where = [
            "d.status = 'pending'",
            "d.next_at <= ?",
            "(d.lease_until IS NULL OR d.lease_until < ?)",
            "e.enabled = 1",
        ]
        args: list[Any] = [now, now]
        skip = list(exclude)
        if skip:
            where.append(f"d.id NOT IN ({_marks(skip)})")
            args += skip
        if job_id is not None:
            where.append("d.job_id = ?")
            args.append(job_id)
        if ids is not None:
            only = list(ids)
            where.append(f"d.id IN ({_marks(only)})" if only else "0")
            args += only
        q = f"{_CLAIMED} WHERE {' AND '.join(where)} ORDER BY d.next_at, d.id LIMIT ?"
        claims = [
            DeliveryClaim(
                id=r["id"],
                event_id=r["event_id"],
                event=r["event"],
                body=r["body"],
                attempts=r["attempts"],
                endpoint_id=r["endpoint_id"],
                job_id=r["job_id"],
                url=r["url"],
                trusted=bool(r["trusted"]),
                claim=uuid.uuid4().hex,
                secret=r["secret"],
            )
            for r in self._all(q, (*args, limit))
        ]
        for c in claims:
            self.conn.execute(
                "UPDATE webhook_deliveries SET lease_until = ?, claim_token = ? WHERE id = ?",
                (now + lease, c.claim, c.id),
            )
        return claims

    def renew_delivery_lease(self, claim: DeliveryClaim, until: float) -> bool:
        """Move a claimed delivery's lease to `until`; False when the claim no longer holds."""
        cur = self.conn.execute(
            "UPDATE webhook_deliveries SET lease_until = ? WHERE id = ? AND claim_token = ?",
            (until, claim.id, claim.claim),
        )
        return cur.rowcount == 1

    def set_delivery_body(self, claim: DeliveryClaim, body: str) -> bool:
        """Replace a claimed delivery's body (while the claim holds)."""
        cur = self.conn.execute(
            "UPDATE webhook_deliveries SET body = ? WHERE id = ? AND claim_token = ?",
            (body, claim.id, claim.claim),
        )
        return cur.rowcount == 1

    def postpone_delivery(
        self, claim: DeliveryClaim, *, attempts: int, next_at: float, error: str, now: float
    ) -> bool:
        """End an attempt that sent nothing: due again at `next_at`, the claim let go. False (nothing
        written) when the claim no longer holds."""
        cur = self.conn.execute(
            "UPDATE webhook_deliveries SET attempts = ?, next_at = ?, last_error = ?, lease_until = NULL, "
            "claim_token = NULL, updated_at = ? WHERE id = ? AND claim_token = ?",
            (attempts, next_at, error, now, claim.id, claim.claim),
        )
        return cur.rowcount == 1

    def finish_delivery(
        self,
        claim: DeliveryClaim,
        *,
        status: str,
        attempts: int,
        next_at: float | None,
        http_status: int | None,
        error: str | None,
        now: float,
    ) -> bool:
        """Record an attempt's outcome (`status`: delivered, pending or failed), the claim let go. False
        (nothing written) when the claim no longer holds."""
        cur = self.conn.execute(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_at = ?, last_status = ?, "
            "last_error = ?, lease_until = NULL, claim_token = NULL, updated_at = ?, delivered_at = ? "
            "WHERE id = ? AND claim_token = ?",
            (
                status,
                attempts,
                next_at,
                http_status,
                error,
                now,
                now if status == "delivered" else None,
                claim.id,
                claim.claim,
            ),
        )
        return cur.rowcount == 1

    def release_waiting_deliveries(self, job_id: str, *, reason: str, now: float) -> None:
        """A job's pending `job.completed` deliveries waiting with `reason` as their last error are
        due now."""
        self.conn.execute(
            "UPDATE webhook_deliveries SET next_at = ? WHERE job_id = ? AND status = 'pending'"
            " AND event = 'job.completed' AND last_error = ?",
            (now, job_id, reason),
        )

    def outbox_times(self, job_id: str | None = None) -> OutboxTimes:
        """When the pending deliveries (a job's, or all) come due and can be claimed."""
        where, args = (
            ("status = 'pending'", ()) if job_id is None else ("status = 'pending' AND job_id = ?", (job_id,))
        )
        row = self.conn.execute(
            "SELECT MIN(next_at), MIN(MAX(next_at, COALESCE(lease_until, 0))), MAX(COALESCE(lease_until, 0))"
            f" FROM webhook_deliveries WHERE {where}",
            args,
        ).fetchone()
        return OutboxTimes(row[0], row[1], float(row[2] or 0))

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        """(endpoint id, status) -> its deliveries."""
        rows = self.conn.execute(
            "SELECT endpoint_id, status, COUNT(*) FROM webhook_deliveries WHERE endpoint_id IS NOT NULL"
            " GROUP BY endpoint_id, status"
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}
