"""The dashboard's session: the access token in a cookie, and CSRF protection for every change.

Signing in stores the personal access token itself in the `fenta_session` cookie: HttpOnly (no script
reads it), SameSite=Strict (no other site's page sends it), Secure when the page came over HTTPS, for
at most the token's remaining life (30 days at most). It never appears in a page or a URL. Every request
then authenticates that token exactly as the API authenticates a bearer token (`deps.check`: revocation,
expiry, the role's permissions narrowed by its scopes, the rate limit).

Every change (a POST) also needs the CSRF token: HMAC-SHA256 keyed with the access token, so it is the
same for the whole session, needs no server state, and cannot be made without the access token (it reveals
nothing of it). Forms send it as the `csrf` field, scripts as the `X-CSRF-Token` header. A request whose
`Origin` names another host, or that a browser marks `Sec-Fetch-Site: cross-site`, is refused too.

The sign-in form itself is protected the same way with a random value in a short-lived cookie
(`fenta_login`, double submit), so no other site can sign a browser in with someone else's token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response

from ...errors import ServeError
from ..access import Principal, token_hash
from ..deps import check, state

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "Visit",
    "visitor",
    "changer",
    "page",
    "change",
    "csrf_for",
    "start_session",
    "end_session",
    "login_token",
    "remember_login_token",
    "check_login_token",
    "check_sign_out",
    "local_path",
]

COOKIE = "fenta_session"
LOGIN_COOKIE = "fenta_login"
#: The longest a browser keeps the session cookie (the token's own expiry may end it sooner).
MAX_SESSION = 30 * 86400
_CSRF_MESSAGE = b"fenta dashboard csrf v1"


@dataclass(frozen=True)
class Visit:
    """Who is looking at a page: their token's principal, and the CSRF token their forms send."""

    principal: Principal
    csrf: str

    def can(self, scope: str) -> bool:
        return self.principal.can(scope)


def csrf_for(secret: str) -> str:
    return hmac.new(secret.encode(), _CSRF_MESSAGE, hashlib.sha256).hexdigest()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def local_path(target: str | None) -> str:
    """`target` when it is a path of this site (never another site: no open redirect), else `/`."""
    t = target or "/"
    if not t.startswith("/") or t.startswith("//") or "\\" in t or any(ord(c) < 32 for c in t):
        return "/"
    return t


def _route(request: Request) -> str:
    return f"{request.method} {getattr(request.scope.get('route'), 'path', request.url.path)}"


def visitor(request: Request, scope: str) -> Visit:
    """The session's visit, allowed `scope`.

    Raises:
        ServeError: 401 (no session: `reason` "missing", which sends a page view to the sign-in page; or
            the token is malformed, unknown, expired or revoked), 403 (no `scope`), 429.
    """
    secret = (request.cookies.get(COOKIE) or "").strip()
    if not secret:
        raise ServeError("sign in first", status=401, title="Unauthorized", extra={"reason": "missing"})
    principal = check(state(request), request, scope, _route(request), authorization=f"Bearer {secret}")
    return Visit(principal, csrf_for(secret))


def _refuse_cross_site(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise ServeError("this change came from another site's page: refused", status=403, title="Forbidden")
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        raise ServeError("this change came from another site's page: refused", status=403, title="Forbidden")


async def _sent_csrf(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    kind = request.headers.get("content-type", "")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf")  # Starlette keeps the parsed form for the route
        return value if isinstance(value, str) else ""
    return ""


async def changer(request: Request, scope: str) -> Visit:
    """The session's visit for a change: allowed `scope`, same site, and the right CSRF token.

    Raises:
        ServeError: as `visitor`; 403 for a missing or wrong CSRF token or another site.
    """
    visit = visitor(request, scope)
    _refuse_cross_site(request)
    if not hmac.compare_digest((await _sent_csrf(request)).encode(), visit.csrf.encode()):
        raise ServeError(
            "this form is missing its security token or it is not this session's: reload the page and try "
            "again",
            status=403,
            title="Forbidden",
            extra={"reason": "csrf"},
        )
    return visit


def page(scope: str) -> Any:
    """`Depends(...)` for a page that needs `scope`."""

    def dependency(request: Request) -> Visit:
        return visitor(request, scope)

    return Depends(dependency)


def change(scope: str) -> Any:
    """`Depends(...)` for a change (POST) that needs `scope`."""

    async def dependency(request: Request) -> Visit:
        return await changer(request, scope)

    return Depends(dependency)


def start_session(request: Request, response: Response, secret: str) -> None:
    """Keep `secret` (an access token that just authenticated) in the session cookie."""
    row = state(request).stores.get().token_by_hash(token_hash(secret))
    left = (row["expires_at"] - time.time()) if row else 0
    response.set_cookie(
        COOKIE,
        secret,
        max_age=max(1, int(min(left, MAX_SESSION))),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))


def login_token(request: Request) -> str:
    """The sign-in form's CSRF value: the browser's, or a new one (`remember_login_token` sets it)."""
    value = request.cookies.get(LOGIN_COOKIE) or ""
    return value if len(value) == 43 else secrets.token_urlsafe(32)


def remember_login_token(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def check_sign_out(request: Request, sent: str | None) -> None:
    """Refuse a sign-out without this session's CSRF token (it works for an expired token too).

    Raises:
        ServeError: 403.
    """
    _refuse_cross_site(request)
    secret = request.cookies.get(COOKIE) or ""
    if secret and not hmac.compare_digest(csrf_for(secret).encode(), (sent or "").encode()):
        raise ServeError(
            "this sign-out form is not this session's: reload the page and try again",
            status=403,
            title="Forbidden",
            extra={"reason": "csrf"},
        )


def check_login_token(request: Request, sent: str | None) -> None:
    """Refuse a sign-in whose form value does not match its cookie, or that came from another site.

    Raises:
        ServeError: 403.
    """
    _refuse_cross_site(request)
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    if not cookie or not hmac.compare_digest(cookie.encode(), (sent or "").encode()):
        raise ServeError(
            "the sign-in form expired or came from elsewhere: reload the sign-in page and try again",
            status=403,
            title="Forbidden",
            extra={"reason": "csrf"},
        )
