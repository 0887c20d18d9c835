"""The timeline: a plain-JSON description of one video, built from clips and narration.

`build_timeline` fits clips to the narration; `fenta.render.compose` turns a
timeline into one FFmpeg command. Because it is plain JSON, a saved timeline
can be rendered again without re-running the workflow (`fenta render`).

Layout rules:

* The narration sets the length. Clips are cut into slots of `pacing.min_clip`
  to `pacing.max_clip` seconds; when clips carry a `scene` index and the scene
  start times are known, each scene shows its own clips while it is spoken.
* A video longer than its slot is trimmed; a long clip used twice continues
  where it left off (spread); a clip shorter than its slot is looped.
* Transitions overlap neighbouring slots, centred on the cut, so the video
  stays exactly as long as the audio.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import MediaError
from ..types import Audio, Clip, Scene, Word
from ..written import split_words

__all__ = ["Timeline", "Segment", "MusicBed", "build_timeline", "scene_starts", "hook_text", "load_timeline"]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Segment(_M):
    """One clip's slot on the timeline (times in seconds of output)."""

    kind: Literal["video", "image", "color"]
    path: str | None = None
    color: str | None = None
    start: float = Field(description="When the slot starts in the output, transition overlap included.")
    duration: float = Field(gt=0)
    in_point: float = Field(0.0, ge=0, description="Where to start reading a video clip.")
    loop: bool = Field(False, description="Loop a video clip shorter than its slot.")
    zoom: tuple[float, float] | None = Field(None, description="Ken Burns zoom from, to (stills).")
    width: int | None = None
    height: int | None = None
    scene: int | None = None
    focus: tuple[float, float] | None = Field(None, description="What a crop keeps in frame (x, y, 0-1).")


class MusicBed(_M):
    """A music track under the narration: looped or trimmed to the video, ducked under the voice."""

    port_name: ClassVar[str] = "music"
    path: str
    duration: float | None = Field(None, description="The file's own length (s).")
    start: float = Field(0.0, ge=0, description="Skip this many seconds of the track.")
    loop: bool = Field(True, description="Repeat the track when it is shorter than the video.")
    # None means "the template's value" (filled in by build_timeline).
    level_db: float | None = Field(None, ge=-60, le=0)
    ducking: bool | None = None
    duck_ratio: float | None = Field(None, ge=1, le=20)
    duck_threshold: float | None = Field(None, gt=0, le=1)
    fade_out: float | None = Field(None, ge=0, le=10)


class Timeline(_M):
    """Everything the renderer needs; paths are absolute."""

    port_name: ClassVar[str] = "timeline"
    version: int = 1
    canvas: dict[str, int]
    duration: float = Field(gt=0)
    background: str = "#1E2A3A"
    segments: list[Segment] = Field(min_length=1)
    transition: dict[str, Any] = Field(default_factory=lambda: {"type": "cut", "seconds": 0.0})
    voice: Audio | None = None
    music: MusicBed | None = None
    subtitles_ass: str | None = None
    subtitles_srt: str | None = None
    title: str | None = Field(
        None, description="Hook text shown on the title card (when the template has one)."
    )
    captions: dict[str, Any] | None = Field(
        None, description="The captions' words, keywords and style, to lay them out again for another canvas."
    )
    loudness: float = -14.0
    template: dict[str, Any] = Field(
        default_factory=dict, description="The resolved template (style for overlays)."
    )


def load_timeline(path: str | Path) -> Timeline:
    """Read a saved timeline.json.

    Raises:
        MediaError: the file is missing, not JSON, or not a timeline (names the field).
    """
    p = Path(path)
    if not p.is_file():
        raise MediaError("timeline file not found", file=str(p))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise MediaError(f"not a JSON timeline ({e})", file=str(p)) from None
    try:
        return Timeline.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise MediaError(f"not a valid timeline: {err['msg']}", file=str(p), field=loc or None) from None


def _count_words(text: str) -> int:
    return len(split_words(text))


def scene_starts(scenes: Sequence[Scene], words: Sequence[Word]) -> list[float] | None:
    """When each scene starts being spoken: its first word's start time.

    Returns None when the word count does not match the scenes' text (then
    scenes cannot be located reliably).
    """
    if not scenes or not words:
        return None
    counts = [_count_words(s.narration) for s in scenes]
    if sum(counts) != len(words):
        return None
    starts: list[float] = []
    i = 0
    for n in counts:
        starts.append(words[min(i, len(words) - 1)].start if n else (starts[-1] if starts else 0.0))
        i += n
    starts[0] = 0.0
    return starts


def hook_text(text: str | None, max_chars: int = 90) -> str | None:
    """The first sentence of a script (the hook), shortened to `max_chars` on a word boundary."""
    if not text or not text.strip():
        return None
    first = re.split(r"(?<=[.!?…])\s+", " ".join(text.split()), maxsplit=1)[0]
    if len(first) > max_chars:
        first = first[:max_chars].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return first


