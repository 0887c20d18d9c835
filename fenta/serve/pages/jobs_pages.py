"""Renders: the jobs table (`/`) and a job's page (`/jobs/{id}`), live over SSE, with Cancel and Retry, and
the job's files (video, captions as WebVTT, thumbnail) for the page's player."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ...errors import ServeError
from ..deps import base_url, state
from ..events import follow_all, follow_job, resume_cursor
from ..jobs import artifact_response
from ..store import TERMINAL
from .charts import node_timeline
from .session import Visit, change, page
from .view import HEADERS, PageRoute, fragment, render

__all__ = ["router", "STATES", "CANCELLABLE", "RETRYABLE"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)

STATES = ("queued", "running", "failed", "completed", "dead", "cancelled")
#: States Cancel and Retry apply to (others answer 409).
CANCELLABLE = ("queued", "running", "failed")
RETRYABLE = ("failed", "dead", "cancelled")
_PAGE = 25
_DONE = {"cancelled": "Cancel requested.", "retried": "Queued again."}


@router.get("/")
def renders(
    request: Request,
    status: str = "",
    workflow: str = "",
    cursor: str = "",
    visit: Visit = page("jobs:read"),
) -> Response:
    """Every job, newest first, live: status and progress change as the event log grows."""
    if status and status not in STATES:
        raise ServeError(f"'{status}' is not a job state (choose {', '.join(STATES)})", status=422)
    after = state(request).service.last_event_id()  # read first: the table is at least this new
    found = state(request).service.jobs_page(
        status=status or None,
        workflow=workflow.strip() or None,
        limit=_PAGE,
        cursor=cursor or None,
        base=base_url(request),
    )
    return render(
        request,
        visit,
        "renders.html",
        jobs=found["items"],
        next_cursor=found["next_cursor"],
        state_filter=status,
        workflow=workflow,
        states=STATES,
        first_page=not cursor,
        after=after,
    )


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, done: str = "", visit: Visit = page("jobs:read")) -> Response:
    """One job: progress, node timings, event log, attempts, error and failing node, player, files."""
    service = state(request).service
    job = service.job(job_id, base_url(request))
    events = [e.to_dict() for e in service.events_after(0, job_id, limit=2000)]
    files = {a["kind"]: a for a in job["artifacts"]}
    failing = next((n for n in job["nodes"] if n["status"] == "failed"), None)
    return render(
        request,
        visit,
        "job.html",
        job=job,
        events=events,
        last_event=events[-1]["id"] if events else 0,
        timeline=node_timeline(job["nodes"]),
        video=files.get("video"),
        captions=files.get("srt"),
        thumbnail=files.get("thumbnail"),
        failing=failing,
        terminal=job["status"] in TERMINAL,
        can_cancel=visit.can("jobs:write") and job["status"] in CANCELLABLE,
        can_retry=visit.can("jobs:write") and job["status"] in RETRYABLE,
        can_download=visit.can("artifacts:read"),
        notice=_DONE.get(done),
    )


@router.get("/jobs/{job_id}/row")
def job_row(request: Request, job_id: str, visit: Visit = page("jobs:read")) -> Response:
    """A job's row of the Renders table (the page's script adds new jobs with it)."""
    service = state(request).service
    job = service.job(job_id, base_url(request))
    return HTMLResponse(fragment("job_row.html", job=job), headers=HEADERS)


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str, visit: Visit = change("jobs:write")) -> Response:
    state(request).service.cancel(job_id, base_url(request))
    return RedirectResponse(f"/jobs/{job_id}?done=cancelled", status_code=303)


@router.post("/jobs/{job_id}/retry")
def retry(request: Request, job_id: str, visit: Visit = change("jobs:write")) -> Response:
    state(request).service.retry(job_id, base_url(request))
    return RedirectResponse(f"/jobs/{job_id}?done=retried", status_code=303)


@router.get("/jobs/{job_id}/files/{name}")
async def job_file(
    request: Request, job_id: str, name: str, visit: Visit = page("artifacts:read")
) -> Response:
    """A file the job published (the player's video, the thumbnail, downloads), as the API sends it."""
    path = await run_in_threadpool(state(request).service.artifact_path, job_id, name)
    return artifact_response(request, path)


def _webvtt(text: str) -> str:
    """SRT as WebVTT, the caption format browsers play in a <track>."""
    import pysubs2

    subs = pysubs2.SSAFile.from_string(text, format_="srt")
    return subs.to_string("vtt")


@router.get("/jobs/{job_id}/captions.vtt")
async def captions(request: Request, job_id: str, visit: Visit = page("artifacts:read")) -> Response:
    """The job's .srt captions as WebVTT, for the video's <track>."""
    service = state(request).service

    def read() -> str:
        job = service.job(job_id, base_url(request))
        srt = next((a for a in job["artifacts"] if a["kind"] == "srt"), None)
        if srt is None:
            raise ServeError(f"job '{job_id}' has no captions", status=404, title="Not Found")
        return _webvtt(service.artifact_path(job_id, srt["name"]).read_text(encoding="utf-8-sig"))

    return Response(await anyio.to_thread.run_sync(read), media_type="text/vtt; charset=utf-8")


@router.get("/jobs/{job_id}/events")
async def job_events(
    request: Request,
    job_id: str,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
    visit: Visit = page("jobs:read"),
) -> Response:
    """The job's events after `after` (or Last-Event-ID), live, as the API streams them."""
    return await follow_job(state(request), job_id, resume_cursor(last_event_id, after) or 0)


@router.get("/events")
async def all_events(
    request: Request,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
    visit: Visit = page("jobs:read"),
) -> Response:
    """Every job's events from now on, for the Renders table."""
    return await follow_all(state(request), resume_cursor(last_event_id, after))
