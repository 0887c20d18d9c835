"""Logs of `fenta serve`, `fenta worker` and `fenta scheduler`: plain lines, or one JSON object per line.

    --log-format json   (or FENTA_LOG_FORMAT=json)

    {"time": "2026-12-07T17:10:02.113000+00:00", "level": "INFO", "logger": "fenta.serve",
     "message": "POST /v1/jobs 202", "request_id": "3f9c...", "method": "POST", "route": "/v1/jobs",
     "status": 202, "duration": 0.0123, "token": "fenta_pat_4Qm9aZk0"}
    {"time": "...", "level": "INFO", "logger": "fenta.jobs", "message": "node voice finished (completed)",
     "job_id": "20261207-171002-ab12cd", "node": "voice", "duration": 1.84, "event": "node.finished",
     "event_id": 42}

`request_id` (from `X-Request-ID` when the client sends a usable one, else new; echoed in the response
and in problem documents) ties a request's lines together; `job_id` ties a job's lines together from the
request that queued it to the worker that rendered it. Durations are in seconds. Nothing logged ever
holds a token, an `Authorization` header, a webhook secret or a request body.

This module imports no web framework: `fenta worker` and `fenta scheduler` use it without the serve extra.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TextIO

from ..errors import ServeError

__all__ = ["FORMATS", "request_id_var", "job_id_var", "setup_logging", "LogLines", "RequestLog"]

FORMATS = ("text", "json")

request_id_var: ContextVar[str | None] = ContextVar("fenta_request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("fenta_job_id", default=None)

_RESERVED = (
    "args",
    "asctime",
    "created",
    "exc_info",
    "exc_text",
    "filename",
    "funcName",
    "levelno",
    "lineno",
    "module",
    "msecs",
    "msg",
    "pathname",
    "process",
    "processName",
    "relativeCreated",
    "stack_info",
    "thread",
    "threadName",
    "taskName",
)


class _Context(logging.Filter):
    """Copies the request and job ids of the current context onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id_var), ("job_id", job_id_var)):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


def _json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    class _Lines(JsonFormatter):
        """JsonFormatter that leaves out fields with no value (a job line has no request id)."""

        def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in log_record.items() if v is not None}

    return _Lines(
        "{levelname}{name}{message}",
        style="{",
        timestamp="time",
        rename_fields={"levelname": "level", "name": "logger"},
        reserved_attrs=_RESERVED,
        json_ensure_ascii=False,
    )


