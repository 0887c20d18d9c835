"""The app: FastAPI with the REST API under `/v1`, SSE, `/metrics`, the dashboard's pages (`pages`), and MCP
mounted at `/` (its path is `/mcp`).

    app = create_app(settings, ServeOptions(public_url="http://127.0.0.1:8000"))  # one per server and test

Layers of a request, outside in: RequestLog (request id, one log line, metrics), BodyCap (413), CORS (off
unless origins are configured), the routes: each authenticates its bearer token, checks its permission and
counts against the rate limit (`deps.require`); errors are problem documents (`problems`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ..config import Settings
from .deps import AppState, ServeOptions
from .logs import RequestLog
from .metrics import Metrics
from .problems import MEDIA_TYPE, install
from .service import Service, Stores
from .throttle import BodyCap, Throttle

__all__ = ["create_app", "ServeOptions"]

_DESCRIPTION = """The render API of one fenta box: queue a workflow, follow it live (SSE), download the video.

Every route but `/v1/health` needs `Authorization: Bearer fenta_pat_...` (`fenta tokens create`); what a token
may do is its role's permissions, narrowed by its scopes. Errors are RFC 9457 problem documents. Rate-limited
routes answer with `RateLimit-Policy` and `RateLimit`, and 429 with `Retry-After` over the limit.
MCP for agents is at `/mcp` (Streamable HTTP, the same tokens). See docs/api.md for curl examples."""

_TAGS = [
    {"name": "jobs", "description": "Queue, list, show, cancel, retry jobs; download their files."},
    {"name": "events", "description": "Live progress as Server-Sent Events from the event log."},
    {"name": "workflows", "description": "Validate, price, templates and node types."},
    {"name": "assets", "description": "The asset library: search and uploads."},
    {"name": "schedules", "description": "Cron schedules that queue jobs."},
    {"name": "webhooks", "description": "Receivers of signed events (Standard Webhooks)."},
    {"name": "usage", "description": "Provider usage and quotas."},
    {"name": "observability", "description": "Health and Prometheus metrics."},
]


def create_app(settings: Settings | None = None, options: ServeOptions | None = None) -> FastAPI:
    """A new app on `settings`' FENTA_HOME (an app's MCP session manager runs once: one app per server).

    Raises:
        ServeError: FENTA_RATE_LIMIT is not a rate limit.
    """
    from .. import __version__
    from ..nodes.base import registry
    from . import admin, assets, catalog, events, jobs, metrics, pages
    from .mcp import build_mcp, transport_security

    settings = settings or Settings.from_env()
    options = options or ServeOptions()
    # The node registry loads itself on first use and that is not thread-safe (a second thread can see it
    # half-loaded: "unknown node type 'Render'"); load it here, before requests run on many threads.
    registry.names()
    stores = Stores(settings)
    state = AppState(
        settings, options, stores, Service(settings, stores), Throttle(settings.rate_limit), Metrics(stores)
    )
    body_cap = int(settings.max_body_mb * 1024 * 1024)
    mcp = build_mcp(state)
    mcp_app = mcp.streamable_http_app(
        transport_security=transport_security(state), max_request_body_size=body_cap
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run():  # a mounted app's own lifespan never runs
            yield
        stores.close()

    app = FastAPI(
        title="fenta", version=__version__, description=_DESCRIPTION, openapi_tags=_TAGS, lifespan=lifespan
    )
    app.state.fenta = state
    install(app)

    @app.get("/v1/health", tags=["observability"], summary="Health check", openapi_extra={"security": []})
    def health() -> dict[str, Any]:
        """Whether the server answers (no token needed)."""
        return {"status": "ok", "version": __version__}

    for module in (jobs, events, catalog, assets, admin, metrics):
        app.include_router(module.router)
    pages.install(app)  # the dashboard: web pages over the same service
    app.mount("/", mcp_app)  # last: it matches every path; MCP itself answers only /mcp

    origins = options.cors_origins if options.cors_origins is not None else settings.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "Last-Event-ID",
                "Mcp-Method",
                "Mcp-Name",
                "Mcp-Protocol-Version",
                "Mcp-Session-Id",
            ],
            expose_headers=[
                "Location",
                "Retry-After",
                "RateLimit",
                "RateLimit-Policy",
                "X-Request-ID",
                "Mcp-Session-Id",
                "Idempotent-Replayed",
            ],
        )
    upload_cap = int(settings.max_upload_mb * 1024 * 1024)
    app.add_middleware(BodyCap, max_bytes=body_cap, larger=[(r"/v1/assets/uploads/[^/]+/bytes", upload_cap)])
    app.add_middleware(RequestLog, observe=state.metrics.observe)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the bearer scheme, the Problem schema and a description of `/mcp`."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    from .models import Problem

    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = Problem.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "A fenta access token: fenta_pat_...",
        }
    }
    doc["security"] = [{"bearerAuth": []}]
    doc["paths"]["/v1/assets/uploads/{upload_id}/bytes"]["put"][
        "security"
    ] = []  # the URL's secret is the permission
    doc["paths"]["/mcp"] = {
        "post": {
            "tags": ["observability"],
            "summary": "MCP (Streamable HTTP)",
            "operationId": "mcp",
            "description": "The Model Context Protocol endpoint for agents (JSON-RPC; revisions 2026-07-28 "
            "and 2025-03-26 to 2025-11-25). "
            "Tools: create_video, get_job, wait_for_job, cancel_job, validate_workflow, estimate_cost, "
            "list_templates, list_nodes, search_assets.",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {
                    "description": "A JSON-RPC response, or an SSE stream of notifications ending with it",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                "401": {
                    "description": "No valid access token",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
        }
    }
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path in doc["paths"].values():
        for op in path.values():
            for response in op.get("responses", {}).values():
                if "HTTPValidationError" in str(
                    response.get("content", {})
                ):  # FastAPI's 422: ours is a problem document
                    response["content"] = problem
    for name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(name, None)
    app.openapi_schema = doc
    return doc
