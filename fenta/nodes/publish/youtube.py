"""Publish.YouTube: post the render as a YouTube Short through the resumable upload protocol.

YouTube makes a vertical video of up to three minutes a Short by itself; there is no flag to send. The
title (at most 100 characters, no `<` or `>`) and description (at most 5000 bytes) are checked when the
workflow is validated; a title or hashtags from another node (Script.Gen) are fitted when it runs. The
video is private unless `privacy` says otherwise, `publish_at` schedules the release (private videos
only), and `containsSyntheticMedia` is set when the workflow made media with AI (`AI.*` nodes).

Crash safety (publishing-contracts.md §4.1): the session URI is stored with the job before the first
byte; a later attempt asks the session first (`bytes */SIZE`): the final answer again when the upload
completed (no second upload), else the byte to go on from. A session that expired (404) may have
completed first: the channel's recent uploads are searched for this post's marker tag (`fenta-` and
12 hex digits) before a new session is opened.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ...errors import ProviderError
from ...providers.accounts import Account
from ...providers.tokens import Credentials
from ...providers.youtube import CHUNK, YouTubeClient, watch_url
from ..base import NodeContext, register
from .base import Posted, PublishNode, PublishParams

__all__ = ["PublishYouTube", "CATEGORIES", "tags_length"]

#: YouTube's standard video categories by name (ids as `videoCategories.list` gives them).
CATEGORIES = {
    "film": "1",
    "autos": "2",
    "music": "10",
    "pets": "15",
    "sports": "17",
    "travel": "19",
    "gaming": "20",
    "people": "22",
    "comedy": "23",
    "entertainment": "24",
    "news": "25",
    "howto": "26",
    "education": "27",
    "science": "28",
    "nonprofits": "29",
}
TITLE_CHARS = 100
DESCRIPTION_BYTES = 5000
TAGS_CHARS = 500
UNVERIFIED = (
    "YouTube made this video private: uploads from an API project YouTube has not audited are locked "
    "to private (request the audit for your Google Cloud project to post public videos)"
)


class YouTubeParams(PublishParams):
    privacy: Literal["private", "unlisted", "public"] = Field("private", description="Who can watch it.")
    publish_at: str | None = Field(
        None,
        description=(
            "Release time, ISO 8601 with a zone (2026-12-01T17:00:00Z); the video stays private until then."
        ),
    )
    category: str = Field("people", description="A category id or name: " + ", ".join(CATEGORIES) + ".")
    made_for_kids: bool = Field(False, description="selfDeclaredMadeForKids: the video is made for children.")
    synthetic_media: bool | None = Field(
        None,
        description=(
            "containsSyntheticMedia (altered or synthetic content); default: true when the workflow has an "
            "AI.* node."
        ),
    )
    language: str | None = Field(
        None, description="The title's and description's language (defaultLanguage), e.g. 'en'."
    )
    notify_subscribers: bool = Field(True, description="Tell subscribers about the new video.")
    chunk_kib: int = Field(8192, ge=256, description="Upload chunk size in KiB (a multiple of 256).")


def tags_length(tags: list[str]) -> int:
    """Tags' length as YouTube counts it: commas between them, a tag with a space quoted."""
    return sum(len(t) + (2 if " " in t else 0) for t in tags) + max(0, len(tags) - 1)


