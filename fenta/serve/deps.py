"""What every route shares: the server's state, and `require(scope)`, the dependency that authenticates
the bearer token, checks the permission and counts the request against the rate limit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request

from ..config import Settings
from ..errors import ServeError
from .access import Principal, authenticate, forbidden
from .service import Service, Stores
from .throttle import Throttle

__all__ = ["ServeOptions", "AppState", "state", "require", "check", "base_url"]


@dataclass
class ServeOptions:
    """How one app is built (the CLI's flags; tests shrink the waits).

    Attributes:
        ping_seconds: An SSE stream sends a `: ping` comment after this long without events.
        poll_seconds: How often an SSE stream or `wait_for_job` reads the event log (default:
            FENTA_POLL_SECONDS).
        public_url: The server's own base URL for MCP's protected-resource metadata (default http://HOST:PORT).
        cors_origins: Origins browsers may call from (default FENTA_CORS_ORIGINS; none: CORS off).
        allowed_hosts: Host headers MCP accepts besides localhost (DNS-rebinding protection); ["*"] turns
            it off.
    """

    ping_seconds: float = 15.0
    poll_seconds: float | None = None
    public_url: str = "http://127.0.0.1:8000"
    cors_origins: tuple[str, ...] | None = None
    allowed_hosts: list[str] = field(default_factory=list)


@dataclass
class AppState:
    settings: Settings
    options: ServeOptions
    stores: Stores
    service: Service
    throttle: Throttle
    metrics: Any

    @property
    def poll(self) -> float:
        return max(0.02, min(1.0, self.options.poll_seconds or self.settings.poll_seconds))


def state(request: Request) -> AppState:
    return request.app.state.fenta


def base_url(request: Request) -> str:
    """The server's URL as this client reached it (links in answers point back through the same door)."""
    return str(request.base_url).rstrip("/")


def check(
    app: AppState, request: Request, scope: str, route: str, authorization: str | None = None
) -> Principal:
    """Authenticate `request` (its Authorization header, or `authorization`: the dashboard's session sends
    the token from its cookie), check `scope`, count it against the limit of (token, route)."""
    try:
        principal = authenticate(app.stores.get(), authorization or request.headers.get("authorization"))
    except ServeError as e:
        app.metrics.auth_failed(e.extra.get("reason", "invalid"))
        raise
    request.state.principal = principal
    if not principal.can(scope):
        app.metrics.auth_failed("scope")
        raise forbidden(principal, scope)
    try:
        request.state.headers = app.throttle.hit(principal.token_id, route)
    except ServeError:
        app.metrics.rate_limited()
        raise
    return principal


def require(scope: str) -> Any:
    """`Depends(...)` for a route that needs `scope`: 401, 403 or 429 as problem documents, else the
    principal."""

    async def dependency(request: Request) -> Principal:
        # On the event loop, not a worker thread: one indexed read (a write at most once a minute) costs
        # less than the hop to a thread, which on a busy machine is most of a status read's latency.
        route = getattr(request.scope.get("route"), "path", request.url.path)
        return check(state(request), request, scope, f"{request.method} {route}")

    return Depends(dependency)
