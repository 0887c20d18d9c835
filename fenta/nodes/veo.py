"""Veo 3.1 clips, done fully: generated, extended past one clip, fetched at 1080p or upscaled to 4K.

One Veo clip is about 8 s. A scene that needs more is continued with `POST /api/v1/veo/extend` from the
finished task's id, once per extension (each a paid task of its own, keyed by its parent). KIE's extend
returns the whole continued video, so the last task's video is the clip.

Resolution comes after generation: 720p is what Veo makes; 1080p is fetched with `get-1080p-video`, which
answers code 400 "1080P is processing" until it is ready (asked again on a schedule, KIE suggests a minute
or two); 4K is requested (paid, once) with `get-4k-video`, which answers code 422 ("4k is processing" /
"already generated") to repeated requests, and calls back when done. Every step is a row in the job store,
so a killed job resumes polling the step it was in and never pays for one twice.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from ..errors import ProviderError
from ..hashing import file_sha256
from ..pricing import KieModel, credits_to_usd
from ..providers.kie import KieClient, OutcomeUnknownError, TaskStatus, build_request, veo_extend_request
from ..providers.kie_requests import VEO_EXTEND_PATH
from .base import NodeContext
from .kie_tasks import UPLOAD_MARK, Paid, label_for, refusal, run_paid, stage_key, task_key

__all__ = ["VeoClip", "make_veo", "HD_WAITS", "UHD_WAIT"]

#: Seconds between asks for a 1080p video (KIE: "retry after 1-2 minutes"); the last repeats.
HD_WAITS = (30.0, 60.0, 90.0, 120.0)
#: Seconds between asks for a 4K video (KIE: "30 s or more").
UHD_WAIT = 45.0


class VeoClip:
    """The finished video of one Veo generation: its URLs, the row that holds them, what it cost."""

    def __init__(self, key: str, task_id: str, urls: list[str], credits: float, tasks: list[str]) -> None:
        self.key, self.task_id, self.urls, self.credits, self.tasks = key, task_id, urls, credits, tasks


async def make_veo(
    ctx: NodeContext,
    client: KieClient,
    model: KieModel,
    *,
    prompt: str,
    aspect: str | None,
    images: list[str],
    image_mode: str,
    resolution: str | None,
    extends: int,
    extend_prompt: str | None,
    callback_url: str | None,
    timeout: float,
    scene: int | None,
    variant: int = 0,
) -> VeoClip:
    """Generate (or reuse), extend `extends` times, then fetch `resolution`; `images` are local files."""
    uploads = {file_sha256(p): Path(p) for p in images}
    marks = [UPLOAD_MARK + file_sha256(p) for p in images]
    path, body = build_request(
        model,
        prompt=prompt,
        aspect_ratio=aspect,
        image_urls=marks,
        image_mode=image_mode,
        callback_url=callback_url,
    )
    key = task_key(model.id, path, body, variant)
    paid = Paid(
        key,
        model,
        "veo",
        path,
        body,
        label_for(prompt, scene),
        model.per_clip or 0.0,
        uploads,
        {"prompt": prompt},
    )
    status = await run_paid(ctx, client, paid, timeout=timeout)
    credits = _credits(ctx, key)
    tasks = [status.task_id]
    for n in range(extends):
        text = extend_prompt or f"The same shot continues: {prompt}"
        body = veo_extend_request(model, task_id=status.task_id, prompt=text, callback_url=callback_url)
        key = stage_key(key, "extend", n + 1, status.task_id, text)
        label = label_for(text, scene, "continuation prompt")
        ext = Paid(
            key,
            model,
            "veo",
            VEO_EXTEND_PATH,
            body,
            label,
            model.per_clip or 0.0,
            meta={"prompt": text, "stage": f"extend {n + 1}", "parent": status.task_id},
        )
        status = await run_paid(ctx, client, ext, timeout=timeout)
        credits += _credits(ctx, key)
        tasks.append(status.task_id)
    if resolution == "1080p":
        key, urls = await _hd(ctx, client, model, key, status, timeout)
    elif resolution in ("4k", "4K"):
        key, urls = await _uhd(ctx, client, model, key, status, timeout, callback_url)
        credits += _credits(ctx, key)
    else:
        urls = status.urls
    return VeoClip(key, status.task_id, urls, credits, tasks)


def _credits(ctx: NodeContext, key: str) -> float:
    return float(((ctx.job_store().provider_task(key) or {}).get("result") or {}).get("credits") or 0.0)


def _stage_row(ctx: NodeContext, key: str) -> dict[str, Any] | None:
    return ctx.job_store().provider_task(key)


def _done(row: dict[str, Any] | None) -> list[str] | None:
    if row and row["status"] == "succeeded" and (row.get("result") or {}).get("urls"):
        return list(row["result"]["urls"])
    return None


def _bill_stage(ctx: NodeContext, model: KieModel, key: str, resolution: str) -> None:
    credits = model.upgrades.get(resolution, 0.0)
    row = ctx.job_store().provider_task(key) or {}
    if (row.get("result") or {}).get("billed"):
        return
    ctx.job_store().update_provider_task(key, result={"billed": True, "credits": credits})
    if credits:
        ctx.usage.record(
            "kie", model=model.id, units="credits", quantity=credits, cost=credits_to_usd(credits)
        )


async def _hd(
    ctx: NodeContext, client: KieClient, model: KieModel, parent: str, video: TaskStatus, timeout: float
) -> tuple[str, list[str]]:
    """The 1080p URL of the finished `video`, asked for until KIE has made it."""
    key = stage_key(parent, "1080p")
    if (urls := _done(_stage_row(ctx, key))) is not None:
        return key, urls
    if _stage_row(ctx, key) is None:
        # Its own row (under a task id no callback carries): the job can say what it is waiting for.
        ctx.job_store().save_provider_task(
            key=key,
            provider="kie",
            task_id=f"{video.task_id}:1080p",
            status="running",
            job_id=ctx.job_id,
            node_id=ctx.node_id,
            result={"family": "veo-1080p", "model": model.id, "source": video.task_id},
        )
    started = time.monotonic()
    n = 0
    while True:
        url = await client.veo_1080p(video.task_id)
        if url:
            ctx.job_store().update_provider_task(key, status="succeeded", result={"urls": [url]})
            _bill_stage(ctx, model, key, "1080p")
            return key, [url]
        if time.monotonic() - started > timeout:
            raise ctx.error(
                f"KIE.ai is still making the 1080p version of task {video.task_id} after {timeout:.0f}s; "
                "`fenta resume` asks again without paying again",
                field="params.timeout",
                retryable=True,
            )
        wait = HD_WAITS[min(n, len(HD_WAITS) - 1)]
        if n == 0:
            ctx.info(
                f"KIE.ai is making the 1080p version of task {video.task_id}; asking again in {wait:.0f} s"
            )
        n += 1
        await asyncio.sleep(wait * ctx.settings.kie_time_scale)


async def _uhd(
    ctx: NodeContext,
    client: KieClient,
    model: KieModel,
    parent: str,
    video: TaskStatus,
    timeout: float,
    callback_url: str | None,
) -> tuple[str, list[str]]:
    """The 4K URL of the finished `video`: requested once (paid), then asked after until it is made."""
    key = stage_key(parent, "4k")
    row = _stage_row(ctx, key)
    if (urls := _done(row)) is not None:
        return key, urls
    # The row carries the video's own task id: KIE calls a 4K task back under it (family "veo-4k" tells
    # the receiver to ignore a repeated callback of the generation itself).
    meta = {"family": "veo-4k", "model": model.id, "stage": "4k"}
    if row is None or row["status"] in ("submitting", "failed"):
        if row is not None and row["status"] == "submitting":
            ctx.warn(
                "an earlier run was stopped while KIE.ai was accepting a 4K request; asking again (KIE "
                "refuses a repeat with code 422 instead of charging twice)"
            )
        ctx.job_store().save_provider_task(
            key=key,
            provider="kie",
            task_id=video.task_id,
            status="submitting",
            job_id=ctx.job_id,
            node_id=ctx.node_id,
            result=meta,
        )
        try:
            up = await client.veo_4k(video.task_id, callback_url=callback_url, first=True)
        except OutcomeUnknownError:
            raise
        except ProviderError as e:
            ctx.job_store().delete_provider_task(key)
            if e.status in (400, 451):
                raise refusal(ctx, f"the 4K version of task {video.task_id}", e.status, e.message) from None
            raise
        ctx.job_store().update_provider_task(key, status="running")
        ctx.info(f"KIE.ai 4K version of task {video.task_id} requested")
    else:
        up = None
    started = time.monotonic()
    generated = False
    while True:
        if up is not None and up.state == "done":
            ctx.job_store().update_provider_task(key, status="succeeded", result={"urls": up.urls})
            _bill_stage(ctx, model, key, "4k")
            return key, up.urls
        generated = generated or (up is not None and up.state == "generated")
        if (urls := _done(_stage_row(ctx, key))) is not None:  # a callback brought it
            _bill_stage(ctx, model, key, "4k")
            return key, urls
        if time.monotonic() - started > timeout:
            hint = (
                " KIE says it is made but sends its link only in the callback: set params.callback_url "
                "(see `fenta kie-callbacks`)"
                if generated
                else ""
            )
            raise ctx.error(
                f"KIE.ai has not delivered the 4K version of task {video.task_id} after "
                f"{timeout:.0f}s;{hint} "
                "`fenta resume` asks again without paying again",
                field="params.timeout",
                retryable=True,
            )
        await asyncio.sleep(UHD_WAIT * ctx.settings.kie_time_scale)
        up = await client.veo_4k(video.task_id, callback_url=callback_url)
