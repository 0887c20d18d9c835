"""A fake OpenRouter (contract section 3) on 127.0.0.1, for tests and for trying fenta by hand.

It checks what the real service needs (Bearer key, JSON body with model and messages, a strict
json_schema response format sent with provider.require_parameters) and answers with the
documented shapes: schema-valid JSON content built from the requested schema, usage with cost.

A json_schema with `strict: true` must be in the strict subset (every object closed with
`additionalProperties: false` and every property required), else 400, as the contract says an invalid
schema is refused.

Faults: `fault("401" | "402" | "402-retry" | "429" | "500" | "502" | "503" | "slow" | "malformed" |
"gen-error", times)`, `invalid_content(times)` (200 with content that is not valid JSON),
`queue_content(text)` (exact next content).

Vision: a user message with image content parts (`{"type": "image_url", "image_url": {"url"}}`, http(s) or
`data:` URLs) is answered by really looking: the fake fetches each picture, names its mean colour (red, green,
blue, yellow, orange, purple, white, black, grey) and, for a `clip_scores` schema, scores each numbered
candidate ("Candidate N:" text parts, then its pictures) 9 when the narration names that colour, else 2.
Models in `text_only` refuse image parts with 404, as OpenRouter does when no endpoint takes images.

By hand: ``python -m tests.fakes.openrouter`` prints the base URL to put in FENTA_OPENROUTER_URL.
With nothing queued, `fenta new` (a json_schema named "workflow") gets a small valid offline workflow
narrating its sentence, so `fenta new "..." --run` works end to end against it.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from tests.fakes._server import FakeServer, Reply, Request

KEY = "sk-or-v1-fake-0123456789abcdef"


def _err(code: int, message: str, error_type: str, **meta: Any) -> dict:
    return {"error": {"code": code, "message": message, "metadata": {"error_type": error_type, **meta}}}


class FakeOpenRouter(FakeServer):
    """Chat completions and key info, with switchable faults."""

    def __init__(self, key: str = KEY) -> None:
        super().__init__()
        self.key = key
        self.contents: list[str] = []
        self.invalid_left = 0
        self.stream_errors: list[bool] = []
        self.counter = 0
        self.text_only = {"meta-llama/llama-3-8b-instruct"}
        self.route("POST", r"/api/v1/chat/completions", self._chat)
        self.route("GET", r"/api/v1/key", self._key)

    @property
    def base_url(self) -> str:
        return self.url + "/api/v1"

    def reset(self) -> None:
        """Forget requests, faults and queued replies (the fixture reuses one server per session)."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.contents.clear()
            self.invalid_left = 0
            self.stream_errors: list[bool] = []

    # -- switches ------------------------------------------------------------------------

    def queue_content(self, *texts: str) -> None:
        """Answer the next chat requests with exactly these message contents."""
        with self.lock:
            self.contents += list(texts)

    def invalid_content(self, times: int = 1) -> None:
        """Answer the next `times` chat requests with content that is not JSON."""
        with self.lock:
            self.invalid_left += times

    def stream_error(self, times: int = 1, after_text: bool = False) -> None:
        """End the next `times` streams with an error event (after some text when `after_text`)."""
        with self.lock:
            self.stream_errors += [after_text] * times

    def fault(self, kind: str, times: int = 1) -> None:
        """Serve a documented failure instead of the next `times` requests."""
        replies = {
            "401": Reply(401, _err(401, "No auth credentials found", "authentication")),
            "402": Reply(
                402,
                _err(
                    402,
                    "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
                    "payment_required",
                    limit_source="openrouter_credits",
                ),
            ),
            "402-retry": Reply(
                402,
                _err(
                    402,
                    "In-flight budget exhausted",
                    "payment_required",
                    limit_source="openrouter_in_flight_budget",
                ),
                {"Retry-After": "1"},
            ),
            "429": Reply(
                429,
                _err(429, "Rate limit exceeded", "rate_limit_exceeded"),
                {
                    "Retry-After": "1",
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(time.time() * 1000) + 1000),
                },
            ),
            "500": Reply(500, _err(500, "Internal Server Error", "server")),
            "502": Reply(502, _err(502, "Provider returned error", "provider_unavailable")),
            "503": Reply(
                503,
                _err(503, "No endpoints found that support the parameters", "provider_overloaded"),
                {"Retry-After": "1"},
            ),
            "slow": Reply(200, {"slow": True}, delay=3.0),
            "malformed": Reply(
                200, '{"id": "gen-broken", "choices": [', {"Content-Type": "application/json"}
            ),
            "gen-error": Reply(
                200,
                {
                    "id": "gen-err",
                    "object": "chat.completion",
                    "model": "x",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "error",
                            "message": {"role": "assistant", "content": ""},
                            "error": {
                                "code": 502,
                                "message": "Provider disconnected unexpectedly",
                                "metadata": {"error_type": "provider_unavailable"},
                            },
                        }
                    ],
                },
            ),
        }
        self.fail_next(replies[kind], times, path_contains="/chat/completions")

    # -- handlers ------------------------------------------------------------------------

    def _auth(self, req: Request) -> Reply | None:
        if req.headers.get("Authorization") != f"Bearer {self.key}":
            return Reply(401, _err(401, "No auth credentials found", "authentication"))
        return None

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests_to("/chat/completions")]

    def _chat(self, req: Request, m: re.Match) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        if not req.headers.get("Content-Type", "").startswith("application/json"):
            return Reply(400, _err(400, "Content-Type must be application/json", "invalid_request"))
        try:
            body = req.json()
        except ValueError:
            return Reply(400, _err(400, "Invalid JSON body", "invalid_request"))
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return Reply(400, _err(400, "messages is required", "invalid_request"))
        for msg in body["messages"]:
            if msg.get("role") not in ("system", "user", "assistant", "tool") or "content" not in msg:
                return Reply(400, _err(400, "invalid message", "invalid_request"))
        model = body.get("model") or "openai/gpt-4o-mini"
        rf = body.get("response_format")
        seen = _looked_at(body["messages"]) if _has_images(body["messages"]) else None
        if seen is not None and model in self.text_only:
            message = f"No endpoints found that support image input for {model}"
            return Reply(404, _err(404, message, "not_found"))
        if rf and rf.get("type") == "json_schema" and (rf.get("json_schema") or {}).get("strict") is True:
            loose = _not_strict((rf["json_schema"] or {}).get("schema"), "schema")
            if loose:
                return Reply(
                    400, _err(400, f"Invalid schema for response_format: {loose}", "invalid_request")
                )
        with self.lock:
            self.counter += 1
            n = self.counter
            queued = self.contents.pop(0) if self.contents else None
            invalid = self.invalid_left > 0
            if invalid:
                self.invalid_left -= 1
        if queued is not None:
            content = queued
        elif seen is not None and rf and (rf.get("json_schema") or {}).get("name") == "clip_scores":
            content = json.dumps(_clip_scores(body["messages"], seen))
        elif invalid:
            content = '{"title": "Oops", "scenes": [ this is not json'
        elif rf and rf.get("type") == "json_schema":
            js = rf.get("json_schema") or {}
            if js.get("strict") is not True or "schema" not in js or not js.get("name"):
                return Reply(400, _err(400, "json_schema needs name, strict and schema", "invalid_request"))
            if (body.get("provider") or {}).get("require_parameters") is not True:
                return Reply(
                    400, _err(400, "structured outputs need provider.require_parameters", "invalid_request")
                )
            if (
                js["name"] == "workflow"
            ):  # `fenta new`: a small valid offline workflow, so it works by hand too
                content = json.dumps(_workflow(body["messages"], js["schema"]), ensure_ascii=False)
            else:
                content = json.dumps(
                    _instance(js["schema"], "", _topic(body["messages"]), 0, _wanted_items(body["messages"]))
                )
        else:
            content = f"Answer {n} about {_topic(body['messages'])}."
        prompt_tokens = max(1, len(json.dumps(body["messages"])) // 4)
        completion_tokens = max(1, len(content) // 4)
        total = prompt_tokens + completion_tokens
        gen_id = f"gen-{int(time.time())}-{n}"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": total,
            "cost": round(total * 1e-6, 9),
        }
        if body.get("stream"):
            return self._sse(gen_id, model, content, usage)
        return Reply(
            200,
            {
                "id": gen_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "provider": "FakeAI",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "native_finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": total,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                    "cost": round(total * 1e-6, 9),
                    "is_byok": False,
                },
            },
            {"X-Generation-Id": gen_id},
        )

    def _sse(self, gen_id: str, model: str, content: str, usage: dict) -> Reply:
        """The documented SSE shape: keep-alive comment, text chunks, usage chunk, [DONE] (or an error
        event)."""
        with self.lock:
            error = self.stream_errors.pop(0) if self.stream_errors else None
        base = {"id": gen_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        events = [": OPENROUTER PROCESSING"]
        third = max(1, len(content) // 3)
        pieces = [content[i : i + third] for i in range(0, len(content), third)]
        if error is not None:
            if error:
                events.append(
                    "data: "
                    + json.dumps(
                        {
                            **base,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"role": "assistant", "content": pieces[0]},
                                    "finish_reason": None,
                                }
                            ],
                        }
                    )
                )
            events.append(
                "data: "
                + json.dumps(
                    {
                        **base,
                        "provider": "FakeAI",
                        "error": {
                            "code": 502,
                            "message": "Provider disconnected unexpectedly",
                            "metadata": {"error_type": "provider_unavailable"},
                        },
                        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
                    }
                )
            )
        else:
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                events.append(
                    "data: "
                    + json.dumps(
                        {
                            **base,
                            "choices": [
                                {"index": 0, "delta": delta, "finish_reason": "stop" if last else None}
                            ],
                        }
                    )
                )
                if i == 0:
                    events.append(": OPENROUTER PROCESSING")
            events.append(
                "data: "
                + json.dumps(
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"content": "", "role": "assistant"},
                                "finish_reason": "stop",
                                "native_finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    }
                )
            )
            events.append("data: [DONE]")
        return Reply(
            200,
            "\n\n".join(events) + "\n\n",
            {"Content-Type": "text/event-stream", "X-Generation-Id": gen_id},
        )

    def _key(self, req: Request, m: re.Match) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        return Reply(
            200,
            {
                "data": {
                    "label": "sk-or-v1-fak...def",
                    "limit": None,
                    "limit_remaining": None,
                    "usage": 0.01,
                    "usage_daily": 0.01,
                    "is_free_tier": False,
                    "free_model_daily_requests": {"used": 0, "limit": 1000, "remaining": 1000},
                }
            },
        )


