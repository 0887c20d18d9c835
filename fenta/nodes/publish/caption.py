"""A post's caption where the platform has one text field (TikTok, Instagram): the title, the description
and the hashtags in one text, within the platform's limits.

    text, tags = parts(title, description, [*params.tags, *inputs.hashtags])
    problems = check(text, tags, CaptionRules(...))            # static: the params' own caption
    caption = fit(text, tags, CaptionRules(...), warn=ctx.warn)  # at run time, with text from other nodes

Tags become hashtags (`ocean facts` -> `#oceanfacts`), each once, and not when the text already has it.
At run time what does not fit is left out with one warning: hashtags first (from the last), then the
text is cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CaptionRules", "parts", "join", "check", "fit", "utf16_units"]

_HASHTAG = re.compile(r"(?<![\w#])#\w+")
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units (TikTok counts "runes" this way: an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class CaptionRules:
    """A platform's caption limits.

    Attributes:
        platform: Its name in messages (`TikTok`).
        limit: The longest caption, in `unit`s as `measure` counts them.
        measure: How the platform counts (characters, UTF-16 units).
        unit: The unit's name in messages.
        hashtags: The most hashtags allowed (None: no limit).
        mentions: The most @mentions allowed (None: no limit).
    """

    platform: str
    limit: int
    measure: Callable[[str], int] = len
    unit: str = "characters"
    hashtags: int | None = None
    mentions: int | None = None


def _hashtag(tag: str) -> str | None:
    word = re.sub(r"[^\w]", "", tag.strip().lstrip("#"))
    return f"#{word}" if word else None


def parts(title: str | None, description: str, tags: list[str]) -> tuple[str, list[str]]:
    """(text, hashtags): the title and description as one text, and the tags as hashtags it lacks."""
    text = "\n\n".join(p.strip() for p in (title or "", description or "") if p and p.strip())
    seen = {h.lower() for h in _HASHTAG.findall(text)}
    hashtags: list[str] = []
    for tag in tags:
        hashtag = _hashtag(tag)
        if hashtag and hashtag.lower() not in seen:
            seen.add(hashtag.lower())
            hashtags.append(hashtag)
    return text, hashtags


def join(text: str, hashtags: list[str]) -> str:
    """The caption: the text, a blank line, the hashtags."""
    return "\n\n".join(p for p in (text, " ".join(hashtags)) if p)


def check(text: str, hashtags: list[str], rules: CaptionRules) -> list[str]:
    """What is over the platform's limits, one sentence each (empty: it fits)."""
    problems = []
    caption = join(text, hashtags)
    size = rules.measure(caption)
    if size > rules.limit:
        problems.append(
            f"{rules.platform} captions are at most {rules.limit} {rules.unit} (title, description and "
            f"hashtags together); this one has {size}"
        )
    tags = len(_HASHTAG.findall(caption))
    if rules.hashtags is not None and tags > rules.hashtags:
        problems.append(f"{rules.platform} takes at most {rules.hashtags} hashtags; this caption has {tags}")
    mentions = len(_MENTION.findall(caption))
    if rules.mentions is not None and mentions > rules.mentions:
        problems.append(
            f"{rules.platform} takes at most {rules.mentions} @mentions; this caption has {mentions}"
        )
    return problems


def fit(text: str, hashtags: list[str], rules: CaptionRules, *, warn: Callable[[str], None]) -> str:
    """The caption within the limits: hashtags left out from the last, then the text cut (one warning)."""
    kept = list(hashtags)
    if rules.hashtags is not None:
        room = max(0, rules.hashtags - len(_HASHTAG.findall(text)))
        kept = kept[:room]
    while kept and rules.measure(join(text, kept)) > rules.limit:
        kept.pop()
    left_out = hashtags[len(kept) :]
    cut = rules.measure(join(text, kept)) > rules.limit
    while rules.measure(join(text, kept)) > rules.limit:
        over = rules.measure(join(text, kept)) - rules.limit
        text = text[: max(0, len(text) - max(1, over) - 1)].rstrip() + "…"
    if left_out or cut:
        said = []
        if left_out:
            said.append(f"left out {' '.join(left_out)}")
        if cut:
            said.append("cut the text")
        warn(f"{rules.platform} takes {rules.limit} {rules.unit} of caption: {' and '.join(said)}")
    return join(text, kept)
