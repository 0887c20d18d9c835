"""Music: a music bed from a file, looped or trimmed to the video and ducked under the voice."""

from __future__ import annotations

import asyncio
import hashlib

from pydantic import Field

from ..errors import MediaError
from ..media.probe import probe
from ..render.timeline import MusicBed
from .base import Node, NodeContext, Params, Ports, file_stamp, local_path, register


class MusicParams(Params):
    path: str = Field(description="Audio file (relative to the workflow): mp3, wav, m4a, ogg, flac...")
    start: float = Field(0.0, ge=0, description="Skip this many seconds at the start of the track.")
    loop: bool = Field(
        True,
        description="Repeat the track when it is shorter than the video (else it ends and silence follows).",
    )
    level_db: float | None = Field(
        None, ge=-60, le=0, description="Gain in dB (default: the template's music.level_db)."
    )
    ducking: bool | None = Field(
        None, description="Lower the music under the voice (default: the template's)."
    )
    fade_out: float | None = Field(
        None, ge=0, le=10, description="Fade-out at the end in seconds (default: the template's)."
    )


class MusicOutputs(Ports):
    music: MusicBed


@register
class Music(Node):
    type = "Music"
    description = (
        "A music bed from a file: looped or trimmed to the video, ducked under the narration. "
        "Connect to Timeline.music_bed."
    )
    Params = MusicParams
    Outputs = MusicOutputs

    def local_paths(self, params: MusicParams) -> list[tuple[str, str]]:
        return [("params.path", params.path)]

    def fingerprint(self, params: MusicParams, inputs, *, workflow_file: str | None = None) -> str:
        return hashlib.sha256(file_stamp(local_path(workflow_file, params.path)).encode()).hexdigest()

    async def run(self, ctx: NodeContext, params: MusicParams, inputs) -> MusicOutputs:
        path = ctx.local_file(params.path, field="params.path")
        try:
            info = await asyncio.to_thread(probe, path)
        except MediaError as e:
            raise MediaError(e.message, file=str(path), node=ctx.node_id, field="params.path") from None
        if not info.has_audio:
            raise MediaError("has no audio stream", file=str(path), node=ctx.node_id, field="params.path")
        if info.duration is not None and params.start >= info.duration:
            raise ctx.error(
                f"start {params.start}s is past the end of the track ({info.duration:.1f}s)",
                field="params.start",
                cls=MediaError,
            )
        values = {"path": str(path), "duration": info.duration, "start": params.start, "loop": params.loop}
        for name in ("level_db", "ducking", "fade_out"):
            if getattr(params, name) is not None:
                values[name] = getattr(params, name)
        return MusicOutputs(music=MusicBed(**values))