_COLOURS = {
    "red": (200, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 60, 200),
    "yellow": (230, 210, 40),
    "orange": (240, 140, 30),
    "purple": (130, 40, 160),
    "white": (240, 240, 240),
    "black": (15, 15, 15),
    "grey": (128, 128, 128),
}


def _has_images(messages: list[dict]) -> bool:
    parts = [p for m in messages if isinstance(m.get("content"), list) for p in m["content"]]
    return any(p.get("type") == "image_url" for p in parts)


def _colour_of(url: str) -> str:
    """The name of a picture's mean colour (the picture fetched from its URL, or decoded from a data: URL)."""
    import base64
    import io
    import urllib.request

    from PIL import Image, ImageStat

    if url.startswith("data:"):
        data = base64.b64decode(url.split(",", 1)[1])
    else:
        with urllib.request.urlopen(url, timeout=10) as resp:  # the fake Pexels, on 127.0.0.1
            data = resp.read()
    mean = ImageStat.Stat(Image.open(io.BytesIO(data)).convert("RGB")).mean
    return min(_COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(mean, _COLOURS[name])))


def _looked_at(messages: list[dict]) -> list[tuple[int, str]]:
    """(candidate number, colour seen) for every picture, numbered by the "Candidate N:" text before it."""
    seen, current = [], 0
    for m in messages:
        if not isinstance(m.get("content"), list):
            continue
        for part in m["content"]:
            if part.get("type") == "text":
                found = re.search(r"Candidate (\d+):", part.get("text") or "")
                current = int(found.group(1)) if found else current
            elif part.get("type") == "image_url":
                seen.append((current, _colour_of(part["image_url"]["url"])))
    return seen


