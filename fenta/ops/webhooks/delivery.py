"""Webhook delivery: signed POSTs of due outbox rows, the retry schedule, Retry-After, 410 Gone; `flush`.

A process claims one row at a time and keeps its lease while the request is in flight (`claims`), so
two processes never send the same attempt, and a process whose claim was taken over records nothing.
The URL is checked before each request (`fenta.netguard`; an endpoint from an untrusted entry point is
also resolved, checked and pinned to the checked address). 2xx is success; redirects are not followed;
429 and 503 honour Retry-After; 410 disables the endpoint; an invalid URL fails the delivery at once;
otherwise the next attempt follows `RETRY_SCHEDULE` (±20 % jitter) and after the last one the delivery
is `failed`. Whatever goes wrong with one endpoint (a bad URL, TLS, a corrupt secret, a bug) is
recorded on its delivery and the pass moves on to the next. The schedule, its jitter and the reading
of Retry-After are `fenta.retry`'s, like every retry in fenta.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, cast

from ...config import Settings
from ...errors import URLError
from ...netguard import client as guarded_client
from ...netguard import parse_url
from ...policy import TRUSTED, Policy
from ...retry import WEBHOOK_SCHEDULE
from ...retry import parse_retry_after as retry_after_seconds
from ...retry import webhook_delay as next_delay
from .claims import DeliveryClaim, claim_due, keep_lease
from .endpoints import get_endpoint
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

#: Seconds before attempt 1, 2, ... 8 (the first is immediate); ±20 % jitter on each.
RETRY_SCHEDULE = WEBHOOK_SCHEDULE
#: Seconds one request may take (connect, send, answer).
TIMEOUT = 15.0


@dataclass
class Attempt:
    """What one POST did."""

    delivery_id: int
    event_id: int | None
    endpoint_id: str
    #: delivered | pending (another attempt is due) | failed | superseded (this process's claim lapsed and
    #: another process took the delivery over: nothing was recorded, its outcome stands)
    status: str
    http_status: int | None
    error: str | None
    next_at: float | None


def _post(
    client: Any, url: str, headers: dict[str, str], body: bytes, timeout: float
) -> tuple[int | None, str | None, str | None]:
    """(HTTP status, Retry-After, error) of one POST; never raises for network trouble."""
    import httpx

    try:
        r = client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return None, None, f"no answer within {timeout:g} s"
    except httpx.HTTPError as e:
        return None, None, f"{type(e).__name__}: {e}"
    except URLError as e:  # an untrusted endpoint's host now resolves to a refused address
        return None, None, e.message
    return r.status_code, r.headers.get("retry-after"), None


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class _Clients:
    """One HTTP client per trust level, made when first needed: the local user's endpoints go where
    their network takes them; an untrusted endpoint's are checked and pinned (`fenta.netguard`)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._made: dict[bool, Any] = {}

    def for_endpoint(self, trusted: bool) -> Any:
        if trusted not in self._made:
            from ...engine.remote import fenta_version

            policy = TRUSTED if trusted else Policy.untrusted(self._settings)
            agent = {"user-agent": f"fenta/{fenta_version()} (webhooks)"}
            self._made[trusted] = guarded_client(policy, timeout=TIMEOUT, headers=agent)
        return self._made[trusted]

    def close(self) -> None:
        for http in self._made.values():
            http.close()


#: `last_error` of a synced job's `job.completed` waiting for its video to reach the hosted project.
WAITING_FOR_PUSH = "waiting for the hosted push of the video (`fenta sync`)"


