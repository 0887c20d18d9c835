"""`/v1/jobs`: queue a job (Idempotency-Key), list, show, cancel, retry, download its files."""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .access import Principal
from .deps import base_url, require, state
from .models import Job, JobCreate, JobPage
from .problems import responses
from .service import MAX_PAGE

__all__ = ["router", "artifact_response"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_IDEMPOTENCY = (
    "Makes retrying this request safe: the first request with a key queues the job and its answer is kept 24 "
    "h; "
    "a repeat gets the same answer (`Idempotent-Replayed: true`), a repeat while the first is still "
    "processed gets 409, "
    "the same key with a different body 422. Keys are per token."
)


@router.post("", status_code=202, response_model=Job, responses=responses(409, 422), summary="Queue a job")
def create_job(
    request: Request,
    body: JobCreate,
    principal: Principal = require("jobs:write"),
    idempotency_key: Annotated[str | None, Header(description=_IDEMPOTENCY)] = None,
) -> JSONResponse:
    """Validate the workflow under the untrusted-input policy (no local files, no private addresses) and
    queue it for the server's workers. Every problem of an invalid workflow is listed (422,
    `errors`), as `fenta validate` lists them. Answers 202 with the job and its `Location`."""
    from .service import idempotency_key as parse_key

    app = state(request)
    status, job, replayed = app.service.create_job(
        principal, body.model_dump(), parse_key(idempotency_key), base_url(request)
    )
    request.state.job_id = job["id"]
    if not replayed:
        app.metrics.job_submitted("api")
    headers = {"Location": job["links"]["self"]}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(job, status_code=status, headers=headers)


@router.get("", response_model=JobPage, responses=responses(400), summary="List jobs")
def list_jobs(
    request: Request,
    status: Annotated[
        Literal["queued", "running", "failed", "completed", "dead", "cancelled"] | None,
        Query(description="Only jobs in this state."),
    ] = None,
    workflow: Annotated[str | None, Query(description="Only jobs of the workflow with this name.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="At most this many (the page may be shorter).")
    ] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    _: Principal = require("jobs:read"),
) -> dict:
    """Jobs newest first, a page at a time (opaque cursors: pass `next_cursor` back until it is null)."""
    return state(request).service.jobs_page(
        status=status, workflow=workflow, limit=limit, cursor=cursor, base=base_url(request)
    )


@router.get("/{job_id}", response_model=Job, responses=responses(404), summary="Show a job")
async def get_job(request: Request, job_id: str, _: Principal = require("jobs:read")) -> JSONResponse:
    """State, progress, node timings, attempts, cost and artifacts (each with its download URL)."""
    request.state.job_id = job_id
    # The hot path of every poller: a few indexed reads, done on the event loop (no thread hop), and the
    # view sent as built (no second validation against the model, which documents it).
    return JSONResponse(state(request).service.job(job_id, base_url(request)))


@router.post("/{job_id}/cancel", response_model=Job, responses=responses(404, 409), summary="Cancel a job")
def cancel_job(request: Request, job_id: str, _: Principal = require("jobs:write")) -> dict:
    """A queued or waiting job is cancelled at once; a running one is asked to stop (its status turns
    `cancelled` within a poll interval). 409 when it already completed, died or was cancelled."""
    request.state.job_id = job_id
    return state(request).service.cancel(job_id, base_url(request))


@router.post("/{job_id}/retry", response_model=Job, responses=responses(404, 409), summary="Retry a job")
def retry_job(request: Request, job_id: str, _: Principal = require("jobs:write")) -> dict:
    """Queue a dead, failed or cancelled job again with a fresh retry budget (409 for any other state)."""
    request.state.job_id = job_id
    return state(request).service.retry(job_id, base_url(request))


def _etag(path: str) -> str:
    """The ETag Starlette's FileResponse sends for this file (so If-None-Match can be answered with 304)."""
    st = os.stat(path)
    return '"' + hashlib.md5(f"{st.st_mtime}-{st.st_size}".encode(), usedforsecurity=False).hexdigest() + '"'


@router.head(
    "/{job_id}/artifacts/{name}",
    response_class=FileResponse,
    responses=responses(404),
    summary="A job's file: size, ETag, Last-Modified",
    operation_id="artifact_head",
)
@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=FileResponse,
    responses={
        **responses(404, 416),
        206: {"description": "Part of the file (Range)"},
        304: {"description": "Not Modified (If-None-Match)"},
    },
    summary="Download a job's file",
)
async def artifact(
    request: Request, job_id: str, name: str, _: Principal = require("artifacts:read")
) -> Response:
    """The file itself (video/mp4 for the video). `Range: bytes=0-1023` gets 206 with that part (416 when it
    is outside the file); `If-None-Match` with the ETag of an earlier download gets 304."""
    request.state.job_id = job_id
    path = await run_in_threadpool(state(request).service.artifact_path, job_id, name)
    return artifact_response(request, path)


def artifact_response(request: Request, path: Path) -> Response:
    """A job's file as a download: 304 for a matching If-None-Match, else the file (Range, ETag; videos
    and images inline, other files as attachments). The dashboard's file route answers with it too."""
    tag = _etag(str(path))
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    media = (
        "video/mp4"
        if path.suffix == ".mp4"
        else mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    return FileResponse(
        path,
        media_type=media,
        filename=path.name,
        content_disposition_type="inline" if media.startswith(("video/", "image/")) else "attachment",
    )
