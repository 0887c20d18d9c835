"""Live progress as Server-Sent Events, read from the event log (`events` table; never from the runner).

    GET /v1/jobs/{id}/events     one job: its events, then `event: end` once it completed, died or was
                                 cancelled
    GET /v1/events               every job's events, for as long as the client stays

Each frame is one row of the log: `id:` is the row's id (it only grows), `event:` its type, `data:` the
same JSON object `fenta jobs watch --json` prints. A client that reconnects sends `Last-Event-ID` (browsers
do it themselves) or `?after=ID` and gets exactly the events after that one: none lost, none twice. A
`: ping` comment keeps idle connections open (every 15 s). A reconnect to a job whose stream already
ended is answered 204, which tells an `EventSource` to stop.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from ..errors import ServeError
from .access import Principal
from .deps import AppState, require, state
from .problems import responses
from .store import TERMINAL

__all__ = ["router", "stream", "follow_job", "follow_all", "resume_cursor"]

router = APIRouter(tags=["events"])

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream`: frames `id:` (event id), `event:` (type), `data:` (the event as "
        "JSON); `event: end` closes a job's stream.",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": "id: 7\nevent: node.finished\ndata: "
                '{"id": 7, "type": "node.finished", "jobId": "20261207-171002-ab12cd", "data": '
                '{"jobId": "20261207-171002-ab12cd", "node": "voice", "status": "completed", '
                '"seconds": 1.84}, '
                '"createdAt": "2026-12-07T17:10:04.250Z"}\n\n',
            }
        },
    },
    204: {"description": "The job's stream already ended (a reconnect after `event: end`): stop."},
}


def resume_cursor(last_event_id: str | None, after: int | None) -> int | None:
    """Where to resume: the larger of `Last-Event-ID` and `?after=` (None when neither was given)."""
    values = []
    if last_event_id not in (None, ""):
        text = str(last_event_id).strip()
        if not text.isdigit():
            raise ServeError(
                f"Last-Event-ID '{text[:40]}' is not an event id (a whole number)",
                status=400,
                title="Bad Last-Event-ID",
            )
        values.append(int(text))
    if after is not None:
        values.append(after)
    return max(values) if values else None


def _frame(ev: Any) -> ServerSentEvent:
    return ServerSentEvent(
        id=str(ev.id), event=ev.type, data=json.dumps(ev.to_dict(), ensure_ascii=False, default=str)
    )


async def stream(app: AppState, cursor: int, job_id: str | None) -> AsyncIterator[ServerSentEvent]:
    """Replay the log after `cursor`, then follow it; for one job, end with `event: end` when it is
    terminal."""
    app.metrics.sse_streams.inc()
    try:
        yield ServerSentEvent(retry=2000, comment="fenta events")
        while True:
            evs = await anyio.to_thread.run_sync(app.service.events_after, cursor, job_id)
            for ev in evs:
                cursor = ev.id
                yield _frame(ev)
            if evs:
                continue
            if job_id is not None:
                status = await anyio.to_thread.run_sync(app.service.job_state, job_id)
                if status in TERMINAL:
                    # Appended between the read and the look at the state: still part of the stream.
                    late = await anyio.to_thread.run_sync(app.service.events_after, cursor, job_id)
                    if late:
                        continue
                    yield ServerSentEvent(event="end", data=json.dumps({"jobId": job_id, "status": status}))
                    return
            await anyio.sleep(app.poll)  # a client that left cancels this (sse-starlette listens for it)
    finally:
        app.metrics.sse_streams.dec()


def _response(app: AppState, gen: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    return EventSourceResponse(
        gen,
        ping=max(0.05, app.options.ping_seconds),
        sep="\n",
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
    )


@router.get(
    "/v1/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    responses={**_STREAM, **responses(400, 404)},
    summary="Follow a job (SSE)",
)
async def job_events(
    request: Request,
    job_id: str,
    after: Annotated[
        int | None, Query(ge=0, description="Start after this event id (like Last-Event-ID).")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(description="The id of the last event received (sent by EventSource on reconnect)."),
    ] = None,
    _: Principal = require("jobs:read"),
) -> Response:
    """The job's events from the start (or after `Last-Event-ID` / `after`), live, until `event: end`."""
    request.state.job_id = job_id
    return await follow_job(state(request), job_id, resume_cursor(last_event_id, after) or 0)


async def follow_job(app: AppState, job_id: str, cursor: int) -> Response:
    """The SSE answer for one job's events after `cursor` (the dashboard's job page follows it too): 404
    for an unknown job, 204 once its stream ended."""
    status = await anyio.to_thread.run_sync(app.service.job_state, job_id)
    if status is None:
        raise ServeError(f"no job '{job_id}'", status=404, title="Not Found")
    if status in TERMINAL and not await anyio.to_thread.run_sync(app.service.events_after, cursor, job_id, 1):
        return Response(status_code=204)
    return _response(app, stream(app, cursor, job_id))


@router.get(
    "/v1/events",
    response_class=EventSourceResponse,
    responses={**_STREAM, **responses(400)},
    summary="Follow every job (SSE)",
)
async def all_events(
    request: Request,
    after: Annotated[
        int | None,
        Query(ge=0, description="Start after this event id (0: the whole log); default: only new events."),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(description="The id of the last event received (sent by EventSource on reconnect)."),
    ] = None,
    _: Principal = require("jobs:read"),
) -> Response:
    """Every event appended to the log from now on (or after `Last-Event-ID` / `after`), for every job."""
    return await follow_all(state(request), resume_cursor(last_event_id, after))


async def follow_all(app: AppState, cursor: int | None) -> Response:
    """The SSE answer for every job's events after `cursor` (None: from now on)."""
    if cursor is None:
        cursor = await anyio.to_thread.run_sync(lambda: app.stores.get().jobs.last_event_id())
    return _response(app, stream(app, cursor, None))
