"""Render: one FFmpeg pass from a timeline to MP4 + SRT + ASS + thumbnail + timeline.json."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from ..render.profile import Profile
from ..render.renderer import render
from ..render.timeline import Timeline as TimelineModel
from ..errors import PathError
from ..types import Artifact
from .base import Node, NodeContext, Params, Ports, register



class RenderParams(Params):
    profile: Literal["1080p", "720p", "480p", "360p", "canvas"] = Field("1080p", description="Output size (short side); aspect comes from the template.")
    crf: int = Field(23, ge=0, le=51, description="x264 quality (lower is better and bigger).")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = Field("veryfast", description="x264 speed preset.")
    thumbnail: bool = Field(True, description="Also write a JPEG thumbnail (a frame at 40%).")
    preview: bool = Field(False, description="Quick low-resolution draft (360p, ultrafast); `fenta run --preview` sets it.")
    encoder: Literal["auto", "x264", "nvenc", "qsv", "vaapi", "videotoolbox"] = Field(
        "x264", description="H.264 encoder: x264 (CPU), a hardware encoder, or auto (the first that works here); one that fails falls back to x264 with a notice.",
    )


class RenderInputs(Ports):
    timeline: TimelineModel


class RenderOutputs(Ports):
    video: str
    artifacts: list[Artifact]


def profile_for(params: RenderParams) -> Profile:
    if params.preview:
        return Profile.preview(params.encoder)
    return Profile(name=params.profile, preset=params.preset, crf=params.crf, encoder=params.encoder)


@register
class Render(Node):
    type = "Render"
    version = "4"  # 3: limited-range BT.709 output, frame-exact Ken Burns; 4: long videos in chunks, tagged colour slots, encoder param
    description = "Encodes the timeline in ONE FFmpeg process: H.264/AAC MP4, SRT, ASS, thumbnail, timeline.json."
    Params = RenderParams
    Inputs = RenderInputs
    Outputs = RenderOutputs
    resource = "render"

    async def run(self, ctx: NodeContext, params: RenderParams, inputs: RenderInputs) -> RenderOutputs:
        tl = inputs.timeline
        logo = ((tl.template or {}).get("logo") or {}).get("path")
        why = ctx.policy.file_problem(logo) if logo else None  # FFmpeg opens it from the current folder
        if why is not None:  # validation refused it already; this stands in case it changed since
            raise ctx.error(why, field="template.logo.path", cls=PathError)
        video = ctx.workdir / "video.mp4"
        thumb = ctx.workdir / "thumb.jpg" if params.thumbnail else None
        try:
            info = await render(tl, video, thumb, profile=profile_for(params), workdir=ctx.workdir / "text", on_progress=ctx.progress)
        except Exception as e:
            if getattr(e, "node", "x") is None:
                e.node = ctx.node_id  # type: ignore[attr-defined]
            raise
        # Everything lands in the cache through keep() (a rename), never as a partial file.
        arts = [Artifact(kind="video", path=ctx.keep(video), name="{name}.mp4", duration=info.duration)]
        if thumb is not None and thumb.exists():
            arts.append(Artifact(kind="thumbnail", path=ctx.keep(thumb), name="{name}.jpg"))
        if tl.subtitles_srt:
            arts.append(Artifact(kind="srt", path=tl.subtitles_srt, name="{name}.srt"))
        if tl.subtitles_ass:
            arts.append(Artifact(kind="ass", path=tl.subtitles_ass, name="{name}.ass"))
        tl_path = ctx.workdir / "timeline.json"
        tl_path.write_text(json.dumps(tl.model_dump(mode="json"), indent=2, ensure_ascii=False), encoding="utf-8")
        arts.append(Artifact(kind="timeline", path=ctx.keep(tl_path), name="{name}.timeline.json"))
        return RenderOutputs(video=arts[0].path, artifacts=arts)
