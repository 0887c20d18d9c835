"""The written words of a script: what captions show and speech timings attach to.

Render (hook timing) and tts (aligning engine events) both need the same split, so it
lives below both of them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["WrittenWord", "split_words"]

_WORD = re.compile(r"\S+")
_HAS_ALNUM = re.compile(r"\w", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?…][\"'»”)]*$")


@dataclass(frozen=True)
class WrittenWord:
    text: str
    start_char: int  # 0-based index in the source text
    end_char: int


def _opens(token: str) -> bool:
    """An opening bracket or quote ("(", "«", "“", "¿"): it belongs to the word after it."""
    return all(unicodedata.category(c) in ("Ps", "Pi") or c in "¿¡" for c in token)


def _is_dash(token: str) -> bool:
    return all(unicodedata.category(c) == "Pd" for c in token)


def split_words(text: str) -> list[WrittenWord]:
    """The written words of `text`: whitespace-separated tokens with a letter or digit.

    A hyphenated word ("well-known"), a number ("2,026.5") or an abbreviation
    ("U.S.A.") stays one written word with its punctuation attached. A token
    without a letter or digit (",", "—", "...", "=", an emoji) is never
    dropped: it joins the word before it ("arms —"), or the word after it when
    it opens something ("(", "«"), starts the text, or is a dash after a
    sentence end (dialogue). Every non-space character of `text` is in exactly
    one word, in order; whitespace inside a word is shown as one space.
    """
    spans: list[list[int]] = []  # [start, end] per word
    carry: int | None = None  # start of tokens waiting for the next word
    last_end = 0
    for m in _WORD.finditer(text):
        token, last_end = m.group(0), m.end()
        if _HAS_ALNUM.search(token):
            spans.append([m.start() if carry is None else carry, m.end()])
            carry = None
        elif carry is not None:
            continue
        elif (
            not spans
            or _opens(token)
            or (_is_dash(token) and _SENTENCE_END.search(text[spans[-1][0] : spans[-1][1]]))
        ):
            carry = m.start()
        else:
            spans[-1][1] = m.end()
    if carry is not None and spans:
        spans[-1][1] = (
            last_end  # an opening mark at the very end: nothing follows, keep it with the last word
        )
    return [WrittenWord(" ".join(text[a:b].split()), a, b) for a, b in spans]
