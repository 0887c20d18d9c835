"""Input.Stock's searches and caches: what to search for (a scene's query and its broader forms),
candidate gathering, vision scoring, what a pick records.

Pexels asks clients to cache responses for about a day: search pages are kept in the job store's
cache for `PAGE_HOURS`, downloaded files by their URL (the file itself lives in the content-addressed
cache), and a vision model's scores by (model, scene text, candidates). Outside a job (no store)
nothing is cached.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..providers import client_for
from ..providers.openrouter import OpenRouterClient
from ..providers.pexels import PexelsClient, pick_video_file
from ..types import Scene
from .stock_rank import (
    VISION_SCHEMA,
    Ranked,
    VisionOut,
    vision_check,
    vision_key,
    vision_ranked,
    vision_request,
)

if TYPE_CHECKING:
    from .base import NodeContext
    from .stock_params import StockParams

__all__ = [
    "PAGE_HOURS",
    "StockPick",
    "StockSearch",
    "VisionScorer",
    "cached_media",
    "remember_media",
    "scene_query",
    "broader",
]

#: How long a search page is reused (Pexels' help centre recommends caching responses ~24 h).
PAGE_HOURS = 24.0

_STOP = set(
    "a an the of and or to in on at for with by from is are was were be this that it its as into over under "
    "their his her your our".split()
)


def scene_query(scene: Scene) -> str:
    """The search for a scene: its visual, else the first content words of its narration."""
    if scene.visual and scene.visual.strip():
        return " ".join(scene.visual.split())
    words = [w for w in re.findall(r"[^\W\d_]+", scene.narration) if w.lower() not in _STOP]
    return " ".join(words[:3]) or "nature"


def broader(query: str) -> list[str]:
    """Shorter forms of a query, most specific first (e.g. 'red car at night' -> 'red car', 'car')."""
    words = [w for w in query.split() if w.lower() not in _STOP] or query.split()
    out: list[str] = []
    if len(words) > 2:
        out.append(" ".join(words[:2]))
    if len(words) > 1:
        out.append(max(words, key=len))
    return [q for q in dict.fromkeys(out) if q.lower() != query.lower()]


class StockPick(BaseModel):
    """What one clip's choice was based on (recorded on the node: `fenta jobs show --json`)."""

    scene: int | None
    query: str
    rank: str = Field(description="vision, text or first")
    model: str | None = None
    id: int = Field(description="The Pexels id chosen.")
    score: float
    reason: str
    candidates: list[dict[str, Any]] = Field(
        description="id, score, reason and recent (shown lately) of each, best first."
    )

    @classmethod
    def of(
        cls,
        scene: int | None,
        query: str,
        rank: str,
        model: str | None,
        best: Ranked,
        order: list[Ranked],
        recent: set[int],
    ) -> StockPick:
        cands = [{"id": r.id, "score": r.score, "reason": r.reason, "recent": r.id in recent} for r in order]
        return cls(
            scene=scene,
            query=query,
            rank=rank,
            model=model,
            id=best.id,
            score=best.score,
            reason=best.reason,
            candidates=cands,
        )


