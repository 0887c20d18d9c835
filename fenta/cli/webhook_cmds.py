"""webhooks add/list/remove/test/deliveries/redeliver/deliver (Standard Webhooks v1)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer

from ..config import Settings
from ._app import DAY, app, console, emit_json, err_console, handle_errors

webhooks_app = typer.Typer(
    help=(
        "Signed webhooks (Standard Webhooks v1) for job.started, job.completed, job.failed and "
        "quota.warning events."
    ),
    no_args_is_help=True,
)
app.add_typer(webhooks_app, name="webhooks")


def _store() -> Any:
    from ..engine.store import JobStore

    return JobStore(Settings.from_env().db_path)


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


@webhooks_app.command("add")
@handle_errors()
def webhooks_add(
    url: str = typer.Argument(..., help="Where to POST events (http or https)."),
    events: list[str] | None = typer.Option(
        None,
        "--events",
        help=(
            "Event types to send, comma-separated (default: "
            "job.started,job.completed,job.failed,quota.warning; also job.queued, job.retrying, "
            "job.dead, job.cancelled)."
        ),
    ),
    secret: str | None = typer.Option(
        None,
        "--secret",
        help=(
            "The signing secret (whsec_ + base64 of 24-64 bytes); one is generated and printed once "
            "when left out."
        ),
    ),
    json: bool = typer.Option(False, "--json", help="Print the endpoint (and a generated secret) as JSON."),
) -> None:
    """Add an endpoint; it receives events from now on, signed with its own secret."""
    from ..ops.webhooks import add_endpoint

    store = _store()
    try:
        ep = add_endpoint(store, url, events=events, secret=secret)
    finally:
        store.close()
    if json:
        emit_json({**ep.public(), **({"secret": ep.secret} if not secret else {})})
        return
    _say(f"added webhook {ep.id} -> {ep.url}")
    _say(f"events: {', '.join(ep.events)}")
    if not secret:
        _say(f"secret: {ep.secret}")
        err_console.print(
            "keep the secret now: it is not shown again (it is stored in FENTA_HOME/fenta.db to "
            "sign requests)",
            highlight=False,
            markup=False,
        )


@webhooks_app.command("list")
@handle_errors()
def webhooks_list(
    json: bool = typer.Option(False, "--json", help="Print as JSON (secrets are never shown)."),
) -> None:
    """List endpoints with their events, state and pending or failed deliveries."""
    from ..ops.webhooks import list_endpoints

    store = _store()
    try:
        eps = list_endpoints(store)
        counts = store.delivery_counts()
    finally:
        store.close()
    rows = [
        {
            **ep.public(),
            "pending": counts.get((ep.id, "pending"), 0),
            "failed": counts.get((ep.id, "failed"), 0),
            "delivered": counts.get((ep.id, "delivered"), 0),
        }
        for ep in eps
    ]
    if json:
        emit_json(rows)
        return
    if not rows:
        _say("no webhook endpoints: add one with `fenta webhooks add https://example.com/hook`")
        return
    from ._tables import table, whole

    t = table(
        whole("id"),
        whole("url"),
        "events",
        "state",
        whole("delivered", justify="right"),
        whole("pending", justify="right"),
        whole("failed", justify="right"),
    )
    for r in rows:
        state = "enabled" if r["enabled"] else f"disabled: {r['disabled_reason']}"
        t.add_row(
            r["id"],
            r["url"],
            ", ".join(r["events"]),
            state,
            str(r["delivered"]),
            str(r["pending"]),
            str(r["failed"]),
        )
    console.print(t)


@webhooks_app.command("remove")
@handle_errors()
def webhooks_remove(
    endpoint_id: str = typer.Argument(
        ..., metavar="ID", help="The endpoint's id (a unique prefix is enough)."
    ),
) -> None:
    """Remove an endpoint and its pending deliveries."""
    from ..ops.webhooks import remove_endpoint

    store = _store()
    try:
        ep = remove_endpoint(store, endpoint_id)
    finally:
        store.close()
    _say(f"removed webhook {ep.id} ({ep.url})")


@webhooks_app.command("test")
@handle_errors()
def webhooks_test(
    endpoint_id: str = typer.Argument(
        ..., metavar="ID", help="The endpoint's id (a unique prefix is enough)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Send a signed `webhook.test` ping to an endpoint now; exits 1 unless it answers 2xx."""
    from ..ops.webhooks import send_test

    store = _store()
    try:
        a = send_test(store, endpoint_id)
    finally:
        store.close()
    if json:
        emit_json(
            {"endpoint_id": a.endpoint_id, "status": a.status, "http_status": a.http_status, "error": a.error}
        )
    elif a.status == "delivered":
        _say(f"ping delivered to {a.endpoint_id}: HTTP {a.http_status}")
    else:
        err_console.print(f"ping to {a.endpoint_id} failed: {a.error}", highlight=False, markup=False)
    if a.status != "delivered":
        raise typer.Exit(1)


