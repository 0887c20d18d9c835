"""AI.Image and AI.Video: generate stills and clips with KIE.ai, without ever paying twice.

Every generation follows the same steps:
1. its request is hashed (provider + model + request body, with local input images named by content);
2. if SQLite already holds a task under that hash, it is reused: a finished one with its files on disk
   costs nothing, a pending one is polled again (a killed or re-run job never submits a second time);
3. otherwise the task is created and its id written to SQLite BEFORE polling starts;
4. polling backs off on KIE's documented schedule (2.5 s for 30 s, 7.5 s until 2 min, then 20 s) up to
   a timeout; a callback (optional mode) that lands in the same row ends the wait early;
5. results are downloaded at once (links expire) into the content-addressed cache, and the credits spent
   are recorded as usage.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from pydantic import Field

from ..errors import ProviderError
from ..hashing import file_sha256
from ..library import record_safely
from ..pricing import KieModel, credits_to_usd, kie_model, kie_models
from ..providers import client_for
from ..providers.kie import KieClient, OutcomeUnknownError, TaskStatus, build_request, time_scale
from ..media.probe import probe
from ..types import Clip, Scene
from .base import Node, NodeContext, Params, Ports, register

__all__ = ["AIImage", "AIVideo", "poll_interval", "task_key"]

_UPLOAD_MARK = "upload:"
_PROMPT_MODEL = "openai/gpt-4o-mini"  # small and cheap: a prompt is a sentence or two
_MAX_PARALLEL = 8  # generations in flight per run; KIE allows ~100 running tasks, 20 new per 10 s


def poll_interval(elapsed: float, scale: float | None = None) -> float:
    """Seconds to wait before the next status query, after `elapsed` seconds (KIE's guidance), times
    `scale` (the settings' `kie_time_scale`; read from the process's settings when not given)."""
    if elapsed < 30:
        base = 2.5
    elif elapsed < 120:
        base = 7.5
    else:
        base = 20.0
    return base * (time_scale() if scale is None else scale)


def task_key(model: str, path: str, body: dict[str, Any], variant: int = 0) -> str:
    """Hash that identifies a paid request (the callback URL does not change what is made).

    `variant` tells apart deliberate repeats of the same request (count > 1, or two equal scenes).
    """
    material = {k: v for k, v in body.items() if k != "callBackUrl"}
    doc = {"provider": "kie", "model": model, "path": path, "body": material}
    if variant:
        doc["variant"] = variant
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


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


class _AIParams(Params):
    model: str = Field(description="KIE.ai model id (the models and prices are listed by `fenta credits --prices`).")
    prompt: str | None = Field(None, description="What to generate. Leave empty to make one generation per connected scene.")
    style: str | None = Field(None, description="Appended to every prompt, e.g. 'cinematic, soft light'.")
    count: int = Field(1, ge=1, le=20, description="Generations of `prompt` (ignored with scenes).")
    max_scenes: int = Field(8, ge=1, le=50, description="Most scenes to illustrate; the cost estimate assumes this many.")
    aspect_ratio: str | None = Field(None, description="Override the ratio derived from the template canvas, e.g. '9:16'.")
    resolution: str | None = Field(None, description="Model resolution where it takes one (e.g. '1K', '720p').")
    callback_url: str | None = Field(None, description="Your public endpoint for KIE callbacks (optional; polling stays on).")
    timeout: float = Field(900, gt=0, description="Seconds to wait for one generation before giving up (resume continues it).")
    prompt_help: bool = Field(False, description="Turn scene narration into a visual prompt with the LLM (OpenRouter, cached).")
    prompt_model: str | None = Field(None, description="LLM for prompt_help (default: the OpenRouter client's default).")


class AIImageParams(_AIParams):
    model: str = Field("flux-2/pro-text-to-image", description="KIE.ai image model id.")


class AIVideoParams(_AIParams):
    model: str = Field("kling-2.6/text-to-video", description="KIE.ai video model id.")
    duration: int | None = Field(None, ge=1, le=60, description="Clip seconds where the model takes it (e.g. 5 or 10).")


class AIInputs(Ports):
    scenes: list[Scene] | None = None
    image: list[Clip] = Field(default_factory=list, description="Reference images (image-to-video / edit); one per generation, the last repeats.")


class AIOutputs(Ports):
    clips: list[Clip]


class _AIMedia(Node):
    kind: ClassVar[str] = "image"
    Inputs = AIInputs
    Outputs = AIOutputs
    resource = "kie"
    uses_template = True

    # -- planning ------------------------------------------------------------------------

    def _generations(self, params: _AIParams) -> int:
        return params.count if params.prompt else params.max_scenes

    def estimate_cost(self, params: _AIParams, template: dict[str, Any]) -> dict[str, float]:
        model = kie_model(params.model)
        if model is None:
            return {}
        credits = model.credits(count=self._generations(params), duration=getattr(params, "duration", None), resolution=params.resolution)
        return {"kie": credits_to_usd(credits)}

    def required_keys(self, params: _AIParams) -> set[str]:
        # prompt_help asks the LLM (OpenRouter) to write the prompts
        return {"kie", "openrouter"} if params.prompt_help else {"kie"}

    def validate_params(self, params: _AIParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        model = kie_model(params.model)
        known = sorted(m.id for m in kie_models().values() if m.kind == self.kind)
        if model is None or model.kind != self.kind:
            problems.append(("params.model", f"unknown {self.kind} model '{params.model}'; known: {', '.join(known)}"))
            return problems
        if params.aspect_ratio and params.aspect_ratio not in model.aspect_ratios:
            problems.append(("params.aspect_ratio", f"{model.id} takes {', '.join(model.aspect_ratios)}"))
        if params.resolution and params.resolution not in model.resolutions:
            takes = ", ".join(model.resolutions) or "no resolution option"
            problems.append(("params.resolution", f"{model.id} takes {takes}"))
        duration = getattr(params, "duration", None)
        if duration is not None and model.durations and duration not in model.durations:
            problems.append(("params.duration", f"{model.id} makes clips of {', '.join(map(str, model.durations))} s"))
        if model.family == "runway" and duration == 10 and params.resolution == "1080p":
            problems.append(("params.resolution", "runway does not make 10 s clips in 1080p"))
        if params.prompt is not None and not params.prompt.strip():
            problems.append(("params.prompt", "prompt is empty"))
        return problems

    # -- running -------------------------------------------------------------------------

    async def run(self, ctx: NodeContext, params: _AIParams, inputs: AIInputs) -> AIOutputs:
        model = kie_model(params.model)
        assert model is not None  # validated at load time
        if model.images == "required" and not inputs.image:
            raise ctx.error(f"{model.id} works from an image: connect an 'image' input (e.g. an Input.Asset or AI.Image clips)", field="inputs.image")
        if model.images == "none" and inputs.image:
            takes = sorted(m.id for m in kie_models().values() if m.kind == self.kind and m.images != "none")
            raise ctx.error(f"{model.id} takes no input image; use one of {', '.join(takes)}", field="inputs.image")
        if model.family == "runway" and not params.callback_url:
            ctx.warn("KIE documents callBackUrl as required for Runway; if the request is refused, set params.callback_url (polling still does the work)")
        prompts = await self._prompts(ctx, params, inputs)
        canvas = (ctx.template or {}).get("canvas") or {"width": 1080, "height": 1920}
        aspect = params.aspect_ratio or aspect_for(model, int(canvas["width"]), int(canvas["height"]))
        client = client_for(ctx, KieClient)
        slots = ctx.services.setdefault("kie:slots", asyncio.Semaphore(_MAX_PARALLEL))
        done = [0]

        seen: dict[str, int] = {}
        variants = []
        for _, p in prompts:
            variants.append(seen.get(p, 0))
            seen[p] = seen.get(p, 0) + 1

        async def one(i: int, scene: int | None, prompt: str) -> list[Clip]:
            image = inputs.image[min(i, len(inputs.image) - 1)] if inputs.image else None
            async with slots:
                clips = await self._generate(ctx, client, model, params, prompt, aspect, image, scene, variants[i])
            done[0] += 1
            ctx.progress(done[0] / len(prompts))
            return clips

        results = await asyncio.gather(*(one(i, sc, p) for i, (sc, p) in enumerate(prompts)), return_exceptions=True)
        # Every generation ran to its end first, so nothing paid for is abandoned; then report the first error.
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return AIOutputs(clips=[c for r in results for c in r])  # type: ignore[union-attr]

    async def _prompts(self, ctx: NodeContext, params: _AIParams, inputs: AIInputs) -> list[tuple[int | None, str]]:
        style = f", {params.style.strip()}" if params.style and params.style.strip() else ""
        if params.prompt:
            return [(None, params.prompt.strip() + style)] * params.count
        if not inputs.scenes:
            raise ctx.error("set params.prompt or connect a 'scenes' input", field="params.prompt")
        scenes = inputs.scenes
        if len(scenes) > params.max_scenes:
            ctx.warn(f"{len(scenes)} scenes but max_scenes is {params.max_scenes}: illustrating the first {params.max_scenes} (the cost estimate assumes max_scenes)")
            scenes = scenes[: params.max_scenes]
        out = []
        for i, s in enumerate(scenes):
            text = (s.visual or s.narration).strip()
            if params.prompt_help:
                text = await _prompt_help(ctx, params, s, self.kind)
            out.append((i, text + style))
        return out

    async def _generate(self, ctx: NodeContext, client: KieClient, model: KieModel, params: _AIParams, prompt: str, aspect: str | None, image: Clip | None, scene: int | None, variant: int = 0) -> list[Clip]:
        image_sha = file_sha256(image.path) if image and image.path else None
        placeholder = [_UPLOAD_MARK + image_sha] if image_sha else None
        path, body = build_request(
            model,
            prompt=prompt,
            aspect_ratio=aspect,
            duration=getattr(params, "duration", None),
            resolution=params.resolution,
            image_urls=placeholder,
            callback_url=params.callback_url,
        )
        key = task_key(model.id, path, body, variant)
        # The same request from two nodes of one run: the second waits and reuses the first's task.
        locks = ctx.services.setdefault("kie:key-locks", {})
        async with locks.setdefault(key, asyncio.Lock()):
            return await self._generate_once(ctx, client, model, params, prompt, image, image_sha, scene, path, body, key)

    async def _generate_once(self, ctx: NodeContext, client: KieClient, model: KieModel, params: _AIParams, prompt: str, image: Clip | None, image_sha: str | None, scene: int | None, path: str, body: dict[str, Any], key: str) -> list[Clip]:
        store = ctx.store
        row = store.provider_task(key)
        if row and row["status"] == "succeeded" and _files_ok((row.get("result") or {}).get("files")):
            ctx.info(f"reusing finished KIE task {row['task_id']} (no new request)")
            return [self._clip(f, scene, prompt) for f in row["result"]["files"]]
        if row and row["status"] in ("pending", "running", "succeeded"):
            task_id = row["task_id"]
            ctx.info(f"continuing KIE task {task_id} (already paid; not submitted again)")
        else:
            if row and row["status"] == "submitting":
                ctx.warn("an earlier run was stopped while KIE.ai was accepting this generation; its task id never arrived, so it is submitted again (check the KIE.ai dashboard for a duplicate charge)")
            if image_sha and image is not None and image.path:
                url = await client.upload(image.path, file_name=image_sha[:32] + Path(image.path).suffix)
                body = _replace_upload(body, url)
            meta = {"family": model.family, "model": model.id, "prompt": prompt}
            # A marker first: if the process dies before the task id is stored, the next run can say so.
            store.save_provider_task(key=key, provider="kie", task_id="", status="submitting", job_id=ctx.job_id, node_id=ctx.node_id, result=meta)
            try:
                task_id = await client.create_task(path, body)
            except OutcomeUnknownError:
                raise  # keep the marker: the next run warns that this one may have been charged
            except Exception:
                store.delete_provider_task(key)  # refused (or never sent): nothing was created
                raise
            # (cancelled or interrupted mid-request: the marker stays, for the same reason)
            # Written before the first poll: from here on a killed run finds this task instead of paying again.
            store.save_provider_task(key=key, provider="kie", task_id=task_id, status="pending", job_id=ctx.job_id, node_id=ctx.node_id, result=meta)
            ctx.info(f"KIE task {task_id} created ({model.id})")
        status = await self._poll(ctx, client, model, key, task_id, params.timeout)
        files = []
        for n, url in enumerate(status.urls):
            files.append(await self._download(ctx, client, url, f"{task_id}-{n}"))
        row = store.provider_task(key) or {}
        billed = bool((row.get("result") or {}).get("billed"))
        store.update_provider_task(key, status="succeeded", result={"urls": status.urls, "files": files, "billed": True})
        credits = status.credits if status.credits is not None else model.credits(count=1, duration=getattr(params, "duration", None), resolution=params.resolution)
        if not billed:
            ctx.usage.record("kie", model=model.id, units="credits", quantity=credits, cost=credits_to_usd(credits))
        provenance = {"provider": "kie", "model": model.id, "prompt": prompt, "task_id": task_id, "credits": credits, "cost": credits_to_usd(credits)}
        for f, url in zip(files, status.urls):
            warning = await asyncio.to_thread(record_safely, f, origin="ai", source=url, provenance=provenance, settings=ctx.settings)
            if warning:
                ctx.warn(warning)
        return [self._clip(f, scene, prompt) for f in files]

    async def _poll(self, ctx: NodeContext, client: KieClient, model: KieModel, key: str, task_id: str, timeout: float) -> TaskStatus:
        store = ctx.store
        row = store.provider_task(key) or {}
        created = float(row.get("created_at") or time.time())
        started = time.monotonic()
        last_state = row.get("status")
        while True:
            row = store.provider_task(key) or {}
            res = row.get("result") or {}
            if row.get("status") in ("succeeded", "failed") and (res.get("urls") or res.get("error")):
                # Finished by a callback (or an earlier poll): the row is as good as a status query.
                status = TaskStatus(task_id, row["status"], list(res.get("urls") or []), res.get("error"), res.get("error_code"), res.get("credits"))
            else:
                try:
                    status = await client.task_status(model.family, task_id)
                except ProviderError as e:
                    if e.status == 404:
                        store.update_provider_task(key, status="failed", result={"error": "KIE no longer knows this task"})
                        raise ctx.error(f"KIE.ai no longer knows task {task_id}; run again to submit a new one", cls=ProviderError, provider="kie") from None
                    if not e.retryable or time.monotonic() - started > timeout:
                        raise
                    ctx.warn(f"status query for task {task_id} failed ({e.message}); still polling")
                    await asyncio.sleep(poll_interval(time.time() - created, ctx.settings.kie_time_scale))
                    continue
            if status.state != last_state:
                # succeeded = KIE finished (the files join the row once downloaded); never undo a callback's verdict
                extra = {"urls": status.urls} if status.state == "succeeded" else None
                store.update_provider_task(key, status=status.state, result=extra, keep_final=True)
                last_state = status.state
            if status.state == "succeeded":
                if not status.urls:
                    raise ctx.error(f"KIE.ai task {task_id} finished without a result URL", cls=ProviderError, provider="kie")
                return status
            if status.state == "failed":
                why = status.error or "no reason given"
                store.update_provider_task(key, status="failed", result={"error": why, "error_code": status.error_code})
                raise ctx.error(f"KIE.ai task {task_id} failed: {why} (code {status.error_code or '?'}); run again to submit a new one", cls=ProviderError, provider="kie")
            if time.monotonic() - started > timeout:
                raise ctx.error(
                    f"KIE.ai task {task_id} is still {status.state} after {timeout:.0f}s; `fenta resume` continues polling it without paying again",
                    field="params.timeout",
                    retryable=True,
                )
            await asyncio.sleep(poll_interval(time.time() - created, ctx.settings.kie_time_scale))

    async def _download(self, ctx: NodeContext, client: KieClient, url: str, stem: str) -> str:
        suffix = Path(urlparse(url).path).suffix.lower() or (".png" if self.kind == "image" else ".mp4")
        dest = ctx.workdir / f"{stem}{suffix}"
        try:
            await client.download(url, dest)
        except ProviderError as e:
            if e.status not in (401, 403, 404, 410):
                raise
            # Result links expire; KIE turns its own file URLs into fresh 20-minute links.
            ctx.warn(f"result link answered HTTP {e.status}; asking KIE.ai for a fresh download link")
            await client.download(await client.fresh_download_url(url), dest)
        return ctx.keep(dest)

    def _clip(self, path: str, scene: int | None, prompt: str) -> Clip:
        info = probe(path)
        w, h = info.display_size
        source = f"kie: {prompt[:60]}"
        if self.kind == "image" or info.is_still:
            return Clip(kind="image", path=path, width=w, height=h, source=source, scene=scene)
        return Clip(kind="video", path=path, duration=info.duration, width=w, height=h, rotation=info.rotation, has_audio=info.has_audio, source=source, scene=scene)


def _files_ok(files: Any) -> bool:
    return bool(files) and all(Path(f).is_file() for f in files)


def _replace_upload(value: Any, url: str) -> Any:
    if isinstance(value, str) and value.startswith(_UPLOAD_MARK):
        return url
    if isinstance(value, list):
        return [_replace_upload(v, url) for v in value]
    if isinstance(value, dict):
        return {k: _replace_upload(v, url) for k, v in value.items()}
    return value


async def _prompt_help(ctx: NodeContext, params: _AIParams, scene: Scene, kind: str) -> str:
    """Turn a scene's narration into a visual prompt with the LLM (cached by the scene text)."""
    from ..providers.openrouter import OpenRouterClient

    model = params.prompt_model or _PROMPT_MODEL
    key = "prompt-help:" + hashlib.sha256(json.dumps([kind, model, scene.narration, scene.visual]).encode()).hexdigest()
    hit = ctx.store.cache_get(key)
    if hit and hit.get("prompt"):
        return str(hit["prompt"])
    ask = (
        f"Write one prompt for an AI {kind} generator that illustrates this narration of a short vertical video. "
        "Describe subject, setting, light and camera in under 60 words; no text or captions in the picture. "
        "Answer with the prompt only.\n\nNarration: " + scene.narration + (f"\nVisual idea: {scene.visual}" if scene.visual else "")
    )
    client = client_for(ctx, OpenRouterClient)
    answer = await client.chat([{"role": "user", "content": ask}], model, max_tokens=200, on_usage=ctx.usage.tokens())
    prompt = answer.content
    prompt = " ".join(str(prompt).split()).strip('"')
    if not prompt:
        raise ctx.error("the LLM returned an empty prompt", field="params.prompt_help")
    ctx.store.cache_put(key, "prompt-help", {"prompt": prompt})
    return prompt


@register
class AIImage(_AIMedia):
    type = "AI.Image"
    description = "Generates images with KIE.ai (Flux, GPT-4o image, Nano Banana, ...): one per prompt or per scene."
    kind = "image"
    Params = AIImageParams


@register
class AIVideo(_AIMedia):
    type = "AI.Video"
    description = "Generates video clips with KIE.ai (Kling, Veo, Runway), from text or from an upstream image."
    kind = "video"
    Params = AIVideoParams

