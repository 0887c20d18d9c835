"""Running the box: schedules, webhook endpoints and their deliveries, usage and quotas (the routes; what
they do is `admin_service.Operations`, which the dashboard uses too)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .access import Principal
from .deps import require, state
from .models import QuotaSet, ScheduleChange, ScheduleCreate, WebhookCreate
from .problems import responses

__all__ = ["router"]

router = APIRouter()


# ---------------------------------------------------------------- schedules


@router.get("/v1/schedules", tags=["schedules"], responses=responses(), summary="List schedules")
def list_schedules(request: Request, _: Principal = require("schedules:read")) -> list[dict]:
    """Every schedule with its next fire time (jobs are queued while the server's scheduler runs)."""
    return state(request).service.schedules()


@router.post(
    "/v1/schedules", status_code=201, tags=["schedules"], responses=responses(422), summary="Add a schedule"
)
def add_schedule(request: Request, body: ScheduleCreate, _: Principal = require("schedules:write")) -> dict:
    """Queue a job of this workflow at every cron time. The document is validated now, as untrusted input."""
    return state(request).service.add_schedule(body.model_dump())


@router.get("/v1/schedules/{name}", tags=["schedules"], responses=responses(404), summary="Show a schedule")
def get_schedule(request: Request, name: str, _: Principal = require("schedules:read")) -> dict:
    return state(request).service.schedule(name)


@router.patch(
    "/v1/schedules/{name}", tags=["schedules"], responses=responses(404), summary="Pause or resume a schedule"
)
def change_schedule(
    request: Request, name: str, body: ScheduleChange, _: Principal = require("schedules:write")
) -> dict:
    """`{"enabled": false}` pauses it; `{"enabled": true}` resumes it from now (paused fire times are not
    caught up)."""
    return state(request).service.set_schedule_enabled(name, body.enabled)


@router.post(
    "/v1/schedules/{name}/run",
    status_code=202,
    tags=["schedules"],
    responses=responses(404),
    summary="Run a schedule now",
)
def run_schedule(request: Request, name: str, _: Principal = require("schedules:write")) -> dict:
    """Queue one job of the schedule now; its timing is unchanged."""
    return state(request).service.run_schedule(name)


@router.delete(
    "/v1/schedules/{name}",
    status_code=204,
    tags=["schedules"],
    responses=responses(404),
    summary="Remove a schedule",
)
def remove_schedule(request: Request, name: str, _: Principal = require("schedules:write")) -> Response:
    """Remove the schedule (the jobs it queued stay)."""
    state(request).service.remove_schedule(name)
    return Response(status_code=204)


# ---------------------------------------------------------------- webhook endpoints


@router.get("/v1/webhooks", tags=["webhooks"], responses=responses(), summary="List webhook endpoints")
def list_webhooks(request: Request, _: Principal = require("webhooks:read")) -> list[dict]:
    """The receivers (never their secrets)."""
    return state(request).service.webhook_endpoints()


@router.post(
    "/v1/webhooks",
    status_code=201,
    tags=["webhooks"],
    responses=responses(422),
    summary="Add a webhook endpoint",
)
def add_webhook(request: Request, body: WebhookCreate, _: Principal = require("webhooks:write")) -> dict:
    """Sign events to this receiver from now on (Standard Webhooks). The answer holds the secret: the only
    time it is shown. Receivers on loopback or private addresses are refused unless the operator allowed
    them."""
    return state(request).service.add_webhook(body.url, body.events, body.secret)


@router.get(
    "/v1/webhooks/deliveries",
    tags=["webhooks"],
    responses=responses(),
    summary="Recent webhook deliveries",
)
def list_deliveries(
    request: Request,
    status: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(description="Only deliveries in this state.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many, newest first.")] = 50,
    _: Principal = require("webhooks:read"),
) -> list[dict]:
    """The newest deliveries (one per event and endpoint): event type and id, job, endpoint, state,
    attempts, the receiver's last HTTP status and error, when it was queued, last tried and delivered."""
    return state(request).service.webhook_deliveries(status=status, limit=limit)


@router.get(
    "/v1/webhooks/{endpoint_id}",
    tags=["webhooks"],
    responses=responses(404),
    summary="Show a webhook endpoint",
)
def get_webhook(request: Request, endpoint_id: str, _: Principal = require("webhooks:read")) -> dict:
    return state(request).service.webhook_endpoint(endpoint_id)


@router.delete(
    "/v1/webhooks/{endpoint_id}",
    status_code=204,
    tags=["webhooks"],
    responses=responses(404),
    summary="Remove a webhook endpoint",
)
def remove_webhook(request: Request, endpoint_id: str, _: Principal = require("webhooks:write")) -> Response:
    """Forget the receiver and its pending deliveries."""
    state(request).service.remove_webhook(endpoint_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- usage and quotas


@router.get("/v1/usage", tags=["usage"], responses=responses(), summary="Provider usage")
def usage(
    request: Request, days: Annotated[int, Query(ge=1, le=3660)] = 30, _: Principal = require("usage:read")
) -> dict:
    """Calls, quantity and cost by UTC day, provider and unit over the last `days` days."""
    return state(request).service.usage(days)


@router.get("/v1/quotas", tags=["usage"], responses=responses(), summary="Quota status")
def quotas(request: Request, _: Principal = require("usage:read")) -> dict:
    """Each limited resource: its limit, period, use so far, percentage and when it resets."""
    return state(request).service.quotas()


@router.put("/v1/quotas/{resource}", tags=["usage"], responses=responses(422), summary="Set a quota")
def set_quota(
    request: Request, resource: str, body: QuotaSet, _: Principal = require("quotas:write")
) -> dict:
    """Set (or replace) the limit of `jobs`, `render_minutes`, `kie_credits` or `cost_usd` per UTC day or
    month."""
    return state(request).service.set_quota(resource, body.limit, body.per)


@router.delete(
    "/v1/quotas/{resource}",
    status_code=204,
    tags=["usage"],
    responses=responses(404),
    summary="Remove a quota",
)
def remove_quota(request: Request, resource: str, _: Principal = require("quotas:write")) -> Response:
    state(request).service.remove_quota(resource)
    return Response(status_code=204)
