"""What AI.Image and AI.Video take and give: their params and ports, the model list their `model` param
shows, and the helpers every AI node shares (the canvas's nearest ratio, a generated file as a clip)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from ..media.probe import probe
from ..pricing import KieModel, kie_models
from ..types import Clip, Scene
from .base import Params, Ports

__all__ = [
    "AIParams",
    "AIImageParams",
    "AIVideoParams",
    "AIInputs",
    "AIOutputs",
    "aspect_for",
    "clip_of",
    "models_help",
]


def _ratio_value(r: str) -> float:
    a, b = r.split(":")
    return float(a) / float(b)


def aspect_for(model: KieModel, width: int, height: int) -> str | None:
    """The model's aspect ratio closest to the canvas."""
    choices = [r for r in model.aspect_ratios if ":" in r]
    if not choices:
        return None
    target = width / height
    return min(choices, key=lambda r: abs(math.log(_ratio_value(r) / target)))


def clip_of(path: str, scene: int | None, prompt: str, kind: str) -> Clip:
    """A generated file as a clip (probed)."""
    info = probe(path)
    w, h = info.display_size
    source = f"kie: {prompt[:60]}"
    if kind == "image" or info.is_still:
        return Clip(kind="image", path=path, width=w, height=h, source=source, scene=scene)
    return Clip(
        kind="video",
        path=path,
        duration=info.duration,
        width=w,
        height=h,
        rotation=info.rotation,
        has_audio=info.has_audio,
        source=source,
        scene=scene,
    )


class AIParams(Params):
    model: str = Field(
        description="KIE.ai model id (the models and prices are listed by `fenta credits --prices`)."
    )
    prompt: str | None = Field(
        None, description="What to generate. Leave empty to make one generation per connected scene."
    )
    style: str | None = Field(None, description="Appended to every prompt, e.g. 'cinematic, soft light'.")
    count: int = Field(1, ge=1, le=20, description="Generations of `prompt` (ignored with scenes).")
    max_scenes: int = Field(
        8, ge=1, le=50, description="Most scenes to illustrate; the cost estimate assumes this many."
    )
    aspect_ratio: str | None = Field(
        None, description="Override the ratio derived from the template canvas, e.g. '9:16'."
    )
    resolution: str | None = Field(
        None, description="Model resolution where it takes one (e.g. '1K', '720p'; Veo: 720p, 1080p, 4k)."
    )
    callback_url: str | None = Field(
        None, description="Your public endpoint for KIE callbacks (optional; polling stays on)."
    )
    timeout: float = Field(
        900, gt=0, description="Seconds to wait for one generation before giving up (resume continues it)."
    )
    prompt_help: bool = Field(
        False,
        description="Write each scene's visual prompt with the LLM for this model (as Script.Prompts does; "
        "cached).",
    )
    prompt_model: str | None = Field(
        None, description="LLM for prompt_help: 'strong', 'weak' or an OpenRouter id (default: weak)."
    )


def models_help(kind: str, *, edits: bool = False) -> str:
    """The models of the table that make `kind` (or edit images), for a `model` param's description."""
    ids = [m.id for m in kie_models().values() if m.kind == kind and (m.edits or not edits)]
    return f"KIE.ai model, one of: {', '.join(ids)} (prices and sources: `fenta credits --prices`)."


class AIImageParams(AIParams):
    model: str = Field("flux-2/pro-text-to-image", description=models_help("image"))


class AIVideoParams(AIParams):
    model: str = Field("kling-2.6/text-to-video", description=models_help("video"))
    duration: int | None = Field(
        None, ge=1, le=60, description="Clip seconds where the model takes it (e.g. 5 or 10)."
    )
    image_mode: Literal["image", "first-last", "reference"] = Field(
        "image",
        description="How 'image' inputs are used: image (animate one), first-last (scene i runs from "
        "image i to image i+1), reference (Veo: up to 3 images every clip stays true to).",
    )
    extend: int | Literal["auto"] = Field(
        0,
        description="Veo: continuations of each clip (about 7 s each); 'auto': enough for the scene's "
        "narration, at most max_extend.",
    )
    max_extend: int = Field(
        2, ge=0, le=7, description="Veo, extend: auto: most continuations (the estimate assumes this many)."
    )
    extend_prompt: str | None = Field(
        None, description="Veo: what happens in the continuation (default: the same shot continues)."
    )


class AIInputs(Ports):
    scenes: list[Scene] | None = None
    image: list[Clip] = Field(
        default_factory=list,
        description="Reference images (image-to-video / edit); one per generation, the last repeats.",
    )


class AIOutputs(Ports):
    clips: list[Clip]
