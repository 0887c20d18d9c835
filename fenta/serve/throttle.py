"""Rate limits per token and route (the `limits` library: a sliding window counter in this process's memory).

`FENTA_RATE_LIMIT` (default `600/minute`; several with `;`, e.g. `20/second;600/minute`) applies to every
pair of token and route (`GET /v1/jobs/{job_id}` is one route whatever the id; an MCP tool is a route).
Every limited response carries the IETF RateLimit fields:

    RateLimit-Policy: "default";q=600;w=60
    RateLimit: "default";r=598;t=57

and a request over the limit gets 429 (problem+json, `violated-policies`) with `Retry-After`. Refused
tokens (401/403) never count.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.exceptions import HTTPException

from ..errors import ServeError

__all__ = ["Throttle", "BodyCap"]


class Throttle:
    """The limits of one server.

    Raises:
        ServeError: `spec` is not a rate limit (`600/minute`, `10/second;500/hour`).
    """

    def __init__(self, spec: str) -> None:
        try:
            items = parse_many(spec)
        except ValueError:
            items = []
        if not items:
            raise ServeError(
                f"FENTA_RATE_LIMIT '{spec}' is not a rate limit: write e.g. 600/minute or "
                "20/second;600/minute",
                field="FENTA_RATE_LIMIT",
            )
        names = ["default"] if len(items) == 1 else [f"default-{i + 1}" for i in range(len(items))]
        self.items: list[tuple[str, RateLimitItem]] = list(zip(names, items))
        # A sliding window counter: constant work and memory per token and route.
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.policy = ",".join(f'"{n}";q={i.amount};w={i.get_expiry()}' for n, i in self.items)

    def hit(self, token_id: str, route: str) -> dict[str, str]:
        """Count one request of a token on a route; the headers to send with the answer.

        Raises:
            ServeError: 429, over a limit (its headers say when to come back).
        """
        violated, fields, waits = [], [], []
        for name, item in self.items:
            ok = self.limiter.hit(item, token_id, route)
            stats = self.limiter.get_window_stats(item, token_id, route)
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            fields.append(f'"{name}";r={stats.remaining};t={reset}')
            if not ok:
                violated.append(name)
                waits.append(max(1, reset))
        headers = {"RateLimit-Policy": self.policy, "RateLimit": ",".join(fields)}
        if violated:
            headers["Retry-After"] = str(max(waits))
            raise ServeError(
                f"over the rate limit of this token on {route} ({'; '.join(str(i) for _, i in self.items)}): "
                f"retry in {max(waits)} s",
                status=429,
                title="Too Many Requests",
                headers=headers,
                extra={"violated-policies": violated},
            )
        return headers


class BodyCap:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413 (problem+json), whether the size is
    announced (`Content-Length`, refused before reading) or streamed (refused once it is passed).
    `larger` gives routes of their own limit: (path regular expression, bytes)."""

    def __init__(self, app: Any, *, max_bytes: int, larger: list[tuple[str, int]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = [(re.compile(p), n) for p, n in (larger or [])]

    def _cap(self, path: str) -> int:
        return next((n for p, n in self.larger if p.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self._cap(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await _too_large(scope, cap)(scope, receive, send)
            return
        total = 0

        async def counted() -> dict[str, Any]:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > cap:
                    raise HTTPException(413, detail=f"at most {cap} bytes")
            return message

        await self.app(scope, counted, send)


def _too_large(scope: dict[str, Any], cap: int) -> Any:
    from starlette.responses import JSONResponse

    body = {
        "type": "https://fenta.dev/problems/content-too-large",
        "title": "Content Too Large",
        "status": 413,
        "detail": f"the request body is larger than this route takes (at most {cap} bytes: "
        "FENTA_MAX_BODY_MB, or FENTA_MAX_UPLOAD_MB for uploads)",
        "instance": scope.get("path"),
        "request_id": scope.get("state", {}).get("request_id"),
        "max_bytes": cap,
    }
    return JSONResponse(
        body, status_code=413, media_type="application/problem+json", headers={"Connection": "close"}
    )
