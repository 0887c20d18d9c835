"""Outgoing webhooks, Standard Webhooks v1: endpoints, signing, the outbox and its delivery.

Events reach receivers from the event log (`fenta.engine.events`), never from inside the runner:

    event log ──(cursor "webhooks")──▶ webhook_deliveries (one row per event and endpoint) ──▶ POST

Any live fenta process (`run`, `worker`, `scheduler`) and `fenta webhooks deliver` move rows along;
a row is claimed with a short lease, so two processes never send the same attempt.

Each request: `POST` with `webhook-id` (the event's id, the same on every retry), `webhook-timestamp`
(this attempt), `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`; body
`{"type", "timestamp", "data"}` where `data` is the event's payload. 2xx is success; redirects are
not followed; 429 and 503 honour Retry-After; 410 disables the endpoint; otherwise the next attempt
follows `RETRY_SCHEDULE` (±20 % jitter) and after the last one the delivery is `failed`.

Secrets live in `webhook_endpoints` in fenta.db and nowhere else: never in events, job rows, bodies,
delivery rows or logs.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import random
import re
import secrets as _secrets
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..config import Settings
from ..errors import WebhookError

__all__ = [
    "RETRY_SCHEDULE",
    "TIMEOUT",
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
    "ensure_tables",
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
]

#: Seconds before attempt 1, 2, ... 8 (the first is immediate); ±20 % jitter on each.
RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
#: Seconds one request may take (connect, send, answer).
TIMEOUT = 15.0
#: Longest Retry-After honoured (a longer one is cut to this).
MAX_RETRY_AFTER = 24 * 3600.0
#: How long a claimed delivery is reserved for the process sending it.
LEASE_SECONDS = TIMEOUT + 45.0

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
)
#: What an endpoint gets when `--events` is not given: the hosted service's events.
DEFAULT_EVENTS = ("job.started", "job.completed", "job.failed", "quota.warning")
#: The event-log cursor this reader keeps.
CURSOR = "webhooks"

_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS webhook_endpoints (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,               -- whsec_...; only ever read to sign
        events TEXT NOT NULL,               -- JSON list of event types
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        after_event_id INTEGER NOT NULL DEFAULT 0,  -- events up to this id happened before the endpoint existed
        created_at REAL NOT NULL
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
]


def ensure_tables(store: Any) -> None:
    """Create the endpoints table and the outbox's extra columns when missing (idempotent, additive)."""
    from ._db import ensure

    ensure(store, "webhooks", statements=_STATEMENTS, names=_NAMES, columns=_DELIVERY_COLUMNS)


# ---------------------------------------------------------------------------------------- signing


def generate_secret(nbytes: int = 32) -> str:
    """A new endpoint secret: `whsec_` + base64 of `nbytes` (24-64) random bytes."""
    if not 24 <= nbytes <= 64:
        raise ValueError("a webhook secret has 24 to 64 random bytes")
    return "whsec_" + base64.b64encode(_secrets.token_bytes(nbytes)).decode("ascii")


def _key(secret: str) -> bytes:
    raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)


