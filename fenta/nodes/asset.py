"""Input.Asset: local files or URLs (images, video, audio)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field

from ..errors import MediaError
from ..media.ffmpeg import MediaInfo, probe
from ..types import Audio, Clip
from .base import CheckContext, Node, NodeContext, Params, Ports, file_stamp, local_path, register

_MAX_DOWNLOAD = 500 * 1024 * 1024


class AssetParams(Params):
    paths: list[str] = Field(min_length=1, description="Files (relative to the workflow) or http(s) URLs.")


class AssetOutputs(Ports):
    clips: list[Clip]
    audio: Audio | None = None


def _is_url(s: str) -> bool:
    return urlparse(s).scheme in ("http", "https")


async def _download(ctx: NodeContext, url: str) -> Path:
    import httpx

    suffix = Path(urlparse(url).path).suffix or ".bin"
    tmp = ctx.workdir / ("dl-" + hashlib.sha256(url.encode()).hexdigest()[:12] + suffix)
    try:
        async with httpx.AsyncClient(follow_redirects=True, timeout=60) as client:
            async with client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise MediaError(f"download failed with HTTP {resp.status_code}", file=url)
                size = 0
                with open(tmp, "wb") as fh:
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > _MAX_DOWNLOAD:
                            raise MediaError("download is larger than 500 MB", file=url)
                        fh.write(chunk)
    except httpx.HTTPError as e:
        raise MediaError(f"download failed: {type(e).__name__}", file=url, retryable=True) from None
    return tmp


def clip_from_info(info: MediaInfo, path: str, source: str) -> Clip:
    w, h = info.display_size
    if info.is_still:
        return Clip(kind="image", path=path, width=w, height=h, source=source)
    return Clip(kind="video", path=path, duration=info.duration, width=w, height=h, rotation=info.rotation, has_audio=info.has_audio, source=source)


@register
class InputAsset(Node):
    type = "Input.Asset"
    description = "Your own images, video clips and audio, from files or URLs."
    Params = AssetParams
    Outputs = AssetOutputs

    def validate(self, params: AssetParams, ctx: CheckContext) -> list[tuple[str, str]]:
        """Every local file must exist (each missing one is its own problem); URLs are not fetched."""
        problems = super().validate(params, ctx)
        for i, p in enumerate(params.paths):
            if _is_url(p):
                continue
            path = ctx.path(p)
            if not path.exists():
                problems.append((f"params.paths[{i}]", f"file not found: {path}"))
            elif not path.is_file():
                problems.append((f"params.paths[{i}]", f"not a file: {path}"))
        return problems

    def fingerprint(self, params: AssetParams, inputs, *, workflow_file: str | None = None) -> str:
        # Local files may change under the same name: key on size and mtime too.
        parts = []
        for p in params.paths:
            if _is_url(p):
                parts.append(p)
                continue
            parts.append(file_stamp(local_path(workflow_file, p)))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    async def run(self, ctx: NodeContext, params: AssetParams, inputs) -> AssetOutputs:
        clips: list[Clip] = []
        audio: Audio | None = None
        for p in params.paths:
            if _is_url(p):
                local = await _download(ctx, p)
                shown = p
            else:
                local = local_path(ctx.workflow_file, p)
                shown = str(local)
                if not local.is_file():
                    raise MediaError("file not found", file=shown, node=ctx.node_id, field="params.paths")
            try:
                info = await asyncio.to_thread(probe, local)
            except MediaError as e:
                raise MediaError(e.message, file=shown, node=ctx.node_id, field="params.paths") from None
            if not info.has_video and info.has_audio:
                if audio is not None:
                    ctx.warn(f"more than one audio file; using the first, ignoring {shown}")
                    continue
                audio = Audio(path=str(local), duration=info.duration or 0.0)
                continue
            if not info.has_video:
                raise MediaError("has neither video nor audio", file=shown, node=ctx.node_id, field="params.paths")
            clips.append(clip_from_info(info, str(local), os.path.basename(shown)))
        return AssetOutputs(clips=clips, audio=audio)
