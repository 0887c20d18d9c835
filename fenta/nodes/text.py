"""Input.Text: a script the user wrote."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from ..types import Scene
from .base import Node, Params, Ports, register


class TextParams(Params):
    text: str = Field(description="The narration. Blank lines separate scenes.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty")
        return v


class TextOutputs(Ports):
    text: str
    scenes: list[Scene]


@register
class InputText(Node):
    type = "Input.Text"
    description = "A script you wrote; blank lines split it into scenes."
    Params = TextParams
    Outputs = TextOutputs

    async def run(self, ctx, params: TextParams, inputs) -> TextOutputs:
        parts = [p.strip() for p in re.split(r"\n\s*\n", params.text) if p.strip()]
        text = " ".join(" ".join(p.split()) for p in parts)
        return TextOutputs(text=text, scenes=[Scene(narration=" ".join(p.split())) for p in parts])