def _clip_scores(messages: list[dict], seen: list[tuple[int, str]]) -> dict:
    """What a competent vision model answers: a clip whose pictures show a colour the narration names wins."""
    parts = [p for m in messages if isinstance(m.get("content"), list) for p in m["content"]]
    text = " ".join(p.get("text") or "" for p in parts)
    narration = re.search(r"Narration:(.*?)(?:Candidates:|$)", text, re.S)
    words = set(re.findall(r"\w+", (narration.group(1) if narration else text).lower()))
    scores = []
    for n in sorted({c for c, _ in seen}):
        colours = sorted({colour for c, colour in seen if c == n})
        hit = [c for c in colours if c in words]
        scores.append({"candidate": n, "score": 9 if hit else 2, "reason": f"shows {', '.join(colours)}"})
    return {"scores": scores}


def _topic(messages: list[dict]) -> str:
    text = "\n".join(str(m.get("content")) for m in messages if m.get("role") == "user")
    m = re.search(r"Topic:\s*(.+)", text)
    return m.group(1).strip() if m else "the subject"


_WORDS = "curious bright quiet ancient sudden gentle clever hidden".split()


def _wanted_items(messages: list[dict]) -> int | None:
    """How many scenes/narrations/prompts the prompt asks for ("exactly N scenes", or N numbered lines)."""
    text = "\n".join(str(m.get("content")) for m in messages)
    m = re.search(r"exactly (\d+) (?:scenes|narrations|prompts)", text)
    if m:
        return int(m.group(1))
    user = "\n".join(str(m.get("content")) for m in messages if m.get("role") == "user")
    numbered = re.findall(r"^\d+\. ", user, flags=re.M)
    return len(numbered) or None


