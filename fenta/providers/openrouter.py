"""OpenRouter: OpenAI-compatible chat completions, with structured (JSON-schema) output.

Contract: `/work/shared/api-contracts.md` section 3. Auth is `Authorization: Bearer <key>` plus the
attribution headers `HTTP-Referer` and `X-OpenRouter-Title`. Usage (tokens and cost) comes back in
every response; callers record it through the `on_usage` callback. Which model a tier names and
what a call would cost: `openrouter_models`.

Typical use from a node::

    client = client_for(ctx, OpenRouterClient)
    data, usage = await client.chat_json(messages, schema, model, name="script",
                                         validator=MyModel, on_usage=ctx.usage.tokens())
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ValidationError

from ..errors import InvalidOutputError, ProviderError, RateLimitError
from ..retry import Retry, parse_retry_after, retryable_status
from ._http import ProviderClient

__all__ = [
    "OpenRouterClient",
    "ChatResult",
    "Usage",
    "InvalidOutputError",
    "image_part",
]

APP_URL = "https://github.com/fenta"
APP_TITLE = "fenta"

# Mid-generation error types worth another attempt (contract 3.6).
_TRANSIENT_TYPES = {"rate_limit_exceeded", "provider_overloaded", "provider_unavailable", "server"}


def image_part(url: str, detail: str = "low") -> dict[str, Any]:
    """A user message's image content part (contract 3.2): an http(s) or `data:` URL the model looks at;
    `detail` "low" is the cheapest (one small tile)."""
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


@dataclass
class Usage:
    """Tokens and cost of one or more chat calls (cost in credits, about USD)."""

    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = None
    calls: int = 0
    generation_ids: list[str] = field(default_factory=list)

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> Usage:
        u = body.get("usage") or {}
        cost = u.get("cost")
        return cls(
            model=body.get("model"),
            prompt_tokens=int(u.get("prompt_tokens") or 0),
            completion_tokens=int(u.get("completion_tokens") or 0),
            total_tokens=int(
                u.get("total_tokens") or (u.get("prompt_tokens") or 0) + (u.get("completion_tokens") or 0)
            ),
            cost=float(cost) if isinstance(cost, (int, float)) else None,
            calls=1,
            generation_ids=[body["id"]] if body.get("id") else [],
        )

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None and other.cost is None else (self.cost or 0.0) + (other.cost or 0.0)
        return Usage(
            model=other.model or self.model,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cost=cost,
            calls=self.calls + other.calls,
            generation_ids=self.generation_ids + other.generation_ids,
        )


@dataclass
class ChatResult:
    """One completion: the message text, why it stopped, and its usage."""

    content: str
    finish_reason: str | None
    usage: Usage
    raw: dict[str, Any]


class OpenRouterClient(ProviderClient):
    """Chat completions on OpenRouter (one instance per run via `client_for`)."""

    name: ClassVar[str] = "openrouter"
    title: ClassVar[str] = "OpenRouter"

    def auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.require_key()}",
            "HTTP-Referer": APP_URL,
            "X-OpenRouter-Title": APP_TITLE,
        }

    async def chat(
        self,
        messages: list[dict[str, Any]],
        model: str,
        *,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_usage: Callable[[Usage], None] | None = None,
        **extra: Any,
    ) -> ChatResult:
        """One non-streaming completion.

        Retries (the client's `retry` policy: at most `max_attempts` in all) transport errors, the shared
        retryable statuses, malformed bodies and transient errors reported inside a 200 response.

        Raises:
            AuthError, CreditsError, RateLimitError, ProviderError: see `ProviderClient.request`.
        """
        body: dict[str, Any] = {"model": model, "messages": messages, **extra}
        if response_format is not None:
            body["response_format"] = response_format
            if response_format.get("type") == "json_schema":
                # Only route to endpoints that really honour the schema (contract 3.2).
                body.setdefault("provider", {})["require_parameters"] = True
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature

        async def attempt(n: int) -> ChatResult:
            resp = await self.request("POST", "/chat/completions", json=body)
            try:
                data = resp.json()
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except ValueError:
                raise Retry(
                    ProviderError(
                        f"{self.title} sent a malformed response (not JSON) {n} times; try again later",
                        provider=self.name,
                        retryable=True,
                    )
                ) from None
            usage = Usage.from_response(data)
            if on_usage and (usage.total_tokens or usage.cost):
                on_usage(usage)
            choices = data.get("choices") or []
            choice = choices[0] if choices else {}
            err = choice.get("error") or data.get("error")
            if err or choice.get("finish_reason") == "error":
                err = err if isinstance(err, dict) else {"message": str(err or "generation failed")}
                etype = str((err.get("metadata") or {}).get("error_type") or err.get("code") or "")
                msg = self._safe(str(err.get("message") or "generation failed"))
                transient = etype in _TRANSIENT_TYPES or retryable_status(_status(err.get("code")))
                text = f"{self.title} model {model} failed while generating: {msg}"
                if etype == "rate_limit_exceeded":  # RateLimitError is always retryable (it sets that itself)
                    error: ProviderError = RateLimitError(text, provider=self.name)
                else:
                    error = ProviderError(text, provider=self.name, retryable=transient)
                if transient:
                    raise Retry(error)
                raise error
            message = choice.get("message") or {}
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if not choices:
                raise ProviderError(
                    f"{self.title} returned no choices for model {model}", provider=self.name, retryable=True
                )
            return ChatResult(
                content=content or "", finish_reason=choice.get("finish_reason"), usage=usage, raw=data
            )

        return await self.retry.run(attempt)

    async def chat_stream(
        self,
        messages: list[dict[str, Any]],
        model: str,
        *,
        on_text: Callable[[str], None] | None = None,
        on_usage: Callable[[Usage], None] | None = None,
        **extra: Any,
    ) -> ChatResult:
        """A streamed completion (SSE); `on_text` gets each piece of text as it arrives.

        Keep-alive comments are skipped, the usage chunk is accounting (not a second end), and an
        error event after the 200 fails the call. Retries happen only before any text arrived.
        """
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True, **extra}
        headers = self.auth_headers()

        async def attempt(n: int) -> ChatResult:
            parts: list[str] = []
            usage, finish, gen_id = Usage(), None, None
            try:
                async with self._client.stream(
                    "POST", "/chat/completions", json=body, headers=headers
                ) as resp:
                    self.last_headers = dict(resp.headers)
                    if resp.status_code >= 400:
                        await resp.aread()
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                        if retryable_status(resp.status_code, retry_after=retry_after):
                            raise Retry(self._error(resp, retry_after), retry_after)
                        raise self._error(resp, retry_after)
                    async for line in resp.aiter_lines():
                        line = line.strip()
                        if not line or line.startswith(":") or not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            break
                        try:
                            chunk = json.loads(data)
                        except ValueError:
                            continue  # a broken chunk is skipped, as OpenAI-compatible clients do
                        gen_id = chunk.get("id") or gen_id
                        if chunk.get("error"):
                            err: dict[str, Any] = (
                                chunk["error"]
                                if isinstance(chunk["error"], dict)
                                else {"message": str(chunk["error"])}
                            )
                            etype = str((err.get("metadata") or {}).get("error_type") or "")
                            transient = etype in _TRANSIENT_TYPES
                            msg = self._safe(str(err.get("message") or "generation failed"))
                            error = ProviderError(
                                f"{self.title} model {model} failed while streaming: {msg}",
                                provider=self.name,
                                retryable=transient,
                            )
                            if transient and not parts:  # nothing was shown yet: the stream can start over
                                raise Retry(error)
                            raise error
                        for choice in chunk.get("choices") or []:
                            piece = (choice.get("delta") or {}).get("content") or ""
                            if piece:
                                parts.append(piece)
                                if on_text:
                                    on_text(piece)
                            finish = choice.get("finish_reason") or finish
                        if chunk.get("usage"):
                            usage = Usage.from_response(chunk)
            except httpx.TransportError as e:
                error = ProviderError(
                    f"{self.title} stream broke off ({type(e).__name__})", provider=self.name, retryable=True
                )
                if parts:
                    raise error from None
                raise Retry(error) from None
            if usage.generation_ids == [] and gen_id:
                usage.generation_ids = [gen_id]
            if on_usage and (usage.total_tokens or usage.cost):
                on_usage(usage)
            return ChatResult(content="".join(parts), finish_reason=finish, usage=usage, raw={"id": gen_id})

        return await self.retry.run(attempt)

    async def chat_json(
        self,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
        model: str,
        *,
        name: str = "result",
        validator: type[BaseModel] | None = None,
        check: Callable[[Any], None] | None = None,
        repair: bool = True,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_usage: Callable[[Usage], None] | None = None,
        **extra: Any,
    ) -> tuple[dict[str, Any], Usage]:
        """Ask for JSON that fits `schema` (strict json_schema response format); returns (data, usage).

        The reply is parsed, validated with `validator` (a pydantic model) and `check` (raise
        ValueError to reject), and on failure the model gets ONE repair request that quotes the problem.

        Args:
            messages: Chat messages (system + user).
            schema: A strict JSON Schema (every property required, no additional properties).
            model: OpenRouter model id, e.g. ``openai/gpt-4o-mini``.
            name: Schema name sent to the API.
            validator: Pydantic model the data must fit; `data` is its JSON dump when given.
            check: Extra semantic check on the validated value.
            repair: Whether to ask once more when the reply is invalid.
            on_usage: Called with the usage of every call (to record it).

        Raises:
            InvalidOutputError: still invalid after the repair attempt.
        """
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": name, "strict": True, "schema": schema},
        }
        convo = list(messages)
        total = Usage()
        problem = ""
        for _attempt in range(2 if repair else 1):
            result = await self.chat(
                convo,
                model,
                response_format=response_format,
                max_tokens=max_tokens,
                temperature=temperature,
                on_usage=on_usage,
                **extra,
            )
            total = total + result.usage
            try:
                data = _parse_json(result.content)
                if validator is not None:
                    value = validator.model_validate(data)
                    data = value.model_dump(mode="json")
                else:
                    value = data
                if check is not None:
                    check(value)
                return data, total
            except (ValueError, ValidationError) as e:
                problem = _describe(e, result.finish_reason)
            convo = [
                *messages,
                {"role": "assistant", "content": result.content[:4000]},
                {
                    "role": "user",
                    "content": (
                        f"That reply was not valid: {problem}. "
                        "Answer again with only the JSON object, fitting the schema exactly."
                    ),
                },
            ]
        raise InvalidOutputError(
            f"{self.title} model {model} returned output that does not fit the '{name}' schema ({problem})",
            provider=self.name,
            retryable=True,
        )

    async def key_info(self) -> dict[str, Any]:
        """`GET /key`: credit limit, usage and free-tier counters of the calling key."""
        data = await self.get_json("/key")
        return data.get("data", data) if isinstance(data, dict) else {}


def _status(code: Any) -> int | None:
    """An error `code` as an HTTP status (OpenRouter sends numbers, sometimes as strings)."""
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def _parse_json(text: str) -> Any:
    s = (text or "").strip()
    if s.startswith("```"):  # some models wrap JSON in a fence despite the schema
        s = s.strip("`")
        s = s[s.find("\n") + 1 :] if "\n" in s else s
        s = s.rsplit("```", 1)[0]
    return json.loads(s)


def _describe(e: Exception, finish_reason: str | None) -> str:
    if isinstance(e, ValidationError):
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        text = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return f"{e.error_count()} schema error(s), first {text}"
    if isinstance(e, json.JSONDecodeError):
        cut = " (cut off: max_tokens reached)" if finish_reason == "length" else ""
        return f"not JSON{cut}"
    return str(e)
