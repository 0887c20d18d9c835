"""Webhook endpoints (receivers: URL, secret, subscribed events); their rows are the store's
(`fenta.engine.store.webhooks`).

Secrets live in `webhook_endpoints` and nowhere else: never in events, job rows, bodies, delivery
rows or logs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from ...engine.store.webhooks import Endpoint
from ...errors import URLError, WebhookError
from ...netguard import Resolver, checked_addresses, parse_url
from ...policy import TRUSTED, Policy
from .signing import check_secret, generate_secret

__all__ = [
    "EVENT_TYPES",
    "DEFAULT_EVENTS",
    "Endpoint",
    "check_url",
    "add_endpoint",
    "list_endpoints",
    "get_endpoint",
    "remove_endpoint",
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
                raise WebhookError(
                    f"unknown event '{name}': choose from {', '.join(EVENT_TYPES)}", field="--events"
                )
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

    check_url(url, policy)
    names = _check_events(events)
    secret = check_secret(secret) if secret else generate_secret()
    ep_id = "ep_" + uuid.uuid4().hex[:12]
    now = time.time()
    ep = Endpoint(ep_id, url, names, True, None, now, secret, last_event_id(store), policy.trusted)
    store.add_endpoint(ep)
    return ep


def list_endpoints(store: Any) -> list[Endpoint]:
    return store.endpoints()


def get_endpoint(store: Any, endpoint_id: str) -> Endpoint:
    """The endpoint with this id (or unique prefix). Raises WebhookError when there is none."""
    found = store.endpoints_named(endpoint_id)
    if len(found) != 1:
        raise WebhookError(f"no webhook endpoint '{endpoint_id}' (see `fenta webhooks list`)", field="ID")
    return found[0]


def remove_endpoint(store: Any, endpoint_id: str) -> Endpoint:
    """Forget an endpoint and its pending deliveries (delivered and failed ones stay listed)."""
    ep = get_endpoint(store, endpoint_id)
    with store.write() as tx:
        tx.remove_endpoint(ep.id)
    return ep
