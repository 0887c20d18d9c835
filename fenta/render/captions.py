"""Captions: group timed words into phrases and write karaoke ASS and plain SRT with pysubs2.

Line widths are measured with the real font (Pillow's FreeType binding) at
the size libass will draw, so no line leaves the frame: phrases wrap onto the
template's line count, and a word too wide for the frame shrinks the font.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pysubs2

from ..errors import FentaError
from ..types import Word

__all__ = [
    "Phrase",
    "Layout",
    "group_phrases",
    "write_captions",
    "parse_color",
    "resolve_font",
    "list_fonts",
    "FontMeasure",
    "FONTS_DIR",
    "DEFAULT_FONT",
    "CaptionResult",
]

FONTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"
#: Always available, with Cyrillic and Greek coverage.
DEFAULT_FONT = "DejaVu Sans"
_SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")
_HEX = re.compile(r"^#?([0-9A-Fa-f]{6})([0-9A-Fa-f]{2})?$")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”)]*$")
_CLAUSE_END = re.compile(r"[,;:—–]+[\"'»”)]*$")
#: A pause longer than this between two words starts a new phrase.
PAUSE_BREAK = 0.6
#: How long a phrase stays after its last word when nothing follows at once.
HOLD = 0.3


def parse_color(value: str) -> pysubs2.Color:
    """'#RRGGBB' or '#RRGGBBAA' (AA = opacity) -> a pysubs2 colour (ASS alpha: 0 is opaque)."""
    m = _HEX.match(value.strip())
    if not m:
        raise ValueError(f"'{value}' is not a colour like #FFD400 or #000000A0")
    rgb = m.group(1)
    opacity = int(m.group(2), 16) if m.group(2) else 255
    return pysubs2.Color(int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), 255 - opacity)


# ---------------------------------------------------------------- fonts


class FontError(FentaError):
    """A caption font cannot be found (exit 2: bad input)."""

    exit_code = 2


@functools.lru_cache(maxsize=1)
def list_fonts() -> dict[tuple[str, str], Path]:
    """(family casefolded, style casefolded) -> file, for bundled fonts first, then system fonts."""
    from PIL import ImageFont

    found: dict[tuple[str, str], Path] = {}
    dirs = [FONTS_DIR] + [Path(os.path.expanduser(d)) for d in _SYSTEM_FONT_DIRS]
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if p.suffix.lower() not in (".ttf", ".otf", ".ttc"):
                continue
            try:
                family, style = ImageFont.truetype(str(p), 12).getname()
            except OSError:
                continue
            found.setdefault(((family or "").casefold(), (style or "").casefold()), p)
    return found


def resolve_font(name: str, bold: bool = False) -> Path:
    """The font file libass will use for family `name` (bold face when asked and available).

    Raises:
        FontError: no such family among the bundled fonts (fenta/assets/fonts) or the system's.
    """
    fonts = list_fonts()
    family = name.casefold().strip()
    styles = {style: path for (fam, style), path in fonts.items() if fam == family}
    if not styles:
        known = sorted({fam for fam, _ in fonts})
        bundled = sorted({fam for (fam, _), p in fonts.items() if p.parent == FONTS_DIR})
        raise FontError(
            f"caption font '{name}' is not installed (bundled: {', '.join(bundled) or 'none'}; "
            f"{len(known)} families found in all); install it or use '{DEFAULT_FONT}'",
            field="subtitles.font",
        )
    prefs = ["bold", "bold regular", "semibold"] if bold else ["regular", "book", "normal", "medium", "roman"]
    for p in prefs:
        if p in styles:
            return styles[p]
    return next(iter(styles.values()))


class FontMeasure:
    """Widths of text as libass draws it at an ASS font size."""

    def __init__(self, path: Path, size: float) -> None:
        from PIL import ImageFont

        probe = ImageFont.truetype(str(path), 1000)
        ascent, descent = probe.getmetrics()
        # libass scales a font so that ascent + descent (not the em) equals the ASS size.
        self.em_per_size = 1000.0 / max(1, ascent + descent)
        self.path = path
        self.size = size
        self._font = ImageFont.truetype(str(path), max(1, round(size * self.em_per_size)))
        self._scale = size * self.em_per_size / max(1, round(size * self.em_per_size))

    def width(self, text: str) -> float:
        return self._font.getlength(text) * self._scale

    def resized(self, size: float) -> "FontMeasure":
        return FontMeasure(self.path, size)


# ---------------------------------------------------------------- layout


@dataclass
class Layout:
    """Limits of one caption box: words, characters and pixels per line, and lines per phrase."""

    words_per_line: int
    max_chars: int
    lines: int
    max_width: float  # pixels available for the text itself (margins, outline and shadow removed)
    measure: FontMeasure | None = None
    upper: bool = False

    def show(self, text: str) -> str:
        return text.upper() if self.upper else text

    def line_width(self, words: Sequence[Word]) -> float:
        text = " ".join(self.show(w.text) for w in words)
        if self.measure is None:
            return len(text)
        return self.measure.width(text)

    def line_fits(self, words: Sequence[Word]) -> bool:
        chars = sum(len(w.text) for w in words) + len(words) - 1
        return len(words) <= self.words_per_line and chars <= self.max_chars and self.line_width(words) <= self.max_width

    def split(self, words: Sequence[Word]) -> list[list[Word]] | None:
        """Best split into at most `lines` lines that fit, or None when impossible.

        Lines are balanced (the squared slack is minimised), breaks after
        punctuation are preferred, and a one-word line next to a longer one is
        penalised so a lone word is avoided where another split exists.
        """
        n = len(words)
        if n == 0:
            return []
        inf = float("inf")
        # best[k][i]: cost of laying words[:i] on k lines; choice[k][i]: where the last line starts.
        best = [[inf] * (n + 1) for _ in range(self.lines + 1)]
        choice = [[0] * (n + 1) for _ in range(self.lines + 1)]
        best[0][0] = 0.0
        fits_cache: dict[tuple[int, int], float | None] = {}

        def line_cost(a: int, b: int) -> float | None:
            if (a, b) not in fits_cache:
                seg = words[a:b]
                if not self.line_fits(seg):
                    fits_cache[(a, b)] = None
                else:
                    if self.measure is not None and self.max_width != float("inf"):
                        slack = (self.max_width - self.line_width(seg)) / max(1.0, self.max_width)
                    else:
                        chars = sum(len(w.text) for w in seg) + len(seg) - 1
                        slack = (self.max_chars - chars) / max(1, self.max_chars)
                    cost = slack * slack
                    if b < n and _CLAUSE_END.search(words[b - 1].text) or (b < n and _SENTENCE_END.search(words[b - 1].text)):
                        cost -= 0.3  # a natural break
                    if b - a == 1 and n > 2:
                        cost += 1.0  # a lone word on its own line
                    fits_cache[(a, b)] = cost
            return fits_cache[(a, b)]

        for k in range(1, self.lines + 1):
            for i in range(1, n + 1):
                for j in range(max(0, i - self.words_per_line), i):
                    if best[k - 1][j] == inf:
                        continue
                    c = line_cost(j, i)
                    if c is None:
                        continue
                    total = best[k - 1][j] + c
                    if total < best[k][i]:
                        best[k][i], choice[k][i] = total, j
        # Fewer lines win ties only if they are not much worse: prefer the cheapest overall.
        options = [(best[k][n] + 0.05 * k, k) for k in range(1, self.lines + 1) if best[k][n] < inf]
        if not options:
            return None
        _, k = min(options)
        lines, i = [], n
        while k > 0:
            j = choice[k][i]
            lines.append(list(words[j:i]))
            i, k = j, k - 1
        return lines[::-1]


@dataclass
class Phrase:
    """Words shown together on screen, as lines."""

    lines: list[list[Word]]
    end_override: float | None = field(default=None, compare=False)

    @property
    def words(self) -> list[Word]:
        return [w for line in self.lines for w in line]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end


def _layout_from_style(style: dict[str, Any], measure: FontMeasure | None, max_width: float) -> Layout:
    return Layout(
        words_per_line=style["words_per_line"],
        max_chars=style["max_chars_per_line"],
        lines=style["lines"],
        max_width=max_width,
        measure=measure,
        upper=bool(style.get("uppercase")),
    )


def group_phrases(words: list[Word], style: dict[str, Any], layout: Layout | None = None) -> list[Phrase]:
    """Group words into phrases that fit the caption box.

    A phrase ends at a sentence end, at a clause mark (comma, semicolon, dash)
    once it holds two words, at a pause longer than `PAUSE_BREAK`, when it
    would be on screen longer than `max_seconds`, or when the next word would
    not fit in `lines` lines. A phrase of one word joins or borrows from its
    neighbour when that keeps both within the limits.
    """
    if layout is None:
        layout = _layout_from_style(style, None, float("inf"))
    max_seconds = style["max_seconds"]
    groups: list[list[Word]] = []
    cur: list[Word] = []
    for w in words:
        if cur:
            last = cur[-1]
            brk = (
                _SENTENCE_END.search(last.text) is not None
                or (_CLAUSE_END.search(last.text) is not None and len(cur) >= 2)
                or w.start - last.end > PAUSE_BREAK
                or w.end - cur[0].start > max_seconds
                or layout.split(cur + [w]) is None
            )
            if brk:
                groups.append(cur)
                cur = []
        cur.append(w)
    if cur:
        groups.append(cur)

    def ok(g: list[Word]) -> bool:
        return layout.split(g) is not None and g[-1].end - g[0].start <= max_seconds

    # Avoid a phrase of a single word where a neighbour can take it or lend one.
    i = 0
    while i < len(groups):
        g = groups[i]
        if len(g) == 1 and len(groups) > 1:
            prev = groups[i - 1] if i > 0 else None
            nxt = groups[i + 1] if i + 1 < len(groups) else None
            close_prev = prev is not None and g[0].start - prev[-1].end <= PAUSE_BREAK and not _SENTENCE_END.search(prev[-1].text)
            close_next = nxt is not None and nxt[0].start - g[0].end <= PAUSE_BREAK and not _SENTENCE_END.search(g[0].text)
            if close_prev and ok(prev + g):  # type: ignore[operator]
                prev.extend(g)  # type: ignore[union-attr]
                del groups[i]
                continue
            if close_next and ok(g + nxt):  # type: ignore[operator]
                g.extend(nxt)  # type: ignore[arg-type]
                del groups[i + 1]
            elif close_prev and len(prev) > 2 and not _CLAUSE_END.search(prev[-1].text):  # type: ignore[arg-type]
                g.insert(0, prev.pop())  # type: ignore[union-attr]
        i += 1
    phrases = []
    for g in groups:
        lines = layout.split(g) or [g]  # a single word wider than the box: the font is shrunk for it
        phrases.append(Phrase(lines))
    return phrases


# ---------------------------------------------------------------- writing


@dataclass
class CaptionResult:
    events: int
    phrases: int
    font_path: Path
    font_size: float
    warnings: list[str] = field(default_factory=list)


def _escape_ass(text: str) -> str:
    # Braces open override blocks and backslashes start tags in ASS: show them literally.
    return text.replace("\\", "\\\u2060").replace("{", "｛").replace("}", "｝")


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


def write_captions(words: list[Word], template: dict[str, Any], ass_path: Path, srt_path: Path) -> CaptionResult:
    """Write karaoke/phrase ASS and phrase SRT for `words`.

    The SRT keeps the words as written (uppercase is a burn-in style);
    the ASS is styled by `template["subtitles"]` inside the safe zone.

    Raises:
        FontError: the template's font is not installed.
    """
    style = template["subtitles"]
    canvas = template["canvas"]
    zone = template["safe_zone"]
    w, h = canvas["width"], canvas["height"]
    upper = bool(style["uppercase"])
    karaoke = bool(style["karaoke"])
    warnings: list[str] = []

    font_path = resolve_font(style["font"], bool(style["bold"]))
    size = float(style["size"])
    box = bool(style["box"])
    box_pad = max(6, int(size // 6))
    outline = float(style["outline"]) if not box else float(box_pad)
    shadow = float(style["shadow"])
    margin_l, margin_r = int(w * zone["left"]), int(w * zone["right"])
    # Text plus its outline (or box padding) on both sides and the shadow offset must fit between the margins.
    max_width = w - margin_l - margin_r - 2 * outline - shadow
    if max_width < size:
        raise FontError(f"the safe zone leaves {int(max_width)} px for captions, less than the font size {int(size)}", field="safe_zone")
    measure = FontMeasure(font_path, size)
    layout = _layout_from_style(style, measure, max_width)
    # A single word wider than the box shrinks the font for the whole track (consistent look).
    widest = max((measure.width(layout.show(x.text)) for x in words), default=0.0)
    if widest > max_width:
        size = max(8.0, int(size * max_width / widest * 0.98))
        warnings.append(f"the word '{max(words, key=lambda x: measure.width(layout.show(x.text))).text}' is wider than the frame at size {style['size']}: captions use size {int(size)}")
        measure = measure.resized(size)
        layout = _layout_from_style(style, measure, max_width)

    subs = pysubs2.SSAFile()
    subs.info.update({"PlayResX": str(w), "PlayResY": str(h), "WrapStyle": "2", "ScaledBorderAndShadow": "yes"})
    position = style["position"]
    alignment = {"bottom": 2, "center": 5, "top": 8}[position]
    margin_v = int(h * (zone["bottom"] if position == "bottom" else zone["top"]))
    st = pysubs2.SSAStyle(
        fontname=style["font"],
        fontsize=size,
        bold=bool(style["bold"]),
        primarycolor=parse_color(style["color"]),
        secondarycolor=parse_color(style["highlight_color"]),
        # Border style 3 draws an opaque box in the outline colour; the back colour is the shadow.
        outlinecolor=parse_color(style["box_color"] if box else style["outline_color"]),
        backcolor=parse_color(style["box_color"] if box else "#00000080"),
        outline=outline,
        shadow=shadow,
        borderstyle=3 if box else 1,
        alignment=pysubs2.Alignment(alignment),
        marginl=margin_l,
        marginr=margin_r,
        marginv=margin_v,
    )
    subs.styles = {"Default": st}
    srt = pysubs2.SSAFile()
    hl = parse_color(style["highlight_color"])
    hl_tag = "{\\c&H%02X%02X%02X&}" % (hl.b, hl.g, hl.r)

    def show(t: str) -> str:
        return _escape_ass(t.upper() if upper else t)

    phrases = group_phrases(words, style, layout)
    times = _phrase_times(phrases, style)
    for phrase, (p_start, p_end) in zip(phrases, times):
        srt.events.append(pysubs2.SSAEvent(start=_ms(p_start), end=_ms(p_end), text="\\N".join(" ".join(x.text for x in line) for line in phrase.lines)))
        if not karaoke:
            subs.events.append(pysubs2.SSAEvent(start=_ms(p_start), end=_ms(p_end), text="\\N".join(" ".join(show(x.text) for x in line) for line in phrase.lines)))
            continue

        def render(highlight: int | None) -> str:
            parts, k = [], 0
            for line in phrase.lines:
                toks = []
                for x in line:
                    tok = show(x.text)
                    toks.append(f"{hl_tag}{tok}{{\\r}}" if k == highlight else tok)
                    k += 1
                parts.append(" ".join(toks))
            return "\\N".join(parts)

        flat = phrase.words
        for i, word in enumerate(flat):
            start = p_start if i == 0 else word.start
            nxt = flat[i + 1].start if i + 1 < len(flat) else p_end
            # In a pause inside the phrase nothing is highlighted.
            lit_end = word.end if nxt - word.end > 0.15 else nxt
            if _ms(lit_end) > _ms(start):
                subs.events.append(pysubs2.SSAEvent(start=_ms(start), end=_ms(lit_end), text=render(i)))
            if _ms(nxt) > _ms(max(lit_end, start)):
                subs.events.append(pysubs2.SSAEvent(start=_ms(max(lit_end, start)), end=_ms(nxt), text=render(None)))
    subs.sort()
    ass_path.parent.mkdir(parents=True, exist_ok=True)
    subs.save(str(ass_path), format_="ass")
    srt.save(str(srt_path), format_="srt")
    return CaptionResult(events=len(subs.events), phrases=len(phrases), font_path=font_path, font_size=size, warnings=warnings)
