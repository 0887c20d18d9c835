"""Mapping engine word events onto the words the user actually wrote.

Engines split numbers ("2026" -> "twenty twenty six"), skip punctuation-only
tokens, merge or repeat events. Captions need exactly one timed entry per
written word, in order, non-overlapping and within the audio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["WrittenWord", "split_words", "align_events", "proportional_times"]

_WORD = re.compile(r"\S+")
_HAS_ALNUM = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class WrittenWord:
    text: str
    start_char: int  # 0-based index in the source text
    end_char: int


def split_words(text: str) -> list[WrittenWord]:
    """Whitespace-separated tokens that contain a letter or digit (punctuation-only tokens are dropped)."""
    return [WrittenWord(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text) if _HAS_ALNUM.search(m.group(0))]


def _weights(words: list[WrittenWord]) -> list[float]:
    return [max(1, len(re.sub(r"\W", "", w.text))) + 1.5 for w in words]


def proportional_times(words: list[WrittenWord], start: float, end: float) -> list[tuple[float, float]]:
    """Spread words across [start, end] in proportion to their length."""
    weights = _weights(words)
    total = sum(weights) or 1.0
    out, t = [], start
    for w in weights:
        d = (end - start) * w / total
        out.append((t, t + d))
        t += d
    return out


def align_events(
    text: str,
    events: list[tuple[int, float]],
    duration: float,
    speech_end: float | None = None,
) -> list[tuple[str, float, float]]:
    """Give every written word a (start, end) from engine events.

    Args:
        text: The text that was spoken.
        events: (0-based character offset, start seconds) per engine word event.
        duration: Length of the audio.
        speech_end: When the voice stops (trailing silence excluded), if known.

    Returns:
        (word, start, end) for every written word, in order, non-overlapping.
    """
    words = split_words(text)
    if not words:
        return []
    starts: list[float | None] = [None] * len(words)
    j = 0
    for pos, t in sorted(events, key=lambda e: (e[1], e[0])):
        # Find the written word containing this character offset (events arrive in order).
        while j < len(words) and pos >= words[j].end_char:
            j += 1
        k = j
        if k >= len(words):
            continue
        if pos < words[k].start_char and k > 0 and starts[k] is not None:
            continue
        if starts[k] is None:
            starts[k] = t
    end_limit = min(duration, speech_end) if speech_end else duration
    # Fill words the engine gave no event for by interpolating between neighbours.
    known = [i for i, s in enumerate(starts) if s is not None]
    if not known:
        spans = proportional_times(words, 0.0, end_limit)
        return [(w.text, a, b) for w, (a, b) in zip(words, spans)]
    filled: list[float] = [0.0] * len(words)
    for i in range(len(words)):
        if starts[i] is not None:
            filled[i] = float(starts[i])  # type: ignore[arg-type]
            continue
        prev = max((k for k in known if k < i), default=None)
        nxt = min((k for k in known if k > i), default=None)
        t0 = float(starts[prev]) if prev is not None else 0.0  # type: ignore[arg-type]
        t1 = float(starts[nxt]) if nxt is not None else end_limit  # type: ignore[arg-type]
        lo = prev if prev is not None else -1
        hi = nxt if nxt is not None else len(words)
        filled[i] = t0 + (t1 - t0) * (i - lo) / (hi - lo)
    # Monotonic, within the audio.
    for i in range(1, len(filled)):
        filled[i] = max(filled[i], filled[i - 1] + 0.01)
    out = []
    for i, w in enumerate(words):
        start = min(filled[i], end_limit)
        end = filled[i + 1] if i + 1 < len(words) else end_limit
        end = max(start, min(end, end_limit))
        out.append((w.text, round(start, 3), round(end, 3)))
    return out
