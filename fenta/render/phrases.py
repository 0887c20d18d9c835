"""Grouping timed words into phrases that fit a caption box, and balanced lines for a title card.

Line widths are measured with the real font (Pillow's FreeType binding) at the size libass
will draw, so no line leaves the frame: phrases wrap onto the template's line count, and
breaks fall after punctuation and not after "and" or "the" where another split exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..types import Word
from .fonts import DEFAULT_FONT, FontMeasure, resolve_font

__all__ = ["Layout", "Phrase", "layout_from_style", "group_phrases", "wrap_title", "PAUSE_BREAK"]

_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”)]*$")
_CLAUSE_END = re.compile(r"[,;:—–]+[\"'»”)]*$")
#: A pause longer than this between two words starts a new phrase.
PAUSE_BREAK = 0.6
#: Words a caption line or phrase should not end on (English and Russian function words).
_WEAK_ENDINGS = frozenset(
    "a an the and or but nor of to in on at by for from with into onto as than that so if "
    "my your his her its our their this these those "
    "и а но или в во на с со к ко по о об от до из за у для при не что как".split()
)


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
        return (
            len(words) <= self.words_per_line
            and chars <= self.max_chars
            and self.line_width(words) <= self.max_width
        )

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
                    if (
                        b < n
                        and _CLAUSE_END.search(words[b - 1].text)
                        or (b < n and _SENTENCE_END.search(words[b - 1].text))
                    ):
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


def layout_from_style(style: dict[str, Any], measure: FontMeasure | None, max_width: float) -> Layout:
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
        chunks.append(clause[back[i] : i])
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
        layout = layout_from_style(style, None, float("inf"))
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
            close_prev = (
                prev is not None
                and g[0].start - prev[-1].end <= PAUSE_BREAK
                and not _SENTENCE_END.search(prev[-1].text)
            )
            close_next = (
                nxt is not None
                and nxt[0].start - g[0].end <= PAUSE_BREAK
                and not _SENTENCE_END.search(g[0].text)
                and not _CLAUSE_END.search(g[0].text)
            )
            if close_prev and ok(prev + g):  # type: ignore[operator]
                prev.extend(g)  # type: ignore[union-attr]
                del groups[i]
                continue
            if close_next and ok(g + nxt):  # type: ignore[operator]
                g.extend(nxt)  # type: ignore[arg-type]
                del groups[i + 1]
            elif close_prev and len(prev) > 2 and not _CLAUSE_END.search(prev[-1].text):  # type: ignore[arg-type, index]
                g.insert(0, prev.pop())  # type: ignore[union-attr]
        i += 1
    loose = replace(layout, words_per_line=10_000)

    def ok_loose(g: list[Word]) -> bool:
        return g[-1].end - g[0].start <= max_seconds and loose.split(g) is not None

    _merge_short(groups, (ok, ok_loose), float(style.get("min_seconds") or 0.0))
    phrases = []
    for g in groups:
        lines = (
            layout.split(g) or loose.split(g) or [g]
        )  # a single word wider than the box: the font is shrunk for it
        phrases.append(Phrase(lines))
    return phrases


# ---------------------------------------------------------------- writing


def wrap_title(
    text: str,
    size: int,
    max_width: float,
    *,
    bold: bool = True,
    max_lines: int = 4,
    max_height: float | None = None,
) -> tuple[str, int]:
    """Balanced lines for a title card, measured with the bundled font, and the size that makes them fit.

    Lines come out even ("Octopuses have three / hearts and blue blood.", not
    a lone "blood." under two full lines), preferring breaks after
    punctuation and before "and"/"of"; the size shrinks until the text fits
    in `max_lines` lines of `max_width` px (and, with `max_height`, the lines and their spacing in that
    many px: a wide canvas is short). Sizes are drawtext pixel sizes (the em), not ASS sizes.
    """
    words = [Word(text=t, start=0.0, end=0.0) for t in text.split()]
    if not words:
        return text, size
    path = resolve_font(DEFAULT_FONT, bold)
    em_per_size = FontMeasure(path, 100).em_per_size
    s = size
    while True:
        measure = FontMeasure(path, s / em_per_size)  # an em of `s` px, as drawtext draws it
        layout = Layout(
            words_per_line=len(words), max_chars=10_000, lines=max_lines, max_width=max_width, measure=measure
        )
        lines = layout.split(words)
        tall = max_height is not None and lines is not None and len(lines) * s * 1.15 > max_height
        if (lines is not None and not tall) or s <= 8:
            break
        s = max(8, s - max(1, s // 12))
    if lines is None:
        return text, s
    # Fewest lines that fit, then balanced: Layout.split already prefers even, punctuation-aware breaks.
    return "\n".join(" ".join(w.text for w in line) for line in lines), s
