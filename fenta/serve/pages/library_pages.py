"""Templates (`/templates`: each shipped look's preview video and contact sheet) and Assets (`/assets`: the
library with thumbnails, tags, filters, provenance, and uploads through the API's init / PUT / complete
flow: the page's script starts and completes an upload here, and PUTs the bytes to the API's one-time
upload URL itself)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ...errors import ServeError
from ...library import KINDS
from ..deps import base_url, state
from ..models import UploadCreate
from .session import Visit, change, page
from .view import PageRoute, render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/templates")
def templates(request: Request, visit: Visit = page("workflows:read")) -> Response:
    return render(
        request, visit, "templates.html", templates=state(request).service.templates(base_url(request))
    )


@router.get("/templates/{name}/preview.{ext}")
async def preview(
    request: Request, name: str, ext: Literal["png", "mp4"], visit: Visit = page("workflows:read")
) -> Response:
    """A template's contact sheet or sample video (made offline the first time, a few seconds)."""
    path = await run_in_threadpool(state(request).service.template_preview, name, ext)
    return FileResponse(path, media_type="image/png" if ext == "png" else "video/mp4")


@router.get("/assets")
def assets(
    request: Request, q: str = "", kind: str = "", tag: str = "", visit: Visit = page("assets:read")
) -> Response:
    """The library, newest first, filtered by words, kind and tag."""
    if kind and kind not in KINDS:
        raise ServeError(f"'{kind}' is not a kind of asset (choose {', '.join(KINDS)})", status=422)
    found = state(request).service.search_assets(
        query=q or None, kind=kind or None, tag=tag.strip() or None, limit=200, base=base_url(request)
    )
    return render(
        request,
        visit,
        "assets.html",
        assets=found,
        q=q,
        kind=kind,
        tag=tag,
        kinds=KINDS,
        can_upload=visit.can("assets:write"),
        max_mb=state(request).settings.max_upload_mb,
    )


@router.get("/assets/{asset_id}/thumbnail")
def thumbnail(request: Request, asset_id: str, visit: Visit = page("assets:read")) -> Response:
    return FileResponse(state(request).service.thumbnail_path(asset_id), media_type="image/jpeg")


@router.post("/assets/uploads")
async def start_upload(request: Request, visit: Visit = change("assets:write")) -> Response:
    """Step 1 of an upload, for the page's script: `{"filename", "size", "tags"}` -> the upload with its
    one-time `upload_url` (the API's), as `POST /v1/assets/uploads` answers."""
    try:
        body = UploadCreate.model_validate_json(await request.body())
    except ValidationError as e:
        raise ServeError(
            f"not an upload: {e.errors()[0]['msg']}", status=422, title="Invalid request"
        ) from None
    made = await run_in_threadpool(
        state(request).service.start_upload,
        visit.principal,
        body.filename,
        body.size,
        body.tags,
        base_url(request),
    )
    return JSONResponse(made, status_code=201, headers={"Cache-Control": "no-store"})


@router.post("/assets/uploads/{upload_id}/complete")
async def complete_upload(
    request: Request, upload_id: str, visit: Visit = change("assets:write")
) -> Response:
    """Step 3: the uploaded bytes become a probed, thumbnailed library asset."""
    done = await run_in_threadpool(
        state(request).service.complete_upload, visit.principal, upload_id, base_url(request)
    )
    return JSONResponse(done)
