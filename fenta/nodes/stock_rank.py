"""Ranking stock candidates by what they show: a vision model's scores, or the clip's own words.

`text`: the words of a scene (narration, visual, query) against the words of a clip (the slug of its
Pexels page URL, a photo's `alt`, its tags), casefolded and stemmed with Snowball (snowballstemmer):
Cyrillic words with the Russian stemmer, others with the stemmer of the search locale's language
(English when unset or unknown). The score is the number of stems both share.

`vision`: the candidates' preview frames (a video's `image` and middle `video_pictures` entry, a
photo's `src.medium`) go with the scene's narration to a vision-capable model on OpenRouter as image
content parts (api-contracts section 3.2); it scores each 0-10 with a short reason. Answers are
cached in the job store's cache by (model, scene text, candidate ids): a re-run pays nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict

from ..providers.openrouter import image_part

__all__ = [
    "VISION_SCHEMA",
    "Ranked",
    "estimate_vision_tokens",
    "preview_urls",
    "stems",
    "text_scores",
    "vision_key",
    "vision_request",
    "words_of_clip",
]

_WORD = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
#: Words that say nothing about a picture (English and Russian function words).
STOP = frozenset(
    "a an the of and or to in on at for with by from is are was were be been this that it its as into over "
    "under their his her your our they them you we he she not no but so than then there here what which who "
    "video photo stock footage free "
    "и в во на с со к по о об от до из за у для при не что как это но а или же ли бы то".split()
)
_LANGUAGES = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "hu": "hungarian",
    "id": "indonesian",
    "it": "italian",
    "nb": "norwegian",
    "nl": "dutch",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
}


@cache
def _stemmer(language: str) -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer(language)


def stems(text: str, locale: str | None = None) -> set[str]:
    """The distinct word stems of `text` (casefolded, function words dropped)."""
    language = _LANGUAGES.get((locale or "en").split("-")[0].lower(), "english")
    out = set()
    for word in _WORD.findall(text.casefold()):
        if len(word) < 2 or word in STOP:
            continue
        out.add(_stemmer("russian" if _CYRILLIC.search(word) else language).stemWord(word))
    return out


def words_of_clip(item: dict[str, Any]) -> str:
    """A Pexels item's own words: its page URL's slug ("waves-crashing-1001" -> "waves crashing"), a
    photo's `alt` and any tags."""
    path = urlparse(str(item.get("url") or "")).path.rstrip("/")
    slug = re.sub(r"-?\d+$", "", path.rsplit("/", 1)[-1]).replace("-", " ")
    tags = " ".join(str(t.get("title", t)) if isinstance(t, dict) else str(t) for t in item.get("tags") or [])
    return " ".join(x for x in (slug, str(item.get("alt") or ""), tags) if x.strip())


@dataclass
class Ranked:
    """One candidate's score (higher is better) and why."""

    item: dict[str, Any]
    score: float
    reason: str
    order: int  # its place in the search results: ties go to the earlier one
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return int(self.item["id"])


def text_scores(scene_text: str, items: list[dict[str, Any]], locale: str | None) -> list[Ranked]:
    """Each item scored by the stems it shares with the scene (see the module docstring)."""
    scene = stems(scene_text, locale)
    out = []
    for i, item in enumerate(items):
        shared = sorted(scene & stems(words_of_clip(item), locale))
        reason = f"shares {', '.join(shared)}" if shared else "no words in common"
        out.append(Ranked(item, float(len(shared)), reason, i))
    return out


# ---------------------------------------------------------------- vision


class _Score(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidate: int
    score: float
    reason: str


class VisionOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scores: list[_Score]


VISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "scores": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "candidate": {"type": "integer"},
                    "score": {"type": "number"},
                    "reason": {"type": "string"},
                },
                "required": ["candidate", "score", "reason"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["scores"],
    "additionalProperties": False,
}

_SYSTEM = (
    "You choose stock footage for a narrated short video. For each numbered candidate you see its preview "
    "frames. Score from 0 (unrelated) to 10 (shows exactly what is said) how well it illustrates the "
    "narration, judging only what the pictures show, and give a reason of at most 12 words. Answer with "
    "one entry per candidate, by its number."
)
#: Prompt tokens of one low-detail image part (OpenAI's figure; others are close) and of the text.
_IMAGE_TOKENS, _TEXT_TOKENS, _ANSWER_TOKENS = 85, 180, 30


def preview_urls(item: dict[str, Any]) -> list[str]:
    """The preview frames of a candidate: a video's poster and its middle picture, a photo's medium size."""
    if "video_files" in item:
        urls = [str(item["image"])] if item.get("image") else []
        pictures = [p.get("picture") for p in item.get("video_pictures") or [] if p.get("picture")]
        if pictures:
            urls.append(str(pictures[len(pictures) // 2]))
        return list(dict.fromkeys(urls))[:2]
    src = item.get("src") or {}
    url = src.get("medium") or src.get("small") or src.get("large") or src.get("original")
    return [str(url)] if url else []


def estimate_vision_tokens(candidates: int) -> tuple[int, int]:
    """(prompt, completion) tokens of one scene's scoring request, about."""
    return _TEXT_TOKENS + candidates * (2 * _IMAGE_TOKENS + 8), 10 + candidates * _ANSWER_TOKENS


def vision_key(model: str, scene_text: str, items: list[dict[str, Any]]) -> str:
    """The cache key of one scene's scores: the model, the scene's text and the candidates."""
    ids = [int(i["id"]) for i in items]
    blob = json.dumps({"model": model, "scene": scene_text, "ids": ids}, ensure_ascii=False)
    return "stock-vision:" + hashlib.sha256(blob.encode()).hexdigest()


def vision_request(scene_text: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat messages asking a vision model to score `items` (numbered from 1) for the scene."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": f"Narration: {scene_text}\n\nCandidates:"}]
    for n, item in enumerate(items, 1):
        parts.append({"type": "text", "text": f"Candidate {n}:"})
        parts += [image_part(u) for u in preview_urls(item)]
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": parts}]


def vision_check(count: int) -> Callable[[VisionOut], None]:
    """The semantic check of an answer: every candidate scored once, scores within 0-10."""

    def check(out: VisionOut) -> None:
        seen = sorted(s.candidate for s in out.scores)
        if seen != list(range(1, count + 1)):
            raise ValueError(f"expected one score for each candidate 1..{count}, got {seen}")
        if any(not 0 <= s.score <= 10 for s in out.scores):
            raise ValueError("scores must be between 0 and 10")

    return check


def vision_ranked(items: list[dict[str, Any]], data: dict[str, Any]) -> list[Ranked]:
    """The model's answer (validated) as ranked candidates."""
    by_number = {int(s["candidate"]): s for s in data["scores"]}
    return [
        Ranked(item, float(by_number[n + 1]["score"]), str(by_number[n + 1]["reason"]).strip()[:200], n)
        for n, item in enumerate(items)
    ]


def best_first(ranked: list[Ranked]) -> list[Ranked]:
    """Highest score first; ties keep the search order."""
    return sorted(ranked, key=lambda r: (-r.score, r.order))
