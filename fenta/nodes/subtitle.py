"""Subtitle: word-timed captions (karaoke ASS for burning in, SRT for upload)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from ..errors import FentaError
from ..render.captions import write_captions
from ..render.fonts import resolve_font
from ..types import SubtitleTrack, Word
from .base import Node, NodeContext, Params, Ports, register

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")


class SubtitleParams(Params):
    mode: Literal["template", "karaoke", "phrase"] = Field(
        "template",
        description=(
            "karaoke highlights the spoken word; phrase shows whole phrases; "
            "template uses the template's setting."
        ),
    )
    uppercase: bool | None = Field(
        None,
        description="Override the template's uppercase setting (the SRT always keeps the words as written).",
    )
    words_per_line: int | None = Field(
        None, ge=1, le=20, description="Override the template's words per line."
    )
    max_chars_per_line: int | None = Field(
        None, ge=4, le=120, description="Override the template's characters per line."
    )
    lines: int | None = Field(None, ge=1, le=4, description="Override the template's lines per phrase.")
    font: str | None = Field(
        None, description="Override the template's font family (bundled: DejaVu Sans, with Cyrillic)."
    )
    size: int | None = Field(
        None, ge=8, le=400, description="Override the template's font size (canvas pixels)."
    )
    position: Literal["bottom", "center", "top"] | None = Field(
        None, description="Override the template's caption position (kept inside the safe zone)."
    )
    animation: Literal["none", "pop", "highlight", "chunk"] | None = Field(
        None, description="Override the template's caption animation: pop, highlight, chunk or none."
    )
    emphasis_color: str | None = Field(
        None, description="Override the template's keyword colour (#RRGGBB); needs the 'keywords' input."
    )


class SubtitleInputs(Ports):
    words: list[Word]
    keywords: list[str] | None = None


class SubtitleOutputs(Ports):
    track: SubtitleTrack


_OVERRIDES = (
    "uppercase",
    "words_per_line",
    "max_chars_per_line",
    "lines",
    "font",
    "size",
    "position",
    "animation",
    "emphasis_color",
)


def _style(template: dict, params: SubtitleParams) -> dict:
    style = dict(template["subtitles"])
    if params.mode != "template":
        style["karaoke"] = params.mode == "karaoke"
    for name in _OVERRIDES:
        if getattr(params, name) is not None:
            style[name] = getattr(params, name)
    return style


@register
class Subtitle(Node):
    type = "Subtitle"
    version = "5"  # 5: animations (pop, highlight, chunk), keyword emphasis; the track keeps words and style
    description = (
        "Groups timed words into phrases (words/characters per line, lines, punctuation, pauses, "
        "time on screen, no lone words) measured with the real font so lines fit the frame; "
        "writes karaoke or phrase ASS and SRT styled by the template."
    )
    Params = SubtitleParams
    Inputs = SubtitleInputs
    Outputs = SubtitleOutputs
    uses_template = True

    def validate_params(self, params: SubtitleParams, template) -> list[tuple[str, str]]:
        if params.emphasis_color is not None and not _HEX.match(params.emphasis_color):
            return [("params.emphasis_color", f"'{params.emphasis_color}' is not a colour like #FFD400")]
        if not template or "subtitles" not in template:
            return []
        style = _style(template, params)
        try:
            resolve_font(style["font"], bool(style["bold"]))
        except FentaError as e:
            return [("params.font" if params.font else "template.subtitles.font", e.message)]
        return []

    async def run(self, ctx: NodeContext, params: SubtitleParams, inputs: SubtitleInputs) -> SubtitleOutputs:
        if not inputs.words:
            raise ctx.error("no words to caption (is the narration empty?)", field="inputs.words")
        template = {**ctx.template, "subtitles": _style(ctx.template, params)}
        ass, srt = ctx.workdir / "captions.ass", ctx.workdir / "captions.srt"
        try:
            result = write_captions(inputs.words, template, ass, srt, keywords=inputs.keywords)
        except FentaError as e:
            raise ctx.error(
                e.message, field="params.font" if params.font else f"template.{e.field or 'subtitles'}"
            ) from None
        for msg in result.warnings:
            ctx.warn(msg)
        track = SubtitleTrack(
            ass_path=ctx.keep(ass),
            srt_path=ctx.keep(srt),
            events=result.events,
            words=list(inputs.words),
            keywords=list(inputs.keywords or []),
            style=template["subtitles"],
        )
        return SubtitleOutputs(track=track)
