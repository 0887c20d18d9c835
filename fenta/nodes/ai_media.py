"""AI.Image and AI.Video: generate stills and clips with KIE.ai, without ever paying twice.

Any model of the table (`fenta/pricing/kie.yaml`) works: Market models through one generic path built
from their row, the dedicated families (4o image, Flux Kontext, Runway) by their own bodies, and Veo
with its extensions, 1080p and 4K (`veo`). How a paid request is created, polled, billed and reused is
shared by every AI node (`kie_tasks`).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, ClassVar

from ..hashing import file_sha256
from ..pricing import KieModel, credits_to_usd, kie_model, kie_models
from ..providers import client_for
from ..providers.kie import KieClient, build_request
from ..types import Clip
from .ai_params import (
    AIImageParams,
    AIInputs,
    AIOutputs,
    AIParams,
    AIVideoParams,
    aspect_for,
    clip_of,
    models_help,
)
from .base import Node, NodeContext, register
from .kie_tasks import (
    MAX_PARALLEL,
    UPLOAD_MARK,
    Paid,
    fetch_files,
    keep_in_library,
    label_for,
    poll_interval,
    run_paid,
    task_key,
)
from .prompts import estimate_prompts_usd
from .veo import make_veo

__all__ = ["AIImage", "AIVideo", "poll_interval", "task_key", "aspect_for", "clip_of", "models_help"]

_WORDS_PER_SECOND = 2.5  # spoken English; how long a scene's narration runs (Veo extend: auto)


class _AIMedia(Node):
    kind: ClassVar[str] = "image"
    Inputs = AIInputs
    Outputs = AIOutputs
    resource = "kie"
    uses_template = True

    # -- planning ------------------------------------------------------------------------

    def _generations(self, params: AIParams) -> int:
        return params.count if params.prompt else params.max_scenes

    def estimate_cost(self, params: AIParams, template: dict[str, Any]) -> dict[str, float]:
        model = kie_model(params.model)
        if model is None:
            return {}
        extend = getattr(params, "extend", 0)
        extends = getattr(params, "max_extend", 0) if extend == "auto" else int(extend or 0)
        credits = model.credits(
            count=self._generations(params),
            duration=getattr(params, "duration", None),
            resolution=params.resolution,
            extends=extends,
        )
        cost = {"kie": credits_to_usd(credits)}
        if params.prompt_help and not params.prompt:  # one LLM call writes every scene's prompt
            cost["openrouter"] = estimate_prompts_usd(model, params.prompt_model or "weak", params.max_scenes)
        return cost

    def required_keys(self, params: AIParams) -> set[str]:
        # prompt_help asks the LLM (OpenRouter) to write the prompts
        return {"kie", "openrouter"} if params.prompt_help else {"kie"}

    def validate_params(self, params: AIParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        model = kie_model(params.model)
        known = sorted(m.id for m in kie_models().values() if m.kind == self.kind)
        if model is None or model.kind != self.kind:
            problems.append(
                ("params.model", f"unknown {self.kind} model '{params.model}'; known: {', '.join(known)}")
            )
            return problems
        if params.aspect_ratio and params.aspect_ratio not in model.aspect_ratios:
            takes = ", ".join(model.aspect_ratios) or "no aspect ratio option"
            problems.append(("params.aspect_ratio", f"{model.id} takes {takes}"))
        if params.resolution and params.resolution not in model.resolution_choices:
            takes = ", ".join(model.resolution_choices) or "no resolution option"
            problems.append(("params.resolution", f"{model.id} takes {takes}"))
        duration = getattr(params, "duration", None)
        if duration is not None and model.durations and duration not in model.durations:
            problems.append(
                ("params.duration", f"{model.id} makes clips of {', '.join(map(str, model.durations))} s")
            )
        if model.family == "runway" and duration == 10 and params.resolution == "1080p":
            problems.append(("params.resolution", "runway does not make 10 s clips in 1080p"))
        if params.prompt is not None and not params.prompt.strip():
            problems.append(("params.prompt", "prompt is empty"))
        problems += self._video_problems(params, model)
        return problems

    def _video_problems(self, params: AIParams, model: KieModel) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        mode = getattr(params, "image_mode", "image")
        if mode != "image" and mode not in model.modes:
            takes = sorted(m.id for m in kie_models().values() if mode in m.modes)
            problems.append(
                ("params.image_mode", f"{model.id} has no {mode} mode; use one of {', '.join(takes)}")
            )
        extend = getattr(params, "extend", 0)
        if extend not in (0, "auto") and not model.extend_max:
            problems.append(("params.extend", f"{model.id} cannot extend a clip (Veo models can)"))
        elif isinstance(extend, int) and not 0 <= extend <= model.extend_max:
            problems.append(("params.extend", f"{model.id} takes 0 to {model.extend_max} extensions"))
        return problems

    # -- running -------------------------------------------------------------------------

    async def run(self, ctx: NodeContext, params: AIParams, inputs: AIInputs) -> AIOutputs:
        model = kie_model(params.model)
        assert model is not None  # validated at load time
        self._check_images(ctx, model, params, inputs)
        if model.family == "runway" and not params.callback_url:
            ctx.warn(
                "KIE documents callBackUrl as required for Runway; if the request is refused, set "
                "params.callback_url (polling still does the work)"
            )
        prompts = await self._prompts(ctx, params, inputs, model)
        canvas = (ctx.template or {}).get("canvas") or {"width": 1080, "height": 1920}
        aspect = params.aspect_ratio or aspect_for(model, int(canvas["width"]), int(canvas["height"]))
        client: KieClient = client_for(ctx, KieClient)  # type: ignore[assignment]
        slots = ctx.services.setdefault("kie:slots", asyncio.Semaphore(MAX_PARALLEL))
        done = [0]
        seen: dict[str, int] = {}
        variants = []
        for _, p, _ in prompts:
            variants.append(seen.get(p, 0))
            seen[p] = seen.get(p, 0) + 1

        async def one(i: int, scene: int | None, prompt: str, words: int) -> list[Clip]:
            images = self._images_for(i, inputs.image, getattr(params, "image_mode", "image"), model)
            async with slots:
                clips = await self._generate(
                    ctx, client, model, params, prompt, aspect, images, scene, variants[i], words
                )
            done[0] += 1
            ctx.progress(done[0] / len(prompts))
            return clips

        results = await asyncio.gather(
            *(one(i, sc, p, w) for i, (sc, p, w) in enumerate(prompts)), return_exceptions=True
        )
        # Every generation ran to its end first, so nothing paid for is abandoned; then the first error.
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return AIOutputs(clips=[c for r in results for c in r])  # type: ignore[union-attr]

    def _check_images(self, ctx: NodeContext, model: KieModel, params: AIParams, inputs: AIInputs) -> None:
        if model.images == "required" and not inputs.image:
            raise ctx.error(
                f"{model.id} works from an image: connect an 'image' input (e.g. an Input.Asset or AI.Image "
                "clips)",
                field="inputs.image",
            )
        if model.images == "none" and inputs.image:
            takes = sorted(m.id for m in kie_models().values() if m.kind == self.kind and m.images != "none")
            raise ctx.error(
                f"{model.id} takes no input image; use one of {', '.join(takes)}", field="inputs.image"
            )
        for c in inputs.image:
            if c.kind != "image" or not c.path:
                raise ctx.error(
                    f"'image' inputs must be still images; got a {c.kind} clip ({c.source or c.path})",
                    field="inputs.image",
                )
        if getattr(params, "image_mode", "image") != "image" and not inputs.image:
            raise ctx.error(f"image_mode {params.image_mode} needs 'image' inputs", field="inputs.image")  # type: ignore[attr-defined]

    @staticmethod
    def _images_for(i: int, images: list[Clip], mode: str, model: KieModel) -> list[str]:
        """Input files of generation `i`: its own image, its first and last frame, or every reference."""
        paths = [str(c.path) for c in images]
        if not paths:
            return []
        if mode == "reference":
            return paths[: model.max_images]
        first = min(i, len(paths) - 1)
        if mode == "first-last" and len(paths) > 1:
            return (
                [paths[first], paths[min(i + 1, len(paths) - 1)]]
                if first < len(paths) - 1
                else [paths[first]]
            )
        return [paths[first]]

    async def _prompts(
        self, ctx: NodeContext, params: AIParams, inputs: AIInputs, model: KieModel
    ) -> list[tuple[int | None, str, int]]:
        """(scene, prompt, words of its narration) of every generation."""
        style = f", {params.style.strip()}" if params.style and params.style.strip() else ""
        if params.prompt:
            return [(None, params.prompt.strip() + style, 0)] * params.count
        if not inputs.scenes:
            raise ctx.error("set params.prompt or connect a 'scenes' input", field="params.prompt")
        scenes = inputs.scenes
        if len(scenes) > params.max_scenes:
            ctx.warn(
                f"{len(scenes)} scenes but max_scenes is {params.max_scenes}: illustrating the first "
                f"{params.max_scenes} (the cost estimate assumes max_scenes)"
            )
            scenes = scenes[: params.max_scenes]
        texts = [(s.visual or s.narration).strip() for s in scenes]
        if params.prompt_help:
            from .prompts import write_prompts

            canvas = (ctx.template or {}).get("canvas") or {"width": 1080, "height": 1920}
            written = await write_prompts(
                ctx,
                scenes,
                model,
                canvas=canvas,
                style=params.style,
                llm=params.prompt_model or "weak",
                field="params.prompt_help",
            )
            texts, style = written.prompts, ""
        return [
            (i, t + style, len(re.findall(r"\w+", s.narration)))
            for i, (s, t) in enumerate(zip(scenes, texts))
        ]

    async def _generate(
        self,
        ctx: NodeContext,
        client: KieClient,
        model: KieModel,
        params: AIParams,
        prompt: str,
        aspect: str | None,
        images: list[str],
        scene: int | None,
        variant: int,
        words: int,
    ) -> list[Clip]:
        duration = getattr(params, "duration", None)
        image_mode = getattr(params, "image_mode", "image")
        if model.family == "veo":
            extend = getattr(params, "extend", 0)
            if extend == "auto":  # enough for the scene's narration, at most max_extend
                extends = model.clips(words / _WORDS_PER_SECOND) - 1 if words else 0
                extends = min(extends, getattr(params, "max_extend", 0))
            else:
                extends = int(extend or 0)
            veo = await make_veo(
                ctx,
                client,
                model,
                prompt=prompt,
                aspect=aspect,
                images=images,
                image_mode=image_mode,
                resolution=params.resolution,
                extends=extends,
                extend_prompt=getattr(params, "extend_prompt", None),
                callback_url=params.callback_url,
                timeout=params.timeout,
                scene=scene,
                variant=variant,
            )
            key, task_id, urls, credits = veo.key, veo.task_id, veo.urls, veo.credits
            extra = {"tasks": veo.tasks, "resolution": params.resolution or "720p"}
        else:
            uploads = {file_sha256(p): Path(p) for p in images}
            path, body = build_request(
                model,
                prompt=prompt,
                aspect_ratio=aspect,
                duration=duration,
                resolution=params.resolution,
                image_urls=[UPLOAD_MARK + s for s in uploads],
                image_mode=image_mode,
                callback_url=params.callback_url,
            )
            key = task_key(model.id, path, body, variant)
            table = model.credits(count=1, duration=duration, resolution=params.resolution)
            paid = Paid(
                key,
                model,
                model.family,
                path,
                body,
                label_for(prompt, scene),
                table,
                uploads,
                {"prompt": prompt},
            )
            status = await run_paid(ctx, client, paid, timeout=params.timeout)
            task_id, urls = status.task_id, status.urls
            credits = float(
                ((ctx.job_store().provider_task(key) or {}).get("result") or {}).get("credits") or table
            )
            extra = {}
        files, fresh = await fetch_files(
            ctx, client, key, urls, task_id, ".png" if self.kind == "image" else ".mp4"
        )
        if fresh:
            provenance = {
                "provider": "kie",
                "model": model.id,
                "prompt": prompt,
                "task_id": task_id,
                "credits": credits,
                "cost": credits_to_usd(credits),
                **extra,
            }
            await keep_in_library(ctx, files, urls, provenance)
        else:
            ctx.info(f"reusing finished KIE task {task_id} (no new request)")
        return [clip_of(f, scene, prompt, self.kind) for f in files]


@register
class AIImage(_AIMedia):
    type = "AI.Image"
    description = (
        "Generates images with KIE.ai (Flux, GPT-4o image, Nano Banana, Seedream, ...): one per prompt or "
        "per scene."
    )
    kind = "image"
    Params = AIImageParams


@register
class AIVideo(_AIMedia):
    type = "AI.Video"
    description = (
        "Generates video clips with KIE.ai (Veo 1080p/4K and extended, Sora 2, Kling, Seedance, Hailuo, "
        "Wan, Runway, ...), from text or upstream images; `fenta credits --prices` lists every model."
    )
    kind = "video"
    Params = AIVideoParams
