"""Subtitle: word-timed captions (karaoke ASS for burning in, SRT for upload)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..render.captions import write_captions
from ..types import SubtitleTrack, Word
from .base import Node, NodeContext, Params, Ports, register


class SubtitleParams(Params):
    mode: Literal["template", "karaoke", "phrase"] = Field("template", description="karaoke highlights the spoken word; phrase shows whole phrases.")
    uppercase: bool | None = Field(None, description="Override the template's uppercase setting.")
    words_per_line: int | None = Field(None, ge=1, le=20)
    lines: int | None = Field(None, ge=1, le=4)


class SubtitleInputs(Ports):
    words: list[Word]


class SubtitleOutputs(Ports):
    track: SubtitleTrack


@register
class Subtitle(Node):
    type = "Subtitle"
    description = "Groups timed words into phrases; writes karaoke ASS and SRT styled by the template."
    Params = SubtitleParams
    Inputs = SubtitleInputs
    Outputs = SubtitleOutputs
    uses_template = True

    async def run(self, ctx: NodeContext, params: SubtitleParams, inputs: SubtitleInputs) -> SubtitleOutputs:
        if not inputs.words:
            raise ctx.error("no words to caption (is the narration empty?)", field="inputs.words")
        template = {**ctx.template, "subtitles": dict(ctx.template["subtitles"])}
        style = template["subtitles"]
        if params.mode != "template":
            style["karaoke"] = params.mode == "karaoke"
        for name in ("uppercase", "words_per_line", "lines"):
            if getattr(params, name) is not None:
                style[name] = getattr(params, name)
        ass, srt = ctx.workdir / "captions.ass", ctx.workdir / "captions.srt"
        n = write_captions(inputs.words, template, ass, srt)
        return SubtitleOutputs(track=SubtitleTrack(ass_path=ctx.keep(ass), srt_path=ctx.keep(srt), events=n))
