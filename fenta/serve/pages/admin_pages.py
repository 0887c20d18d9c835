"""Schedules (`/schedules`: next fire, pause, resume, run now, the last job), Usage (`/usage`: spend and
render minutes per day, quotas with their use) and Webhooks (`/webhooks`: endpoints and recent deliveries,
failures first)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import ServeError
from ..deps import state
from .charts import day_bars, days_of_usage
from .session import Visit, change, page
from .view import PageRoute, render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)

_DONE = {"paused": "Paused.", "resumed": "Resumed: the next fire time counts from now."}
#: The periods the Usage page offers (days).
PERIODS = (7, 30, 90)


@router.get("/schedules")
def schedules(request: Request, done: str = "", visit: Visit = page("schedules:read")) -> Response:
    return render(
        request,
        visit,
        "schedules.html",
        schedules=state(request).service.schedules(),
        can_change=visit.can("schedules:write"),
        notice=_DONE.get(done),
    )


@router.post("/schedules/{name}/pause")
def pause(request: Request, name: str, visit: Visit = change("schedules:write")) -> Response:
    state(request).service.set_schedule_enabled(name, False)
    return RedirectResponse("/schedules?done=paused", status_code=303)


@router.post("/schedules/{name}/resume")
def resume(request: Request, name: str, visit: Visit = change("schedules:write")) -> Response:
    state(request).service.set_schedule_enabled(name, True)
    return RedirectResponse("/schedules?done=resumed", status_code=303)


@router.post("/schedules/{name}/run")
def run_now(request: Request, name: str, visit: Visit = change("schedules:write")) -> Response:
    """Queue one job of the schedule now and show it."""
    queued = state(request).service.run_schedule(name)
    return RedirectResponse(f"/jobs/{queued['job_id']}", status_code=303)


@router.get("/usage")
def usage(request: Request, days: int = 30, visit: Visit = page("usage:read")) -> Response:
    if days not in PERIODS:
        raise ServeError(f"the Usage page shows {', '.join(map(str, PERIODS))} days, not {days}", status=422)
    service = state(request).service
    used = service.usage(days)
    per_day = days_of_usage(used["rows"], days)
    providers: dict[str, dict[str, float]] = {}
    for r in used["rows"]:
        p = providers.setdefault(r["provider"], {"calls": 0, "cost": 0.0})
        p["calls"] += r["calls"]
        p["cost"] += float(r["cost"] or 0)
    return render(
        request,
        visit,
        "usage.html",
        days=days,
        periods=PERIODS,
        per_day=per_day,
        spend=day_bars([d["cost"] for d in per_day]),
        minutes=day_bars([d["minutes"] for d in per_day]),
        total_cost=used["total_cost"],
        total_minutes=sum(d["minutes"] for d in per_day),
        providers=sorted(providers.items()),
        quotas=service.quotas()["quotas"],
    )


@router.get("/webhooks")
def webhooks(request: Request, failed: bool = False, visit: Visit = page("webhooks:read")) -> Response:
    service = state(request).service
    return render(
        request,
        visit,
        "webhooks.html",
        endpoints=service.webhook_endpoints(),
        deliveries=service.webhook_deliveries(status="failed" if failed else None, limit=100),
        failed=failed,
    )
