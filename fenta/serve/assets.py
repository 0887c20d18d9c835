"""`/v1/assets`: search the library, and upload a file into it (the hosted service's init / PUT / complete
flow, with the server's own disk where S3 would be).

    POST /v1/assets/uploads                {"filename", "size", "tags"}
                                           -> {"id", "upload_url", "complete_url", "expires_at"}
    PUT  {upload_url}                      the bytes, once, within an hour (the URL itself is the
                                           permission: a one-time secret; fenta.db keeps only its hash)
    POST /v1/assets/uploads/{id}/complete  -> the library asset, probed and thumbnailed
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from ..errors import ServeError
from .access import Principal
from .deps import base_url, require, state
from .models import Upload, UploadCreate
from .problems import responses
from .upload_service import UPLOAD_TTL

__all__ = ["router", "UPLOAD_PATH", "UPLOAD_TTL"]

router = APIRouter(prefix="/v1/assets", tags=["assets"])

#: The route the bytes are PUT to (its body limit is FENTA_MAX_UPLOAD_MB, not FENTA_MAX_BODY_MB).
UPLOAD_PATH = "/v1/assets/uploads/{upload_id}/bytes"


@router.post(
    "/uploads", status_code=201, response_model=Upload, responses=responses(422), summary="Start an upload"
)
def start_upload(
    request: Request, body: UploadCreate, principal: Principal = require("assets:write")
) -> dict:
    """Announce a file; the answer's `upload_url` takes its bytes once (PUT, no Authorization needed)."""
    return state(request).service.start_upload(
        principal, body.filename, body.size, body.tags, base_url(request)
    )


@router.put(
    "/uploads/{upload_id}/bytes",
    response_model=Upload,
    summary="Send an upload's bytes",
    responses={
        403: {"description": "Wrong or expired upload URL, or it was used already"},
        **responses(404, 413, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_bytes(
    request: Request,
    upload_id: str,
    secret: Annotated[str, Query(description="The one-time secret of the upload URL.")],
) -> dict:
    """The file's bytes, exactly the announced size. The URL works once; no token is needed (hand it to a
    browser)."""
    app = state(request)
    store = await anyio.to_thread.run_sync(app.stores.get)
    row = await anyio.to_thread.run_sync(store.upload, upload_id)
    if row is None:
        raise ServeError(f"no upload '{upload_id}'", status=404, title="Not Found")
    if not hmac.compare_digest(row["secret_hash"], hashlib.sha256(secret.encode()).hexdigest()):
        raise ServeError("this upload URL's secret is wrong", status=403, title="Forbidden")
    if row["expires_at"] < time.time():
        raise ServeError("this upload URL expired: start a new upload", status=403, title="Forbidden")
    if not await anyio.to_thread.run_sync(lambda: store.move_upload(upload_id, "pending", "receiving")):
        raise ServeError("this upload URL was used already (it works once)", status=403, title="Forbidden")
    part = app.service.upload_file(upload_id)
    received = 0
    try:
        with open(part, "wb") as fh:
            async for chunk in request.stream():
                received += len(chunk)
                if received > row["size"]:
                    raise ServeError(
                        f"more bytes than the {row['size']} announced", status=413, title="Content Too Large"
                    )
                fh.write(chunk)
        if received != row["size"]:
            raise ServeError(
                f"got {received} of the {row['size']} bytes announced", status=422, title="Incomplete upload"
            )
    except BaseException:
        part.unlink(missing_ok=True)
        await anyio.to_thread.run_sync(lambda: store.move_upload(upload_id, "receiving", "pending"))
        raise
    await anyio.to_thread.run_sync(
        lambda: store.move_upload(upload_id, "receiving", "uploaded", received=received)
    )
    row.update(state="uploaded", received=received)
    return app.service.received(row, base_url(request))


@router.post(
    "/uploads/{upload_id}/complete",
    response_model=Upload,
    responses=responses(404, 409, 422),
    summary="Finish an upload",
)
def complete_upload(request: Request, upload_id: str, principal: Principal = require("assets:write")) -> dict:
    """Probe the uploaded file and add it to the library (thumbnail, facts, tags); 422 when it is not
    media."""
    return state(request).service.complete_upload(principal, upload_id, base_url(request))


@router.get("/uploads/{upload_id}", response_model=Upload, responses=responses(404), summary="Show an upload")
def get_upload(request: Request, upload_id: str, principal: Principal = require("assets:read")) -> dict:
    return state(request).service.upload_view(upload_id, base_url(request))


@router.get("", responses=responses(), summary="Search the asset library")
def search(
    request: Request,
    q: Annotated[
        str | None, Query(description="Words that must all appear in the name, kind, tags or source.")
    ] = None,
    kind: Annotated[Literal["video", "image", "audio"] | None, Query()] = None,
    tag: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    _: Principal = require("assets:read"),
) -> dict:
    """Library assets, newest first; use one in a workflow as `Input.Asset` with `asset: ID` or
    `tag: NAME`."""
    return {
        "items": state(request).service.search_assets(
            query=q, kind=kind, tag=tag, limit=limit, base=base_url(request)
        )
    }


@router.get("/{asset_id}", responses=responses(404), summary="Show an asset")
def get_asset(request: Request, asset_id: str, _: Principal = require("assets:read")) -> dict:
    return state(request).service.asset(asset_id, base_url(request))


@router.get(
    "/{asset_id}/thumbnail",
    response_class=FileResponse,
    responses=responses(404),
    summary="An asset's thumbnail",
)
def thumbnail(request: Request, asset_id: str, _: Principal = require("assets:read")) -> FileResponse:
    return FileResponse(state(request).service.thumbnail_path(asset_id), media_type="image/jpeg")
