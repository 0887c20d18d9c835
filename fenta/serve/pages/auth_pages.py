"""Signing in and out: `/login` (a form with a `token` field) and `/logout`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import ServeError
from ..access import authenticate
from ..deps import state
from .session import (
    check_login_token,
    check_sign_out,
    end_session,
    local_path,
    login_token,
    remember_login_token,
    start_session,
)
from .view import NAV, PageRoute, render, session_visit

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)

_WORDS = {
    "missing": "Enter an access token.",
    "malformed": "That is not a fenta access token: they start with fenta_pat_ and are 59 characters long.",
    "unknown": "This access token is not known on this box.",
    "expired": "This access token expired. Ask the box's owner for a new one.",
    "revoked": "This access token was revoked. Ask the box's owner for a new one.",
}


def _form(request: Request, target: str, message: str | None, error: bool, status: int = 200) -> Response:
    value = login_token(request)
    response = render(
        request,
        None,
        "login.html",
        status=status,
        next=target,
        message=message,
        error=error,
        login_csrf=value,
    )
    remember_login_token(request, response, value)
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """The sign-in form (a visitor already signed in goes on to the page they asked for)."""
    target = local_path(next)
    if session_visit(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _form(request, target, "Sign in to see that page." if target != "/" else None, False)


@router.post("/login")
def sign_in(
    request: Request,
    token: Annotated[str, Form()] = "",
    login_csrf: Annotated[str, Form()] = "",
    target: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """Check the token as the API would; keep it in the session cookie; go on to `next`."""
    check_login_token(request, login_csrf)
    secret = token.strip()
    target = local_path(target)
    try:
        principal = authenticate(state(request).stores.get(), f"Bearer {secret}" if secret else None)
    except ServeError as e:
        return _form(request, target, _WORDS.get(e.extra.get("reason", ""), e.message), True, status=401)
    if target == "/" and not principal.can("jobs:read"):
        target = next((path for _, path, scope in NAV if principal.can(scope)), "/")
    response = RedirectResponse(target, status_code=303)
    start_session(request, response, secret)
    return response


@router.post("/logout")
def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Forget the session cookie (the token itself stays valid: `fenta tokens revoke` ends it)."""
    check_sign_out(request, csrf)
    response = RedirectResponse("/login", status_code=303)
    end_session(request, response)
    return response