def _wait_for_hosted_video(
    store: Any, row: DeliveryClaim, now: float, settings: Settings, rng: random.Random | None
) -> DeliveryClaim | Attempt:
    """A synced job's `job.completed` still carrying the local file:// URL waits for the push (each wait
    counts as an attempt of the retry schedule, one step ahead): an `Attempt`. Once the video is pushed
    its body gets the signed URL; after the whole schedule it goes out with the local URL. A claim: send
    it now (with the body to send)."""
    if row.event != "job.completed" or not row.job_id:
        return row
    try:
        body = json.loads(row.body)
        url = body["data"].get("videoUrl")
    except (ValueError, KeyError, TypeError, AttributeError):
        return row
    if not isinstance(url, str) or not url.startswith("file:"):
        return row
    from ..sync.state import hosted_video

    synced, signed = hosted_video(store, row.job_id)
    if not synced:
        return row
    if signed:
        data = {**body["data"], "videoUrl": signed}
        row = replace(row, body=body_for(body["type"], body["timestamp"], data))
        store.set_delivery_body(row, row.body)
        return row
    attempts = row.attempts + 1
    wait = next_delay(attempts + 1, scale=settings.webhook_retry_scale, rng=rng)
    if wait is None:
        return row
    postponed = store.postpone_delivery(
        row, attempts=attempts, next_at=now + wait, error=WAITING_FOR_PUSH, now=now
    )
    if not postponed:
        return _superseded(row)
    return Attempt(row.id, row.event_id, row.endpoint_id, "pending", None, WAITING_FOR_PUSH, now + wait)


def _superseded(row: DeliveryClaim) -> Attempt:
    why = "another process took this delivery over (this one's lease lapsed); its outcome stands"
    return Attempt(row.id, row.event_id, row.endpoint_id, "superseded", None, why, None)


def hosted_video_ready(store: Any, job_id: str, now: float) -> None:
    """The job's video reached the hosted project: its waiting `job.completed` deliveries are due now."""
    store.release_waiting_deliveries(job_id, reason=WAITING_FOR_PUSH, now=now)


def _send(
    store: Any,
    clients: _Clients,
    row: DeliveryClaim,
    *,
    now: float,
    clock: Callable[[], float],
    settings: Settings,
    timeout: float,
    rng: random.Random | None,
) -> Attempt:
    """One attempt at one claimed delivery (`now`: when it was claimed; `clock` reads the time after the
    request, from which the next retry's wait counts). Whatever goes wrong with this endpoint is recorded
    on the delivery as its reason; only a failure to record it raises."""
    status: int | None = None
    retry_after: str | None = None
    error: str | None = None
    invalid_url = False
    try:
        waited = _wait_for_hosted_video(store, row, now, settings, rng)
        if isinstance(waited, Attempt):
            return waited
        row = waited
        try:
            parse_url(row.url)  # an endpoint stored by an older version may have a URL add refuses now
        except URLError as e:
            invalid_url, error = True, e.message
        else:
            msg_id = message_id(row.event_id)  # type: ignore[arg-type]  # rows older than event ids raise here
            body = row.body.encode("utf-8")
            headers = signed_headers(row.secret, msg_id, int(now), body)
            http = clients.for_endpoint(row.trusted)
            status, retry_after, error = _post(http, row.url, headers, body, timeout)
    except Exception as e:  # noqa: BLE001 - a corrupt secret, TLS setup, a bug: this delivery's trouble only
        status, retry_after, error = None, None, _one_line(e)
    return _finish(
        store,
        row,
        now=clock(),
        status=status,
        retry_after=retry_after,
        error=error,
        invalid_url=invalid_url,
        settings=settings,
        rng=rng,
    )


def _finish(
    store: Any,
    row: DeliveryClaim,
    *,
    now: float,
    status: int | None,
    retry_after: str | None,
    error: str | None,
    invalid_url: bool,
    settings: Settings,
    rng: random.Random | None,
) -> Attempt:
    """Record one attempt's outcome, if this process's claim on the row still holds."""
    attempts = row.attempts + 1
    finished = now
    if status is not None and 200 <= status < 300:
        outcome, next_at, error = "delivered", None, None
    elif status == 410:
        outcome, next_at, error = "failed", None, "410 Gone: the endpoint was disabled"
    elif invalid_url:
        outcome, next_at = "failed", None
        error = f"{error} (not retried: fix the endpoint with `fenta webhooks remove` and `add`)"
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
    with store.write() as tx:
        if not tx.finish_delivery(
            row,
            status=outcome,
            attempts=attempts,
            next_at=next_at,
            http_status=status,
            error=error,
            now=finished,
        ):
            return _superseded(row)
        if status == 410:
            reason = f"answered 410 Gone at {iso_time(now)}"
            tx.disable_endpoint(row.endpoint_id, reason, now=finished, but=row.id)
    return Attempt(row.id, row.event_id, row.endpoint_id, outcome, status, error, next_at)


