"""Render: one FFmpeg pass from a timeline to MP4 + SRT + ASS + thumbnail + timeline.json, per rendition."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from ..errors import FentaError, PathError
from ..render.aspects import ASPECT, aspect_suffix, parse_aspect, rendition_timeline
from ..render.profile import Profile
from ..render.renderer import Rendition, render, render_renditions
from ..render.timeline import Timeline as TimelineModel
from ..types import Artifact
from .base import Node, NodeContext, Params, Ports, register

ProfileName = Literal["1080p", "720p", "480p", "360p", "canvas"]


class RenditionParams(Params):
    aspect: str = Field(pattern=ASPECT.pattern, description="W:H, e.g. 9:16, 1:1, 16:9, 4:5.")
    profile: ProfileName | None = Field(
        None, description="Output size of this rendition (default: the Render's)."
    )


class RenderParams(Params):
    profile: ProfileName = Field(
        "1080p", description="Output size (short side); aspect comes from the template."
    )
    crf: int = Field(23, ge=0, le=51, description="x264 quality (lower is better and bigger).")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = Field(
        "veryfast", description="x264 speed preset."
    )
    thumbnail: bool = Field(True, description="Also write a JPEG thumbnail (a frame at 40%).")
    preview: bool = Field(
        False, description="Quick low-resolution draft (360p, ultrafast); `fenta run --preview` sets it."
    )
    encoder: Literal["auto", "x264", "nvenc", "qsv", "vaapi", "videotoolbox"] = Field(
        "x264",
        description="H.264 encoder: x264 (CPU), a hardware encoder, or auto (the first that works here); one "
        "that fails falls back to x264 with a notice.",
    )
    renditions: list[RenditionParams] | None = Field(
        None,
        description="The same video in several aspects, e.g. [{aspect: '9:16'}, {aspect: '1:1'}, "
        "{aspect: '16:9', profile: 720p}]: NAME.mp4 (the first), NAME-1x1.mp4, NAME-16x9.mp4 (+ srt, jpg).",
    )


class RenderInputs(Ports):
    timeline: TimelineModel


class RenderOutputs(Ports):
    video: str
    artifacts: list[Artifact]


def profile_for(params: RenderParams, name: str | None = None) -> Profile:
    if params.preview:
        return Profile.preview(params.encoder)
    return Profile(name=name or params.profile, preset=params.preset, crf=params.crf, encoder=params.encoder)


@register
class Render(Node):
    type = "Render"
    # 3: limited-range BT.709 output, frame-exact Ken Burns; 4: long videos in chunks, tagged colour slots,
    # encoder param; 5: renditions, crops around a clip's focus
    version = "5"
    description = (
        "Encodes the timeline in ONE FFmpeg process: H.264/AAC MP4, SRT, ASS, thumbnail, timeline.json."
    )
    Params = RenderParams
    Inputs = RenderInputs
    Outputs = RenderOutputs
    resource = "render"

    def validate_params(self, params: RenderParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for i, r in enumerate(params.renditions or []):
            try:
                parse_aspect(r.aspect)
            except ValueError as e:
                problems.append((f"params.renditions[{i}].aspect", str(e)))
                continue
            suffix = aspect_suffix(r.aspect)
            if suffix in seen:
                problems.append(
                    (f"params.renditions[{i}].aspect", f"'{r.aspect}' is already rendition {seen[suffix]}")
                )
            seen.setdefault(suffix, i)
        if params.renditions == []:
            problems.append(("params.renditions", "give at least one rendition, or leave renditions out"))
        return problems

    async def run(self, ctx: NodeContext, params: RenderParams, inputs: RenderInputs) -> RenderOutputs:
        tl = inputs.timeline
        logo = ((tl.template or {}).get("logo") or {}).get("path")
        why = ctx.policy.file_problem(logo) if logo else None  # FFmpeg opens it from the current folder
        if why is not None:  # validation refused it already; this stands in case it changed since
            raise ctx.error(why, field="template.logo.path", cls=PathError)
        try:
            if params.renditions:
                arts = await self._renditions(ctx, params, tl)
            else:
                arts = await self._single(ctx, params, tl)
        except Exception as e:
            if getattr(e, "node", "x") is None:
                e.node = ctx.node_id  # type: ignore[attr-defined]
            raise
        tl_path = ctx.workdir / "timeline.json"
        tl_path.write_text(
            json.dumps(tl.model_dump(mode="json"), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        arts.append(Artifact(kind="timeline", path=ctx.keep(tl_path), name="{name}.timeline.json"))
        return RenderOutputs(video=arts[0].path, artifacts=arts)

    async def _single(self, ctx: NodeContext, params: RenderParams, tl: TimelineModel) -> list[Artifact]:
        video = ctx.workdir / "video.mp4"
        thumb = ctx.workdir / "thumb.jpg" if params.thumbnail else None
        info = await render(
            tl,
            video,
            thumb,
            profile=profile_for(params),
            workdir=ctx.workdir / "text",
            on_progress=ctx.progress,
        )
        # Everything lands in the cache through keep() (a rename), never as a partial file.
        arts = [Artifact(kind="video", path=ctx.keep(video), name="{name}.mp4", duration=info.duration)]
        if thumb is not None and thumb.exists():
            arts.append(Artifact(kind="thumbnail", path=ctx.keep(thumb), name="{name}.jpg"))
        return arts + _caption_artifacts(tl, "")

    async def _renditions(self, ctx: NodeContext, params: RenderParams, tl: TimelineModel) -> list[Artifact]:
        """The timeline laid out for each aspect and rendered one after another; the first is NAME.mp4."""
        items: list[tuple[str, Rendition]] = []
        for i, r in enumerate(params.renditions or []):
            suffix = "" if i == 0 else "-" + aspect_suffix(r.aspect)
            try:
                laid = rendition_timeline(tl, r.aspect, ctx.workdir / f"captions{i}")
            except FentaError as e:
                raise ctx.error(e.message, field=f"params.renditions[{i}]", cls=type(e)) from None
            if (
                laid is not tl
                and laid.subtitles_ass
                and laid.subtitles_srt
                and laid.subtitles_ass != tl.subtitles_ass
            ):
                # Captions laid out for this canvas: into the cache, like every file the node leaves.
                kept = {
                    "subtitles_ass": ctx.keep(laid.subtitles_ass),
                    "subtitles_srt": ctx.keep(laid.subtitles_srt),
                }
                laid = laid.model_copy(update=kept)
            video = ctx.workdir / f"video{suffix}.mp4"
            thumb = ctx.workdir / f"thumb{suffix}.jpg" if params.thumbnail else None
            items.append((suffix, Rendition(laid, video, thumb, profile_for(params, r.profile))))
        infos = await render_renditions(
            [r for _, r in items], workdir=ctx.workdir / "text", on_progress=ctx.progress
        )
        arts: list[Artifact] = []
        for (suffix, rendition), info in zip(items, infos):
            kind = suffix.lstrip("-")
            arts.append(
                Artifact(
                    kind=_kind("video", kind),
                    path=ctx.keep(rendition.video),
                    name=f"{{name}}{suffix}.mp4",
                    duration=info.duration,
                )
            )
            if rendition.thumb is not None and rendition.thumb.exists():
                arts.append(
                    Artifact(
                        kind=_kind("thumbnail", kind),
                        path=ctx.keep(rendition.thumb),
                        name=f"{{name}}{suffix}.jpg",
                    )
                )
            arts += _caption_artifacts(rendition.timeline, suffix)
        return arts


def _kind(base: str, suffix: str) -> str:
    """An artifact's kind: `video` for the first rendition, `video-1x1` for a 1:1 one."""
    return f"{base}-{suffix}" if suffix else base


def _caption_artifacts(tl: TimelineModel, suffix: str) -> list[Artifact]:
    """The SRT and ASS of a rendition (laid out for its canvas; the timeline's own for the first)."""
    kind = suffix.lstrip("-")
    files = (("srt", tl.subtitles_srt), ("ass", tl.subtitles_ass))
    return [
        Artifact(kind=_kind(ext, kind), path=path, name=f"{{name}}{suffix}.{ext}")
        for ext, path in files
        if path
    ]