def check_secret(secret: str) -> str:
    """The secret if it is `whsec_` + base64 of 24-64 bytes; else WebhookError naming --secret."""
    problem = None
    if not secret.startswith("whsec_"):
        problem = "must start with 'whsec_'"
    else:
        try:
            n = len(_key(secret))
        except (ValueError, base64.binascii.Error):  # type: ignore[attr-defined]
            problem = "is not valid base64 after 'whsec_'"
        else:
            if not 24 <= n <= 64:
                problem = f"decodes to {n} bytes; use 24 to 64 random bytes (or leave --secret out to get one)"
    if problem:
        raise WebhookError(f"the webhook secret {problem}", field="--secret")
    return secret


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">` with the secret's key bytes."""
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    mac = hmac.new(_key(secret), f"{msg_id}.{int(timestamp)}.".encode() + data, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> dict[str, str]:
    """The three Standard Webhooks headers plus the content type."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def message_id(event_id: int) -> str:
    """The `webhook-id` of an event: the same for every attempt and every endpoint."""
    return f"evt_{int(event_id)}"


def _event_id(text: str) -> int:
    m = re.fullmatch(r"(?:evt_)?(\d+)", text.strip())
    if not m:
        raise WebhookError(f"'{text}' is not an event id (a number, or evt_<number> as in the webhook-id header)", field="EVENT_ID")
    return int(m.group(1))


def body_for(type: str, timestamp: str, data: dict[str, Any]) -> str:
    """The request body, exactly as signed: `{"type", "timestamp", "data"}`."""
    return json.dumps({"type": type, "timestamp": timestamp, "data": data}, ensure_ascii=False, separators=(",", ":"))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"


# ---------------------------------------------------------------------------------------- endpoints


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

    def public(self) -> dict[str, Any]:
        """Everything but the secret (for lists and JSON)."""
        return {"id": self.id, "url": self.url, "events": self.events, "enabled": self.enabled, "disabled_reason": self.disabled_reason, "created_at": self.created_at}

    def __repr__(self) -> str:  # never show the secret
        return f"Endpoint(id={self.id!r}, url={self.url!r}, events={self.events!r}, enabled={self.enabled!r})"


def _endpoint(row: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=row["id"], url=row["url"], events=json.loads(row["events"]), enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"], created_at=row["created_at"], secret=row["secret"],
        after_event_id=row["after_event_id"],
    )


def _check_url(url: str) -> str:
    import httpx

    try:
        u = httpx.URL(url)
    except Exception:
        u = None
    if u is None or u.scheme not in ("http", "https") or not u.host:
        raise WebhookError(f"'{url}' is not an http(s) URL", field="URL")
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


def add_endpoint(store: Any, url: str, *, events: Iterable[str] | None = None, secret: str | None = None) -> Endpoint:
    """Register a receiver for events from now on; generates a secret when none is given.

    Raises:
        WebhookError: a bad URL, secret or event name (naming the field).
    """
    from ..engine.events import last_event_id

    ensure_tables(store)
    _check_url(url)
    names = _check_events(events)
    secret = check_secret(secret) if secret else generate_secret()
    ep_id = "ep_" + uuid.uuid4().hex[:12]
    now = time.time()
    after = last_event_id(store)
    store.db.conn.execute(
        "INSERT INTO webhook_endpoints (id, url, secret, events, enabled, after_event_id, created_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
        (ep_id, url, secret, json.dumps(names), after, now),
    )
    return Endpoint(ep_id, url, names, True, None, now, secret, after)


def list_endpoints(store: Any) -> list[Endpoint]:
    ensure_tables(store)
    return [_endpoint(r) for r in store.db.query("SELECT * FROM webhook_endpoints ORDER BY created_at")]


def get_endpoint(store: Any, endpoint_id: str) -> Endpoint:
    """The endpoint with this id (or unique prefix). Raises WebhookError when there is none."""
    ensure_tables(store)
    rows = list(store.db.query("SELECT * FROM webhook_endpoints WHERE id = ?", [endpoint_id]))
    if not rows:
        rows = list(store.db.query("SELECT * FROM webhook_endpoints WHERE id LIKE ?", [endpoint_id + "%"]))
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


# ---------------------------------------------------------------------------------------- outbox


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
    from .sync.state import signed_video_url

    url = signed_video_url(store, job_id)
    return {**data, "videoUrl": url} if url else data


def sync_outbox(store: Any, *, now: float | None = None, batch: int = 500) -> int:
    """Turn new events into outbox rows (one per event and subscribed, enabled endpoint).

    Reads the event log from this reader's cursor and moves the cursor in the same transaction as
    the rows it adds, so a crash adds nothing twice and loses nothing; rows are also unique per
    (event, endpoint). Returns how many rows were added.
    """
    from ..engine.events import get_cursor, read_events, set_cursor

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


# ---------------------------------------------------------------------------------------- delivery


@dataclass
class Attempt:
    """What one POST did."""

    delivery_id: int
    event_id: int | None
    endpoint_id: str
    status: str  # delivered | pending (another attempt is due) | failed
    http_status: int | None
    error: str | None
    next_at: float | None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return min(MAX_RETRY_AFTER, max(0.0, when.timestamp() - now))


def next_delay(attempts_made: int, *, scale: float = 1.0, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones, with ±20 % jitter; None after the last."""
    if attempts_made >= len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[attempts_made]
    jitter = (rng or random).uniform(0.8, 1.2)
    return base * jitter * scale


def _claim(store: Any, now: float, *, job_id: str | None = None, ids: Iterable[int] | None = None, exclude: Iterable[int] = (), limit: int = 20) -> list[dict[str, Any]]:
    where = ["d.status = 'pending'", "d.next_at <= ?", "(d.lease_until IS NULL OR d.lease_until < ?)", "e.enabled = 1"]
    args: list[Any] = [now, now]
    exclude = list(exclude)
    if exclude:
        where.append(f"d.id NOT IN ({','.join('?' * len(exclude))})")
        args += exclude
    if job_id is not None:
        where.append("d.job_id = ?")
        args.append(job_id)
    if ids is not None:
        ids = list(ids)
        where.append(f"d.id IN ({','.join('?' * len(ids))})" if ids else "0")
        args += ids
    q = (
        "SELECT d.id, d.event_id, d.event, d.body, d.attempts, d.endpoint_id, d.job_id, e.url, e.secret, e.enabled FROM webhook_deliveries d "
        f"JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE {' AND '.join(where)} ORDER BY d.next_at, d.id LIMIT ?"
    )
    with store.write() as conn:
        rows = [dict(zip([c[0] for c in cur.description], r)) for cur in [conn.execute(q, [*args, limit])] for r in cur.fetchall()]
        for r in rows:
            conn.execute("UPDATE webhook_deliveries SET lease_until = ? WHERE id = ?", (now + LEASE_SECONDS, r["id"]))
    return rows


def _post(client: Any, url: str, headers: dict[str, str], body: bytes, timeout: float) -> tuple[int | None, str | None, str | None]:
    """(HTTP status, Retry-After, error) of one POST; never raises for network trouble."""
    import httpx

    try:
        r = client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return None, None, f"no answer within {timeout:g} s"
    except httpx.HTTPError as e:
        return None, None, f"{type(e).__name__}: {e}"
    return r.status_code, r.headers.get("retry-after"), None


def _client() -> Any:
    import httpx

    try:
        from importlib.metadata import version

        agent = f"fenta/{version('fenta')} (webhooks)"
    except Exception:  # pragma: no cover - not installed as a distribution
        agent = "fenta (webhooks)"
    return httpx.Client(follow_redirects=False, timeout=TIMEOUT, headers={"user-agent": agent})


#: `last_error` of a synced job's `job.completed` waiting for its video to reach the hosted project.
WAITING_FOR_PUSH = "waiting for the hosted push of the video (`fenta sync`)"


def _wait_for_hosted_video(store: Any, row: dict[str, Any], now: float, settings: Settings, rng: random.Random | None) -> Attempt | None:
    """A synced job's `job.completed` still carrying the local file:// URL waits for the push (each wait
    counts as an attempt of the retry schedule, one step ahead); once the video is pushed its body gets
    the signed URL. After the whole schedule it goes out with the local URL. None: send `row` now."""
    if row["event"] != "job.completed" or not row.get("job_id"):
        return None
    try:
        body = json.loads(row["body"])
        url = body["data"].get("videoUrl")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(url, str) or not url.startswith("file:"):
        return None
    from .sync.state import hosted_video

    synced, signed = hosted_video(store, row["job_id"])
    if not synced:
        return None
    if signed:
        row["body"] = body_for(body["type"], body["timestamp"], {**body["data"], "videoUrl": signed})
        with store.write() as conn:
            conn.execute("UPDATE webhook_deliveries SET body = ? WHERE id = ?", (row["body"], row["id"]))
        return None
    attempts = row["attempts"] + 1
    wait = next_delay(attempts + 1, scale=settings.webhook_retry_scale, rng=rng)
    if wait is None:
        return None
    with store.write() as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET attempts = ?, next_at = ?, last_error = ?, lease_until = NULL, updated_at = ? WHERE id = ?",
            (attempts, now + wait, WAITING_FOR_PUSH, now, row["id"]),
        )
    return Attempt(row["id"], row["event_id"], row["endpoint_id"], "pending", None, WAITING_FOR_PUSH, now + wait)


