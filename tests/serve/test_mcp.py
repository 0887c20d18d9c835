"""MCP at /mcp, called with the official SDK's own client over real HTTP (both protocol eras)."""

from __future__ import annotations

import asyncio
import json

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .conftest import WORKFLOW, auth

TOOLS = {
    "create_video",
    "get_job",
    "wait_for_job",
    "cancel_job",
    "validate_workflow",
    "estimate_cost",
    "list_templates",
    "list_nodes",
    "search_assets",
}


def _run(url: str, secret: str | None, body, mode: str = "auto"):
    async def go():
        headers = auth(secret) if secret else {}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client:
                return await body(client)

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_an_agent_creates_a_video_waits_with_progress_and_gets_its_files(live, token, workers, mode):
    srv = live()
    workers(1)
    progress: list[tuple[float, float | None, str | None]] = []

    async def body(client):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert TOOLS <= set(tools) and tools["get_job"].output_schema["properties"]["artifacts"]
        made = await client.call_tool("create_video", {"workflow": WORKFLOW, "name": f"agent-{mode}"})
        assert not made.is_error, made.content
        job = made.structured_content
        assert (
            job["status"] in ("queued", "running") and job["id"]
        )  # answered at once, the worker may have it already

        async def cb(p, total, message):
            progress.append((p, total, message))

        waited = await client.call_tool(
            "wait_for_job", {"job_id": job["id"], "timeout_s": 60}, progress_callback=cb
        )
        got = await client.call_tool("get_job", {"job_id": job["id"]})
        return client.session, waited, got

    session, waited, got = _run(srv.url, token("editor"), body, mode)
    assert waited.structured_content["status"] == "completed"
    assert progress and all(b[0] > a[0] for a, b in zip(progress, progress[1:])), progress  # always growing
    assert all(t == 100 for _, t, _ in progress) and any("node" in (m or "") for _, _, m in progress)
    video = next(a for a in got.structured_content["artifacts"] if a["kind"] == "video")
    assert (
        video["url"].startswith(srv.url)
        and json.loads(got.content[0].text)["id"] == waited.structured_content["id"]
    )


def test_tools_check_the_tokens_permissions(live, token):
    srv = live()

    async def body(client):
        denied = await client.call_tool("create_video", {"workflow": WORKFLOW})
        allowed = await client.call_tool(
            "validate_workflow", {"workflow": {"nodes": {"a": {"type": "Nope"}}}}
        )
        return denied, allowed

    denied, allowed = _run(srv.url, token("viewer"), body)
    assert denied.is_error and "lacks the 'jobs:write' permission" in denied.content[0].text
    assert not allowed.is_error and allowed.structured_content["valid"] is False
    assert allowed.structured_content["problems"][0]["node"] == "a"


def test_an_invalid_workflow_is_a_tool_error_listing_every_problem(live, token):
    srv = live()

    async def body(client):
        return await client.call_tool(
            "create_video", {"workflow": {"nodes": {"a": {"type": "Nope"}, "b": {"type": "Also.Nope"}}}}
        )

    res = _run(srv.url, token("editor"), body)
    assert res.is_error and "2 problems found" in res.content[0].text and "Also.Nope" in res.content[0].text


def test_catalogue_tools_answer_with_structured_content(live, token):
    srv = live()

    async def body(client):
        return [
            await client.call_tool(name, args)
            for name, args in (
                ("list_templates", {}),
                ("list_nodes", {}),
                ("search_assets", {"query": "nothing"}),
                ("estimate_cost", {"workflow": WORKFLOW}),
            )
        ]

    templates, nodes, assets, estimate = _run(srv.url, token("viewer"), body)
    assert "karaoke-bold" in {t["name"] for t in templates.structured_content["templates"]}
    assert "Render" in {n["type"] for n in nodes.structured_content["nodes"]}
    assert assets.structured_content == {"assets": []}
    assert (
        estimate.structured_content["total_usd"] == 0 and estimate.structured_content["within_quota"] is True
    )


def test_an_idempotency_key_gives_the_same_job_on_a_reissued_call(live, token):
    srv = live()

    async def body(client):
        a = await client.call_tool("create_video", {"workflow": WORKFLOW, "idempotency_key": "agent-1"})
        b = await client.call_tool("create_video", {"workflow": WORKFLOW, "idempotency_key": "agent-1"})
        return a, b

    a, b = _run(srv.url, token("editor"), body)
    assert a.structured_content["id"] == b.structured_content["id"]


def test_mcp_refuses_a_missing_or_revoked_token_with_401(live, token, settings):
    from fenta.serve.access import list_tokens, revoke_token

    srv = live()
    secret = token("editor")
    revoke_token(settings, list_tokens(settings)[0]["id"])
    for headers in ({}, auth(secret)):
        r = httpx.post(
            f"{srv.url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={**headers, "Accept": "application/json, text/event-stream"},
        )
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
