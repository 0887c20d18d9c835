"""Caption animations as libass override tags: the ASS file moves the words, no frame passes through Python.

`subtitles.animation` (a template field):

* `none`: today's captions: the spoken word in `highlight_color` (`karaoke: true`) or whole phrases.
* `pop`: words appear as they are spoken, each scaling in (`\\fscy` and `\\alpha` under `\\t`): words not
  yet spoken are drawn fully transparent, so the line never moves as it fills.
* `highlight`: the spoken word sits on a rounded box of `highlight_color` (a drawing on the layer below,
  placed from the word's measured position), in the outline colour.
* `chunk`: 2-4 words at a time (`chunk_words`), each group scaling in once; karaoke colours the
  spoken word when `karaoke` is on.

`emphasis_color` colours the script's keywords (`Script.Gen`'s `keywords` port, matched by word
stem in the script's language, Cyrillic included) in every style.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from .phrases import Layout, Phrase

__all__ = ["ANIMATIONS", "Timing", "lit_spans", "keyword_matcher", "ass_colour", "Styler", "word_box"]

ANIMATIONS = ("none", "pop", "highlight", "chunk")

#: Scale-in of a popping word (ms): it grows from 40% height to 115%, then settles at 100%.
POP_MS = (70, 140)
#: Scale-in of a chunk of words (ms), from 85%.
CHUNK_MS = 90

_WORD = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def ass_colour(rgba: Any) -> str:
    """A pysubs2 colour as an override value: &HBBGGRR&."""
    return f"&H{rgba.b:02X}{rgba.g:02X}{rgba.r:02X}&"


@cache
def _stemmer(language: str) -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer(language)


def _stem(word: str) -> str:
    w = word.casefold()
    return _stemmer("russian" if _CYRILLIC.search(w) else "english").stemWord(w)


def keyword_matcher(keywords: Iterable[str]) -> Callable[[str], bool]:
    """Whether a caption word is one of the keywords (or a form of one: "oceans" for "ocean", "волны" for
    "волна"); a keyword of several words marks each of its words."""
    stems = {_stem(w) for k in keywords for w in _WORD.findall(k) if len(w) > 2}

    def matches(text: str) -> bool:
        return any(_stem(w) in stems for w in _WORD.findall(text))

    return matches if stems else (lambda text: False)


@dataclass
class Timing:
    """One on-screen state of a phrase: word `lit` (None: none) from `start` to `end` (seconds)."""

    lit: int | None
    start: float
    end: float


def lit_spans(phrase: Phrase, p_start: float, p_end: float, ms: Callable[[float], int]) -> list[Timing]:
    """The phrase's states word by word: each word from its start until it ends (or the next starts when
    the gap is short); in a pause inside the phrase nothing is lit."""
    flat = phrase.words
    out = []
    for i, word in enumerate(flat):
        start = p_start if i == 0 else word.start
        nxt = flat[i + 1].start if i + 1 < len(flat) else p_end
        lit_end = word.end if nxt - word.end > 0.15 else nxt
        if ms(lit_end) > ms(start):
            out.append(Timing(i, start, lit_end))
        if ms(nxt) > ms(max(lit_end, start)):
            out.append(Timing(None, max(lit_end, start), nxt))
    return out


class Styler:
    """The override tags of each word in each state, for one caption style."""

    def __init__(
        self, style: dict[str, Any], colours: dict[str, Any], emphasis: Callable[[str], bool]
    ) -> None:
        self.animation = style.get("animation") or "none"
        self.karaoke = bool(style["karaoke"])
        self.colours = colours
        self.emphasis = emphasis if style.get("emphasis_color") else (lambda text: False)

    def word(self, k: int, text: str, shown: str, state: Timing | None, spoken: int) -> str:
        """Word `k` of a phrase (`shown`: escaped, cased) while `state` holds; `spoken`: words said so far."""
        lit = state is not None and state.lit == k
        tags = ""
        if self.emphasis(text):
            tags += "\\c" + ass_colour(self.colours["emphasis"])
        if self.animation == "pop":
            if k >= spoken:
                return "{\\alpha&HFF&}" + shown + "{\\r}"  # not said yet: there, so nothing moves, but unseen
            if lit:
                a, b = POP_MS
                tags += f"\\alpha&HFF&\\fscy40\\t(0,{a},\\alpha&H00&\\fscy115)\\t({a},{b},\\fscy100)"
        if lit and self.animation == "highlight":
            tags += "\\c" + ass_colour(self.colours["outline"]) + "\\bord0\\shad0"
        elif lit and self.karaoke and self.animation != "highlight":
            tags += "\\c" + ass_colour(self.colours["highlight"])
        return "{" + tags + "}" + shown + "{\\r}" if tags else shown

    def opening(self, first_state: bool) -> str:
        """Tags of the whole event: a chunk scales in once, when it first appears."""
        if self.animation == "chunk" and first_state:
            return f"{{\\fscx85\\fscy85\\t(0,{CHUNK_MS},\\fscx100\\fscy100)}}"
        return ""

    @property
    def per_word(self) -> bool:
        """Whether the phrase changes word by word (else one event per phrase)."""
        return self.karaoke or self.animation in ("pop", "highlight")


def _text_width(layout: Layout, text: str) -> float:
    return layout.measure.width(layout.show(text)) if layout.measure is not None else float(len(text))


def word_box(
    phrase: Phrase,
    k: int,
    layout: Layout,
    *,
    size: float,
    width: int,
    height: int,
    margins: tuple[int, int, int],
    alignment: int,
) -> tuple[float, float, float, float]:
    """(x, y, w, h) on the canvas of the box behind word `k` of the phrase, as libass lays the text out:
    each line centred between the side margins, `size` pixels tall (an ASS font size is one line's height),
    the block on the bottom margin, under the top one, or in the middle of the frame."""
    margin_l, margin_r, margin_v = margins
    n = len(phrase.lines)
    row, col = 0, k
    while col >= len(phrase.lines[row]):
        col -= len(phrase.lines[row])
        row += 1
    line = phrase.lines[row]
    centre = margin_l + (width - margin_l - margin_r) / 2
    left = centre - layout.line_width(line) / 2
    prefix = " ".join(w.text for w in line[:col])
    before = _text_width(layout, prefix + " ") if col else 0.0
    word_w = layout.line_width([line[col]])
    if alignment == 2:
        top = height - margin_v - (n - row) * size
    elif alignment == 8:
        top = margin_v + row * size
    else:
        top = (height - n * size) / 2 + row * size
    pad_x, pad_y = size * 0.14, size * 0.04
    return left + before - pad_x, top - pad_y, word_w + 2 * pad_x, size + 2 * pad_y
