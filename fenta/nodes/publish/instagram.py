"""Publish.Instagram: post the render as an Instagram Reel (Graph API content publishing).

The caption is the title, the description and the hashtags in one text: at most 2200 characters, 30
hashtags and 20 @mentions (checked when the workflow is validated; text from another node is fitted
when it runs). A Reel has no privacy of its own: whoever may see the account sees it. With the Facebook
Login setup (`fenta accounts connect instagram`) the render goes up from this machine (a resumable
upload); with Instagram Login Meta documents only fetching a public address, so `video_url` must name
where the render can be fetched. Before a container is made, Instagram's live publishing limit
(`content_publishing_limit`) is read: a reached cap is one line and nothing is made.

Crash safety (publishing-contracts.md §4.3): the container id is stored with the job before the upload;
a later attempt asks the container first: PUBLISHED (found among the account's posts by its caption,
never published again), FINISHED (published now), IN_PROGRESS (the upload goes on at the byte Instagram
has, or processing is awaited), EXPIRED or gone (a new container; the old one is never published).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from ...config import Settings
from ...errors import OutcomeUnknownError, ProviderError
from ...providers.accounts import Account
from ...providers.instagram import InstagramClient
from ...providers.tokens import Credentials
from ..base import NodeContext, register
from . import caption
from .base import Posted, PublishNode, PublishParams

__all__ = ["PublishInstagram", "CAPTION", "transferred", "video_address"]

CAPTION = caption.CaptionRules("Instagram", 2200, hashtags=30, mentions=20)
#: Container checks while Instagram processes the video (5 s apart: up to 10 minutes).
POLLS = 120
POLL_SECONDS = 5.0
#: Container errors after which a new container may do better (Meta: "re-create media").
_NEW_CONTAINER = ("2207053", "2207032", "2207020")
AUDIENCE = "the account's audience (Reels have no privacy setting)"


class InstagramParams(PublishParams):
    video_url: str | None = Field(
        None,
        description=(
            "A public HTTPS address Meta fetches the render from (needed with Instagram Login; with "
            "Facebook Login the file is uploaded from here). `{blob}` is replaced by the video's path "
            "under FENTA_HOME/cache/blobs (serve that folder), `{sha256}` by its hash."
        ),
    )
    share_to_feed: bool = Field(True, description="Show the Reel in the feed too, not only the Reels tab.")
    cover_ms: int | None = Field(
        None, ge=0, description="The cover frame, in ms from the start (thumb_offset)."
    )
    ai_generated: bool | None = Field(
        None, description="is_ai_generated (AI disclosure); default: true when the workflow has an AI.* node."
    )


def video_address(template: str, video: Path, settings: Settings) -> str:
    """`video_url` with `{blob}` (the video's path under the cache's blobs folder, where renders are
    kept) and `{sha256}` (its name without the extension) filled in."""
    blobs = settings.cache_dir / "blobs"
    try:
        blob = video.resolve().relative_to(blobs.resolve()).as_posix()
    except ValueError:
        blob = video.name
    return template.replace("{blob}", blob).replace("{sha256}", video.stem)


def transferred(state: dict[str, Any]) -> int:
    """Bytes of the video a container has (`video_status.uploading_phase.bytes_transferred`)."""
    phase = (state.get("video_status") or {}).get("uploading_phase") or {}
    return int(phase.get("bytes_transferred") or 0)


@register
class PublishInstagram(PublishNode):
    type = "Publish.Instagram"
    description = "Posts the rendered video as an Instagram Reel, resumable, never twice."
    platform = "instagram"
    resource = "instagram"
    Params = InstagramParams

    def validate_params(self, params: InstagramParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        text, tags = caption.parts(params.title, params.description, params.tags)
        problems = [("params.description", p) for p in caption.check(text, tags, CAPTION)]
        if params.video_url is not None and not params.video_url.startswith(("https://", "http://")):
            problems.append(("params.video_url", "an address Meta can fetch: https://..."))
        return problems

    def plan_line(
        self, params: Any, inputs: dict[str, Any], settings: Settings, policy: Any
    ) -> dict[str, Any]:
        return {**super().plan_line(params, inputs, settings, policy), "privacy": AUDIENCE}

    def caption_of(self, ctx: NodeContext, params: InstagramParams, inputs: Any) -> str:
        text, tags = caption.parts(
            params.title or inputs.title, params.description, [*params.tags, *(inputs.hashtags or [])]
        )
        fitted = caption.fit(text, tags, CAPTION, warn=ctx.warn)
        for problem in caption.check(fitted, [], CAPTION):
            raise ctx.error(problem, field="params.description")
        return fitted

    def fields(
        self, ctx: NodeContext, params: InstagramParams, text: str, resumable: bool, address: str = ""
    ) -> dict[str, str]:
        """The container's fields: a Reel, by upload or by `address` (Meta fetches it)."""
        fields = {"media_type": "REELS", "caption": text, "share_to_feed": str(params.share_to_feed).lower()}
        if resumable:
            fields["upload_type"] = "resumable"
        else:
            fields["video_url"] = address
        if params.cover_ms is not None:
            fields["thumb_offset"] = str(params.cover_ms)
        ai = params.ai_generated
        if ai is None:
            ai = any(t.startswith("AI.") for t in ctx.node_types.values())
        if ai:
            fields["is_ai_generated"] = "true"
        return fields

    async def publish(
        self,
        ctx: NodeContext,
        params: InstagramParams,
        inputs: Any,
        account: Account,
        video: Path,
        sha: str,
        key: str,
        row: dict[str, Any] | None,
        store: Any,
    ) -> Posted:
        if account.setup == "instagram" and not params.video_url:
            raise ctx.error(
                "with Instagram Login Meta takes a Reel only from a public address: set params.video_url "
                "to where this render can be fetched, or connect with --setup facebook to upload the file",
                field="params.video_url",
            )
        client = InstagramClient(ctx.settings, Credentials(ctx.settings, account))
        try:
            media = await self._post(ctx, client, params, inputs, video, key, row, store)
            url = str(media.get("permalink") or "") or await client.permalink(str(media["id"]))
        finally:
            await client.aclose()
        return {"post_id": str(media["id"]), "url": url or f"https://www.instagram.com/{account.label}/"}

    async def _post(
        self,
        ctx: NodeContext,
        client: InstagramClient,
        params: InstagramParams,
        inputs: Any,
        video: Path,
        key: str,
        row: dict[str, Any] | None,
        store: Any,
    ) -> dict[str, Any]:
        """The Reel ({id, permalink?}): the stored container continued (or found published), else new."""
        size = video.stat().st_size
        result = (row or {}).get("result") or {}
        container_id = (
            str(row["task_id"]) if row and row.get("task_id") and result.get("size") == size else ""
        )
        uri, offset, upload = str(result.get("uri") or ""), 0, False
        text, made = str(result.get("caption") or ""), float(result.get("created_at") or 0)
        if container_id:
            state = await client.container(container_id) or {}
            code = state.get("status_code")
            if code == "PUBLISHED":
                return await self._found(ctx, client, text, made)
            if code == "IN_PROGRESS" and uri:
                offset = transferred(state)
                upload = offset < size
                if upload:
                    ctx.info(f"continuing the stored Instagram upload at byte {offset} of {size}")
            elif code not in ("IN_PROGRESS", "FINISHED"):
                ctx.info(f"the stored Instagram container is {code or 'gone'}: making a new one")
                container_id = ""
        for attempt in range(2):
            if not container_id:
                used, total = await client.publishing_limit()
                if used >= total:
                    raise client.limit_reached(used, total)
                text = self.caption_of(ctx, params, inputs)
                resumable = not params.video_url
                made = time.time()
                address = "" if resumable else video_address(str(params.video_url), video, ctx.settings)
                container = await client.create(self.fields(ctx, params, text, resumable, address))
                container_id, uri = str(container["id"]), str(container.get("uri") or "")
                # The handle, written before the upload: from here on, a killed run finds this container.
                store.save_provider_task(
                    key=key,
                    provider="instagram",
                    task_id=container_id,
                    status="uploading",
                    job_id=ctx.job_id,
                    node_id=ctx.node_id,
                    result={"size": size, "uri": uri, "caption": text, "created_at": made},
                )
                offset, upload = 0, resumable
            if upload:
                await client.rupload(container_id, uri, video, size, offset)
                store.update_provider_task(key, status="uploaded")
            state = await self._settle(ctx, client, container_id)
            code, why = state.get("status_code"), str(state.get("status") or "no reason given")
            if code == "PUBLISHED":
                return await self._found(ctx, client, text, made)
            if code == "EXPIRED" or (code == "ERROR" and any(c in why for c in _NEW_CONTAINER)):
                if attempt == 0:
                    ctx.warn(f"Instagram's container is {code} ({why}); making a new one")
                    container_id = ""
                    continue
            if code != "FINISHED":
                raise ProviderError(
                    f"Instagram could not take the video ({code}: {why})", provider="instagram"
                )
            return await self._publish(ctx, client, container_id, key, store, text, made)
        raise ProviderError(
            "Instagram did not take the video twice in a row", provider="instagram", retryable=True
        )

    async def _settle(self, ctx: NodeContext, client: InstagramClient, container_id: str) -> dict[str, Any]:
        """Ask the container until it is no longer IN_PROGRESS."""
        wait = POLL_SECONDS * ctx.settings.publish_time_scale
        for n in range(POLLS):
            state = await client.container(container_id) or {"status_code": "EXPIRED", "status": "gone"}
            if state.get("status_code") != "IN_PROGRESS":
                return state
            ctx.progress(min(0.99, (n + 1) / POLLS))
            await asyncio.sleep(wait)
        raise ProviderError(
            f"Instagram is still processing the video (container {container_id}); resuming the job "
            "(`fenta resume`) checks it again without posting twice",
            provider="instagram",
            retryable=True,
        )

    async def _publish(
        self,
        ctx: NodeContext,
        client: InstagramClient,
        container_id: str,
        key: str,
        store: Any,
        text: str,
        made: float,
    ) -> dict[str, Any]:
        """media_publish, once: an answer that never came is settled by asking the container."""
        wait = POLL_SECONDS * ctx.settings.publish_time_scale
        for _ in range(3):
            store.update_provider_task(key, status="publishing")  # "publish sent", before it is sent
            try:
                return {"id": await client.publish(container_id)}
            except OutcomeUnknownError:
                await asyncio.sleep(wait)
                state = await client.container(container_id) or {}
                if state.get("status_code") == "PUBLISHED":
                    return await self._found(ctx, client, text, made)
                if state.get("status_code") != "FINISHED":
                    raise
            except ProviderError as e:
                # "not ready for publishing" (2207027) and "builder does not exist" (2207008, transient
                # per Meta): wait a little, then again; after that the job's retry asks the container.
                if "2207027" not in e.message and "2207008" not in e.message:
                    raise
                await asyncio.sleep(wait)
        raise ProviderError("Instagram would not publish the Reel", provider="instagram", retryable=True)

    @staticmethod
    async def _found(ctx: NodeContext, client: InstagramClient, text: str, made: float) -> dict[str, Any]:
        found = await client.find(text, made)
        if found is None:
            raise ProviderError(
                "Instagram says the Reel was published, but it is not among the account's recent posts; "
                "look for it in the app (not posted again)",
                provider="instagram",
            )
        ctx.info("the Reel had been published before the interruption: found it, nothing published again")
        return found
