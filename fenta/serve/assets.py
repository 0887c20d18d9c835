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
import json
import os
import secrets
import time
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from ..engine.events import iso
from ..errors import FentaError, ServeError
from .access import Principal
from .deps import base_url, require, state
from .models import Upload, UploadCreate
from .problems import responses

__all__ = ["router", "UPLOAD_PATH", "UPLOAD_TTL"]

router = APIRouter(prefix="/v1/assets", tags=["assets"])

#: The route the bytes are PUT to (its body limit is FENTA_MAX_UPLOAD_MB, not FENTA_MAX_BODY_MB).
UPLOAD_PATH = "/v1/assets/uploads/{upload_id}/bytes"
#: Seconds an upload URL stays usable.
UPLOAD_TTL = 3600


def _view(
    row: dict[str, Any], base: str, secret: str | None = None, asset: dict[str, Any] | None = None
) -> dict[str, Any]:
    link = f"{base}/v1/assets/uploads/{row['id']}"
    return {
        "id": row["id"],
        "state": row["state"],
        "filename": row["filename"],
        "size": row["size"],
        "upload_url": f"{link}/bytes?secret={secret}" if secret else None,
        "complete_url": f"{link}/complete",
        "expires_at": iso(row["expires_at"]),
        "asset": asset,
    }


def _folder(request: Request):
    folder = state(request).settings.home / "serve" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@router.post(
    "/uploads", status_code=201, response_model=Upload, responses=responses(422), summary="Start an upload"
)
def start_upload(
    request: Request, body: UploadCreate, principal: Principal = require("assets:write")
) -> dict:
    """Announce a file; the answer's `upload_url` takes its bytes once (PUT, no Authorization needed)."""
    from ..library import clean_tag

    app = state(request)
    name = body.filename.strip()
    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or not name.isprintable():
        raise ServeError(
            "filename must be a plain file name (no folders)",
            status=422,
            title="Invalid request",
            extra={"field": "filename"},
        )
    limit = int(app.settings.max_upload_mb * 1024 * 1024)
    if body.size > limit:
        raise ServeError(
            f"{body.size} bytes is more than this server takes ({limit} bytes, FENTA_MAX_UPLOAD_MB)",
            status=413,
            title="Content Too Large",
        )
    try:
        tags = [clean_tag(t) for t in body.tags]
    except FentaError as e:
        raise ServeError(str(e), status=422, title="Invalid request", extra={"field": "tags"}) from None
    secret = secrets.token_urlsafe(32)
    now = time.time()
    row = {
        "id": "up_" + secrets.token_hex(8),
        "token_id": principal.token_id,
        "secret_hash": hashlib.sha256(secret.encode()).hexdigest(),
        "filename": name,
        "size": body.size,
        "tags": json.dumps(tags),
        "state": "pending",
        "created_at": now,
        "expires_at": now + UPLOAD_TTL,
    }
    app.stores.get().add_upload(row)
    return _view(row, base_url(request), secret)


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
    part = _folder(request) / f"{upload_id}.part"
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
    return _view(row, base_url(request))


@router.post(
    "/uploads/{upload_id}/complete",
    response_model=Upload,
    responses=responses(404, 409, 422),
    summary="Finish an upload",
)
def complete_upload(request: Request, upload_id: str, principal: Principal = require("assets:write")) -> dict:
    """Probe the uploaded file and add it to the library (thumbnail, facts, tags); 422 when it is not
    media."""
    from .. import library

    app = state(request)
    store = app.stores.get()
    row = store.upload(upload_id)
    if row is None or (row["token_id"] != principal.token_id and principal.role not in ("admin", "owner")):
        raise ServeError(f"no upload '{upload_id}'", status=404, title="Not Found")
    if row["state"] == "completed":
        return _view(row, base_url(request), asset=_asset_or_none(app, row["asset_id"], base_url(request)))
    if row["state"] != "uploaded":
        raise ServeError(
            f"upload '{upload_id}' is {row['state']}: PUT its bytes first", status=409, title="Conflict"
        )
    part = _folder(request) / f"{upload_id}.part"
    try:
        asset = library.add_file(
            part,
            tags=json.loads(row["tags"]),
            origin="upload",
            source=row["filename"],
            how="move",
            shown=row["filename"],
            name=row["filename"],
            provenance={"upload": upload_id, "token": principal.prefix},
            settings=app.settings,
        )
    except FentaError as e:
        part.unlink(missing_ok=True)
        store.move_upload(upload_id, "uploaded", "pending")
        raise ServeError(str(e), status=422, title="Not media", extra={"type": "not-media"}) from None
    store.move_upload(upload_id, "uploaded", "completed", asset_id=asset.id)
    row.update(state="completed")
    return _view(row, base_url(request), asset=app.service.asset_view(asset, base_url(request)))


def _asset_or_none(app: Any, asset_id: str, base: str) -> dict[str, Any] | None:
    from .. import library

    try:
        return app.service.asset_view(library.get(asset_id, settings=app.settings), base)
    except FentaError:
        return None


@router.get("/uploads/{upload_id}", response_model=Upload, responses=responses(404), summary="Show an upload")
def get_upload(request: Request, upload_id: str, principal: Principal = require("assets:read")) -> dict:
    app = state(request)
    row = app.stores.get().upload(upload_id)
    if row is None:
        raise ServeError(f"no upload '{upload_id}'", status=404, title="Not Found")
    asset = _asset_or_none(app, row["asset_id"], base_url(request)) if row.get("asset_id") else None
    return _view(row, base_url(request), asset=asset)


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
    found = _asset_or_none(state(request), asset_id, base_url(request))
    if found is None or found["id"] != asset_id:
        raise ServeError(f"no asset '{asset_id}'", status=404, title="Not Found")
    return found


@router.get(
    "/{asset_id}/thumbnail",
    response_class=FileResponse,
    responses=responses(404),
    summary="An asset's thumbnail",
)
def thumbnail(request: Request, asset_id: str, _: Principal = require("assets:read")) -> FileResponse:
    from .. import library

    try:
        asset = library.get(asset_id, settings=state(request).settings)
    except FentaError:
        asset = None
    if asset is None or asset.id != asset_id or not asset.thumbnail or not os.path.isfile(asset.thumbnail):
        raise ServeError(f"no thumbnail for asset '{asset_id}'", status=404, title="Not Found")
    return FileResponse(asset.thumbnail, media_type="image/jpeg")
