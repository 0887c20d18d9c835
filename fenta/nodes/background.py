"""Input.Background: generated backgrounds (solid colour, gradient, stripes) that need nothing."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ..media.run import run_ffmpeg_sync
from ..types import Clip
from .base import Node, Params, Ports, register

_COLOR = re.compile(r"^#?[0-9A-Fa-f]{6}$")
_PALETTE = ["#1E3C72", "#2A5298", "#8E2DE2", "#4A00E0", "#FF512F", "#DD2476", "#11998E", "#38EF7D"]


class BackgroundParams(Params):
    style: Literal["color", "gradient", "stripes"] = "gradient"
    colors: list[str] = Field(
        default_factory=lambda: list(_PALETTE), min_length=1, description="Hex colours, cycled across clips."
    )
    count: int = Field(4, ge=1, le=50, description="How many background clips to make.")
    seed: int = 1

    @field_validator("colors")
    @classmethod
    def _hex(cls, v: list[str]) -> list[str]:
        for c in v:
            if not _COLOR.match(c):
                raise ValueError(f"'{c}' is not a hex colour like #1E3C72")
        return ["#" + c.lstrip("#").upper() for c in v]


class BackgroundOutputs(Ports):
    clips: list[Clip]


@register
class InputBackground(Node):
    type = "Input.Background"
    description = "Generated backgrounds: solid colour, gradient or stripes, sized to the template canvas."
    Params = BackgroundParams
    Outputs = BackgroundOutputs
    resource = "cpu"
    uses_template = True

    async def run(self, ctx, params: BackgroundParams, inputs) -> BackgroundOutputs:
        canvas = ctx.template["canvas"]
        w, h = canvas["width"], canvas["height"]
        clips: list[Clip] = []
        cols = params.colors
        for i in range(params.count):
            a, b = cols[i % len(cols)], cols[(i + 1) % len(cols)]
            if params.style == "color":
                clips.append(Clip(kind="color", color=a, width=w, height=h, source="color"))
                continue
            out = ctx.workdir / f"bg{i}.png"
            if params.style == "gradient":
                src = f"gradients=s={w}x{h}:c0=0x{a[1:]}:c1=0x{b[1:]}:n=2:seed={params.seed + i}:duration=1"
            else:
                # Diagonal stripes: the first `width` pixels of every `period` along x + y, 25% brighter.
                period, width = max(8, w // 8), max(4, w // 16)
                lum = f"if(lt(mod(X+Y\\,{period})\\,{width})\\,lum(X\\,Y)*1.25\\,lum(X\\,Y))"
                src = f"color=c=0x{a[1:]}:s={w}x{h}:d=1,geq=lum='{lum}':cb='cb(X,Y)':cr='cr(X,Y)'"
            run_ffmpeg_sync(
                ["-f", "lavfi", "-i", src, "-frames:v", "1", str(out)], what=f"background {i + 1}"
            )
            clips.append(Clip(kind="image", path=ctx.keep(out), width=w, height=h, source=params.style))
        return BackgroundOutputs(clips=clips)
