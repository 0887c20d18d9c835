"""New video (`/new`): pick a starter or a file of the server's workflow folder, fill in its variables
(a form made from the workflow's `vars:`), see what it costs and which keys it needs, then Render (a
render that spends money asks to confirm the amount first). The job is queued by `Service.create_job`,
exactly as `POST /v1/jobs` queues one (untrusted input, an Idempotency-Key so a second click is the
same job)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from ...errors import ServeError
from ..access import forbidden
from ..deps import base_url, state
from ..models import JobCreate
from ..sources import DEFAULT_TEMPLATE, vars_from_form
from .session import Visit, change, page
from .view import PageRoute, render

__all__ = ["router", "spend_key"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def spend_key(total: float) -> str:
    """What the confirm box sends: the amount it showed (a changed estimate needs a new confirmation)."""
    return f"{total:.6f}"


def _estimate(
    request: Request, workflow: dict[str, Any], vars: dict[str, Any]
) -> tuple[dict | None, list[str]]:
    try:
        return state(request).service.estimate(workflow, vars), []
    except ServeError as e:
        return None, [i.get("text") or i.get("detail", "") for i in e.extra.get("errors", [])] or [e.message]


def _form(
    request: Request,
    visit: Visit,
    source: dict[str, Any],
    template: str,
    *,
    values: dict[str, Any],
    name: str = "",
    preview: bool = False,
    estimate: dict | None,
    problems: list[str],
    message: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        visit,
        "new.html",
        status=status,
        source=source,
        template=template,
        templates=state(request).service.templates(base_url(request)),
        values=values,
        name=name,
        preview=preview,
        estimate=estimate,
        problems=problems,
        message=message,
        spend=spend_key(estimate["total_usd"]) if estimate else "",
        key=uuid.uuid4().hex,
        can_render=visit.can("jobs:write"),
    )


@router.get("/new")
def new_video(
    request: Request, source: str = "", template: str = "", visit: Visit = page("workflows:read")
) -> Response:
    """Without `source`: what can be started. With it: the form, priced with the defaults."""
    service = state(request).service
    if not source:
        return render(
            request,
            visit,
            "new_pick.html",
            sources=service.workflow_sources(),
            templates=service.templates(base_url(request)),
            default_template=DEFAULT_TEMPLATE,
            folder=str(state(request).settings.workflow_folder),
            can_render=visit.can("jobs:write"),
        )
    chosen = service.workflow_source(source, template or None)
    values = {f["name"]: f["default"] for f in chosen["vars"]}
    estimate, problems = _estimate(request, chosen["workflow"], {})
    return _form(
        request,
        visit,
        chosen,
        template or DEFAULT_TEMPLATE,
        values=values,
        estimate=estimate,
        problems=problems,
    )


@router.post("/new")
async def submit(request: Request, visit: Visit = change("workflows:read")) -> Response:
    """`action=estimate` prices the values; `action=render` queues the job (jobs:write; a priced render
    needs `confirm` to repeat the amount shown)."""
    form = await request.form()
    service = state(request).service
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    rendering = text.get("action") == "render"
    if rendering and not visit.can("jobs:write"):
        raise forbidden(visit.principal, "jobs:write")
    template = text.get("template") or DEFAULT_TEMPLATE
    chosen = service.workflow_source(text.get("source", ""), template)
    values: dict[str, Any] = {f["name"]: text.get(f"var.{f['name']}", "") for f in chosen["vars"]}
    for f in chosen["vars"]:
        if f["type"] == "boolean":
            values[f["name"]] = f"var.{f['name']}" in text
    name = text.get("name", "").strip()
    preview = "preview" in text

    def again(
        estimate: dict | None, problems: list[str], message: str | None = None, status: int = 200
    ) -> Response:
        return _form(
            request,
            visit,
            chosen,
            template,
            values=values,
            name=name,
            preview=preview,
            estimate=estimate,
            problems=problems,
            message=message,
            status=status,
        )

    vars, problems = vars_from_form(chosen["vars"], form)
    if problems:
        return again(None, problems, status=422)
    estimate, problems = _estimate(request, chosen["workflow"], vars)
    if estimate is None:
        return again(None, problems, status=422)
    if not rendering:
        return again(estimate, [])
    if estimate["total_usd"] > 0 and text.get("confirm") != spend_key(estimate["total_usd"]):
        return again(
            estimate, [], "Confirm the spend below first: tick the box with the amount, then Render.", 409
        )
    try:
        body = JobCreate(
            workflow=chosen["workflow"], vars=vars, name=name or None, priority=0, preview=preview
        )
    except ValidationError as e:
        return again(
            estimate, [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()], status=422
        )
    from ..service import idempotency_key

    _, job, _ = await _create(request, visit, body.model_dump(), idempotency_key(text.get("key") or None))
    return RedirectResponse(f"/jobs/{job['id']}", status_code=303)


async def _create(
    request: Request, visit: Visit, body: dict[str, Any], key: str | None
) -> tuple[int, dict, bool]:
    from starlette.concurrency import run_in_threadpool

    app = state(request)
    made = await run_in_threadpool(app.service.create_job, visit.principal, body, key, base_url(request))
    if not made[2]:
        app.metrics.job_submitted("dashboard")
    return made
