"""Publish.TikTok: post the render to TikTok (Content Posting API, Direct Post of the file).

The caption is the title, the description and the hashtags in one text of at most 2200 UTF-16 units
(checked when the workflow is validated; text from another node is fitted when it runs). The post is
private (`SELF_ONLY`) unless `privacy` says otherwise: an app TikTok has not audited may post nothing
else, and the one line saying so comes when TikTok refuses. Every post first asks who the creator is
(`creator_info`, as TikTok requires): the privacy must be one the account offers, the video no longer
than it may post, and interactions the creator turned off stay off. `is_aigc` is set when the workflow
made media with AI (`AI.*` nodes).

Crash safety (publishing-contracts.md §4.2): the publish id and its upload URL are stored with the job
before the first byte; a later attempt asks the post's status first: done (nothing sent again),
still uploading (goes on at the chunk TikTok is waiting for, while the URL lives), every byte there
(waits for TikTok), or dead (an expired URL: a new post, the old one never completes without its bytes).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ...errors import ProviderError, PublishLimitError
from ...media.probe import probe
from ...providers.accounts import Account
from ...providers.tiktok import PublishState, TikTokClient, chunk_plan
from ...providers.tokens import Credentials, fresh
from ..base import NodeContext, register
from . import caption
from .base import Posted, PublishNode, PublishParams

__all__ = ["PublishTikTok", "CAPTION", "post_url"]

CAPTION = caption.CaptionRules("TikTok", 2200, caption.utf16_units, "UTF-16 units")
#: Status checks while TikTok processes the post (5 s apart: 12 a minute, under its 30).
POLLS = 120
POLL_SECONDS = 5.0
#: Further checks for a public post's id (it comes once moderation passes, usually within a minute).
MODERATION_POLLS = 24
#: An upload URL is good for an hour; one older than this is not used again.
URL_SECONDS = 3600 - 120
#: Reasons a FAILED post may be made again (TikTok: "internal" is retryable; the rest are not).
_RETRYABLE_FAILS = ("internal",)


def post_url(username: str, post_id: str | None = None) -> str:
    """The post's address, or the profile's when TikTok gives no post id (private posts never get one)."""
    profile = f"https://www.tiktok.com/@{username}" if username else "https://www.tiktok.com/"
    return f"{profile}/video/{post_id}" if post_id and username else profile


class TikTokParams(PublishParams):
    privacy: Literal["SELF_ONLY", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "PUBLIC_TO_EVERYONE"] = (
        Field(
            "SELF_ONLY",
            description=(
                "Who can watch it: SELF_ONLY (default; all an app TikTok has not audited may post), "
                "MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR or PUBLIC_TO_EVERYONE, as the account offers."
            ),
        )
    )
    disable_comment: bool = Field(False, description="Turn comments off.")
    disable_duet: bool = Field(False, description="Turn duets off.")
    disable_stitch: bool = Field(False, description="Turn stitches off.")
    cover_ms: int | None = Field(
        None, ge=0, description="The cover frame, in ms from the start (first frame)."
    )
    brand_content: bool = Field(False, description="A paid partnership (brand_content_toggle).")
    brand_organic: bool = Field(False, description="Promotes your own business (brand_organic_toggle).")
    ai_generated: bool | None = Field(
        None, description="is_aigc (labelled AI-generated); default: true when the workflow has an AI.* node."
    )


@register
class PublishTikTok(PublishNode):
    type = "Publish.TikTok"
    description = (
        "Posts the rendered video to TikTok (Direct Post, private by default), resumable, never twice."
    )
    platform = "tiktok"
    resource = "tiktok"
    Params = TikTokParams

    async def identified(self, ctx: NodeContext, account: Account) -> Account:
        if account.uid:
            return account
        # An account from the environment learns its open_id with its first token: get it now, so the
        # post's key is the same before and after that first refresh.
        return await asyncio.to_thread(fresh, ctx.settings, account)

    def validate_params(self, params: TikTokParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        text, tags = caption.parts(params.title, params.description, params.tags)
        return [("params.description", p) for p in caption.check(text, tags, CAPTION)]

    def caption_of(self, ctx: NodeContext, params: TikTokParams, inputs: Any) -> str:
        text, tags = caption.parts(
            params.title or inputs.title, params.description, [*params.tags, *(inputs.hashtags or [])]
        )
        return caption.fit(text, tags, CAPTION, warn=ctx.warn)

    def post_info(self, ctx: NodeContext, params: TikTokParams, inputs: Any, info: dict[str, Any]) -> dict:
        """`post_info` for init, after checking the request against what the creator may post now."""
        options = [str(o) for o in info.get("privacy_level_options") or []]
        if options and params.privacy not in options:
            raise ctx.error(
                f"this TikTok account offers privacy {', '.join(options)}, not {params.privacy} (a private "
                "account cannot post PUBLIC_TO_EVERYONE): set params.privacy to one of them",
                field="params.privacy",
            )
        longest = info.get("max_video_post_duration_sec")
        seconds = probe(inputs.video).duration or 0.0
        if longest and seconds > float(longest):
            raise ctx.error(
                f"the video is {seconds:.0f} s; this TikTok account may post at most {longest} s",
                field="inputs.video",
            )
        aigc = params.ai_generated
        if aigc is None:
            aigc = any(t.startswith("AI.") for t in ctx.node_types.values())
        post: dict[str, Any] = {
            "title": self.caption_of(ctx, params, inputs),
            "privacy_level": params.privacy,
            "disable_comment": params.disable_comment or bool(info.get("comment_disabled")),
            "disable_duet": params.disable_duet or bool(info.get("duet_disabled")),
            "disable_stitch": params.disable_stitch or bool(info.get("stitch_disabled")),
            "brand_content_toggle": params.brand_content,
            "brand_organic_toggle": params.brand_organic,
            "is_aigc": aigc,
        }
        if params.cover_ms is not None:
            post["video_cover_timestamp_ms"] = params.cover_ms
        return post

    async def publish(
        self,
        ctx: NodeContext,
        params: TikTokParams,
        inputs: Any,
        account: Account,
        video: Path,
        sha: str,
        key: str,
        row: dict[str, Any] | None,
        store: Any,
    ) -> Posted:
        size = video.stat().st_size
        client = TikTokClient(ctx.settings, Credentials(ctx.settings, account))
        try:
            state, publish_id = await self._post(
                ctx, client, params, inputs, account, video, size, key, row, store
            )
        finally:
            await client.aclose()
        stored = (store.provider_task(key) or {}).get("result") or {}
        username = str(stored.get("username") or account.label or "")
        if not state.post_ids:
            ctx.info(
                "TikTok gives a private post (or one still in moderation) no link of its own: the URL "
                "recorded is the profile's"
            )
            return {"post_id": publish_id, "url": post_url(username)}
        return {"post_id": state.post_ids[0], "url": post_url(username, state.post_ids[0])}

    async def _post(
        self,
        ctx: NodeContext,
        client: TikTokClient,
        params: TikTokParams,
        inputs: Any,
        account: Account,
        video: Path,
        size: int,
        key: str,
        row: dict[str, Any] | None,
        store: Any,
    ) -> tuple[PublishState, str]:
        """(final state, publish id): the stored post continued (or found done), else a new one."""
        plan = chunk_plan(size)
        result = (row or {}).get("result") or {}
        publish_id = str(row["task_id"]) if row and row.get("task_id") and result.get("size") == size else ""
        upload_url, offset = str(result.get("upload_url") or ""), 0
        uploading = False
        if publish_id:
            state = await self._stored_state(ctx, client, publish_id)
            fresh_url = time.time() - float(result.get("issued_at") or 0) < URL_SECONDS
            if state is None:
                publish_id = ""
            elif state.status == "PUBLISH_COMPLETE":
                ctx.info("the post had been made before the interruption: nothing sent again")
                return await self._settle(ctx, client, publish_id, params, state), publish_id
            elif state.status == "FAILED" or (row or {}).get("status") == "uploaded":
                uploading = False
            elif fresh_url:
                offset = plan.resume_at(state.uploaded_bytes)
                uploading = offset < size
                ctx.info(f"continuing the stored TikTok upload at byte {min(offset, size)} of {size}")
            else:
                ctx.info("the stored TikTok upload URL has expired (an hour): starting the post again")
                publish_id = ""
        for attempt in range(2):
            if not publish_id:
                info = await client.creator_info()
                post = self.post_info(ctx, params, inputs, info)
                publish_id, upload_url = await client.init(post, plan)
                # The handle, written before the first byte: from here on, a killed run finds this post.
                store.save_provider_task(
                    key=key,
                    provider="tiktok",
                    task_id=publish_id,
                    status="uploading",
                    job_id=ctx.job_id,
                    node_id=ctx.node_id,
                    result={
                        "size": size,
                        "upload_url": upload_url,
                        "issued_at": time.time(),
                        "username": str(info.get("creator_username") or account.label or ""),
                        "privacy": params.privacy,
                    },
                )
                offset, uploading = 0, True
            if uploading:
                sent = await client.upload(
                    publish_id, upload_url, video, plan, offset, on_progress=ctx.progress
                )
                if not sent and (await client.status(publish_id)).status != "PUBLISH_COMPLETE":
                    ctx.warn("TikTok's upload URL expired mid-upload; starting the post again")
                    publish_id = ""
                    continue
                store.update_provider_task(key, status="uploaded")
            state = await self._settle(ctx, client, publish_id, params)
            if state.status == "FAILED":
                if state.fail_reason in _RETRYABLE_FAILS and attempt == 0:
                    ctx.warn(f"TikTok could not publish the post ({state.fail_reason}); posting it again")
                    publish_id = ""
                    continue
                raise self._failed(state)
            return state, publish_id
        raise ProviderError("TikTok did not take the post twice in a row", provider="tiktok", retryable=True)

    @staticmethod
    async def _stored_state(ctx: NodeContext, client: TikTokClient, publish_id: str) -> PublishState | None:
        """The stored post's status; None when TikTok no longer knows it (a new post is made)."""
        try:
            return await client.status(publish_id)
        except ProviderError as e:
            if "invalid_publish_id" not in e.message:
                raise
        ctx.info("TikTok no longer knows the stored post: starting it again")
        return None

    async def _settle(
        self,
        ctx: NodeContext,
        client: TikTokClient,
        publish_id: str,
        params: TikTokParams,
        state: PublishState | None = None,
    ) -> PublishState:
        """Ask the status until the post is published or failed (a public post: until it has an id)."""
        wait = POLL_SECONDS * ctx.settings.publish_time_scale
        public = params.privacy != "SELF_ONLY"
        for n in range(POLLS + (MODERATION_POLLS if public else 0)):
            if state is None or n:
                state = await client.status(publish_id)
            if state.status == "FAILED":
                return state
            if state.status == "PUBLISH_COMPLETE":
                if state.post_ids or not public or n >= POLLS:
                    return state
            elif n >= POLLS - 1:
                break
            await asyncio.sleep(wait)
        if state is not None and state.status == "PUBLISH_COMPLETE":
            return state  # public, but moderation gives it no id yet
        raise ProviderError(
            f"TikTok is still processing the post (publish id {publish_id}, "
            f"{state.status if state else 'no status'}); "
            "resuming the job (`fenta resume`) checks it again without posting twice",
            provider="tiktok",
            retryable=True,
        )

    @staticmethod
    def _failed(state: PublishState) -> ProviderError:
        reason = state.fail_reason or "no reason given"
        if reason.startswith("spam_risk"):
            return PublishLimitError(
                f"TikTok did not publish the post ({reason}): this account's posting through apps is limited "
                "now; do not post it again today",
                provider="tiktok",
                limit=reason,
            )
        if reason.endswith("_check_failed"):
            return ProviderError(
                f"TikTok refused the video ({reason}): it takes MP4, WebM or MOV (H.264), 23-60 frames a "
                "second, 360-4096 pixels a side",
                provider="tiktok",
            )
        return ProviderError(f"TikTok did not publish the post ({reason})", provider="tiktok")
