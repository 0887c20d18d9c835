"""The timeline: a plain-JSON description of one video, built from clips and narration.

`build_timeline` fits clips to the narration; `fenta.render.compose` turns a
timeline into one FFmpeg command. Because it is plain JSON, a saved timeline
can be rendered again without re-running the workflow (`fenta render`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..types import Audio, Clip

__all__ = ["Timeline", "Segment", "build_timeline"]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Segment(_M):
    """One clip's slot on the timeline."""

    kind: Literal["video", "image", "color"]
    path: str | None = None
    color: str | None = None
    start: float = Field(description="When the slot starts in the output (s).")
    duration: float = Field(gt=0)
    in_point: float = 0.0
    loop: bool = False
    zoom: tuple[float, float] | None = Field(None, description="Ken Burns zoom from, to.")
    width: int | None = None
    height: int | None = None


class MusicBed(_M):
    path: str
    level_db: float = -18
    ducking: bool = True
    duck_ratio: float = 8


class Timeline(_M):
    """Everything the renderer needs; paths are absolute."""

    port_name: ClassVar[str] = "timeline"
    version: int = 1
    canvas: dict[str, int]
    duration: float = Field(gt=0)
    background: str = "#1E2A3A"
    segments: list[Segment]
    transition: dict[str, Any] = Field(default_factory=lambda: {"type": "cut", "seconds": 0.0})
    voice: Audio | None = None
    music: MusicBed | None = None
    subtitles_ass: str | None = None
    subtitles_srt: str | None = None
    loudness: float = -14.0
    template: dict[str, Any] = Field(default_factory=dict, description="The resolved template (style for overlays).")


def _slot_count(duration: float, n_clips: int, min_clip: float, max_clip: float) -> int:
    by_max = math.ceil(duration / max_clip)
    by_min = max(1, math.floor(duration / min_clip))
    return max(1, by_max, min(n_clips, by_min))


def build_timeline(
    *,
    clips: list[Clip],
    voice: Audio | None,
    template: dict[str, Any],
    subtitles: tuple[str, str] | None = None,
    music: Audio | None = None,
    duration: float | None = None,
) -> Timeline:
    """Fit clips to the narration: equal slots, clips cycled, stills given Ken Burns motion."""
    total = duration or (voice.duration if voice else None) or 10.0
    pacing = template["pacing"]
    trans = template["transition"]
    t_sec = trans["seconds"] if trans["type"] != "cut" else 0.0
    sources = clips or [Clip(kind="color", color=template["background"])]
    n = _slot_count(total, len(sources), pacing["min_clip"], pacing["max_clip"])
    # With overlapping transitions every slot is longer by its share of the overlaps.
    t_sec = min(t_sec, total / n / 2)
    slot = total / n + t_sec * (n - 1) / n
    segments: list[Segment] = []
    t = 0.0
    for i in range(n):
        c = sources[i % len(sources)]
        zoom = None
        if c.kind in ("image", "color") and pacing["motion"] == "kenburns" and c.kind == "image":
            zoom = (1.0, pacing["zoom"]) if i % 2 == 0 else (pacing["zoom"], 1.0)
        loop = bool(c.kind == "video" and c.duration is not None and c.duration < slot)
        segments.append(Segment(kind=c.kind, path=c.path, color=c.color, start=round(t, 4), duration=round(slot, 4), loop=loop, zoom=zoom, width=c.width, height=c.height))
        t += slot - t_sec
    mus = None
    if music is not None:
        m = template["music"]
        mus = {"path": music.path, "level_db": m["level_db"], "ducking": m["ducking"], "duck_ratio": m["duck_ratio"]}
    return Timeline(
        canvas=dict(template["canvas"]),
        duration=round(total, 4),
        background=template["background"],
        segments=segments,
        transition={"type": trans["type"], "seconds": t_sec},
        voice=voice,
        music=mus,
        subtitles_ass=subtitles[0] if subtitles else None,
        subtitles_srt=subtitles[1] if subtitles else None,
        loudness=template["loudness"],
        template=template,
    )