def _key(prefix: str, value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return f"{prefix}:" + hashlib.sha256(blob.encode()).hexdigest()


def cached_media(ctx: NodeContext, url: str) -> str | None:
    """The cached file downloaded from `url` before, if it is still there."""
    hit = ctx.store.cache_get(_key("pexels-media", url)) if ctx.store is not None else None
    path = (hit or {}).get("path")
    return path if isinstance(path, str) and Path(path).is_file() else None


def remember_media(ctx: NodeContext, url: str, path: str) -> None:
    if ctx.store is not None:
        ctx.store.cache_put(_key("pexels-media", url), "Input.Stock", {"path": path})


class StockSearch:
    """Search pages (memoised for the run, cached for `PAGE_HOURS`) and the candidates they hold."""

    def __init__(
        self,
        ctx: NodeContext,
        client: PexelsClient,
        kind: str,
        orientation: str,
        size: str,
        params: StockParams,
    ) -> None:
        self.ctx, self.client, self.kind = ctx, client, kind
        self.orientation, self.size, self.params = orientation, size, params
        self.pages: dict[tuple[str, int, bool], dict[str, Any]] = {}

    async def page(self, query: str, n: int, sized: bool = True) -> dict[str, Any]:
        key = (query, n, sized)
        if key not in self.pages:
            self.pages[key] = await self._fetch(query, n, sized)
        return self.pages[key]

    async def _fetch(self, query: str, n: int, sized: bool) -> dict[str, Any]:
        ctx, p = self.ctx, self.params
        args: dict[str, Any] = {
            "orientation": self.orientation,
            "size": self.size if sized else None,
            "locale": p.locale,
            "page": n,
            "per_page": 15,
        }
        cache_key = _key("pexels-page", {"kind": self.kind, "query": query, **args})
        hit = ctx.store.cache_get(cache_key) if ctx.store is not None else None
        if hit and time.time() - float(hit.get("at") or 0) < PAGE_HOURS * 3600:
            return dict(hit["body"])
        search = self.client.search_videos if self.kind == "videos" else self.client.search_photos
        try:
            body = await search(query, **args)
        finally:
            ctx.usage.record("pexels", units="requests", quantity=1, cost=0.0)
        if ctx.store is not None:
            ctx.store.cache_put(cache_key, "Input.Stock", {"at": time.time(), "body": body})
        return body

    def attempts(self, query: str) -> list[tuple[str, bool]]:
        """The searches tried for `query`, in order: it, its shorter forms, the fallback, then it without the
        minimum-size filter (smaller files get upscaled)."""
        tried = [query, *broader(query)]
        if self.params.fallback_query and self.params.fallback_query.strip():
            tried.append(self.params.fallback_query.strip())
        return [(q, True) for q in dict.fromkeys(tried)] + [(query, False)]

    def tried(self, query: str) -> list[str]:
        return [q for q, sized in self.attempts(query) if sized]

    def _fits(self, item: dict[str, Any]) -> bool:
        if self.kind != "videos":
            return True
        if self.params.min_duration and (item.get("duration") or 0) < self.params.min_duration:
            return False
        return pick_video_file(item, 1, 1) is not None

    async def candidates(
        self,
        query: str,
        want: int,
        recent: set[int],
        exclude: set[int] | frozenset[int] = frozenset(),
    ) -> tuple[list[dict[str, Any]], str]:
        """Up to `want` fitting items for `query` (the first searches that find any, a few pages at most),
        and the search that found them. Items in `recent` (shown lately) count only when no search finds
        another; items in `exclude` never."""
        fresh: list[dict[str, Any]] = []
        stale: list[tuple[dict[str, Any], str]] = []
        seen: set[int] = set()
        for q, sized in self.attempts(query):
            n = 1
            while n <= 3 and len(fresh) < want:  # a few pages at most: stay polite with the rate limit
                body = await self.page(q, n, sized)
                for item in body.get(self.kind) or []:
                    ident = int(item.get("id", -1))
                    if ident in seen or ident in exclude or not self._fits(item):
                        continue
                    seen.add(ident)
                    if ident in recent:
                        stale.append((item, q))
                    elif len(fresh) < want:
                        fresh.append(item)
                if not body.get("next_page"):
                    break
                n += 1
            if fresh:
                return fresh, q
        if stale:  # nothing else fits: clips shown lately rather than none
            first_query = stale[0][1]
            return [item for item, q in stale if q == first_query][:want], first_query
        return [], query


class VisionScorer:
    """Scores a scene's candidates with a vision model (cached by model, scene text and candidates)."""

    def __init__(self, ctx: NodeContext, model: str) -> None:
        self.ctx, self.model = ctx, model
        self.client: OpenRouterClient = client_for(ctx, OpenRouterClient)  # type: ignore[assignment]

    async def score(self, scene_text: str, items: list[dict[str, Any]]) -> list[Ranked]:
        key = vision_key(self.model, scene_text, items)
        store = self.ctx.store
        hit = store.cache_get(key) if store is not None else None
        if hit is not None:
            return vision_ranked(items, hit)
        check: Callable[[VisionOut], None] = vision_check(len(items))
        data, _ = await self.client.chat_json(
            vision_request(scene_text, items),
            VISION_SCHEMA,
            self.model,
            name="clip_scores",
            validator=VisionOut,
            check=check,
            max_tokens=60 + 60 * len(items),
            temperature=0,
            on_usage=self.ctx.usage.tokens(),
        )
        if store is not None:
            store.cache_put(key, "Input.Stock", data)
        return vision_ranked(items, data)
