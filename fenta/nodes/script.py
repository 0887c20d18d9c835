"""Script.Gen and Script.Transform: LLM-written scripts (OpenRouter, structured JSON output).

Prompts live in `fenta/prompts/*.yaml` (one file per genre, plus `_common.yaml` and
`transform.yaml`), not in code. Results are cached by the runner on a hash of the
rendered prompt and the resolved model (see `fingerprint`), so a repeated run does not
call the model again.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import time
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..providers import client_for
from ..providers.openrouter import OpenRouterClient
from ..providers.openrouter_models import estimate_usd, resolve_model
from ..types import Scene
from .base import Node, NodeContext, Params, Ports, register

GENRES = ("facts", "story", "listicle", "how-to", "news")
# Speaking rate used to turn seconds into a word budget (words per second).
_WPS = {"en": 2.5, "de": 2.1, "ru": 2.0, "fr": 2.4, "es": 2.6, "it": 2.5, "pt": 2.5, "ja": 4.0, "zh": 3.5}
_LANGS = {
    "en": "English",
    "de": "German",
    "ru": "Russian",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "ja": "Japanese",
    "zh": "Chinese",
    "nl": "Dutch",
    "pl": "Polish",
    "uk": "Ukrainian",
    "tr": "Turkish",
}
# Hooks/titles at least this similar to a recent one count as a repeat.
DUPLICATE_RATIO = 0.85


@cache
def load_prompt(name: str) -> dict[str, str]:
    """One prompt file from `fenta/prompts` (shipped inside the package)."""
    return yaml.safe_load(files("fenta").joinpath(f"prompts/{name}.yaml").read_text(encoding="utf-8"))


def word_budget(seconds: float, language: str) -> int:
    return max(8, round(seconds * _WPS.get(language.split("-")[0].lower(), 2.3)))


def language_name(code: str) -> str:
    return _LANGS.get(code.split("-")[0].lower(), code)


# -- structured output ---------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SceneOut(_Strict):
    narration: str = Field(min_length=1)
    visual: str = Field(min_length=1)


class ScriptOut(_Strict):
    title: str = Field(min_length=1)
    hook: str = Field(min_length=1)
    scenes: list[SceneOut] = Field(min_length=1)
    keywords: list[str]
    hashtags: list[str]


class NarrationsOut(_Strict):
    narrations: list[str]


_STR = {"type": "string"}
SCRIPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": _STR,
        "hook": _STR,
        "scenes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"narration": _STR, "visual": _STR},
                "required": ["narration", "visual"],
                "additionalProperties": False,
            },
        },
        "keywords": {"type": "array", "items": _STR},
        "hashtags": {"type": "array", "items": _STR},
    },
    "required": ["title", "hook", "scenes", "keywords", "hashtags"],
    "additionalProperties": False,
}
NARRATIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"narrations": {"type": "array", "items": _STR}},
    "required": ["narrations"],
    "additionalProperties": False,
}


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


# -- Script.Gen ----------------------------------------------------------------------------


class GenParams(Params):
    topic: str = Field(description="What the video is about.")
    genre: Literal["facts", "story", "listicle", "how-to", "news"] = Field(
        "facts", description="Script shape (prompt file in fenta/prompts)."
    )
    seconds: float = Field(
        30, ge=5, le=600, description="Target narration length; turned into a word budget."
    )
    language: str = Field("en", description="Language code of the narration (en, de, ru, ...).")
    tone: str = Field("curious, warm and punchy", description="How it should sound.")
    scenes: int | None = Field(
        None, ge=1, le=20, description="Number of scenes (default: about one per 6 seconds)."
    )
    model: str = Field(
        "strong",
        description="'strong', 'weak' (FENTA_MODEL_STRONG / FENTA_MODEL_WEAK) or an OpenRouter model id.",
    )
    temperature: float = Field(0.8, ge=0, le=2)
    avoid_repeats: bool = Field(
        True, description="Regenerate once when the hook or title repeats a recent script."
    )

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("topic is empty")
        return " ".join(v.split())


class GenOutputs(Ports):
    text: str
    title: str
    hook: str
    scenes: list[Scene]
    keywords: list[str]
    hashtags: list[str]


def scene_count(params: GenParams) -> int:
    return params.scenes or max(3, min(10, round(params.seconds / 6)))


def gen_messages(params: GenParams) -> list[dict[str, str]]:
    """The chat messages for a script (no history: the same params give the same prompt)."""
    common, genre = load_prompt("_common"), load_prompt(params.genre)
    words = word_budget(params.seconds, params.language)
    fmt = {
        "language": params.language,
        "language_name": language_name(params.language),
        "tone": params.tone,
        "words": words,
        "max_words": round(words * 1.15),
        "seconds": params.seconds,
        "scenes": scene_count(params),
        "topic": params.topic,
    }
    system = genre["system"].strip() + "\n\n" + common["system_tail"].format(**fmt).strip()
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": common["user"].format(**fmt).strip()},
    ]


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower().strip(), b.lower().strip()).ratio()


@register
class ScriptGen(Node):
    type = "Script.Gen"
    version = "1"
    description = (
        "Writes a script (title, hook, scenes with stock queries, keywords, hashtags) "
        "with an LLM via OpenRouter."
    )
    Params = GenParams
    Outputs = GenOutputs
    resource = "openrouter"

    def fingerprint(self, params: GenParams, inputs: Any, *, workflow_file: str | None = None) -> str:
        blob = json.dumps(
            {"model": resolve_model(params.model), "messages": gen_messages(params)},
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def estimate_cost(self, params: GenParams, template: dict[str, Any]) -> dict[str, float]:
        prompt_tokens = sum(len(m["content"]) for m in gen_messages(params)) // 4 + 20
        completion_tokens = (
            round(word_budget(params.seconds, params.language) * 1.6) + 30 * scene_count(params) + 80
        )
        return {"openrouter": estimate_usd(resolve_model(params.model), prompt_tokens, completion_tokens)}

    async def run(self, ctx: NodeContext, params: GenParams, inputs: Any) -> GenOutputs:
        model = resolve_model(params.model, ctx.settings)
        client: OpenRouterClient = client_for(ctx, OpenRouterClient)  # type: ignore[assignment]
        messages = gen_messages(params)
        budget = word_budget(params.seconds, params.language)

        def check(s: ScriptOut) -> None:
            n = sum(_words(sc.narration) for sc in s.scenes)
            if n > budget * 2:
                raise ValueError(f"the narration has {n} words; the budget is about {budget}")

        async def ask(msgs: list[dict[str, str]], temperature: float) -> ScriptOut:
            data, _ = await client.chat_json(
                msgs,
                SCRIPT_SCHEMA,
                model,
                name="script",
                validator=ScriptOut,
                check=check,
                max_tokens=budget * 4 + 600,
                temperature=temperature,
                on_usage=ctx.usage.tokens(),
            )
            return ScriptOut.model_validate(data)

        ctx.progress(0.1)
        script = await ask(messages, params.temperature)
        recent = self._recent(ctx) if params.avoid_repeats else []
        if recent and self._repeats(script, recent):
            ctx.info("the script repeats a recent hook or title; asking for a different angle")
            lines = "\n".join(f"- {r}" for r in recent[:20])
            avoid = load_prompt("_common")["avoid"].format(recent=lines).strip()
            retry = [messages[0], {"role": "user", "content": messages[1]["content"] + "\n\n" + avoid}]
            script = await ask(retry, min(2.0, params.temperature + 0.3))
            if self._repeats(script, recent):
                ctx.warn("the regenerated script still resembles a recent one; keeping it")
        self._remember(ctx, params.topic, script)
        ctx.progress(1.0)
        return self._outputs(script)

    @staticmethod
    def _outputs(s: ScriptOut) -> GenOutputs:
        scenes = [
            Scene(narration=" ".join(sc.narration.split()), visual=" ".join(sc.visual.split()))
            for sc in s.scenes
        ]
        text = " ".join(sc.narration for sc in scenes)
        hook = " ".join(s.hook.split())
        if _similar(hook, scenes[0].narration[: len(hook)]) < 0.8:
            text = f"{hook} {text}"
        tags = []
        for h in s.hashtags:
            tag = "#" + re.sub(r"[\s#]+", "", h)
            if len(tag) > 1 and tag not in tags:
                tags.append(tag)
        keywords = list(dict.fromkeys(k.strip() for k in s.keywords if k.strip()))
        return GenOutputs(
            text=text, title=s.title.strip(), hook=hook, scenes=scenes, keywords=keywords, hashtags=tags
        )

    @staticmethod
    def _recent(ctx: NodeContext, days: int = 30) -> list[str]:
        """Hooks and titles of recent scripts (kept by the job store), so a new one does not repeat them."""
        if ctx.store is None:
            return []
        out: list[str] = []
        for r in ctx.store.recent_scripts(time.time() - days * 86400):
            out += [x for x in (r["hook"], r["title"]) if x]
        return out

    @staticmethod
    def _repeats(s: ScriptOut, recent: list[str]) -> bool:
        return any(_similar(mine, old) >= DUPLICATE_RATIO for mine in (s.hook, s.title) for old in recent)

    @staticmethod
    def _remember(ctx: NodeContext, topic: str, s: ScriptOut) -> None:
        if ctx.store is None:
            return
        ctx.store.remember_script(topic=topic, title=s.title, hook=s.hook, job_id=ctx.job_id)


# -- Script.Transform ----------------------------------------------------------------------


class TransformParams(Params):
    mode: Literal["translate", "compress", "tone"] = Field(
        description="translate to `language`, compress to `seconds`, or adapt to `tone`."
    )
    language: str | None = Field(None, description="Target language code (translate).")
    seconds: float | None = Field(None, ge=3, le=600, description="Target length in seconds (compress).")
    tone: str | None = Field(None, description="Target tone (tone).")
    model: str = Field("weak", description="'strong', 'weak' or an OpenRouter model id.")
    temperature: float = Field(0.4, ge=0, le=2)


class TransformInputs(Ports):
    scenes: list[Scene] | None = None
    text: str | None = None


class TransformOutputs(Ports):
    text: str
    scenes: list[Scene]


def transform_messages(params: TransformParams, scenes: list[Scene]) -> list[dict[str, str]]:
    p = load_prompt("transform")
    lang = params.language or "en"
    seconds = params.seconds or 30.0
    fmt = {
        "language": lang,
        "language_name": language_name(lang),
        "seconds": seconds,
        "words": word_budget(seconds, lang),
        "tone": params.tone or "",
        "count": len(scenes),
    }
    system = p["system"].format(**fmt).strip() + "\n" + p[params.mode].format(**fmt).strip()
    numbered = "\n".join(f"{i + 1}. {s.narration}" for i, s in enumerate(scenes))
    return [{"role": "system", "content": system}, {"role": "user", "content": numbered}]


@register
class ScriptTransform(Node):
    type = "Script.Transform"
    version = "1"
    description = "Translates, compresses or re-tones a script scene by scene (same scenes, same visuals)."
    Params = TransformParams
    Inputs = TransformInputs
    Outputs = TransformOutputs
    resource = "openrouter"

    def validate_params(self, params: TransformParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        need = {"translate": "language", "compress": "seconds", "tone": "tone"}[params.mode]
        if getattr(params, need) in (None, ""):
            return [(f"params.{need}", f"mode '{params.mode}' needs params.{need}")]
        return []

    def estimate_cost(self, params: TransformParams, template: dict[str, Any]) -> dict[str, float]:
        return {"openrouter": estimate_usd(resolve_model(params.model), 600, 400)}

    async def run(
        self, ctx: NodeContext, params: TransformParams, inputs: TransformInputs
    ) -> TransformOutputs:
        scenes = list(inputs.scenes or [])
        if not scenes and inputs.text and inputs.text.strip():
            scenes = [Scene(narration=" ".join(inputs.text.split()))]
        if not scenes:
            raise ctx.error("nothing to transform: connect 'scenes' (or 'text')", field="inputs.scenes")
        model = resolve_model(params.model, ctx.settings)
        client: OpenRouterClient = client_for(ctx, OpenRouterClient)  # type: ignore[assignment]

        def check(out: NarrationsOut) -> None:
            if len(out.narrations) != len(scenes):
                raise ValueError(
                    f"expected {len(scenes)} narrations (one per scene), got {len(out.narrations)}"
                )
            if any(not n.strip() for n in out.narrations):
                raise ValueError("a narration is empty")

        data, _ = await client.chat_json(
            transform_messages(params, scenes),
            NARRATIONS_SCHEMA,
            model,
            name="narrations",
            validator=NarrationsOut,
            check=check,
            temperature=params.temperature,
            on_usage=ctx.usage.tokens(),
        )
        new = [
            Scene(narration=" ".join(n.split()), visual=s.visual) for n, s in zip(data["narrations"], scenes)
        ]
        return TransformOutputs(text=" ".join(s.narration for s in new), scenes=new)
