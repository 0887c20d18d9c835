"""Captions: group timed words into phrases and write karaoke ASS and plain SRT with pysubs2.

Line widths are measured with the real font (Pillow's FreeType binding) at
the size libass will draw, so no line leaves the frame: phrases wrap onto the
template's line count, and a word too wide for the frame shrinks the font.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import FontError
from ..types import Word

if TYPE_CHECKING:  # imported where captions are written: `fenta render` never needs pysubs2
    import pysubs2

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
    "wrap_title",
    "write_srt",
    "read_srt",
    "clamp_captions",
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
#: Words a caption line or phrase should not end on (English and Russian function words).
_WEAK_ENDINGS = frozenset(
    "a an the and or but nor of to in on at by for from with into onto as than that so if "
    "my your his her its our their this these those "
    "и а но или в во на с со к ко по о об от до из за у для при не что как".split()
)


def parse_color(value: str) -> pysubs2.Color:
    """'#RRGGBB' or '#RRGGBBAA' (AA = opacity) -> a pysubs2 colour (ASS alpha: 0 is opaque)."""
    import pysubs2

    m = _HEX.match(value.strip())
    if not m:
        raise ValueError(f"'{value}' is not a colour like #FFD400 or #000000A0")
    rgb = m.group(1)
    opacity = int(m.group(2), 16) if m.group(2) else 255
    return pysubs2.Color(int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), 255 - opacity)


# ---------------------------------------------------------------- fonts


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
                    if b < n and _ends_weakly(words[b - 1]):
                        cost += 0.3  # "three hearts and" / "blue blood."
                    elif b < n and _ends_weakly(words[b]):
                        cost -= 0.05  # "three hearts" / "and blue blood."
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


def _ends_weakly(word: Word) -> bool:
    """A line or phrase should not end on an article, preposition or conjunction ("the", "of", "and")."""
    return word.text.casefold().strip("\"'«»“”()") in _WEAK_ENDINGS


def _balanced_chunks(clause: list[Word], fits) -> list[list[Word]]:
    """Split a clause into the fewest phrases that fit, as even as possible.

    Greedy filling leaves the clause's last word or two for a phrase of their
    own ("... blood through the" / "gills, and the third"); here the number of
    phrases is minimised first, then uneven lengths and phrases ending on a
    weak word ("and", "the") are penalised.
    """
    n = len(clause)
    total = sum(len(w.text) + 1 for w in clause)
    inf = (float("inf"), float("inf"))
    best: list[tuple[float, float]] = [inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = (0, 0.0)
    for i in range(1, n + 1):
        for j in range(i - 1, -1, -1):
            chunk = clause[j:i]
            if i - j > 1 and not fits(chunk):
                break  # a longer chunk ending at i does not fit either
            if best[j] == inf:
                continue
            chars = sum(len(w.text) + 1 for w in chunk)
            penalty = 0.0
            if i < n and _ends_weakly(clause[i - 1]):
                penalty += 0.5
            elif i < n and _ends_weakly(clause[i]):
                penalty -= 0.1  # break before "and", "of", "the": where a reader pauses
            if i - j == 1 and n > 2:
                penalty += 1.0
            # Fewest phrases first; then the sum of squared shares, which is smallest when they are even.
            cand = (best[j][0] + 1, best[j][1] + (chars / total) ** 2 + penalty)
            if cand < best[i]:
                best[i], back[i] = cand, j
    chunks, i = [], n
    while i > 0:
        chunks.append(clause[back[i]:i])
        i = back[i]
    return chunks[::-1]


def _merge_short(groups: list[list[Word]], fits: Sequence, min_seconds: float) -> None:
    """Merge a phrase the next one would replace sooner than `min_seconds` into a neighbour.

    Such a phrase flashes by unread ("Т." then "е." for 0.15 s each). It joins
    a neighbour when the result fits: by the first test in `fits` that lets
    one of them in (the template's limits, then limits without the words per
    line, since short words like "т." "е." are what makes such phrases), the
    neighbour across a clause mark rather than a sentence end, then the one
    closer in time, then the one before. A phrase that fits with neither stays.
    """

    def cost(left: list[Word], right: list[Word]) -> tuple[int, float]:
        mark = 2 if _SENTENCE_END.search(left[-1].text) else 1 if _CLAUSE_END.search(left[-1].text) else 0
        return mark, right[0].start - left[-1].end

    i = 0
    while i < len(groups) - 1:
        g, nxt = groups[i], groups[i + 1]
        if nxt[0].start - g[0].start >= min_seconds - 1e-3:
            i += 1
            continue
        options: list = []
        for ok in fits:
            if i > 0 and ok(groups[i - 1] + g):
                options.append((cost(groups[i - 1], g), 0, i - 1))
            if ok(g + nxt):
                options.append((cost(g, nxt), 1, i))
            if options:
                break
        if not options:
            i += 1
            continue
        _, _, at = min(options)
        groups[at : at + 2] = [groups[at] + groups[at + 1]]
        i = max(0, at - 1)  # the merged phrase, and the one before it, are looked at again


def group_phrases(words: list[Word], style: dict[str, Any], layout: Layout | None = None) -> list[Phrase]:
    """Group words into phrases that fit the caption box.

    Words are first cut into clauses: at a sentence end, at a clause mark
    (comma, semicolon, dash) once the clause holds two words, and at a pause
    longer than `PAUSE_BREAK`. A clause that does not fit one phrase (the
    template's words, characters and pixels per line, `lines`, `max_seconds`)
    is split into the fewest even phrases. A phrase of one word joins or
    borrows from its neighbour when that keeps both within the limits, and a
    phrase that would be on screen less than `min_seconds` joins a neighbour.
    """
    if layout is None:
        layout = _layout_from_style(style, None, float("inf"))
    max_seconds = style["max_seconds"]

    def ok(g: list[Word]) -> bool:
        return g[-1].end - g[0].start <= max_seconds and layout.split(g) is not None

    clauses: list[list[Word]] = []
    cur: list[Word] = []
    for w in words:
        if cur:
            last = cur[-1]
            if (
                _SENTENCE_END.search(last.text) is not None
                or (_CLAUSE_END.search(last.text) is not None and len(cur) >= 2)
                or w.start - last.end > PAUSE_BREAK
            ):
                clauses.append(cur)
                cur = []
        cur.append(w)
    if cur:
        clauses.append(cur)
    groups: list[list[Word]] = []
    for clause in clauses:
        groups.extend(_balanced_chunks(clause, ok))

    # Avoid a phrase of a single word where a neighbour can take it or lend one.
    i = 0
    while i < len(groups):
        g = groups[i]
        if len(g) == 1 and len(groups) > 1:
            prev = groups[i - 1] if i > 0 else None
            nxt = groups[i + 1] if i + 1 < len(groups) else None
            close_prev = prev is not None and g[0].start - prev[-1].end <= PAUSE_BREAK and not _SENTENCE_END.search(prev[-1].text)
            close_next = nxt is not None and nxt[0].start - g[0].end <= PAUSE_BREAK and not _SENTENCE_END.search(g[0].text) and not _CLAUSE_END.search(g[0].text)
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
    loose = replace(layout, words_per_line=10_000)

    def ok_loose(g: list[Word]) -> bool:
        return g[-1].end - g[0].start <= max_seconds and loose.split(g) is not None

    _merge_short(groups, (ok, ok_loose), float(style.get("min_seconds") or 0.0))
    phrases = []
    for g in groups:
        lines = layout.split(g) or loose.split(g) or [g]  # a single word wider than the box: the font is shrunk for it
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


def _srt_time(ms: int) -> str:
    h, rest = divmod(max(0, int(ms)), 3_600_000)
    m, rest = divmod(rest, 60_000)
    sec, milli = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{sec:02d},{milli:03d}"


def write_srt(path: Path, cues: Sequence[tuple[int, int, str]]) -> None:
    """Write (start ms, end ms, text) cues as SRT, the text exactly as given.

    pysubs2 reads braces in SRT text as ASS override tags and drops them
    ("{y}", "%{pts}" -> "%"); an SRT has no escapes, so the text is written verbatim.
    """
    blocks = [f"{i}\n{_srt_time(a)} --> {_srt_time(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1)]
    Path(path).write_text("\n".join(blocks), encoding="utf-8")


_SRT_TIME = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{1,3})")


def read_srt(path: Path) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) per cue of an SRT file, the text exactly as written."""
    raw = Path(path).read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    cues = []
    for block in re.split(r"\n\s*\n", raw.strip()):
        lines = block.split("\n")
        k = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        if k is None:
            continue
        times = _SRT_TIME.findall(lines[k])
        if len(times) < 2:
            continue
        a, b = ((int(h) * 3600 + int(m) * 60 + int(sec)) * 1000 + int(ms.ljust(3, "0")) for h, m, sec, ms in times[:2])
        cues.append((a, b, "\n".join(lines[k + 1 :])))
    return cues


def clamp_captions(ass_path: str | Path, srt_path: str | Path, end: float, out_dir: Path, *, fps: float | None = None) -> tuple[Path, Path]:
    """Copies of an ASS and an SRT whose cues all end by the video's end.

    The end is `end` seconds, or with `fps` the end of the last whole frame
    before it when that comes first (a 0.4826 s video at 30 fps shows 14
    frames, and its file may say 0.480 s). A cue that starts at or after the
    end is dropped; one that runs past it is cut there. The copies are written
    into `out_dir` (as captions.ass and captions.srt) even when nothing
    changes, so callers can always keep them.
    """
    import pysubs2

    if fps:
        end = min(end, round(end * fps) / fps)
    out_dir.mkdir(parents=True, exist_ok=True)
    ass_out, srt_out = out_dir / "captions.ass", out_dir / "captions.srt"
    cs_end = int(math.floor(end * 100 + 1e-6)) * 10  # ASS keeps centiseconds: never round past the end
    ms_end = int(math.floor(end * 1000 + 1e-6))
    subs = pysubs2.load(str(ass_path), format_="ass")
    subs.events = [e for e in subs.events if e.start < cs_end]
    for e in subs.events:
        e.end = min(e.end, cs_end)
    subs.save(str(ass_out), format_="ass")
    write_srt(srt_out, [(a, min(b, ms_end), text) for a, b, text in read_srt(Path(srt_path)) if a < ms_end])
    return ass_out, srt_out


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


def _box_event(phrase: Phrase, layout: Layout, start: float, end: float, size: float, alignment: int, margin_v: int, color: pysubs2.Color) -> pysubs2.SSAEvent:
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
    shape = (
        f"m {r} 0 l {bw - r} 0 b {bw} 0 {bw} 0 {bw} {r} l {bw} {bh - r} b {bw} {bh} {bw} {bh} {bw - r} {bh} "
        f"l {r} {bh} b 0 {bh} 0 {bh} 0 {bh - r} l 0 {r} b 0 0 0 0 {r} 0"
    )
    tags = "{\\an%d\\bord0\\shad0\\1c&H%02X%02X%02X&\\1a&H%02X&\\p1}" % (alignment, color.b, color.g, color.r, color.a)
    # `margin_v` is the safe-zone edge: the box sits on it and the text is moved inwards by the padding.
    return pysubs2.SSAEvent(layer=0, start=_ms(start), end=_ms(end), marginv=margin_v, text=tags + shape + "{\\p0}")


def write_captions(words: list[Word], template: dict[str, Any], ass_path: Path, srt_path: Path) -> CaptionResult:
    """Write karaoke/phrase ASS and phrase SRT for `words`.

    The SRT keeps the words as written (uppercase is a burn-in style);
    the ASS is styled by `template["subtitles"]` inside the safe zone.

    Raises:
        FontError: the template's font is not installed.
    """
    import pysubs2

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
    # The box is its own readability device: no glyph outline or shadow inside it.
    outline = float(style["outline"]) if not box else 0.0
    shadow = float(style["shadow"]) if not box else 0.0
    margin_l, margin_r = int(w * zone["left"]), int(w * zone["right"])
    # Text plus its outline (or box padding) on both sides and the shadow offset must fit between the margins.
    max_width = w - margin_l - margin_r - 2 * (_box_padding(size)[0] if box else outline) - shadow
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
    hl = parse_color(style["highlight_color"])
    hl_tag = "{\\c&H%02X%02X%02X&}" % (hl.b, hl.g, hl.r)

    def show(t: str) -> str:
        return _escape_ass(t.upper() if upper else t)

    phrases = group_phrases(words, style, layout)
    times = _phrase_times(phrases, style)
    for phrase, (p_start, p_end) in zip(phrases, times):
        if box:
            subs.events.append(_box_event(phrase, layout, p_start, p_end, size, alignment, margin_v, parse_color(style["box_color"])))
        srt.append((_ms(p_start), _ms(p_end), "\n".join(" ".join(x.text for x in line) for line in phrase.lines)))
        if not karaoke:
            subs.events.append(pysubs2.SSAEvent(layer=1, start=_ms(p_start), end=_ms(p_end), text="\\N".join(" ".join(show(x.text) for x in line) for line in phrase.lines)))
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
                subs.events.append(pysubs2.SSAEvent(layer=1, start=_ms(start), end=_ms(lit_end), text=render(i)))
            if _ms(nxt) > _ms(max(lit_end, start)):
                subs.events.append(pysubs2.SSAEvent(layer=1, start=_ms(max(lit_end, start)), end=_ms(nxt), text=render(None)))
    subs.sort()
    ass_path.parent.mkdir(parents=True, exist_ok=True)
    subs.save(str(ass_path), format_="ass")
    write_srt(srt_path, srt)
    return CaptionResult(events=len(subs.events), phrases=len(phrases), font_path=font_path, font_size=size, warnings=warnings)


def wrap_title(text: str, size: int, max_width: float, *, bold: bool = True, max_lines: int = 4) -> tuple[str, int]:
    """Balanced lines for a title card, measured with the bundled font, and the size that makes them fit.

    Lines come out even ("Octopuses have three / hearts and blue blood.", not
    a lone "blood." under two full lines), preferring breaks after
    punctuation and before "and"/"of"; the size shrinks until the text fits
    in `max_lines` lines of `max_width` px. Sizes are drawtext pixel sizes
    (the em), not ASS sizes.
    """
    words = [Word(text=t, start=0.0, end=0.0) for t in text.split()]
    if not words:
        return text, size
    path = resolve_font(DEFAULT_FONT, bold)
    em_per_size = FontMeasure(path, 100).em_per_size
    s = size
    while True:
        measure = FontMeasure(path, s / em_per_size)  # an em of `s` px, as drawtext draws it
        layout = Layout(words_per_line=len(words), max_chars=10_000, lines=max_lines, max_width=max_width, measure=measure)
        lines = layout.split(words)
        if lines is not None or s <= 8:
            break
        s = max(8, s - max(1, s // 12))
    if lines is None:
        return text, s
    # Fewest lines that fit, then balanced: Layout.split already prefers even, punctuation-aware breaks.
    return "\n".join(" ".join(w.text for w in line) for line in lines), s