def hosted_video_ready(store: Any, job_id: str, now: float) -> None:
    """The job's video reached the hosted project: its waiting `job.completed` deliveries are due now."""
    try:
        store.db.conn.execute(
            "UPDATE webhook_deliveries SET next_at = ? WHERE job_id = ? AND status = 'pending' AND event = 'job.completed' AND last_error = ?",
            (now, job_id, WAITING_FOR_PUSH),
        )
    except sqlite3.OperationalError:  # no webhooks were ever set up here
        pass


def _send(store: Any, client: Any, row: dict[str, Any], *, now: float, settings: Settings, timeout: float, rng: random.Random | None) -> Attempt:
    waiting = _wait_for_hosted_video(store, row, now, settings, rng)
    if waiting is not None:
        return waiting
    msg_id = message_id(row["event_id"])
    body = row["body"].encode("utf-8")
    headers = signed_headers(row["secret"], msg_id, int(now), body)
    status, retry_after, error = _post(client, row["url"], headers, body, timeout)
    attempts = row["attempts"] + 1
    finished = now
    if status is not None and 200 <= status < 300:
        outcome, next_at, error = "delivered", None, None
    elif status == 410:
        outcome, next_at, error = "failed", None, "410 Gone: the endpoint was disabled"
    else:
        if status is not None:
            error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        wait = retry_after_seconds(retry_after, now) if status in (429, 503) else None
        if wait is None:
            wait = next_delay(attempts, scale=settings.webhook_retry_scale, rng=rng)
        elif attempts >= len(RETRY_SCHEDULE):
            wait = None
        if wait is None:
            outcome, next_at = "failed", None
            error = f"{error}; gave up after {attempts} attempts"
        else:
            outcome, next_at = "pending", now + wait
    with store.write() as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ?, lease_until = NULL, "
            "updated_at = ?, delivered_at = ? WHERE id = ?",
            (outcome, attempts, next_at, status, error, finished, finished if outcome == "delivered" else None, row["id"]),
        )
        if status == 410:
            conn.execute("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ?", (f"answered 410 Gone at {_iso(now)}", row["endpoint_id"]))
            conn.execute(
                "UPDATE webhook_deliveries SET status = 'failed', last_error = 'the endpoint was disabled (410 Gone)', next_at = NULL, updated_at = ? "
                "WHERE endpoint_id = ? AND status = 'pending' AND id != ?",
                (finished, row["endpoint_id"], row["id"]),
            )
    return Attempt(row["id"], row["event_id"], row["endpoint_id"], outcome, status, error, next_at)