def _when(value: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _clean(text: str) -> str:
    return text.replace("<", "").replace(">", "")


def _cut_bytes(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


@register
class PublishYouTube(PublishNode):
    type = "Publish.YouTube"
    description = (
        "Posts the rendered video to YouTube (a Short when vertical and at most 3 minutes), "
        "resumable, never twice."
    )
    platform = "youtube"
    resource = "youtube"
    Params = YouTubeParams
    post_units = "uploads"

    def validate_params(self, params: YouTubeParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if params.title is not None:
            if not params.title.strip():
                problems.append(("params.title", "the title is empty"))
            elif len(params.title) > TITLE_CHARS:
                problems.append(
                    (
                        "params.title",
                        f"YouTube titles are at most {TITLE_CHARS} characters; "
                        f"this one has {len(params.title)}",
                    )
                )
            if "<" in params.title or ">" in params.title:
                problems.append(("params.title", "YouTube titles may not contain < or >"))
        size = len(params.description.encode("utf-8"))
        if size > DESCRIPTION_BYTES:
            problems.append(
                (
                    "params.description",
                    f"YouTube descriptions are at most {DESCRIPTION_BYTES} bytes (UTF-8); this one has "
                    f"{size}",
                )
            )
        if "<" in params.description or ">" in params.description:
            problems.append(("params.description", "YouTube descriptions may not contain < or >"))
        if tags_length(params.tags) > TAGS_CHARS:
            problems.append(
                (
                    "params.tags",
                    f"YouTube tags are at most {TAGS_CHARS} characters together (commas included); "
                    f"these have {tags_length(params.tags)}",
                )
            )
        if params.publish_at is not None:
            if _when(params.publish_at) is None:
                problems.append(
                    (
                        "params.publish_at",
                        f"'{params.publish_at}' is not an ISO 8601 time with a zone "
                        "(e.g. 2026-12-01T17:00:00Z)",
                    )
                )
            elif params.privacy != "private":
                problems.append(
                    (
                        "params.publish_at",
                        "YouTube schedules only private videos: leave privacy private "
                        "(it becomes public at publish_at)",
                    )
                )
        if params.category.lower() not in CATEGORIES and not params.category.isdigit():
            problems.append(
                (
                    "params.category",
                    f"unknown category '{params.category}': a number or one of {', '.join(CATEGORIES)}",
                )
            )
        if params.chunk_kib % 256:
            problems.append(("params.chunk_kib", "chunks are multiples of 256 KiB"))
        return problems

    def resource_of(
        self, ctx: NodeContext, params: YouTubeParams, inputs: Any, marker: str
    ) -> dict[str, Any]:
        """The `video` resource to send: the params, with a title and hashtags from inputs fitted to the
        limits."""
        title = _clean((params.title or inputs.title or "").strip())
        if not title:
            raise ctx.error(
                "no title: set params.title or connect an input (title: script.title)", field="params.title"
            )
        if len(title) > TITLE_CHARS:
            ctx.warn(f"the title has {len(title)} characters; YouTube takes {TITLE_CHARS}: it was cut")
            title = title[: TITLE_CHARS - 1].rstrip() + "…"
        hashtags = [h if h.startswith("#") else f"#{h}" for h in (inputs.hashtags or []) if h.strip("# ")]
        description = _clean(params.description)
        extra = " ".join(h for h in hashtags if h not in description)
        if extra:
            description = f"{description}\n\n{extra}".strip()
        if len(description.encode("utf-8")) > DESCRIPTION_BYTES:
            ctx.warn(f"the description is over {DESCRIPTION_BYTES} bytes with the hashtags: it was cut")
            description = _cut_bytes(description, DESCRIPTION_BYTES)
        tags: list[str] = []
        left_out: list[str] = []
        for tag in [marker, *params.tags, *(h.lstrip("#") for h in hashtags)]:
            tag = _clean(tag).strip()
            if not tag or tag in tags:
                continue
            (tags if tags_length([*tags, tag]) <= TAGS_CHARS else left_out).append(tag)
        if left_out:
            ctx.warn(f"YouTube takes {TAGS_CHARS} characters of tags: left out {', '.join(left_out)}")
        synthetic = params.synthetic_media
        if synthetic is None:
            synthetic = any(t.startswith("AI.") for t in ctx.node_types.values())
        status: dict[str, Any] = {
            "privacyStatus": params.privacy,
            "selfDeclaredMadeForKids": params.made_for_kids,
            "containsSyntheticMedia": synthetic,
        }
        if params.publish_at:
            when = _when(params.publish_at)
            assert when is not None  # validated
            if when < dt.datetime.now(dt.timezone.utc):
                ctx.warn(
                    f"publish_at {params.publish_at} is in the past: YouTube publishes the video at once"
                )
            status["publishAt"] = when.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        snippet: dict[str, Any] = {
            "title": title,
            "description": description,
            "tags": tags,
            "categoryId": CATEGORIES.get(params.category.lower(), params.category),
        }
        if params.language:
            snippet["defaultLanguage"] = params.language
        return {"snippet": snippet, "status": status}

    async def publish(
        self,
        ctx: NodeContext,
        params: YouTubeParams,
        inputs: Any,
        account: Account,
        video: Path,
        sha: str,
        key: str,
        row: dict[str, Any] | None,
        store: Any,
    ) -> Posted:
        marker = "fenta-" + key.rsplit(":", 1)[-1][:12]
        size = video.stat().st_size
        client = YouTubeClient(ctx.settings, Credentials(ctx.settings, account))
        try:
            found = await self._upload(ctx, client, params, inputs, video, size, key, marker, row, store)
            if found is None:
                raise ProviderError(
                    "the upload session expired twice in a row; run again to start a new one",
                    provider="youtube",
                    retryable=True,
                )
            video_id = str(found["id"])
            await self._check_privacy(ctx, client, params, found)
            return {"post_id": video_id, "url": watch_url(video_id), "usage": {"api_units": client.api_units}}
        finally:
            await client.aclose()

    async def _upload(
        self,
        ctx: NodeContext,
        client: YouTubeClient,
        params: YouTubeParams,
        inputs: Any,
        video: Path,
        size: int,
        key: str,
        marker: str,
        row: dict[str, Any] | None,
        store: Any,
    ) -> dict[str, Any] | None:
        """The uploaded video resource: the stored session continued (or found finished), else a new one."""
        session, offset = None, 0
        if row and row.get("task_id") and (row.get("result") or {}).get("size") == size:
            session = str(row["task_id"])
            state = await client.progress(session, size)
            if state.video is not None:
                ctx.info(
                    "the upload had finished before the interruption: found the video, nothing sent again"
                )
                return state.video
            if state.gone:
                session = None
                found = await client.find(marker)
                if found is not None:
                    ctx.info(
                        "the upload session had expired after the upload finished: found the video by its tag"
                    )
                    return found
            else:
                offset = state.offset
                ctx.info(f"continuing the stored upload session at byte {offset} of {size}")
        for _ in range(2):
            if session is None:
                session = await client.start(
                    self.resource_of(ctx, params, inputs, marker), size, notify=params.notify_subscribers
                )
                offset = 0
                # The handle, written before the first byte: from here on, a killed run finds this session.
                store.save_provider_task(
                    key=key,
                    provider="youtube",
                    task_id=session,
                    status="uploading",
                    job_id=ctx.job_id,
                    node_id=ctx.node_id,
                    result={"size": size, "marker": marker, "video": str(video)},
                )

            async def moved(uri: str) -> None:
                store.save_provider_task(
                    key=key,
                    provider="youtube",
                    task_id=uri,
                    status="uploading",
                    job_id=ctx.job_id,
                    node_id=ctx.node_id,
                    result={"size": size, "marker": marker, "video": str(video)},
                )

            done = await client.send(
                session,
                video,
                size,
                offset,
                chunk=params.chunk_kib * 1024 // CHUNK * CHUNK,
                on_progress=ctx.progress,
                on_session=moved,
            )
            if done is not None:
                return done
            found = await client.find(marker)  # the session expired mid-upload: did it finish first?
            if found is not None:
                return found
            ctx.warn("the upload session expired; starting a new one")
            session = None
        return None

    async def _check_privacy(
        self, ctx: NodeContext, client: YouTubeClient, params: YouTubeParams, uploaded: dict[str, Any]
    ) -> None:
        """Warn (once, never retried) when YouTube locked the video private or rejected it."""
        status = uploaded.get("status") or {}
        try:
            listed = await client.video(str(uploaded["id"]))
        except ProviderError as e:  # the post exists; a failed check must not fail the node
            ctx.warn(f"could not read the video's status back ({e.message})")
            listed = None
        status = {**status, **((listed or {}).get("status") or {})}
        if params.privacy != "private" and status.get("privacyStatus") == "private":
            ctx.warn(UNVERIFIED)
        if status.get("uploadStatus") in ("rejected", "failed"):
            why = status.get("rejectionReason") or status.get("failureReason") or "no reason given"
            ctx.warn(f"YouTube {status['uploadStatus']} the video after the upload ({why})")
