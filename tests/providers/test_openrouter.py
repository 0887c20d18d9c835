"""OpenRouterClient against the fake: request shape, structured output with repair, every fault."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from fenta.config import Settings
from fenta.errors import AuthError, CreditsError, ProviderError, RateLimitError
from fenta.providers.openrouter import InvalidOutputError, OpenRouterClient, Usage
from tests.fakes._server import Reply
from tests.fakes.fixtures import openrouter_fake  # noqa: F401

SCHEMA = {
    "type": "object",
    "properties": {
        "scenes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"narration": {"type": "string"}, "query": {"type": "string"}},
                "required": ["narration", "query"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["scenes"],
    "additionalProperties": False,
}


class SceneOut(BaseModel):
    narration: str
    query: str


class Out(BaseModel):
    scenes: list[SceneOut]


MESSAGES = [
    {"role": "system", "content": "You write short video scripts."},
    {"role": "user", "content": "Topic: morning coffee"},
]


def call(coro_fn, **client_kw):
    async def main():
        client = OpenRouterClient(Settings.from_env(), **client_kw)
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def ask(client, **kw):
    return client.chat_json(MESSAGES, SCHEMA, "openai/gpt-4o-mini", name="script", validator=Out, **kw)


def test_request_carries_bearer_key_attribution_and_strict_schema(openrouter_fake):
    call(ask)
    (req,) = openrouter_fake.chat_requests()
    assert req.headers["Authorization"] == f"Bearer {openrouter_fake.key}"
    assert req.headers["HTTP-Referer"].startswith("https://")
    assert req.headers["X-OpenRouter-Title"] == "fenta"
    body = req.json()
    assert body["model"] == "openai/gpt-4o-mini"
    assert body["messages"] == MESSAGES
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert body["provider"] == {"require_parameters": True}


def test_structured_reply_is_validated_and_usage_reports_tokens_and_cost(openrouter_fake):
    seen: list[Usage] = []
    data, usage = call(lambda c: ask(c, on_usage=seen.append))
    assert len(data["scenes"]) == 3 and "morning coffee" in data["scenes"][0]["narration"]
    assert usage.total_tokens > 0 and usage.cost and usage.cost > 0
    assert usage.model == "openai/gpt-4o-mini" and len(seen) == 1


def test_invalid_json_gets_one_repair_request_quoting_the_problem(openrouter_fake):
    openrouter_fake.invalid_content(1)
    data, usage = call(ask)
    reqs = openrouter_fake.chat_requests()
    assert len(reqs) == 2 and usage.calls == 2
    repair = reqs[1].json()["messages"]
    assert repair[-2]["role"] == "assistant" and "not valid" in repair[-1]["content"]
    assert data["scenes"]


def test_schema_mismatch_is_repaired_once_then_fails_clearly(openrouter_fake):
    openrouter_fake.queue_content(json.dumps({"scenes": [{"narration": "x"}]}), json.dumps({"wrong": 1}))
    with pytest.raises(InvalidOutputError) as e:
        call(ask)
    assert len(openrouter_fake.chat_requests()) == 2
    assert "does not fit the 'script' schema" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "malformed", "gen-error", "402-retry"])
def test_transient_fault_once_is_recovered(openrouter_fake, kind):
    openrouter_fake.fault(kind, 1)
    data, _ = call(ask)
    assert data["scenes"] and len(openrouter_fake.chat_requests()) == 2


def test_retry_after_is_honoured(openrouter_fake, monkeypatch):
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.2")  # Retry-After: 1 -> 0.2 s here
    openrouter_fake.fault("429", 1)
    call(ask)
    first, second = openrouter_fake.chat_requests()
    assert second.at - first.at >= 0.18


def test_persistent_rate_limit_fails_after_three_attempts(openrouter_fake):
    openrouter_fake.fault("429", 5)
    with pytest.raises(RateLimitError) as e:
        call(ask)
    assert len(openrouter_fake.chat_requests()) == 3
    assert "rate limit" in str(e.value) and "retry in" in str(e.value)


def test_persistent_server_error_fails_after_three_attempts(openrouter_fake):
    openrouter_fake.fault("502", 5)
    with pytest.raises(ProviderError) as e:
        call(ask)
    assert len(openrouter_fake.chat_requests()) == 3 and "server error" in str(e.value)


def test_invalid_key_is_not_retried_and_never_echoed(openrouter_fake, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-wrong-key-123456")
    with pytest.raises(AuthError) as e:
        call(ask)
    assert len(openrouter_fake.chat_requests()) == 1
    msg = str(e.value)
    assert "OPENROUTER_API_KEY" in msg and "sk-or-v1-wrong" not in msg and "\n" not in msg


def test_out_of_credits_is_not_retried(openrouter_fake):
    openrouter_fake.fault("402", 3)
    with pytest.raises(CreditsError) as e:
        call(ask)
    assert len(openrouter_fake.chat_requests()) == 1 and "out of credits" in str(e.value)


def test_slow_responses_time_out_after_three_attempts(openrouter_fake):
    openrouter_fake.fail_next(Reply(200, {}, delay=0.6), 3, path_contains="/chat/")
    with pytest.raises(ProviderError) as e:
        call(ask, timeout=0.2)
    assert "timed out after 3 attempts" in str(e.value)


def test_missing_key_fails_before_any_request(openrouter_fake, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY")
    with pytest.raises(AuthError, match="OPENROUTER_API_KEY is not set"):
        call(ask)
    assert openrouter_fake.requests == []


def test_stream_joins_text_skips_keepalives_and_reads_the_usage_chunk(openrouter_fake):
    pieces: list[str] = []
    seen: list[Usage] = []
    res = call(
        lambda c: c.chat_stream(MESSAGES, "openai/gpt-4o-mini", on_text=pieces.append, on_usage=seen.append)
    )
    assert res.content.startswith("Answer ") and res.content.endswith(" about morning coffee.")
    assert len(pieces) >= 2 and "".join(pieces) == res.content
    assert res.finish_reason == "stop" and res.usage.total_tokens > 0 and len(seen) == 1
    assert openrouter_fake.chat_requests()[0].json()["stream"] is True


def test_stream_error_before_any_text_is_retried(openrouter_fake):
    openrouter_fake.stream_error(1)
    res = call(lambda c: c.chat_stream(MESSAGES, "openai/gpt-4o-mini"))
    assert res.content and len(openrouter_fake.chat_requests()) == 2


def test_stream_error_after_text_fails_clearly(openrouter_fake):
    openrouter_fake.stream_error(1, after_text=True)
    with pytest.raises(ProviderError, match="failed while streaming: Provider disconnected"):
        call(lambda c: c.chat_stream(MESSAGES, "openai/gpt-4o-mini"))
    assert len(openrouter_fake.chat_requests()) == 1