class LogLines:
    """Where a process's notices go once `setup_logging` ran: job events and free lines, as log records."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self.jobs = logging.getLogger("fenta.jobs")
        self.notes = logging.getLogger("fenta.notes")

    def event(self, ev: Any) -> None:
        """One job event (from a worker's `on_event`); progress ticks and live-only notices are left out."""
        text = _EVENT_TEXT.get(ev.type)
        if not ev.id or text is None:  # live-only notices and progress ticks are not log lines
            return
        d = ev.data
        message = (
            text(d) if self.format == "json" else f"job {ev.job_id}: {text(d)}"
        )  # text lines name the job
        extra: dict[str, Any] = {"job_id": ev.job_id, "event": ev.type, "event_id": ev.id}
        if d.get("node"):
            extra["node"] = d["node"]
        if isinstance(d.get("seconds"), (int, float)):
            extra["duration"] = round(float(d["seconds"]), 4)
        level = logging.WARNING if ev.type in ("job.failed", "job.dead", "node.failed") else logging.INFO
        self.jobs.log(level, message, extra=extra)

    def line(self, message: str) -> None:
        """A notice line ("job ID: completed", "schedule NAME: ..."): the id becomes its own field."""
        extra: dict[str, Any] = {}
        m = _SUBJECT.match(message)
        if m:
            extra["job_id" if m.group(1) == "job" else "schedule"] = m.group(2)
        level = logging.WARNING if message.lower().startswith(("warning", "error")) else logging.INFO
        self.notes.log(level, message, extra=extra)


_SUBJECT = re.compile(r"^(job|schedule) ([\w.-]+)[: ]")

_EVENT_TEXT: dict[str, Callable[[dict[str, Any]], str]] = {
    "job.queued": lambda d: "queued",
    "job.started": lambda d: "started",
    "node.started": lambda d: f"node {d.get('node')} started ({d.get('type')})",
    "node.finished": lambda d: f"node {d.get('node')} finished ({d.get('status')})",
    "node.failed": lambda d: f"node {d.get('node')} failed: {d.get('error')}",
    "job.retrying": lambda d: (
        f"retry (attempt {d.get('attempt')}) in {float(d.get('delaySeconds') or 0):.1f} s"
    ),
    "job.completed": lambda d: f"completed {d.get('videoUrl') or ''}".rstrip(),
    "job.failed": lambda d: (
        f"failed ({'retryable' if d.get('retryable') else 'not retryable'}): {d.get('error')}"
    ),
    "job.dead": lambda d: f"dead: {d.get('error')}",
    "job.cancelled": lambda d: "cancelled",
}


def check_format(fmt: str | None) -> str:
    fmt = (fmt or "text").strip().lower()
    if fmt not in FORMATS:
        raise ServeError(
            f"log format '{fmt}' is not text or json (--log-format, FENTA_LOG_FORMAT)", field="--log-format"
        )
    return fmt


#: Loggers `setup_logging` configures: (JSON names, plain-line names).
_JSON_NAMES = ("fenta", "uvicorn", "uvicorn.error", "mcp")
_PLAIN_NAMES = ("fenta.serve", "fenta.jobs", "fenta.notes", "uvicorn.error")


def _reset() -> None:
    """Undo an earlier `setup_logging` in this process (one process may set up more than once: tests)."""
    for name in {*_JSON_NAMES, *_PLAIN_NAMES}:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "_fenta", False)]:
            logger.removeHandler(old)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def setup_logging(
    fmt: str | None, *, stream: TextIO | None = None, level: int = logging.INFO, plain: bool = False
) -> LogLines | None:
    """Send fenta's (and uvicorn's) log records to `stream` (stderr) as JSON lines, or as plain lines.

    Args:
        plain: With `text`, write the server's records and the `LogLines` notices as plain lines (`fenta
            serve`); without it, `text` leaves logging alone (`fenta worker` prints its own lines).

    Returns:
        A `LogLines` the caller hands its job events and notices to; None for `text` without `plain`.

    Raises:
        ServeError: `fmt` is neither text nor json (exit 2).
    """
    fmt = check_format(fmt)
    _reset()
    if fmt == "text" and not plain:
        return None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._fenta = True  # type: ignore[attr-defined]
    handler.addFilter(_Context())
    if fmt == "json":
        handler.setFormatter(_json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"))
    for name in _JSON_NAMES if fmt == "json" else _PLAIN_NAMES:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level if name != "mcp" else logging.WARNING)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # RequestLog writes one line per request instead
    return LogLines(fmt)


# ---------------------------------------------------------------- one line per request

_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _route_of(scope: dict[str, Any]) -> str:
    path = getattr(scope.get("route"), "path", None)
    if path:
        return str(path)
    return "/mcp" if scope.get("path", "").startswith("/mcp") else "unmatched"


class RequestLog:
    """ASGI middleware: a request id per request (`X-Request-ID`), the headers routes left in
    `scope["state"]["headers"]` (RateLimit), one log line per request, and `observe(method, route, status,
    seconds)` for the metrics."""

    def __init__(self, app: Any, *, observe: Callable[[str, str, int, float], None] | None = None) -> None:
        self.app = app
        self.observe = observe
        self.log = logging.getLogger("fenta.serve")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or [])
        given = sent.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _RID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", rid.encode()))
                for k, v in (state.get("headers") or {}).items():
                    headers.append((k.lower().encode(), str(v).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            route = _route_of(scope)
            principal = state.get("principal")
            extra = {
                "method": scope["method"],
                "route": route,
                "status": status,
                "duration": round(seconds, 4),
            }
            if principal is not None:
                extra["token"] = principal.prefix
            if state.get("job_id"):
                extra["job_id"] = state["job_id"]
            self.log.info("%s %s %s", scope["method"], scope.get("path", ""), status, extra=extra)
            if self.observe is not None:
                self.observe(scope["method"], route, status, seconds)
            request_id_var.reset(token)
