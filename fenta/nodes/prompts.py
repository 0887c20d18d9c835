"""Script.Prompts: each scene's narration written into a visual prompt that fits one target model.

One LLM call (OpenRouter, structured JSON) writes a character and style sheet and every scene's prompt
together, so a video's clips look like one video. The prompts respect the target's limits from the model
table (`prompt_max` characters; English for `english_only` models such as Flux Kontext and Veo), the
template's aspect and the requested style. Results are cached by content (the rendered request and the
resolved LLM), and the tokens are recorded like every LLM call. `prompt_help` on AI.Image / AI.Video
runs the same step for its own model.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..pricing import KieModel, kie_model, kie_models
from ..providers import client_for
from ..providers.openrouter import OpenRouterClient
from ..providers.openrouter_models import estimate_usd, resolve_model
from ..types import Scene
from .base import Node, NodeContext, Params, Ports, register
from .script import language_name, load_prompt

__all__ = [
    "ScriptPrompts",
    "WrittenPrompts",
    "write_prompts",
    "prompt_messages",
    "prompt_chars",
    "estimate_prompts_usd",
]

_SOFT_CHARS = 600  # what a good visual prompt needs; longer ones dilute what matters
_PLANNED_SCENES = 8  # the cost estimate assumes this many scenes


class _PromptsOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sheet: str = Field(min_length=1)
    prompts: list[str]


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"sheet": {"type": "string"}, "prompts": {"type": "array", "items": {"type": "string"}}},
    "required": ["sheet", "prompts"],
    "additionalProperties": False,
}


@dataclass
class WrittenPrompts:
    """The style sheet and one prompt per scene."""

    sheet: str
    prompts: list[str]


def prompt_chars(target: KieModel) -> int:
    """The most characters a prompt for `target` may have: its limit, at most `_SOFT_CHARS`."""
    return min(target.prompt_max or _SOFT_CHARS, _SOFT_CHARS)


def _ratio_name(width: int, height: int) -> tuple[str, str]:
    if abs(width - height) <= min(width, height) * 0.05:
        return "1:1", "square"
    choices = {
        "9:16": 9 / 16,
        "3:4": 3 / 4,
        "2:3": 2 / 3,
        "16:9": 16 / 9,
        "4:3": 4 / 3,
        "3:2": 3 / 2,
        "21:9": 21 / 9,
    }
    ratio = min(choices, key=lambda r: abs(choices[r] - width / height))
    return ratio, "vertical" if height > width else "horizontal"


def prompt_messages(
    scenes: list[Scene],
    target: KieModel,
    *,
    canvas: dict[str, Any],
    style: str | None = None,
    character: str | None = None,
    language: str | None = None,
) -> list[dict[str, str]]:
    """The chat messages that ask for the sheet and the prompts (the same inputs give the same messages)."""
    p = load_prompt("visual")
    ratio, orientation = _ratio_name(int(canvas.get("width", 1080)), int(canvas.get("height", 1920)))
    lang = "en" if target.english_only or not language else language
    seconds = target.durations[0] if target.durations else 5
    fmt = {
        "model": target.id,
        "kind_name": "video" if target.kind == "video" else "image",
        "count": len(scenes),
        "chars": prompt_chars(target),
        "language_name": language_name(lang),
        "ratio": ratio,
        "orientation": orientation,
        "seconds": seconds,
    }
    shot = p["video_shot" if target.kind == "video" else "image_shot"].format(**fmt).strip()
    extra = {
        "shot": shot,
        "style": p["style"].format(style=style.strip()) if style and style.strip() else "",
        "character": p["character"].format(character=character.strip())
        if character and character.strip()
        else "",
    }
    system = p["system"].format(**fmt, **extra).strip()
    lines = []
    for i, s in enumerate(scenes):
        idea = f" (picture idea: {' '.join(s.visual.split())})" if s.visual and s.visual.strip() else ""
        lines.append(f"{i + 1}. {' '.join(s.narration.split())}{idea}")
    user = p["user"].format(count=len(scenes), scenes="\n".join(lines)).strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _not_latin(text: str) -> str | None:
    """The first letter of `text` outside the Latin script (English-only models), or None."""
    for ch in text:
        if unicodedata.category(ch).startswith("L") and "LATIN" not in unicodedata.name(ch, ""):
            return ch
    return None


async def write_prompts(
    ctx: NodeContext,
    scenes: list[Scene],
    target: KieModel,
    *,
    canvas: dict[str, Any],
    style: str | None = None,
    character: str | None = None,
    language: str | None = None,
    llm: str = "weak",
    field: str = "params.model",
) -> WrittenPrompts:
    """Ask the LLM for the sheet and every scene's prompt (cached by content; tokens recorded)."""
    messages = prompt_messages(
        scenes, target, canvas=canvas, style=style, character=character, language=language
    )
    model = resolve_model(llm, ctx.settings)
    key = (
        "visual-prompts:"
        + hashlib.sha256(json.dumps([model, messages], ensure_ascii=False).encode()).hexdigest()
    )
    hit = ctx.store.cache_get(key) if ctx.store is not None else None
    if hit and len(hit.get("prompts") or []) == len(scenes):
        return WrittenPrompts(str(hit["sheet"]), [str(p) for p in hit["prompts"]])
    limit = target.prompt_max or 2000
    english = target.english_only or not language or language.split("-")[0].lower() == "en"

    def check(out: _PromptsOut) -> None:
        if len(out.prompts) != len(scenes):
            raise ValueError(f"expected {len(scenes)} prompts (one per scene), got {len(out.prompts)}")
        for i, text in enumerate(out.prompts):
            if not text.strip():
                raise ValueError(f"prompt {i + 1} is empty")
            if len(text) > limit:
                raise ValueError(
                    f"prompt {i + 1} has {len(text)} characters; {target.id} takes at most {limit}"
                )
            if english and (ch := _not_latin(text)):
                raise ValueError(
                    f"prompt {i + 1} is not in English (it has '{ch}'); {target.id} reads English"
                )

    client: OpenRouterClient = client_for(ctx, OpenRouterClient)  # type: ignore[assignment]
    data, _ = await client.chat_json(
        messages,
        _SCHEMA,
        model,
        name="visual_prompts",
        validator=_PromptsOut,
        check=check,
        max_tokens=200 + len(scenes) * (prompt_chars(target) // 3 + 20),
        temperature=0.6,
        on_usage=ctx.usage.tokens(),
    )
    written = WrittenPrompts(
        " ".join(str(data["sheet"]).split()), [" ".join(str(p).split()) for p in data["prompts"]]
    )
    if ctx.store is not None:
        ctx.store.cache_put(key, "visual-prompts", {"sheet": written.sheet, "prompts": written.prompts})
    return written


def estimate_prompts_usd(target: KieModel | None, llm: str, scenes: int = _PLANNED_SCENES) -> float:
    """What writing `scenes` prompts for `target` is expected to cost (one LLM call)."""
    chars = prompt_chars(target) if target else _SOFT_CHARS
    return estimate_usd(resolve_model(llm), 450 + scenes * 40, 150 + scenes * (chars // 4))


class PromptsParams(Params):
    target: str = Field(
        "flux-2/pro-text-to-image",
        description="KIE.ai model the prompts are for (its kind, length and language limits; "
        "`fenta credits --prices`).",
    )
    style: str | None = Field(
        None,
        description="The look of the whole video, e.g. 'watercolour, muted palette, soft morning light'.",
    )
    character: str | None = Field(
        None,
        description="The recurring main character (default: the LLM makes one up from the script and "
        "keeps it).",
    )
    language: str | None = Field(
        None, description="Language of the prompts (default English; English-only models always get English)."
    )
    model: str = Field(
        "weak",
        description="'strong', 'weak' (FENTA_MODEL_STRONG / FENTA_MODEL_WEAK) or an OpenRouter model id.",
    )


class PromptsInputs(Ports):
    scenes: list[Scene]


class PromptsOutputs(Ports):
    scenes: list[Scene] = Field(
        description="The scenes with each visual replaced by its prompt (AI.Image / AI.Video read it)."
    )
    prompts: list[str]
    sheet: str


@register
class ScriptPrompts(Node):
    type = "Script.Prompts"
    version = "1"
    description = (
        "Writes each scene's visual prompt for a KIE.ai model (its length and language limits, the "
        "template's aspect, a style) with one character and style sheet for the whole video; connect its "
        "scenes to AI.Image/AI.Video."
    )
    Params = PromptsParams
    Inputs = PromptsInputs
    Outputs = PromptsOutputs
    resource = "openrouter"
    uses_template = True

    def validate_params(self, params: PromptsParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        target = kie_model(params.target)
        if target is None or target.kind not in ("image", "video"):
            known = sorted(m.id for m in kie_models().values() if m.kind in ("image", "video"))
            return [
                (
                    "params.target",
                    f"unknown image or video model '{params.target}'; known: {', '.join(known)}",
                )
            ]
        return []

    def fingerprint(self, params: PromptsParams, inputs: Any, *, workflow_file: str | None = None) -> str:
        return hashlib.sha256(
            json.dumps([resolve_model(params.model), load_prompt("visual")]).encode()
        ).hexdigest()

    def estimate_cost(self, params: PromptsParams, template: dict[str, Any]) -> dict[str, float]:
        return {"openrouter": estimate_prompts_usd(kie_model(params.target), params.model)}

    async def run(self, ctx: NodeContext, params: PromptsParams, inputs: PromptsInputs) -> PromptsOutputs:
        if not inputs.scenes:
            raise ctx.error(
                "no scenes to write prompts for: connect 'scenes' (e.g. Script.Gen's)", field="inputs.scenes"
            )
        target = kie_model(params.target)
        assert target is not None  # validated at load time
        canvas = (ctx.template or {}).get("canvas") or {"width": 1080, "height": 1920}
        written = await write_prompts(
            ctx,
            inputs.scenes,
            target,
            canvas=canvas,
            style=params.style,
            character=params.character,
            language=params.language,
            llm=params.model,
        )
        scenes = [Scene(narration=s.narration, visual=p) for s, p in zip(inputs.scenes, written.prompts)]
        return PromptsOutputs(scenes=scenes, prompts=written.prompts, sheet=written.sheet)
