"""Timeline: fits clips to the narration and lays out captions, music and motion."""

from __future__ import annotations

from pydantic import Field

from ..render.timeline import Timeline as TimelineModel
from ..render.timeline import build_timeline
from ..types import Audio, Clip, SubtitleTrack
from .base import Node, NodeContext, Params, Ports, register


class TimelineParams(Params):
    duration: float | None = Field(None, gt=0, description="Fixed length in seconds (default: the narration's).")


class TimelineInputs(Ports):
    clips: list[Clip] = Field(default_factory=list)
    voice: Audio | None = None
    subtitles: SubtitleTrack | None = None
    music: Audio | None = None


class TimelineOutputs(Ports):
    timeline: TimelineModel


@register
class Timeline(Node):
    type = "Timeline"
    description = "Fits clips to the narration (cuts, motion, transitions), with captions and a ducked music bed."
    Params = TimelineParams
    Inputs = TimelineInputs
    Outputs = TimelineOutputs
    uses_template = True

    async def run(self, ctx: NodeContext, params: TimelineParams, inputs: TimelineInputs) -> TimelineOutputs:
        if inputs.voice is None and params.duration is None:
            raise ctx.error("connect a 'voice' input or set params.duration", field="params.duration")
        subs = (inputs.subtitles.ass_path, inputs.subtitles.srt_path) if inputs.subtitles else None
        tl = build_timeline(clips=inputs.clips, voice=inputs.voice, template=ctx.template, subtitles=subs, music=inputs.music, duration=params.duration)
        return TimelineOutputs(timeline=tl)