def _workflow(messages: list[dict], schema: dict) -> dict:
    """What a competent model answers to `fenta new`: an offline workflow (graph shape) narrating the
    sentence."""
    first = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
    m = re.search(r"Write a workflow for this video:\s*(.+)", first)
    sentence = m.group(1).strip() if m else "a short video"
    template = (schema.get("properties", {}).get("template") or {}).get("enum", ["karaoke-bold"])[0]
    nodes = [
        ("script", "Input.Text", {"text": f"This video is {sentence.rstrip('.')}."}),
        ("voice", "Voice.TTS", {"engine": "espeak"}),
        ("subs", "Subtitle", {}),
        ("backdrop", "Input.Background", {"style": "gradient", "count": 3}),
        ("timeline", "Timeline", {}),
        ("render", "Render", {"profile": "360p"}),
    ]
    edges = [
        ("script", "text", "voice", "text"),
        ("voice", "words", "subs", "words"),
        ("backdrop", "clips", "timeline", "clips"),
        ("voice", "audio", "timeline", "voice"),
        ("subs", "track", "timeline", "subtitles"),
        ("timeline", "timeline", "render", "timeline"),
    ]
    return {
        "version": 1,
        "name": "fake-workflow",
        "description": f"Written by the fake OpenRouter for: {sentence}",
        "template": template,
        "nodes": [{"id": i, "type": t, "data": {"params": p}} for i, t, p in nodes],
        "edges": [{"source": a, "sourceHandle": b, "target": c, "targetHandle": d} for a, b, c, d in edges],
    }


def _not_strict(schema: Any, where: str) -> str | None:
    """Where `schema` leaves the strict subset (an open object, an optional property), or None."""
    if isinstance(schema, list):
        return next((w for i, s in enumerate(schema) if (w := _not_strict(s, f"{where}[{i}]"))), None)
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return f"{where}: 'additionalProperties' must be false"
        if sorted(schema.get("required") or []) != sorted(props):
            return f"{where}: 'required' must list every property"
    return next(
        (
            w
            for k, v in schema.items()
            if isinstance(v, (dict, list)) and (w := _not_strict(v, f"{where}.{k}"))
        ),
        None,
    )


def _instance(schema: dict, name: str, topic: str, i: int, wanted: int | None = None) -> Any:
    """A value that fits `schema`, worded from the property name and the topic."""
    if "anyOf" in schema:  # the first branch that is not null
        branch = next((b for b in schema["anyOf"] if b.get("type") != "null"), schema["anyOf"][0])
        return _instance(branch, name, topic, i, wanted)
    if "enum" in schema:
        return schema["enum"][0]
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    if t == "object":
        return {k: _instance(v, k, topic, i, wanted) for k, v in (schema.get("properties") or {}).items()}
    if t == "array":
        lo, hi = schema.get("minItems", 0), schema.get("maxItems", 4)
        n = wanted if wanted and name in ("scenes", "narrations", "prompts") else max(lo, min(3, hi))
        item_name = name[:-1] if name.endswith("s") else name
        return [_instance(schema.get("items") or {"type": "string"}, item_name, topic, j) for j in range(n)]
    if t == "integer":
        return max(schema.get("minimum", 1), 1)
    if t == "number":
        return float(max(schema.get("minimum", 1), 1))
    if t == "boolean":
        return True
    word = _WORDS[i % len(_WORDS)]
    if name == "narration":
        return f"Here is a {word} fact about {topic}, and it is worth remembering today."
    if name in ("visual", "query"):
        return f"{topic} {word}"
    if name == "hook":
        return f"You will not believe this about {topic}."
    if name == "title":
        return f"{topic.title()}: three {word} facts"
    if name == "keyword":
        return f"{topic} {word}".split()[min(i, 1)]
    if name == "hashtag":
        return "#" + re.sub(r"\W", "", f"{topic}{i}")
    return f"{name} {word} {topic}"


if __name__ == "__main__":  # by hand: python -m tests.fakes.openrouter
    fake = FakeOpenRouter().start()
    fake.serve_by_hand({"FENTA_OPENROUTER_URL": fake.base_url, "OPENROUTER_API_KEY": fake.key})
