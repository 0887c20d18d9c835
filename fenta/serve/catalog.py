"""What a client needs before it queues: validate a workflow, price it, the templates and node types."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ..errors import ServeError
from .access import Principal
from .deps import base_url, require, state
from .models import Estimate, Validation, WorkflowIn
from .problems import responses

__all__ = ["router"]

router = APIRouter(tags=["workflows"])


@router.post(
    "/v1/workflows/validate", response_model=Validation, responses=responses(), summary="Validate a workflow"
)
def validate(request: Request, body: WorkflowIn, _: Principal = require("workflows:read")) -> dict:
    """Check a workflow as the server would run it (untrusted input: no local files, no private addresses).
    Answers 200 either way: `valid`, and every problem (detail, JSON pointer, node, field, line) or the
    API keys it needs and whether this server has them."""
    return state(request).service.validate(body.workflow, body.vars)


@router.post("/v1/estimate", response_model=Estimate, responses=responses(422), summary="Price a workflow")
def estimate(request: Request, body: WorkflowIn, _: Principal = require("workflows:read")) -> dict:
    """What one run would cost by provider (no network call), which API keys it needs, and whether the
    quotas let it run now: what to show a user before they confirm. 422 when the workflow is invalid."""
    return state(request).service.estimate(body.workflow, body.vars)


@router.get("/v1/workflows", responses=responses(), summary="List the server's workflows")
def workflows(request: Request, _: Principal = require("workflows:read")) -> list[dict]:
    """What can be started without sending a document: the starters (`starter:quickstart`, `starter:stock`,
    `starter:ai`) and the files of the server's workflow folder (`file:NAME.yaml`; FENTA_WORKFLOWS_DIR,
    default FENTA_HOME/workflows). An unreadable file is listed with its `problem`."""
    return state(request).service.workflow_sources()


@router.get(
    "/v1/workflows/{ref}", responses=responses(404, 422), summary="Show one of the server's workflows"
)
def workflow(
    request: Request,
    ref: str,
    template: Annotated[
        str | None, Query(description="A starter's template (default karaoke-bold); files name their own.")
    ] = None,
    _: Principal = require("workflows:read"),
) -> dict:
    """The document and its variables as form fields (name, type read from the default, default, the
    comment on its line as description, whether it is required): send it as `POST /v1/jobs`'s `workflow`
    with your `vars`."""
    return state(request).service.workflow_source(ref, template)


@router.get("/v1/templates", responses=responses(), summary="List templates")
def templates(request: Request, _: Principal = require("workflows:read")) -> list[dict]:
    """The shipped montage templates: size, frame rate, transition, description and preview URLs."""
    return state(request).service.templates(base_url(request))


@router.get("/v1/templates/{name}", responses=responses(404), summary="Show a template")
def template(request: Request, name: str, _: Principal = require("workflows:read")) -> dict:
    """Every field of a shipped template, defaults filled in."""
    from ..template import list_templates, resolve_template

    if name not in list_templates():
        raise ServeError(f"no template '{name}'", status=404, title="Not Found")
    return resolve_template(name)


@router.get(
    "/v1/templates/{name}/preview.{ext}",
    response_class=FileResponse,
    responses=responses(404),
    summary="A template's preview (contact sheet or sample video)",
)
async def preview(
    request: Request, name: str, ext: Literal["png", "mp4"], _: Principal = require("workflows:read")
) -> FileResponse:
    """`preview.png`, a contact sheet of the sample's frames, or `preview.mp4`, the sample itself. Made
    offline the first time it is asked for (a few seconds), then kept under FENTA_HOME/previews."""
    path = await run_in_threadpool(state(request).service.template_preview, name, ext)
    return FileResponse(path, media_type="image/png" if ext == "png" else "video/mp4")


@router.get("/v1/nodes", responses=responses(), summary="List node types")
def nodes(request: Request, _: Principal = require("workflows:read")) -> dict:
    """Every node type (version, description, ports, the JSON Schema of its params) and the JSON Schema
    of the whole workflow format."""
    from ..engine.schema import workflow_schema

    return {"nodes": state(request).service.nodes(), "workflow_schema": workflow_schema()}
