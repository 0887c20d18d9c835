"""MCP at `/mcp` (the official `mcp` SDK, Streamable HTTP): the same jobs, for AI agents.

Both protocol eras are served on the one endpoint: 2026-07-28 (no sessions: every call is one POST) and
the handshake era (2025-03-26 to 2025-11-25, `initialize` and `Mcp-Session-Id`), chosen by the client's
`MCP-Protocol-Version`. Clients authenticate with the same access tokens (`Authorization: Bearer
fenta_pat_...`); each tool checks its permission and counts against the token's rate limit like a route.

A render takes longer than a tool call should, so a video is a handle: `create_video` queues it and
answers at once with the job (its `id`), `wait_for_job` follows it for a bounded time sending progress
notifications from the event log, `get_job` looks at it, `cancel_job` stops it. Re-issuing any of them
after a dropped connection is safe (`create_video` takes an `idempotency_key`).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import AnyHttpUrl, BaseModel, Field

from ..errors import FentaError, ServeError
from .access import Principal, authenticate
from .deps import AppState
from .models import Estimate, Job, JobCreate, Validation
from .service import idempotency_key, problem_of
from .store import TERMINAL

__all__ = ["build_mcp", "MAX_WAIT"]

#: The longest `wait_for_job` follows a job in one call (seconds); call it again to keep waiting.
MAX_WAIT = 300.0


class Templates(BaseModel):
    templates: list[dict[str, Any]]


class NodeTypes(BaseModel):
    nodes: list[dict[str, Any]]


class Assets(BaseModel):
    assets: list[dict[str, Any]]


class _Verifier:
    """The SDK's TokenVerifier over fenta's access tokens."""

    def __init__(self, app: AppState) -> None:
        self.app = app

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            p = await anyio.to_thread.run_sync(lambda: authenticate(self.app.stores.get(), f"Bearer {token}"))
        except ServeError as e:
            self.app.metrics.auth_failed(e.extra.get("reason", "invalid"))
            return None
        return AccessToken(
            token=token,
            client_id=p.token_id,
            scopes=sorted(p.scopes),
            subject=p.name,
            claims={"role": p.role, "prefix": p.prefix},
        )


def build_mcp(app: AppState) -> MCPServer:
    """The MCP server of one app (mount its `streamable_http_app()` at `/`, after the REST routes)."""
    from .. import __version__

    public = app.options.public_url.rstrip("/")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    server = MCPServer(
        "fenta",
        version=__version__,
        token_verifier=_Verifier(app),
        instructions="Render short videos from fenta workflows: validate_workflow and estimate_cost first, "
        "then create_video "
        "(returns a job at once), wait_for_job to follow it with progress, get_job for its files' URLs.",
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(public),
            resource_server_url=AnyHttpUrl(f"{public}/mcp"),
            validate_token_resource=False,
        ),
    )
    root.handlers[:], root.level = (
        handlers,
        level,
    )  # MCPServer() calls logging.basicConfig: logging is fenta's to set up
    base = public

    def allowed(tool: str, scope: str) -> Principal:
        token = get_access_token()
        if token is None:
            raise ToolError("not authenticated: connect with 'Authorization: Bearer fenta_pat_...'")
        claims = token.claims or {}
        principal = Principal(
            token.client_id,
            token.subject or "",
            claims.get("role", ""),
            frozenset(token.scopes),
            claims.get("prefix", ""),
        )
        if scope not in principal.scopes:
            app.metrics.auth_failed("scope")
            raise ToolError(f"this token ({principal.role}) lacks the '{scope}' permission {tool} needs")
        try:
            app.throttle.hit(principal.token_id, f"MCP {tool}")
        except ServeError as e:
            app.metrics.rate_limited()
            raise ToolError(e.message) from None
        return principal

    async def call(tool: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            out = await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
        except FentaError as e:
            app.metrics.tool_called(tool, "tool_error")
            p = problem_of(e)
            lines = [p.message] + [
                f"- {x.get('text') or x.get('detail')}" for x in p.extra.get("errors") or []
            ]
            raise ToolError("\n".join(lines)) from None
        app.metrics.tool_called(tool, "ok")
        return out

    readonly = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        )
    )
    async def create_video(
        workflow: dict[str, Any] = Field(
            description="The workflow document (JSON object, either shape; see list_nodes)."
        ),
        vars: dict[str, Any] | None = Field(
            None, description="Variables over the workflow's vars: defaults."
        ),
        name: str | None = Field(None, description="Base name of the files."),
        priority: int = Field(0, ge=-1000, le=1000, description="Higher runs first."),
        preview: bool = Field(False, description="A quick 360p draft."),
        idempotency_key: str | None = Field(
            None,
            description="The same key again (with the same arguments) returns the same job instead of a "
            "second one.",
        ),
    ) -> Job:
        """Queue a video: the job comes back at once (status queued); follow it with wait_for_job or get_job.
        A job's handle stays valid as long as the server keeps the job."""
        principal = allowed("create_video", "jobs:write")
        try:
            body = JobCreate(
                workflow=workflow, vars=vars or {}, name=name, priority=priority, preview=preview
            ).model_dump()
            key = idempotency_key_of(idempotency_key)
        except (ValueError, ServeError) as e:
            raise ToolError(str(e)) from None
        _, job, replayed = await call("create_video", app.service.create_job, principal, body, key, base)
        if not replayed:
            app.metrics.job_submitted("mcp")
        return Job.model_validate(job)

    @server.tool(annotations=readonly)
    async def get_job(job_id: str) -> Job:
        """A job's state, progress, node timings, cost and its files (with download URLs)."""
        allowed("get_job", "jobs:read")
        return Job.model_validate(await call("get_job", app.service.job, job_id, base))

    @server.tool(annotations=readonly)
    async def wait_for_job(
        job_id: str,
        ctx: Context,
        timeout_s: float = Field(
            60.0, ge=0, le=MAX_WAIT, description="Return after this long even if the job still runs."
        ),
    ) -> Job:
        """Follow a job until it completes, dies or is cancelled, or `timeout_s` passes (at most 300 s; call
        again to keep waiting), sending progress notifications as its nodes run. Returns the job."""
        allowed("wait_for_job", "jobs:read")
        view = await call("wait_for_job", app.service.job, job_id, base)
        deadline, cursor, shown = time.monotonic() + timeout_s, 0, -1.0
        while view["status"] not in TERMINAL and time.monotonic() < deadline:
            evs = await anyio.to_thread.run_sync(app.service.events_after, cursor, job_id)
            if evs:
                cursor = evs[-1].id
                view = await call("wait_for_job", app.service.job, job_id, base)
                value = round(100 * float(view["progress"] or 0), 1)
                value = value if value > shown else shown + 0.1  # progress must grow with every notification
                if value <= 100:
                    shown = value
                    await ctx.report_progress(value, total=100, message=_progress_text(evs[-1], view))
                continue
            await anyio.sleep(app.poll)
            view["status"] = await anyio.to_thread.run_sync(app.service.job_state, job_id) or view["status"]
        return Job.model_validate(await call("wait_for_job", app.service.job, job_id, base))

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        )
    )
    async def cancel_job(job_id: str) -> Job:
        """Cancel a job (a running one stops within a poll interval). Fails for a job that already ended."""
        allowed("cancel_job", "jobs:write")
        return Job.model_validate(await call("cancel_job", app.service.cancel, job_id, base))

    @server.tool(annotations=readonly)
    async def validate_workflow(workflow: dict[str, Any], vars: dict[str, Any] | None = None) -> Validation:
        """Check a workflow document: valid or every problem (node, field, what is wrong), and the API
        keys it needs."""
        allowed("validate_workflow", "workflows:read")
        return Validation.model_validate(
            await call("validate_workflow", app.service.validate, workflow, vars or {})
        )

    @server.tool(annotations=readonly)
    async def estimate_cost(workflow: dict[str, Any], vars: dict[str, Any] | None = None) -> Estimate:
        """What one run costs (USD by provider), which API keys it needs, and whether the quotas allow it
        now."""
        allowed("estimate_cost", "workflows:read")
        return Estimate.model_validate(
            await call("estimate_cost", app.service.estimate, workflow, vars or {})
        )

    @server.tool(annotations=readonly)
    async def list_templates() -> Templates:
        """The montage templates (size, fps, transition, description) to name in a workflow's `template:`."""
        allowed("list_templates", "workflows:read")
        return Templates(templates=await call("list_templates", app.service.templates, base))

    @server.tool(annotations=readonly)
    async def list_nodes() -> NodeTypes:
        """The node types a workflow can use: ports and the JSON Schema of each type's params."""
        allowed("list_nodes", "workflows:read")
        return NodeTypes(nodes=await call("list_nodes", app.service.nodes))

    @server.tool(annotations=readonly)
    async def search_assets(
        query: str | None = Field(
            None, description="Words that must all appear in the name, tags or source."
        ),
        kind: Literal["video", "image", "audio"] | None = None,
        tag: str | None = None,
        limit: int = Field(20, ge=1, le=200),
    ) -> Assets:
        """Media in the server's asset library; use one in a workflow as Input.Asset with `asset: ID` or
        `tag: NAME`."""
        allowed("search_assets", "assets:read")
        return Assets(
            assets=await call(
                "search_assets",
                lambda: app.service.search_assets(query=query, kind=kind, tag=tag, limit=limit, base=base),
            )
        )

    return server


def idempotency_key_of(value: str | None) -> str | None:
    return idempotency_key(value) if value is not None else None


def _progress_text(ev: Any, view: dict[str, Any]) -> str:
    node = ev.data.get("node")
    what = (
        ev.type.replace("job.", "").replace("node.", f"node {node} ")
        if node
        else ev.type.replace("job.", "job ")
    )
    return f"{what} ({round(100 * float(view['progress'] or 0))} %)"


def transport_security(app: AppState) -> TransportSecuritySettings:
    """DNS-rebinding protection: MCP answers only Host headers of this machine (and `allowed_hosts`)."""
    hosts = list(app.options.allowed_hosts)
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    local = ["127.0.0.1", "localhost", "[::1]"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:*" for h in local] + local + hosts,
        allowed_origins=[f"http://{h}:*" for h in local]
        + [f"http://{h}" for h in hosts]
        + [f"https://{h}" for h in hosts],
    )