def _slot_count(duration: float, n_clips: int, min_clip: float, max_clip: float) -> int:
    by_max = math.ceil(duration / max_clip - 1e-9)
    by_min = max(1, math.floor(duration / min_clip + 1e-9))
    return max(1, by_max, min(max(1, n_clips), by_min))


def _spans(
    total: float, clips: list[Clip], starts: list[float] | None
) -> list[tuple[float, float, list[Clip]]]:
    """(start, end, clips) per stretch of narration: one per scene, or one for everything."""
    if not starts or not any(c.scene is not None for c in clips):
        return [(0.0, total, clips)]
    free = [c for c in clips if c.scene is None or c.scene >= len(starts)] or clips
    bounds = [s for s in starts if s < total] + [total]
    spans, k_free = [], 0
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        if b - a <= 1e-3:
            continue
        own = [c for c in clips if c.scene == k]
        if not own:  # a scene without its own clip borrows the next unassigned one
            own = [free[k_free % len(free)]]
            k_free += 1
        spans.append((a, b, own))
    return spans


def build_timeline(
    *,
    clips: list[Clip],
    voice: Audio | None,
    template: dict[str, Any],
    subtitles: tuple[str, str] | None = None,
    music: Audio | MusicBed | None = None,
    duration: float | None = None,
    scene_starts: list[float] | None = None,
    title: str | None = None,
    captions: dict[str, Any] | None = None,
) -> Timeline:
    """Fit clips to the narration; see the module docstring for the rules."""
    total = float(duration or (voice.duration if voice else None) or 10.0)
    pacing = template["pacing"]
    trans = template["transition"]
    sources = clips or [Clip(kind="color", color=template["background"])]
    spans = _spans(total, sources, scene_starts if pacing.get("follow_scenes", True) else None)

    # Cut points and the clip shown between them.
    cuts: list[float] = [0.0]
    shown: list[tuple[Clip, int | None]] = []
    turn = 0
    for a, b, pool in spans:
        n = _slot_count(b - a, len(pool), pacing["min_clip"], pacing["max_clip"])
        for j in range(n):
            c = pool[(turn + j) % len(pool)] if len(spans) == 1 else pool[j % len(pool)]
            shown.append((c, c.scene))
            cuts.append(a + (b - a) * (j + 1) / n)
        if len(spans) == 1:
            turn += n
    cuts[-1] = total
    slots = [cuts[i + 1] - cuts[i] for i in range(len(shown))]

    kind = trans["type"]
    t_sec = float(trans["seconds"]) if kind != "cut" and len(shown) > 1 else 0.0
    t_sec = round(min(t_sec, min(slots) / 2), 3)
    if t_sec < 1.0 / template["canvas"]["fps"]:
        t_sec = 0.0
    used: dict[str, float] = {}
    segments: list[Segment] = []
    n_still = 0
    for i, (c, scene) in enumerate(shown):
        # Each segment reaches half a transition into its neighbours, so transitions centre on the cuts.
        start = cuts[i] - (t_sec / 2 if i else 0.0)
        end = cuts[i + 1] + (t_sec / 2 if i < len(shown) - 1 else 0.0)
        dur = end - start
        zoom = None
        in_point, loop = 0.0, False
        if c.kind == "image" and pacing["motion"] == "kenburns" and pacing["zoom"] > 1.0:
            zoom = (1.0, pacing["zoom"]) if n_still % 2 == 0 else (pacing["zoom"], 1.0)
            n_still += 1
        if c.kind == "video" and c.path:
            natural = c.duration or 0.0
            if natural and natural < dur:
                loop = True
            else:
                at = used.get(c.path, 0.0)
                if natural and at + dur > natural:
                    at = 0.0
                in_point = at
                used[c.path] = at + dur
        segments.append(
            Segment(
                kind=c.kind,
                path=c.path,
                color=c.color,
                start=round(start, 4),
                duration=round(dur, 4),
                in_point=round(in_point, 4),
                loop=loop,
                zoom=zoom,
                width=c.width,
                height=c.height,
                scene=scene,
                focus=c.focus,
            )
        )
    bed = None
    if music is not None:
        m = template["music"]
        base = (
            music.model_dump()
            if isinstance(music, MusicBed)
            else {"path": music.path, "duration": music.duration}
        )
        defaults = {
            "level_db": -18.0,
            "ducking": True,
            "duck_ratio": 8.0,
            "duck_threshold": 0.02,
            "fade_out": 1.5,
        }
        # Values set on a Music node win over the template's.
        for k, v in defaults.items():
            if base.get(k) is None:
                base[k] = m.get(k, v)
        bed = MusicBed.model_validate(base)
    if title is None and template.get("title_card"):
        title = template["title_card"].get("text")
    return Timeline(
        canvas=dict(template["canvas"]),
        duration=round(total, 4),
        background=template["background"],
        segments=segments,
        transition={"type": kind if t_sec > 0 else "cut", "seconds": t_sec},
        voice=voice,
        music=bed,
        subtitles_ass=subtitles[0] if subtitles else None,
        subtitles_srt=subtitles[1] if subtitles else None,
        title=title if template.get("title_card") else None,
        captions=captions,
        loudness=template["loudness"],
        template=template,
    )