def deliver_due(
    store: Any,
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    job_id: str | None = None,
    ids: Iterable[int] | None = None,
    timeout: float = TIMEOUT,
    deadline: float | None = None,
    rng: random.Random | None = None,
) -> list[Attempt]:
    """Send every delivery that is due now (optionally only a job's, or only these rows), once each:
    a retry that comes due meanwhile waits for the next call (`flush` loops).

    One delivery is claimed at a time and its lease (`FENTA_LEASE_SECONDS`) kept while its request is
    in flight, so other processes share the rest. Each request waits at most `timeout` seconds (less
    when `deadline`, a `now()` value, comes sooner). Returns one `Attempt` per delivery tried.
    """
    clients = _Clients(settings)
    done: list[Attempt] = []
    ids = None if ids is None else list(ids)
    tried: list[int] = []
    lease = settings.lease_seconds
    try:
        while True:
            t = now()
            if deadline is not None and t >= deadline:
                break
            rows = claim_due(store, t, lease=lease, job_id=job_id, ids=ids, exclude=tried)
            if not rows:
                break
            (row,) = rows
            tried.append(row.id)
            left = timeout if deadline is None else max(0.5, min(timeout, deadline - t))
            with keep_lease(store.path, row, lease=lease, now=now):
                done.append(
                    _send(store, clients, row, now=t, clock=now, settings=settings, timeout=left, rng=rng)
                )
    finally:
        clients.close()
    return done


def send_test(
    store: Any,
    endpoint_id: str,
    *,
    now: float | None = None,
    timeout: float = TIMEOUT,
    settings: Settings | None = None,
) -> Attempt:
    """POST a signed `webhook.test` ping to one endpoint (outside the outbox; nothing is retried).
    Never raises for the endpoint's trouble (an invalid stored URL, a corrupt secret): it is the error."""
    ep = get_endpoint(store, endpoint_id)
    now = time.time() if now is None else now
    msg_id = "msg_" + uuid.uuid4().hex
    body = body_for("webhook.test", iso_time(now), {"endpointId": ep.id}).encode("utf-8")
    clients = _Clients(settings or Settings.from_env())
    status: int | None = None
    try:
        parse_url(ep.url)
        headers = signed_headers(ep.secret, msg_id, int(now), body)
        status, _, error = _post(clients.for_endpoint(ep.trusted), ep.url, headers, body, timeout)
    except Exception as e:  # noqa: BLE001 - an invalid stored URL, a corrupt secret: said in one line
        error = e.message if isinstance(e, URLError) else _one_line(e)
    finally:
        clients.close()
    ok = status is not None and 200 <= status < 300
    if status is not None and not ok:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return Attempt(0, None, ep.id, "delivered" if ok else "failed", status, error, None)


def flush(
    settings: Settings,
    *,
    job_id: str | None = None,
    wait: float = 10.0,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Attempt]:
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
            # The next row due, and when one can next be claimed (another process may hold one).
            nxt, free, held = store.outbox_times(job_id)
            t = now()
            if nxt is None or nxt >= deadline or t >= deadline:
                break
            wake = min(cast(float, free), deadline)  # a row is due (nxt), so one can be claimed: free is set
            if held > t:  # look again soon: the holder may finish long before its lease would lapse
                wake = min(wake, t + 0.25)
            sleep(max(0.0, wake - t) + 0.01)
    except Exception:  # never fail the caller over webhooks
        pass
    finally:
        store.close()
    return attempts
