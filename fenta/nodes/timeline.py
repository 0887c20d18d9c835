"""Timeline: fits clips to the narration and lays out captions, music, motion and the title card."""

from __future__ import annotations

from pydantic import Field

from ..render.srt import clamp_captions
from ..render.timeline import MusicBed, build_timeline, hook_text, scene_starts
from ..render.timeline import Timeline as TimelineModel
from ..types import Audio, Clip, Scene, SubtitleTrack, Word
from .base import Node, NodeContext, Params, Ports, register


class TimelineParams(Params):
    duration: float | None = Field(
        None, gt=0, le=4 * 3600, description="Fixed length in seconds (default: the narration's)."
    )
    title: str | None = Field(
        None, description="Hook text for the template's title card (default: the script's first sentence)."
    )


class TimelineInputs(Ports):
    clips: list[Clip] = Field(default_factory=list)
    voice: Audio | None = None
    subtitles: SubtitleTrack | None = None
    music: Audio | None = None
    music_bed: MusicBed | None = None
    script: str | None = None
    scenes: list[Scene] = Field(default_factory=list)
    words: list[Word] = Field(default_factory=list)


class TimelineOutputs(Ports):
    timeline: TimelineModel


def _caption_source(track: SubtitleTrack | None) -> dict | None:
    """What a render needs to lay the captions out for another canvas (`Render.renditions`)."""
    if track is None or not track.words or track.style is None:
        return None
    return {"words": [w.model_dump() for w in track.words], "keywords": track.keywords, "style": track.style}


@register
class Timeline(Node):
    type = "Timeline"
    version = "4"  # 3: captions cut at the video's end; 4: caption words and style kept, clip focus
    description = (
        "Fits clips to the narration (trimmed, looped or spread; per scene when clips carry a scene and "
        "scenes + words are connected), with Ken Burns stills, transitions, captions, title card "
        "and a ducked music bed."
    )
    Params = TimelineParams
    Inputs = TimelineInputs
    Outputs = TimelineOutputs
    uses_template = True

    async def run(self, ctx: NodeContext, params: TimelineParams, inputs: TimelineInputs) -> TimelineOutputs:
        if inputs.voice is None and params.duration is None:
            raise ctx.error("connect a 'voice' input or set params.duration", field="params.duration")
        if inputs.music is not None and inputs.music_bed is not None:
            raise ctx.error("connect 'music' or 'music_bed', not both", field="inputs.music_bed")
        # No caption outlasts the video: cues are cut at its end (a phrase's hold could run past it).
        subs = (
            tuple(
                ctx.keep(p)
                for p in clamp_captions(
                    inputs.subtitles.ass_path,
                    inputs.subtitles.srt_path,
                    params.duration or inputs.voice.duration,  # type: ignore[union-attr]  # no voice: duration set
                    ctx.workdir,
                    fps=ctx.template["canvas"]["fps"],
                )
            )
            if inputs.subtitles
            else None
        )  # type: ignore[union-attr]
        starts = scene_starts(inputs.scenes, inputs.words) if inputs.scenes and inputs.words else None
        if (
            inputs.scenes
            and inputs.words
            and starts is None
            and any(c.scene is not None for c in inputs.clips)
        ):
            ctx.warn(
                "scene texts do not match the spoken words; clips are spread evenly instead of per scene"
            )
        card = ctx.template.get("title_card") or {}
        title = params.title or card.get("text") or hook_text(inputs.script)
        tl = build_timeline(
            clips=inputs.clips,
            voice=inputs.voice,
            template=ctx.template,
            subtitles=subs,  # type: ignore[arg-type]  # clamp_captions gives back the two paths it got
            music=inputs.music_bed or inputs.music,
            duration=params.duration,
            scene_starts=starts,
            title=title,
            captions=_caption_source(inputs.subtitles),
        )
        return TimelineOutputs(timeline=tl)