@webhooks_app.command("deliveries")
@handle_errors()
def webhooks_deliveries(
    status: str | None = typer.Option(
        None, "--status", help="Only deliveries in this state: pending, delivered or failed."
    ),
    limit: int = typer.Option(50, "--limit", "-n", help="How many to show, newest first."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List webhook deliveries (one per event and endpoint): state, attempts, last answer, next attempt."""
    from ..bounds import whole as whole_number
    from ..errors import WebhookError
    from ..ops.webhooks import deliveries, message_id

    limit = whole_number(limit, "--limit", least=1)
    if status not in (None, "pending", "delivered", "failed"):
        raise WebhookError(
            f"unknown status '{status}': choose pending, delivered or failed", field="--status"
        )
    store = _store()
    try:
        rows = deliveries(store, status=status, limit=limit)
    finally:
        store.close()
    for r in rows:
        r["webhook_id"] = message_id(r["event_id"]) if r["event_id"] is not None else None
    if json:
        emit_json(rows)
        return
    if not rows:
        _say("no deliveries" + (f" in state {status}" if status else ""))
        return
    from ._tables import table, whole

    t = table(
        whole("event"),
        whole("type"),
        whole("endpoint"),
        "status",
        whole("tries", justify="right"),
        "last answer",
        whole("next attempt"),
        whole("job"),
    )
    for r in rows:
        last = (str(r["last_status"]) if r["last_status"] else "") + (
            f" {r['last_error']}" if r["last_error"] and not str(r["last_error"]).startswith("HTTP") else ""
        )
        t.add_row(
            str(r["event_id"]),
            r["type"],
            r["endpoint_id"] or "-",
            r["status"],
            str(r["attempts"]),
            last.strip() or "-",
            _when(r["next_at"]) if r["status"] == "pending" else "-",
            r["job_id"] or "-",
        )
    console.print(t)


@webhooks_app.command("redeliver")
@handle_errors()
def webhooks_redeliver(
    event_id: str = typer.Argument(
        ..., help="The event's id (as `deliveries` lists it, or evt_N from the webhook-id header)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Send an event again to its endpoints now, with a fresh set of retries."""
    from ..ops.webhooks import deliver_due, redeliver

    settings = Settings.from_env()
    store = _store()
    try:
        ids = redeliver(store, event_id)
        attempts = deliver_due(store, settings, ids=ids)
    finally:
        store.close()
    if json:
        emit_json(
            [
                {
                    "endpoint_id": a.endpoint_id,
                    "status": a.status,
                    "http_status": a.http_status,
                    "error": a.error,
                }
                for a in attempts
            ]
        )
        return
    for a in attempts:
        _say(
            f"{a.endpoint_id}: {a.status}"
            + (f" (HTTP {a.http_status})" if a.http_status else "")
            + (f": {a.error}" if a.error else "")
        )


@webhooks_app.command("deliver")
@handle_errors()
def webhooks_deliver(
    wait: float = typer.Option(
        0.0, "--wait", help="Keep sending retries that come due for up to this many seconds (at most a day)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the attempts as JSON."),
) -> None:
    """Send whatever webhook deliveries are due now (new events included), then exit."""
    from ..bounds import finite
    from ..ops import readers, webhooks

    wait = finite(wait, "--wait", least=0, most=DAY)
    settings = Settings.from_env()
    readers.pump(settings, deliver=False)
    attempts = webhooks.flush(settings, wait=wait)
    if json:
        emit_json(
            [
                {
                    "event_id": a.event_id,
                    "endpoint_id": a.endpoint_id,
                    "status": a.status,
                    "http_status": a.http_status,
                    "error": a.error,
                }
                for a in attempts
            ]
        )
        return
    if not attempts:
        _say("nothing was due")
    for a in attempts:
        _say(
            f"event {a.event_id} -> {a.endpoint_id}: {a.status}"
            + (f" (HTTP {a.http_status})" if a.http_status else "")
            + (f": {a.error}" if a.error else "")
        )
