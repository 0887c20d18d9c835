"""Mapping engine word events onto the words the user actually wrote.

Engines split numbers ("2026" -> "twenty twenty six"), spell abbreviations
letter by letter, skip punctuation-only tokens, report several events at one
position or events at a stale position. Captions need exactly one timed entry
per written word, in order, non-overlapping and within the audio; everything
here exists to guarantee that.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

from ..written import WrittenWord, split_words

__all__ = [
    "WrittenWord",
    "split_words",
    "align_events",
    "tokens_to_events",
    "proportional_times",
    "clean_timings",
    "trim_word_ends",
    "MIN_WORD_SECONDS",
]

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

#: Shortest time a word gets when the audio leaves room for it.
MIN_WORD_SECONDS = 0.02


def _weights(words: Sequence[WrittenWord | str]) -> list[float]:
    texts = [w.text if isinstance(w, WrittenWord) else w for w in words]
    return [max(1, len(_NON_WORD.sub("", t))) + 1.5 for t in texts]


def proportional_times(
    words: Sequence[WrittenWord | str], start: float, end: float
) -> list[tuple[float, float]]:
    """Spread words across [start, end] in proportion to their length."""
    weights = _weights(words)
    total = sum(weights) or 1.0
    out, t = [], start
    for w in weights:
        d = (end - start) * w / total
        out.append((t, t + d))
        t += d
    return out


def _norm(s: str) -> str:
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", s).casefold())


def tokens_to_events(
    text: str, tokens: Sequence[tuple[str, float]], *, window: int = 80
) -> list[tuple[int, float]]:
    """Turn engine tokens (spoken text, start) into (character offset, start) events.

    Each token is searched for in `text` from where the previous one matched,
    case-insensitively and ignoring punctuation; tokens that cannot be found
    nearby (the engine expanded "2026" into words, say) are dropped and their
    words are filled in later by interpolation.
    """
    words = split_words(text)
    norms = [_norm(w.text) for w in words]
    events: list[tuple[int, float]] = []
    wi = 0  # index of the first written word not yet fully consumed
    sub = 0  # characters of norms[wi] already consumed by earlier tokens
    for token, start in tokens:
        tok = _norm(token)
        if not tok:
            continue
        # Look ahead a few words for one that continues with (or contains) this token.
        found = None
        for j in range(wi, min(len(words), wi + 8)):
            if words[j].start_char - (words[wi].start_char if wi < len(words) else 0) > window:
                break
            n = norms[j]
            from_ = sub if j == wi else 0
            k = n.find(tok, from_)
            if k >= 0:
                found = (j, k)
                break
            if tok.startswith(n[from_:]) and n[from_:]:
                # A token spanning several written words ("New-York" spoken as one): take the first.
                found = (j, from_)
                break
        if found is None:
            # Engines speak in order: an unknown token (a number read out as words) belongs to
            # the next written word not yet reached; its first token gives the start.
            if wi < len(words) and sub == 0:
                events.append((words[wi].start_char, float(start)))
            continue
        j, k = found
        events.append((words[j].start_char + min(k, len(words[j].text) - 1), float(start)))
        wi, sub = j, k + len(tok)
        if sub >= len(norms[j]):
            wi, sub = j + 1, 0
    return events


def align_events(
    text: str,
    events: Sequence[tuple[int, float]],
    duration: float,
    speech_end: float | None = None,
) -> list[tuple[str, float, float]]:
    """Give every written word a (start, end) from engine events.

    Args:
        text: The text that was spoken.
        events: (0-based character offset, start seconds) per engine word event.
            Several events inside one written word (a number read as three
            words, a hyphenated word, a repeated event) count once; events in
            whitespace or punctuation belong to the next word.
        duration: Length of the audio.
        speech_end: When the voice stops (trailing silence excluded), if known.

    Returns:
        (word, start, end) for every written word, in order, non-overlapping,
        within [0, duration].
    """
    words = split_words(text)
    if not words:
        return []
    end_limit = min(duration, speech_end) if speech_end else duration
    per_word: list[list[float]] = [[] for _ in words]
    j = 0
    last_t = 0.0
    for pos, t in sorted(((int(p), float(t)) for p, t in events), key=lambda e: e[1]):
        if t < last_t - 1e-6 or t > duration + 0.05:
            continue  # out of order or past the audio: unreliable
        # Events arrive in speaking order: never step back to an earlier word.
        while j < len(words) and pos >= words[j].end_char:
            j += 1
        if j >= len(words):
            break
        per_word[j].append(t)
        last_t = t
    starts: list[float | None] = [ts[0] if ts else None for ts in per_word]
    # Engines sometimes report a word's event at a stale position (espeak after an
    # abbreviation): the surplus events of the word before a gap are the gap's words.
    i = 0
    while i < len(words):
        if starts[i] is not None or i == 0:
            i += 1
            continue
        gap_end = i
        while gap_end < len(words) and starts[gap_end] is None:
            gap_end += 1
        prev = i - 1
        spare = [t for t in per_word[prev][1:] if t > per_word[prev][0] + 0.15] if per_word[prev] else []
        missing = gap_end - i
        if spare and len(spare) >= missing:
            for k in range(missing):
                starts[i + k] = spare[len(spare) - missing + k]
        i = gap_end
    known = [i for i, s in enumerate(starts) if s is not None]
    if not known:
        spans = proportional_times(words, 0.0, end_limit)
        return clean_timings([(w.text, a, b) for w, (a, b) in zip(words, spans)], end_limit)
    filled: list[float] = [0.0] * len(words)
    weights = _weights(words)
    for i in range(len(words)):
        if starts[i] is not None:
            filled[i] = float(starts[i])  # type: ignore[arg-type]
            continue
        # Interpolate between known neighbours, weighted by word length.
        before = max((k for k in known if k < i), default=None)
        nxt = min((k for k in known if k > i), default=None)
        t0 = float(starts[before]) if before is not None else 0.0  # type: ignore[arg-type]
        t1 = float(starts[nxt]) if nxt is not None else end_limit  # type: ignore[arg-type]
        lo = before if before is not None else 0
        hi = nxt if nxt is not None else len(words)
        span = sum(weights[lo:hi]) or 1.0
        filled[i] = t0 + (t1 - t0) * sum(weights[lo:i]) / span
    out = []
    for i, w in enumerate(words):
        end = filled[i + 1] if i + 1 < len(words) else end_limit
        out.append((w.text, filled[i], end))
    return clean_timings(out, end_limit)


def clean_timings(
    words: Sequence[tuple[str, float, float]], duration: float
) -> list[tuple[str, float, float]]:
    """Make timings safe for captions: ordered, non-overlapping, within [0, duration].

    Starts are made non-decreasing, every word gets at least
    `MIN_WORD_SECONDS` when the audio has room (squeezed proportionally when it
    does not), and each end lies between its start and the next word's start.
    """
    n = len(words)
    if n == 0:
        return []
    # Times are rounded to milliseconds: round the limit down so no end passes the audio.
    duration = math.floor(max(0.0, float(duration)) * 1000) / 1000
    min_d = min(MIN_WORD_SECONDS, duration / n) if n else MIN_WORD_SECONDS
    starts = [min(max(0.0, float(s)), duration) for _, s, _ in words]
    # Non-decreasing with room for a minimal word each, from the front ...
    for i in range(1, n):
        starts[i] = max(starts[i], starts[i - 1] + min_d)
    # ... and from the back, so the last words still fit before the end.
    for i in range(n - 1, -1, -1):
        cap = duration - (n - i) * min_d
        nxt = starts[i + 1] - min_d if i + 1 < n else cap
        starts[i] = max(0.0, min(starts[i], cap, nxt))
    out = []
    for i, (text, _s, e) in enumerate(words):
        nxt = starts[i + 1] if i + 1 < n else duration
        end = min(max(float(e), starts[i] + min_d), nxt)
        out.append((text, round(starts[i], 3), round(max(end, starts[i]), 3)))
    # Rounding may make a start creep past the previous end by < 1 ms: clamp ends.
    fixed = []
    for i, (text, s, e) in enumerate(out):
        nxt = out[i + 1][1] if i + 1 < n else round(duration, 3)
        fixed.append((text, s, max(s, min(e, nxt))))
    return fixed


def trim_word_ends(
    words: Sequence[tuple[str, float, float]],
    samples,
    rate: int,
    *,
    threshold: float = 0.02,
    hold: float = 0.04,
) -> list[tuple[str, float, float]]:
    """End each word when its sound stops instead of when the next word starts.

    Engines that only report starts leave pauses inside the previous word; a
    caption grouper needs those pauses to break phrases. `samples` is mono
    int16 or float audio (a numpy array).
    """
    import numpy as np

    a = np.asarray(samples)
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768.0
    frame = max(1, int(rate * 0.01))
    n_frames = len(a) // frame
    if n_frames == 0:
        return list(words)
    rms = np.sqrt(np.mean(a[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1))
    loud = rms > threshold * max(float(rms.max()), 1e-6)
    out = []
    for text, s, e in words:
        f0, f1 = int(s * 100), min(n_frames, int(e * 100))
        idx = np.nonzero(loud[f0:f1])[0]
        if len(idx):
            sound_end = (f0 + idx[-1] + 1) / 100 + hold
            e = max(s + MIN_WORD_SECONDS, min(e, sound_end)) if e - s > MIN_WORD_SECONDS else e
        out.append((text, float(s), round(float(e), 3)))
    return out
