"""Rendering the dashboard's pages: the Jinja2 templates (`html/`), their filters, the headers every page
carries, and `PageRoute`, which answers a page's errors as a page in words (401, 403, 404, 409, 422, 500)
instead of a problem document, and sends a visitor without a session to the sign-in page."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException

from ...errors import FentaError, ServeError
from ..access import authenticate
from ..problems import problem_response
from .session import COOKIE, Visit, csrf_for

__all__ = ["render", "fragment", "error_page", "session_visit", "PageRoute", "NAV", "wants_json", "HEADERS"]

log = logging.getLogger("fenta.serve")

HTML = Path(__file__).with_name("html")

#: Every page's security headers: only this server's own scripts, styles, fonts and media; never framed.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' "
    "data:; media-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

#: The navigation: (label, path, the permission that shows it).
NAV = [
    ("Renders", "/", "jobs:read"),
    ("New video", "/new", "workflows:read"),
    ("Templates", "/templates", "workflows:read"),
    ("Assets", "/assets", "assets:read"),
    ("Schedules", "/schedules", "schedules:read"),
    ("Usage", "/usage", "usage:read"),
    ("Webhooks", "/webhooks", "webhooks:read"),
]


def _when(value: str | None, part: str = "datetime") -> Markup:
    """An ISO time as a <time> element (the page's script shows it in the viewer's time zone; `part`
    "time" shows only the time of day)."""
    if not value:
        return Markup("—")
    shown = (value[11:19] if part == "time" else value.replace("T", " ")[:16]) + " UTC"
    kind = ' data-part="time"' if part == "time" else ""
    return Markup(f'<time datetime="{escape(value)}"{kind}>{escape(shown)}</time>')


def _amount(value: float | None, unit: str) -> str:
    """A quota's amount in its unit: dollars, whole jobs, minutes, credits."""
    v = float(value or 0)
    if unit == "USD":
        return _usd(v) if v else "$0"
    text = f"{v:.0f}" if v == int(v) else f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def _usd(value: float | None) -> str:
    v = float(value or 0)
    if v == 0:
        return "$0.00"
    return f"${v:,.4f}".rstrip("0").rstrip(".") if v < 0.01 else f"${v:,.2f}"


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value} bytes"
    n = value / 1000
    for unit in ("KB", "MB"):
        if n < 1000:
            return f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _secs(value: float | None) -> str:
    if value is None:
        return "—"
    v = float(value)
    if v < 60:
        return f"{v:.1f} s" if v < 10 else f"{v:.0f} s"
    return f"{int(v // 60)} min {int(v % 60)} s"


def _pct(value: float | None) -> str:
    return f"{round(float(value or 0) * 100)} %"


def _event_text(ev: dict[str, Any]) -> str:
    """An event of the log in words."""
    d, t = ev.get("data") or {}, ev.get("type")
    node = d.get("node")
    if t == "job.progress":
        return f"{_pct(d.get('progress'))}" + (f" (after {node})" if node else "")
    if t == "node.started":
        return f"{node} ({d.get('type')}) started"
    if t == "node.finished":
        return f"{node} {d.get('status')} in {_secs(d.get('seconds'))}"
    if t == "node.failed":
        return f"{node} failed: {d.get('error')}"
    if t == "job.queued":
        return "queued" + (f" (priority {d['priority']})" if d.get("priority") else "")
    if t == "job.started":
        return "started"
    if t == "job.retrying":
        return f"attempt {d.get('attempt')} in {_secs(d.get('delaySeconds'))}: {d.get('error')}"
    if t == "job.completed":
        return f"completed: {_secs(d.get('duration'))} of video, {_usd(d.get('cost'))}"
    if t == "job.failed":
        return ("failed, will retry: " if d.get("retryable") else "failed: ") + str(d.get("error"))
    if t == "job.dead":
        return f"gave up: {d.get('error')}"
    if t == "job.cancelled":
        return "cancelled"
    return ", ".join(f"{k}: {v}" for k, v in d.items() if k != "jobId")


