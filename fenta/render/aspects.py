"""One story in several aspect ratios (`Render.renditions`): each rendition's canvas, template and captions.

A rendition of aspect W:H gets the template's canvas at the same short side (a 1080x1920 template
makes 1080x1080 for 1:1 and 1920x1080 for 16:9), so sizes written in canvas pixels (caption size, title
size, logo text, bar height) keep their size against the short side; margins are fractions of the new
frame. A template may set other values for an aspect under `aspects` (e.g. `aspects: {"16:9":
{safe_zone: {bottom: 0.1}, subtitles: {lines: 1}}}`), merged over its own fields. Captions are laid out
again for the new canvas from the words the Subtitle node timed (same timing, new line breaks), so
they fit its safe zone; sources are cropped around their `focus` point (`compose`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import MediaError
from ..template import merge_fields
from ..types import Word
from .timeline import Timeline

__all__ = [
    "ASPECT",
    "parse_aspect",
    "aspect_canvas",
    "aspect_suffix",
    "template_for_aspect",
    "rendition_timeline",
]

#: How an aspect is written: "9:16", "1:1", "16:9", "4:5".
ASPECT = re.compile(r"^([1-9][0-9]?):([1-9][0-9]?)$")


def parse_aspect(aspect: str) -> tuple[int, int]:
    """(w, h) of an aspect like "16:9".

    Raises:
        ValueError: not W:H with whole numbers 1-99, or wider or taller than 4:1.
    """
    m = ASPECT.match(aspect.strip())
    if not m:
        raise ValueError(f"'{aspect}' is not an aspect like 9:16, 1:1 or 16:9")
    w, h = int(m.group(1)), int(m.group(2))
    if max(w / h, h / w) > 4:
        raise ValueError(f"'{aspect}' is wider or taller than 4:1")
    return w, h


def aspect_suffix(aspect: str) -> str:
    """The file-name suffix of an aspect: "16:9" -> "16x9"."""
    w, h = parse_aspect(aspect)
    return f"{w}x{h}"


def aspect_canvas(canvas: dict[str, int], aspect: str) -> dict[str, int]:
    """The canvas of `aspect` with the short side of `canvas` (even sizes) and its frame rate."""
    w, h = parse_aspect(aspect)
    short = min(int(canvas["width"]), int(canvas["height"]))
    if w <= h:
        width, height = short, int(round(short * h / w / 2)) * 2
    else:
        width, height = int(round(short * w / h / 2)) * 2, short
    return {"width": width, "height": height, "fps": int(canvas["fps"])}


def template_for_aspect(template: dict[str, Any], aspect: str) -> dict[str, Any]:
    """The template laid out for `aspect`: its own fields, its `aspects[aspect]` values over them, and
    the aspect's canvas."""
    over = (template.get("aspects") or {}).get(aspect) or {}
    out = merge_fields({k: v for k, v in template.items() if k != "aspects"}, over)
    out["canvas"] = aspect_canvas(template["canvas"], aspect)
    return out


def _relaid_captions(
    tl: Timeline, template: dict[str, Any], aspect: str, folder: Path
) -> tuple[str, str] | None:
    """The captions written again for the rendition's canvas (ASS and SRT, cut at the video's end)."""
    from .captions import write_captions
    from .srt import clamp_captions

    folder.mkdir(parents=True, exist_ok=True)
    if tl.captions:
        over = ((tl.template.get("aspects") or {}).get(aspect) or {}).get("subtitles") or {}
        style = {**tl.captions["style"], **over}
        words = [Word.model_validate(w) for w in tl.captions["words"]]
        ass, srt = folder / "laid.ass", folder / "laid.srt"
        keywords = tl.captions.get("keywords") or []
        write_captions(words, {**template, "subtitles": style}, ass, srt, keywords=keywords)
    elif tl.subtitles_ass and tl.subtitles_srt:
        ass, srt = _scaled_ass(tl, template, folder), Path(tl.subtitles_srt)
    else:
        return None
    fps = template["canvas"]["fps"]
    out = clamp_captions(ass, srt, tl.duration, folder / "cut", fps=fps)
    return str(out[0]), str(out[1])


def _scaled_ass(tl: Timeline, template: dict[str, Any], folder: Path) -> Path:
    """A timeline without caption words (saved before they were kept): its ASS on the new canvas, margins
    moved with the frame, sizes kept against the short side (libass would stretch it otherwise)."""
    import pysubs2

    if not Path(str(tl.subtitles_ass)).is_file():
        raise MediaError("subtitle file not found", file=tl.subtitles_ass, field="subtitles_ass")
    subs = pysubs2.load(str(tl.subtitles_ass), format_="ass")
    old_w = int(subs.info.get("PlayResX") or tl.canvas["width"])
    old_h = int(subs.info.get("PlayResY") or tl.canvas["height"])
    new_w, new_h = template["canvas"]["width"], template["canvas"]["height"]
    subs.info.update({"PlayResX": str(new_w), "PlayResY": str(new_h)})
    for st in subs.styles.values():
        st.marginl, st.marginr = round(st.marginl * new_w / old_w), round(st.marginr * new_w / old_w)
        st.marginv = round(st.marginv * new_h / old_h)
    out = folder / "scaled.ass"
    subs.save(str(out), format_="ass")
    return out


def rendition_timeline(tl: Timeline, aspect: str, folder: Path) -> Timeline:
    """`tl` laid out for `aspect`: canvas, template (overlays follow it) and captions; `tl` itself when
    that changes nothing.

    Raises:
        FontError: the captions' font is not installed (a template override for this aspect named it).
    """
    base = {**(tl.template or {}), "canvas": dict(tl.canvas)}
    template = template_for_aspect(base, aspect)
    overridden = bool(((tl.template or {}).get("aspects") or {}).get(aspect))
    if template["canvas"] == dict(tl.canvas) and not overridden:
        return tl
    update: dict[str, Any] = {"canvas": template["canvas"], "template": template if tl.template else {}}
    laid = _relaid_captions(tl, template, aspect, folder)
    if laid is not None:
        update["subtitles_ass"], update["subtitles_srt"] = laid
    return tl.model_copy(update=update)
