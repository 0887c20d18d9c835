"""Webhook delivery: signed POSTs of due outbox rows, the retry schedule, Retry-After, 410 Gone; `flush`.

A row is claimed with a short lease, so two processes never send the same attempt. 2xx is success;
redirects are not followed; 429 and 503 honour Retry-After; 410 disables the endpoint; otherwise
the next attempt follows `RETRY_SCHEDULE` (±20 % jitter) and after the last one the delivery is `failed`.
The schedule, its jitter and the reading of Retry-After are `fenta.retry`'s, like every retry in fenta.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ...config import Settings
from ...retry import WEBHOOK_SCHEDULE
from ...retry import parse_retry_after as retry_after_seconds
from ...retry import webhook_delay as next_delay
from .endpoints import ensure_tables, get_endpoint
from .outbox import sync_outbox
from .signing import body_for, iso_time, message_id, signed_headers

__all__ = [
    "RETRY_SCHEDULE",
    "TIMEOUT",
    "WAITING_FOR_PUSH",
    "Attempt",
    "retry_after_seconds",
    "next_delay",
    "deliver_due",
    "send_test",
    "flush",
    "hosted_video_ready",
]

#: Seconds before attempt 1, 2, ... 8 (the first is immediate); ±20 % jitter on each (`next_delay`).
RETRY_SCHEDULE = WEBHOOK_SCHEDULE
#: Seconds one request may take (connect, send, answer).
TIMEOUT = 15.0
#: How long a claimed delivery is reserved for the process sending it.
LEASE_SECONDS = TIMEOUT + 45.0


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

    from ...engine.remote import fenta_version

    agent = f"fenta/{fenta_version()} (webhooks)"
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
    from ..sync.state import hosted_video

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
            conn.execute("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ?", (f"answered 410 Gone at {iso_time(now)}", row["endpoint_id"]))
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


def send_test(store: Any, endpoint_id: str, *, now: float | None = None, timeout: float = TIMEOUT) -> Attempt:
    """POST a signed `webhook.test` ping to one endpoint (outside the outbox; nothing is retried)."""
    ep = get_endpoint(store, endpoint_id)
    now = time.time() if now is None else now
    msg_id = "msg_" + uuid.uuid4().hex
    body = body_for("webhook.test", iso_time(now), {"endpointId": ep.id}).encode("utf-8")
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
    from ...engine.store import JobStore

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