def deliver_due(
    store: Any,
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    job_id: str | None = None,
    ids: Iterable[int] | None = None,
    timeout: float = TIMEOUT,
    deadline: float | None = None,
    client: Any = None,
    rng: random.Random | None = None,
) -> list[Attempt]:
    """Send every delivery that is due now (optionally only a job's, or only these rows), once each:
    a retry that comes due meanwhile waits for the next call (`flush` loops).

    Each request waits at most `timeout` seconds (less when `deadline`, a `now()` value, comes
    sooner). Returns one `Attempt` per request made.
    """
    ensure_tables(store)
    own = client is None
    client = client or _client()
    done: list[Attempt] = []
    ids = None if ids is None else list(ids)
    tried: list[int] = []
    try:
        while True:
            t = now()
            if deadline is not None and t >= deadline:
                break
            rows = _claim(store, t, job_id=job_id, ids=ids, exclude=tried)
            if not rows:
                break
            tried += [r["id"] for r in rows]
            for row in rows:
                t = now()
                left = timeout if deadline is None else max(0.5, min(timeout, deadline - t))
                done.append(_send(store, client, row, now=t, settings=settings, timeout=left, rng=rng))
    finally:
        if own:
            client.close()
    return done


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
    from ..engine.events import read_events

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
                f"UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_at = ?, lease_until = NULL, updated_at = ? WHERE id IN ({','.join('?' * len(ids))})",
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


def send_test(store: Any, endpoint_id: str, *, now: float | None = None, timeout: float = TIMEOUT) -> Attempt:
    """POST a signed `webhook.test` ping to one endpoint (outside the outbox; nothing is retried)."""
    ep = get_endpoint(store, endpoint_id)
    now = time.time() if now is None else now
    msg_id = "msg_" + uuid.uuid4().hex
    body = body_for("webhook.test", _iso(now), {"endpointId": ep.id}).encode("utf-8")
    with _client() as client:
        status, _, error = _post(client, ep.url, signed_headers(ep.secret, msg_id, int(now), body), body, timeout)
    ok = status is not None and 200 <= status < 300
    if status is not None and not ok:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return Attempt(0, None, ep.id, "delivered" if ok else "failed", status, error, None)


def flush(settings: Settings, *, job_id: str | None = None, wait: float = 10.0, now: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> list[Attempt]:
    """Move new events into the outbox and send what is due, for up to `wait` seconds.

    With `job_id`, waits (at most `wait` seconds) until every delivery of that job's events is
    delivered or failed, sending retries that come due meanwhile; whatever is left stays pending for
    the next fenta process. Without it, sends what is due now and what comes due within `wait`.
    Never raises: a receiver that is down never fails the caller.
    """
    from ..engine.store import JobStore

    attempts: list[Attempt] = []
    try:
        store = JobStore(settings.db_path)
    except Exception:
        return attempts
    try:
        deadline = now() + max(0.0, wait)
        while True:
            sync_outbox(store, now=now())
            attempts += deliver_due(store, settings, now=now, deadline=deadline if wait > 0 else None)
            where, args = "status = 'pending'", []
            if job_id is not None:
                where += " AND job_id = ?"
                args.append(job_id)
            row = store.db.conn.execute(f"SELECT MIN(next_at) FROM webhook_deliveries WHERE {where}", args).fetchone()
            nxt = row[0]
            t = now()
            if nxt is None or nxt >= deadline or t >= deadline:
                break
            sleep(max(0.0, min(nxt, deadline) - t) + 0.01)
    except Exception:  # never fail the caller over webhooks
        pass
    finally:
        store.close()
    return attempts
