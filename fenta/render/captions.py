"""Captions: karaoke or phrase ASS and plain SRT for timed words, written with pysubs2.

Words are grouped into phrases that fit the caption box (`phrases`, measured with the real
font: `fonts`); a word too wide for the frame shrinks the font. Text is escaped so libass
draws it exactly as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FontError
from ..types import Word
from .animate import Styler, Timing, ass_colour, keyword_matcher, lit_spans, word_box
from .fonts import FontMeasure, resolve_font
from .phrases import Layout, Phrase, group_phrases, layout_from_style
from .srt import write_srt

if TYPE_CHECKING:  # imported where captions are written: `fenta render` never needs pysubs2
    import pysubs2

__all__ = ["write_captions", "parse_color", "CaptionResult"]

_HEX = re.compile(r"^#?([0-9A-Fa-f]{6})([0-9A-Fa-f]{2})?$")
#: How long a phrase stays after its last word when nothing follows at once.
HOLD = 0.3


def parse_color(value: str) -> pysubs2.Color:
    """'#RRGGBB' or '#RRGGBBAA' (AA = opacity) -> a pysubs2 colour (ASS alpha: 0 is opaque)."""
    import pysubs2

    m = _HEX.match(value.strip())
    if not m:
        raise ValueError(f"'{value}' is not a colour like #FFD400 or #000000A0")
    rgb = m.group(1)
    opacity = int(m.group(2), 16) if m.group(2) else 255
    return pysubs2.Color(int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), 255 - opacity)


@dataclass
class CaptionResult:
    events: int
    phrases: int
    font_path: Path
    font_size: float
    warnings: list[str] = field(default_factory=list)


def _escape_ass(text: str) -> str:
    """Text that libass draws exactly as written.

    A brace would open an override block ("{y}" vanished): libass reads
    "\\{" and "\\}" as literal braces. A backslash is drawn as itself unless
    "N", "n", "h", "{" or "}" follows it, so one followed by those letters or
    ending the text (a tag may come next) gets a word joiner (U+2060, drawn as
    nothing) after it; one before an escaped brace needs nothing.
    """
    out = []
    for i, ch in enumerate(text):
        if ch in "{}":
            out.append("\\" + ch)
        elif ch == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            out.append("\\" if nxt and nxt not in "Nnh" else "\\\u2060")
        else:
            out.append(ch)
    return "".join(out)


def _phrase_times(phrases: list[Phrase], style: dict[str, Any]) -> list[tuple[float, float]]:
    """(start, end) on screen per phrase: never overlapping the next one."""
    out = []
    for i, p in enumerate(phrases):
        start = p.start
        end = max(p.end + HOLD, start + style["min_seconds"])
        end = min(end, max(p.end, start + style["max_seconds"]))
        if i + 1 < len(phrases):
            end = min(end, phrases[i + 1].start)
        out.append((start, max(end, start)))
    return out


def _ms(t: float) -> int:
    # ASS stores centiseconds: round there so start/end pairs stay consistent after saving.
    return int(round(t * 100)) * 10


def _box_padding(size: float) -> tuple[float, float]:
    """Horizontal and vertical padding of a caption box around its text."""
    return max(6.0, round(size * 0.35)), max(4.0, round(size * 0.18))


def _rounded_box(width: int, height: int, radius: int) -> str:
    """An ASS drawing (`\\p1`) of a width x height rectangle with corners rounded by `radius`."""
    w, h, r = width, height, radius
    return (
        f"m {r} 0 l {w - r} 0 b {w} 0 {w} 0 {w} {r} "
        f"l {w} {h - r} b {w} {h} {w} {h} {w - r} {h} "
        f"l {r} {h} b 0 {h} 0 {h} 0 {h - r} "
        f"l 0 {r} b 0 0 0 0 {r} 0"
    )


def _fill_tags(color: pysubs2.Color) -> str:
    """Override tags that fill a drawing with `color`: its colour and its alpha (ASS: 0 is opaque)."""
    return f"\\1c{ass_colour(color)}\\1a&H{color.a:02X}&"


def _box_event(
    phrase: Phrase,
    layout: Layout,
    start: float,
    end: float,
    size: float,
    alignment: int,
    margin_v: int,
    color: pysubs2.Color,
) -> pysubs2.SSAEvent:
    """One rounded translucent box behind a whole phrase, drawn under the text (layer 0).

    libass places a drawing like a line of text with the same alignment and
    margins, so the box is centred on the text; it is as wide as the widest
    line and as tall as the lines (an ASS size is one line's height) plus
    padding. Works with every libass (border style 4 needs 0.17+).
    """
    import pysubs2

    pad_x, pad_y = _box_padding(size)
    widest = max(layout.line_width(line) for line in phrase.lines)
    bw, bh = round(widest + 2 * pad_x), round(len(phrase.lines) * size + 2 * pad_y)
    r = round(min(pad_y, size * 0.25))
    tags = f"{{\\an{alignment}\\bord0\\shad0{_fill_tags(color)}\\p1}}"
    # `margin_v` is the safe-zone edge: the box sits on it and the text is moved inwards by the padding.
    return pysubs2.SSAEvent(
        layer=0,
        start=_ms(start),
        end=_ms(end),
        marginv=margin_v,
        text=tags + _rounded_box(bw, bh, r) + "{\\p0}",
    )


def _word_box_event(
    x: float,
    y: float,
    bw: float,
    bh: float,
    state: Timing,
    color: pysubs2.Color,
    size: float,
) -> pysubs2.SSAEvent:
    """The `highlight` animation's box behind the spoken word (layer 0, under the text)."""
    import pysubs2

    bw, bh, r = round(bw), round(bh), round(min(bh / 2, size * 0.22))
    tags = f"{{\\an7\\pos({round(x)},{round(y)})\\bord0\\shad0{_fill_tags(color)}\\p1}}"
    text = tags + _rounded_box(bw, bh, r) + "{\\p0}"
    return pysubs2.SSAEvent(layer=0, start=_ms(state.start), end=_ms(state.end), text=text)


def write_captions(
    words: list[Word],
    template: dict[str, Any],
    ass_path: Path,
    srt_path: Path,
    keywords: list[str] | None = None,
) -> CaptionResult:
    """Write karaoke/phrase ASS and phrase SRT for `words`.

    The SRT keeps the words as written (uppercase is a burn-in style);
    the ASS is styled by `template["subtitles"]` inside the safe zone, animated by its `animation`
    (`fenta.render.animate`); `keywords` are coloured with its `emphasis_color`.

    Raises:
        FontError: the template's font is not installed.
    """
    import pysubs2

    style = template["subtitles"]
    canvas = template["canvas"]
    zone = template["safe_zone"]
    w, h = canvas["width"], canvas["height"]
    upper = bool(style["uppercase"])
    warnings: list[str] = []

    font_path = resolve_font(style["font"], bool(style["bold"]))
    size = float(style["size"])
    box = bool(style["box"])
    # The box is its own readability device: no glyph outline or shadow inside it.
    outline = float(style["outline"]) if not box else 0.0
    shadow = float(style["shadow"]) if not box else 0.0
    margin_l, margin_r = int(w * zone["left"]), int(w * zone["right"])
    # Text plus its outline (or box padding) on both sides and the shadow offset fit between the margins.
    max_width = w - margin_l - margin_r - 2 * (_box_padding(size)[0] if box else outline) - shadow
    if max_width < size:
        raise FontError(
            f"the safe zone leaves {int(max_width)} px for captions, less than the font size {int(size)}",
            field="safe_zone",
        )
    measure = FontMeasure(font_path, size)
    layout = layout_from_style(style, measure, max_width)
    # A single word wider than the box shrinks the font for the whole track (consistent look).
    widest = max((measure.width(layout.show(x.text)) for x in words), default=0.0)
    if widest > max_width:
        size = max(8.0, int(size * max_width / widest * 0.98))
        widest_word = max(words, key=lambda x: measure.width(layout.show(x.text))).text
        warnings.append(
            f"the word '{widest_word}' is wider than the frame at size {style['size']}: "
            f"captions use size {int(size)}"
        )
        measure = measure.resized(size)
        layout = layout_from_style(style, measure, max_width)

    subs = pysubs2.SSAFile()
    subs.info.update(
        {"PlayResX": str(w), "PlayResY": str(h), "WrapStyle": "2", "ScaledBorderAndShadow": "yes"}
    )
    position = style["position"]
    alignment = {"bottom": 2, "center": 5, "top": 8}[position]
    margin_v = int(h * (zone["bottom"] if position == "bottom" else zone["top"]))
    # A box stays inside the safe zone too: the text moves inwards by the box padding.
    text_margin_v = margin_v + int(_box_padding(size)[1]) if box and alignment != 5 else margin_v
    st = pysubs2.SSAStyle(
        fontname=style["font"],
        fontsize=size,
        bold=bool(style["bold"]),
        primarycolor=parse_color(style["color"]),
        secondarycolor=parse_color(style["highlight_color"]),
        outlinecolor=parse_color(style["outline_color"]),
        backcolor=parse_color("#00000080"),
        outline=outline,
        shadow=shadow,
        # The box is drawn as a separate shape (see _box_event): border style 3 boxes every line
        # apart, and where two translucent line boxes overlap a darker band shows.
        borderstyle=1,
        alignment=pysubs2.Alignment(alignment),
        marginl=margin_l,
        marginr=margin_r,
        marginv=text_margin_v,
    )
    subs.styles = {"Default": st}
    srt: list[tuple[int, int, str]] = []
    colours = {
        "highlight": parse_color(style["highlight_color"]),
        "outline": parse_color(style["outline_color"]),
        "emphasis": parse_color(style.get("emphasis_color") or "#FFFFFF"),
    }
    styler = Styler(style, colours, keyword_matcher(keywords or ()))
    margins = (margin_l, margin_r, text_margin_v)

    def show(t: str) -> str:
        return _escape_ass(t.upper() if upper else t)

    def render(phrase: Phrase, state: Timing | None, first: bool) -> str:
        spoken = len(phrase.words) if state is None or state.lit is None else state.lit + 1
        if state is not None and state.lit is None:  # a pause: the words said so far stay
            spoken = sum(1 for w in phrase.words if w.start < state.start + 1e-6)
        parts, k = [], 0
        for line in phrase.lines:
            toks = []
            for x in line:
                toks.append(styler.word(k, x.text, show(x.text), state, spoken))
                k += 1
            parts.append(" ".join(toks))
        return styler.opening(first) + "\\N".join(parts)

    if style.get("animation") == "chunk":  # 2-4 words at a time: phrases of one short line
        per_chunk = min(int(style.get("chunk_words") or 3), style["words_per_line"])
        style = {**style, "lines": 1, "words_per_line": per_chunk}
        layout = layout_from_style(style, measure, max_width)
    phrases = group_phrases(words, style, layout)
    times = _phrase_times(phrases, style)
    box_colour = parse_color(style["box_color"])
    for phrase, (p_start, p_end) in zip(phrases, times):
        if box:
            box_event = _box_event(phrase, layout, p_start, p_end, size, alignment, margin_v, box_colour)
            subs.events.append(box_event)
        srt.append(
            (_ms(p_start), _ms(p_end), "\n".join(" ".join(x.text for x in line) for line in phrase.lines))
        )
        if not styler.per_word:
            text = render(phrase, None, True)
            subs.events.append(pysubs2.SSAEvent(layer=1, start=_ms(p_start), end=_ms(p_end), text=text))
            continue
        for n, state in enumerate(lit_spans(phrase, p_start, p_end, _ms)):
            text = render(phrase, state, n == 0)
            event = pysubs2.SSAEvent(layer=1, start=_ms(state.start), end=_ms(state.end), text=text)
            subs.events.append(event)
            if style.get("animation") == "highlight" and state.lit is not None:
                x, y, bw, bh = word_box(
                    phrase,
                    state.lit,
                    layout,
                    size=size,
                    width=w,
                    height=h,
                    margins=margins,
                    alignment=alignment,
                )
                subs.events.append(_word_box_event(x, y, bw, bh, state, colours["highlight"], size))
    subs.sort()
    ass_path.parent.mkdir(parents=True, exist_ok=True)
    subs.save(str(ass_path), format_="ass")
    write_srt(srt_path, srt)
    return CaptionResult(
        events=len(subs.events), phrases=len(phrases), font_path=font_path, font_size=size, warnings=warnings
    )
