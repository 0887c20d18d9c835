"""Errors as RFC 9457 problem documents (`application/problem+json`), for every route.

    {"type": "https://fenta.dev/problems/invalid-workflow", "title": "Invalid workflow", "status": 422,
     "detail": "2 problems found", "instance": "/v1/jobs", "request_id": "...",
     "errors": [{"detail": "...", "pointer": "/workflow/nodes/voice/params/engine", "node": "voice",
                 "field": "params.engine", "line": 7}]}

`type` names the kind of problem (a stable URI; `about:blank` when the status says it all), `title` is
stable per type, `detail` is about this occurrence, `instance` is the path asked for, `request_id` the
id of this request in the server's logs.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from ..errors import FentaError, Problem, ServeError, SpecError

__all__ = ["MEDIA_TYPE", "BASE", "problem_response", "spec_problem", "install", "PROBLEM_RESPONSES"]

MEDIA_TYPE = "application/problem+json"
BASE = "https://fenta.dev/problems/"

log = logging.getLogger("fenta.serve")

#: Titles (and types) of the problems the API raises itself, by status.
_TYPES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    413: "content-too-large",
    422: "unprocessable",
    429: "https://iana.org/assignments/http-problem-types#quota-exceeded",
}


def _type_of(status: int, explicit: str | None) -> str:
    if explicit:
        return explicit if ":" in explicit else BASE + explicit
    known = _TYPES.get(status)
    if known is None:
        return "about:blank"
    return known if ":" in known else BASE + known


def problem_response(
    request: Request | None,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem document as a response (the request gives `instance` and `request_id`)."""
    body: dict[str, Any] = {
        "type": _type_of(status, type),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        rid = request.scope.get("state", {}).get("request_id")
        if rid:
            body["request_id"] = rid
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _pointer(p: Problem) -> str | None:
    if p.node and p.field:
        parts = [p.node, *p.field.replace("[", ".").replace("]", "").split(".")]
        return "/workflow/nodes/" + "/".join(s.replace("~", "~0").replace("/", "~1") for s in parts if s)
    if p.node:
        return f"/workflow/nodes/{p.node}"
    if p.field and not p.field.startswith("-"):
        return "/workflow/" + p.field.replace(".", "/")
    return None


def problem_items(e: SpecError) -> list[dict[str, Any]]:
    """Every problem of a workflow, as the `errors` member lists them."""
    out = []
    for p in e.problems:
        item = {
            "detail": p.message,
            "pointer": _pointer(p),
            "node": p.node,
            "field": p.field,
            "line": p.line,
            "text": str(p),
        }
        out.append({k: v for k, v in item.items() if v is not None})
    return out


def spec_problem(e: SpecError) -> ServeError:
    """A workflow that does not validate: 422, every problem listed (as `fenta validate` lists them)."""
    n = len(e.problems)
    detail = str(e.problems[0]) if n == 1 else f"{n} problems found"
    return ServeError(
        detail,
        status=422,
        title="Invalid workflow",
        extra={"type": "invalid-workflow", "errors": problem_items(e)},
    )


def _serve_error(request: Request, e: ServeError) -> JSONResponse:
    extra = dict(e.extra)
    return problem_response(
        request,
        e.status,
        e.message,
        title=e.title,
        type=extra.pop("type", None),
        headers=e.headers or None,
        **extra,
    )


def install(app: FastAPI) -> None:
    """Answer every error with a problem document (FastAPI's default is `{"detail": ...}`)."""

    @app.exception_handler(ServeError)
    async def _serve(request: Request, e: ServeError) -> JSONResponse:
        return _serve_error(request, e)

    @app.exception_handler(SpecError)
    async def _spec(request: Request, e: SpecError) -> JSONResponse:
        return _serve_error(request, spec_problem(e))

    @app.exception_handler(FentaError)
    async def _fenta(request: Request, e: FentaError) -> JSONResponse:
        return problem_response(
            request,
            422 if e.exit_code == 2 else 500,
            str(e),
            title="Cannot do that" if e.exit_code == 2 else None,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        detail = e.detail if isinstance(e.detail, str) else HTTPStatus(e.status_code).description
        if e.status_code == 413:
            detail = f"the request body is larger than this route takes ({detail})"
        return problem_response(request, e.status_code, detail, headers=getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        errors = []
        for err in e.errors():
            loc = [str(x) for x in err.get("loc", ())]
            errors.append(
                {
                    "detail": err.get("msg", ""),
                    "pointer": "/" + "/".join(loc[1:]) if loc and loc[0] == "body" else None,
                    "location": ".".join(loc),
                }
            )
        n = len(errors)
        detail = (
            f"{errors[0]['location']}: {errors[0]['detail']}" if n == 1 else f"{n} problems in the request"
        )
        return problem_response(
            request, 422, detail, title="Invalid request", type="invalid-request", errors=errors
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, e: Exception) -> JSONResponse:
        log.error(
            "internal error on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(e).__name__,
            e,
            exc_info=e,
        )
        return problem_response(
            request, 500, "internal error (the server's log has it under this request_id)"
        )


_PROBLEM = {"content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}

#: `responses=` for routes: what each status means, as problem documents.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No, a malformed, an unknown, an expired or a revoked access token", **_PROBLEM},
    403: {"description": "The token's role or scopes lack the route's permission", **_PROBLEM},
    429: {
        "description": "Over the rate limit of this token and route (see Retry-After and RateLimit)",
        **_PROBLEM,
    },
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """PROBLEM_RESPONSES plus these statuses, each described as a problem document."""
    out = dict(PROBLEM_RESPONSES)
    for s in statuses:
        out[s] = {"description": HTTPStatus(s).phrase, **_PROBLEM}
    return out