_env = Environment(
    loader=FileSystemLoader(HTML),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    when=_when, usd=_usd, size=_size, secs=_secs, pct=_pct, event_text=_event_text, amount=_amount
)


def render(
    request: Request, visit: Visit | None, page_file: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page: `html/<page_file>` with the navigation this visitor may use, and the security headers."""
    nav = [(label, path) for label, path, scope in NAV if visit is not None and visit.can(scope)]
    here = request.url.path
    body = _env.get_template(page_file).render(
        request=request, visit=visit, nav=nav, here=here, csrf=visit.csrf if visit else "", **context
    )
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def fragment(part_file: str, **context: Any) -> str:
    """A part of a page (a table row), rendered alone for the page's script."""
    return _env.get_template(part_file).render(**context)


def wants_json(request: Request) -> bool:
    """A request of the page's own script (it asks for JSON), answered with a problem document."""
    return "application/json" in request.headers.get("accept", "")


def session_visit(request: Request) -> Visit | None:
    """The visitor behind a refused request, if their session is valid (to show the navigation)."""
    from ..deps import state

    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    try:
        return Visit(authenticate(state(request).stores.get(), f"Bearer {secret}"), csrf_for(secret))
    except Exception:
        return None


_REASONS = {
    "missing": "Sign in with an access token to see this page.",
    "malformed": "The saved access token is not a fenta access token. Sign in again.",
    "unknown": "The saved access token is not known here (the server's tokens may have been reset). "
    "Sign in with another one.",
    "expired": "Your access token expired. Ask the box's owner for a new one (`fenta tokens create`) and "
    "sign in again.",
    "revoked": "Your access token was revoked. Ask the box's owner for a new one and sign in again.",
}


def error_page(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    reason: str | None = None,
    problems: list[str] | None = None,
) -> Response:
    """A refusal or error as a page in words (or, for the page's own script, a problem document)."""
    from http import HTTPStatus

    if wants_json(request):
        return problem_response(request, status, detail, title=title)
    visit = None if status == 401 else session_visit(request)
    heading = {
        401: "Sign in needed",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible now",
        413: "Too large",
        422: "Cannot do that",
        429: "Too many requests",
    }.get(status, title or HTTPStatus(status).phrase)
    explain = _REASONS.get(reason or "") if status == 401 else None
    if status == 403 and reason == "scope" and visit is not None:
        explain = (
            f"Your token “{visit.principal.name}” has the {visit.principal.role} role, which may not do this."
        )
    response = render(
        request,
        visit,
        "error.html",
        status=status,
        heading=heading,
        detail=detail,
        explain=explain,
        problems=problems or [],
        rid=request.scope.get("state", {}).get("request_id"),
    )
    if status == 401:
        from .session import end_session

        end_session(request, response)
    return response


def _sign_in(request: Request) -> Response:
    if request.method == "GET" and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return error_page(request, 401, "sign in first", reason="missing")


class PageRoute(APIRoute):
    """A dashboard route: its refusals and errors become pages (see `error_page`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except ServeError as e:
                if e.status == 401 and e.extra.get("reason") == "missing":
                    return _sign_in(request)
                problems = [i.get("text") or i.get("detail", "") for i in e.extra.get("errors", [])]
                return error_page(
                    request,
                    e.status,
                    e.message,
                    title=e.title,
                    reason=e.extra.get("reason"),
                    problems=problems,
                )
            except RequestValidationError as e:
                problems = [
                    f"{'.'.join(str(x) for x in err.get('loc', ())[1:])}: {err.get('msg')}"
                    for err in e.errors()
                ]
                return error_page(request, 422, "the request is not what this page sends", problems=problems)
            except HTTPException as e:
                return error_page(request, e.status_code, str(e.detail))
            except FentaError as e:
                return error_page(request, 422 if e.exit_code == 2 else 500, str(e))
            except Exception as e:  # never a traceback in a page: the log has it under the request id
                log.error(
                    "internal error on %s %s: %s: %s",
                    request.method,
                    request.url.path,
                    type(e).__name__,
                    e,
                    exc_info=e,
                )
                return error_page(
                    request, 500, "internal error (the server's log has it under this request id)"
                )

        return handler
