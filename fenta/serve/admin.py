"""Running the box: schedules, webhook endpoints, usage and quotas (thin over fenta.ops)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..errors import FentaError, ScheduleError, ServeError, SpecError, WebhookError
from .access import Principal
from .deps import require, state
from .models import QuotaSet, ScheduleChange, ScheduleCreate, WebhookCreate
from .problems import responses, spec_problem
from .untrusted import check_webhook_url, load_untrusted, untrusted_policy

__all__ = ["router"]

router = APIRouter()


def _endpoint(ep: Any, **more: Any) -> dict[str, Any]:
    from ..engine.events import iso

    out = ep.public()
    out["created_at"] = iso(out["created_at"]) if out.get("created_at") else None
    return {**out, **more}


def _quotas(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from ..engine.events import iso

    return [{**r, "period_start": iso(r["period_start"]), "resets_at": iso(r["resets_at"])} for r in rows]


def _refused(e: FentaError, status: int = 422) -> ServeError:
    missing = isinstance(e, (ScheduleError, WebhookError)) and str(e.message).startswith("no ")
    return ServeError(
        e.message,
        status=404 if missing else status,
        title="Not Found" if missing else "Cannot do that",
        extra={"field": e.field},
    )


# ---------------------------------------------------------------- schedules


def _schedule(row: dict[str, Any]) -> dict[str, Any]:
    from ..engine.events import iso

    out = {
        k: row.get(k)
        for k in ("name", "cron", "tz", "vars", "priority", "catchup", "enabled", "last_job_id", "last_error")
    }
    for k in ("next_fire_at", "last_fire_at", "created_at"):
        out[k] = iso(row[k]) if row.get(k) else None
    return out


@router.get("/v1/schedules", tags=["schedules"], responses=responses(), summary="List schedules")
def list_schedules(request: Request, _: Principal = require("schedules:read")) -> list[dict]:
    """Every schedule with its next fire time (jobs are queued while the server's scheduler runs)."""
    from ..ops.schedules import list_schedules as rows

    return [_schedule(r) for r in rows(state(request).stores.get().jobs)]


@router.post(
    "/v1/schedules", status_code=201, tags=["schedules"], responses=responses(422), summary="Add a schedule"
)
def add_schedule(request: Request, body: ScheduleCreate, _: Principal = require("schedules:write")) -> dict:
    """Queue a job of this workflow at every cron time. The document is validated now, as untrusted input."""
    from ..ops.schedules import add_schedule as add

    app = state(request)
    try:
        load_untrusted(body.workflow, body.vars, app.settings)
    except SpecError as e:
        raise spec_problem(e) from None
    # The schedule keeps the untrusted policy: every job it queues is loaded under it, not as the
    # local user's.
    folder = app.settings.home / "serve" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    path = (
        folder / f"{body.name}.json"
    )  # the name's pattern (models.ScheduleCreate) keeps it one plain file name
    store = app.stores.get()
    try:
        from ..ops.schedules import get_schedule

        get_schedule(store.jobs, body.name)
        raise ServeError(f"a schedule named '{body.name}' exists already", status=409, title="Conflict")
    except ScheduleError:
        pass
    path.write_text(json.dumps(body.workflow, ensure_ascii=False), encoding="utf-8")
    try:
        row = add(
            store.jobs,
            body.name,
            path,
            body.cron,
            tz=body.tz,
            vars=body.vars,
            priority=body.priority,
            catchup=body.catchup,
            out=app.settings.home / "renders",
            policy=untrusted_policy(app.settings),
        )
    except FentaError as e:
        path.unlink(missing_ok=True)
        raise _refused(e) from None
    return _schedule(row)


@router.get("/v1/schedules/{name}", tags=["schedules"], responses=responses(404), summary="Show a schedule")
def get_schedule(request: Request, name: str, _: Principal = require("schedules:read")) -> dict:
    from ..ops.schedules import get_schedule as get

    try:
        return _schedule(get(state(request).stores.get().jobs, name))
    except FentaError as e:
        raise _refused(e) from None


@router.patch(
    "/v1/schedules/{name}", tags=["schedules"], responses=responses(404), summary="Pause or resume a schedule"
)
def change_schedule(
    request: Request, name: str, body: ScheduleChange, _: Principal = require("schedules:write")
) -> dict:
    """`{"enabled": false}` pauses it; `{"enabled": true}` resumes it from now (paused fire times are not
    caught up)."""
    from ..ops.schedules import set_enabled

    try:
        return _schedule(set_enabled(state(request).stores.get().jobs, name, body.enabled))
    except FentaError as e:
        raise _refused(e) from None


@router.post(
    "/v1/schedules/{name}/run",
    status_code=202,
    tags=["schedules"],
    responses=responses(404),
    summary="Run a schedule now",
)
def run_schedule(request: Request, name: str, _: Principal = require("schedules:write")) -> dict:
    """Queue one job of the schedule now; its timing is unchanged."""
    from ..ops.schedules import run_now

    app = state(request)
    try:
        job_id = run_now(app.settings, app.stores.get().jobs, name)
    except FentaError as e:
        raise _refused(e) from None
    return {"schedule": name, "job_id": job_id, "status": "queued"}


@router.delete(
    "/v1/schedules/{name}",
    status_code=204,
    tags=["schedules"],
    responses=responses(404),
    summary="Remove a schedule",
)
def remove_schedule(request: Request, name: str, _: Principal = require("schedules:write")) -> Response:
    """Remove the schedule (the jobs it queued stay)."""
    from ..ops.schedules import remove_schedule as remove

    app = state(request)
    try:
        remove(app.stores.get().jobs, name)
    except FentaError as e:
        raise _refused(e) from None
    (app.settings.home / "serve" / "workflows" / f"{name}.json").unlink(missing_ok=True)
    return Response(status_code=204)


# ---------------------------------------------------------------- webhook endpoints


@router.get("/v1/webhooks", tags=["webhooks"], responses=responses(), summary="List webhook endpoints")
def list_webhooks(request: Request, _: Principal = require("webhooks:read")) -> list[dict]:
    """The receivers (never their secrets)."""
    from ..ops.webhooks import list_endpoints

    return [_endpoint(e) for e in list_endpoints(state(request).stores.get().jobs)]


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
    from ..ops.webhooks import add_endpoint

    app = state(request)
    check_webhook_url(body.url, app.settings)
    try:
        ep = add_endpoint(
            app.stores.get().jobs, body.url, events=body.events, secret=body.secret,
            policy=untrusted_policy(app.settings),
        )
    except FentaError as e:
        raise _refused(e) from None
    return _endpoint(ep, secret=ep.secret)


@router.get(
    "/v1/webhooks/{endpoint_id}",
    tags=["webhooks"],
    responses=responses(404),
    summary="Show a webhook endpoint",
)
def get_webhook(request: Request, endpoint_id: str, _: Principal = require("webhooks:read")) -> dict:
    from ..ops.webhooks import get_endpoint

    try:
        ep = get_endpoint(state(request).stores.get().jobs, endpoint_id)
    except FentaError as e:
        raise _refused(e) from None
    if ep.id != endpoint_id:
        raise ServeError(f"no webhook endpoint '{endpoint_id}'", status=404, title="Not Found")
    return _endpoint(ep)


@router.delete(
    "/v1/webhooks/{endpoint_id}",
    status_code=204,
    tags=["webhooks"],
    responses=responses(404),
    summary="Remove a webhook endpoint",
)
def remove_webhook(request: Request, endpoint_id: str, _: Principal = require("webhooks:write")) -> Response:
    """Forget the receiver and its pending deliveries."""
    from ..ops.webhooks import get_endpoint, remove_endpoint

    store = state(request).stores.get().jobs
    try:
        if get_endpoint(store, endpoint_id).id != endpoint_id:
            raise ServeError(f"no webhook endpoint '{endpoint_id}'", status=404, title="Not Found")
        remove_endpoint(store, endpoint_id)
    except FentaError as e:
        raise _refused(e) from None
    return Response(status_code=204)


# ---------------------------------------------------------------- usage and quotas


@router.get("/v1/usage", tags=["usage"], responses=responses(), summary="Provider usage")
def usage(
    request: Request, days: Annotated[int, Query(ge=1, le=3660)] = 30, _: Principal = require("usage:read")
) -> dict:
    """Calls, quantity and cost by UTC day, provider and unit over the last `days` days."""
    from ..engine.usage import summarize

    rows = summarize(state(request).stores.get().jobs, days)
    return {"days": days, "rows": rows, "total_cost": round(sum(r["cost"] or 0 for r in rows), 6)}


@router.get("/v1/quotas", tags=["usage"], responses=responses(), summary="Quota status")
def quotas(request: Request, _: Principal = require("usage:read")) -> dict:
    """Each limited resource: its limit, period, use so far, percentage and when it resets."""
    from ..ops import quotas as q

    store = state(request).stores.get().jobs
    return {"quotas": _quotas(q.status(store)), "resources": q.RESOURCES}


@router.put("/v1/quotas/{resource}", tags=["usage"], responses=responses(422), summary="Set a quota")
def set_quota(
    request: Request, resource: str, body: QuotaSet, _: Principal = require("quotas:write")
) -> dict:
    """Set (or replace) the limit of `jobs`, `render_minutes`, `kie_credits` or `cost_usd` per UTC day or
    month."""
    from ..ops import quotas as q

    store = state(request).stores.get().jobs
    try:
        q.set_limit(store, resource, body.limit, body.per)
    except FentaError as e:
        raise _refused(e) from None
    return {"quotas": _quotas(q.status(store))}


@router.delete(
    "/v1/quotas/{resource}",
    status_code=204,
    tags=["usage"],
    responses=responses(404),
    summary="Remove a quota",
)
def remove_quota(request: Request, resource: str, _: Principal = require("quotas:write")) -> Response:
    from ..ops import quotas as q

    try:
        removed = q.remove_limit(state(request).stores.get().jobs, resource)
    except FentaError as e:
        raise _refused(e) from None
    if not removed:
        raise ServeError(f"'{resource}' has no limit", status=404, title="Not Found")
    return Response(status_code=204)
