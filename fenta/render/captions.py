"""Captions: group timed words into phrases and write karaoke ASS and plain SRT with pysubs2."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pysubs2

from ..types import Word

__all__ = ["Phrase", "group_phrases", "write_captions", "parse_color", "FONTS_DIR"]

FONTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"
_HEX = re.compile(r"^#?([0-9A-Fa-f]{6})([0-9A-Fa-f]{2})?$")
_BREAK_AFTER = re.compile(r"[.!?;:,…—]$")


def parse_color(value: str) -> pysubs2.Color:
    """'#RRGGBB' or '#RRGGBBAA' (AA = opacity) -> a pysubs2 colour (ASS alpha: 0 is opaque)."""
    m = _HEX.match(value.strip())
    if not m:
        raise ValueError(f"'{value}' is not a colour like #FFD400 or #000000A0")
    rgb = m.group(1)
    opacity = int(m.group(2), 16) if m.group(2) else 255
    return pysubs2.Color(int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), 255 - opacity)


@dataclass
class Phrase:
    """Words shown together on screen, as lines."""

    lines: list[list[Word]]

    @property
    def words(self) -> list[Word]:
        return [w for line in self.lines for w in line]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end


def _split_lines(words: list[Word], per_line: int, max_chars: int) -> list[list[Word]]:
    lines: list[list[Word]] = [[]]
    for w in words:
        cur = lines[-1]
        width = sum(len(x.text) + 1 for x in cur) + len(w.text)
        if cur and (len(cur) >= per_line or width > max_chars):
            lines.append([])
        lines[-1].append(w)
    return lines


def group_phrases(words: list[Word], style: dict[str, Any]) -> list[Phrase]:
    """Group words into phrases of at most `lines` lines, breaking at punctuation and long pauses."""
    per_line = style["words_per_line"]
    max_chars = style["max_chars_per_line"]
    n_lines = style["lines"]
    max_words = per_line * n_lines
    max_seconds = style["max_seconds"]
    groups: list[list[Word]] = [[]]
    for i, w in enumerate(words):
        cur = groups[-1]
        if cur:
            too_many = len(cur) >= max_words
            too_long = w.end - cur[0].start > max_seconds
            too_wide = len(_split_lines(cur + [w], per_line, max_chars)) > n_lines
            pause = w.start - cur[-1].end > 0.6
            punct = bool(_BREAK_AFTER.search(cur[-1].text)) and len(cur) >= 2
            if too_many or too_long or too_wide or pause or punct:
                groups.append([])
        groups[-1].append(w)
    # Avoid a lone word at the end of a group when the previous one can lend one.
    for a, b in zip(groups, groups[1:]):
        if len(b) == 1 and len(a) > 2 and not _BREAK_AFTER.search(a[-1].text):
            b.insert(0, a.pop())
    return [Phrase(_split_lines(g, per_line, max_chars)) for g in groups if g]


def _escape_ass(text: str) -> str:
    # Braces open override blocks and backslashes start tags in ASS: show them literally.
    return text.replace("\\", "\\\u2060").replace("{", "｛").replace("}", "｝")


def write_captions(words: list[Word], template: dict[str, Any], ass_path: Path, srt_path: Path) -> int:
    """Write karaoke/phrase ASS and phrase SRT for `words`; returns the number of ASS events."""
    style = template["subtitles"]
    canvas = template["canvas"]
    zone = template["safe_zone"]
    w, h = canvas["width"], canvas["height"]
    upper = style["uppercase"]

    def show(t: str) -> str:
        return t.upper() if upper else t

    subs = pysubs2.SSAFile()
    subs.info.update({"PlayResX": str(w), "PlayResY": str(h), "WrapStyle": "2", "ScaledBorderAndShadow": "yes"})
    alignment = {"bottom": 2, "center": 5, "top": 8}[style["position"]]
    margin_v = int(h * (zone["bottom"] if style["position"] == "bottom" else zone["top"]))
    st = pysubs2.SSAStyle(
        fontname=style["font"],
        fontsize=style["size"],
        bold=style["bold"],
        primarycolor=parse_color(style["color"]),
        secondarycolor=parse_color(style["highlight_color"]),
        outlinecolor=parse_color(style["outline_color"] if not style["box"] else style["box_color"]),
        backcolor=parse_color(style["box_color"] if style["box"] else "#00000080"),
        outline=style["outline"] if not style["box"] else max(6, style["size"] // 6),
        shadow=style["shadow"],
        borderstyle=3 if style["box"] else 1,
        alignment=pysubs2.Alignment(alignment),
        marginl=int(w * zone["left"]),
        marginr=int(w * zone["right"]),
        marginv=margin_v,
    )
    subs.styles = {"Default": st}
    srt = pysubs2.SSAFile()
    hl = parse_color(style["highlight_color"])
    hl_tag = "{\\c&H%02X%02X%02X&}" % (hl.b, hl.g, hl.r)

    for phrase in group_phrases(words, style):
        p_start = phrase.start
        p_end = max(phrase.end, p_start + style["min_seconds"])
        text_lines = [" ".join(_escape_ass(show(x.text)) for x in line) for line in phrase.lines]
        srt.events.append(pysubs2.SSAEvent(start=int(p_start * 1000), end=int(p_end * 1000), text="\\N".join(" ".join(show(x.text) for x in line) for line in phrase.lines)))
        if not style["karaoke"]:
            subs.events.append(pysubs2.SSAEvent(start=int(p_start * 1000), end=int(p_end * 1000), text="\\N".join(text_lines)))
            continue
        flat = phrase.words
        for i, word in enumerate(flat):
            start = word.start
            end = flat[i + 1].start if i + 1 < len(flat) else p_end
            if end <= start:
                continue
            parts, k = [], 0
            for line in phrase.lines:
                toks = []
                for x in line:
                    tok = _escape_ass(show(x.text))
                    toks.append(f"{hl_tag}{tok}{{\\r}}" if k == i else tok)
                    k += 1
                parts.append(" ".join(toks))
            subs.events.append(pysubs2.SSAEvent(start=int(start * 1000), end=int(end * 1000), text="\\N".join(parts)))
    # Events may touch but never overlap.
    subs.sort()
    ass_path.parent.mkdir(parents=True, exist_ok=True)
    subs.save(str(ass_path), format_="ass")
    srt.save(str(srt_path), format_="srt")
    return len(subs.events)
