"""Input.Stock: Pexels stock videos or photos for each scene, with a credits file."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from pydantic import Field

from ..errors import FentaError
from ..providers import client_for
from ..providers.pexels import PexelsClient, orientation_of, pick_photo_url, pick_video_file
from ..library import record_safely
from ..media.probe import probe
from ..types import Artifact, Clip, Scene
from .base import Node, NodeContext, Params, Ports, register

_STOP = set("a an the of and or to in on at for with by from is are was were be this that it its as into over under their his her your our".split())


class StockParams(Params):
    media: Literal["video", "photo"] = Field("video", description="Search Pexels videos or photos.")
    query: str | None = Field(None, description="One search used for every clip when no scenes or queries are connected.")
    queries: list[str] | None = Field(None, description="One search per scene (used when no 'queries'/'scenes' input is connected).")
    count: int = Field(4, ge=1, le=20, description="Clips to fetch for a single `query`.")
    per_scene: int = Field(1, ge=1, le=4, description="Clips per scene/query.")
    fallback_query: str | None = Field(None, description="Broad search to use when a scene's query (and its shorter forms) finds nothing.")
    orientation: Literal["auto", "portrait", "landscape", "square"] = Field("auto", description="auto: from the template canvas.")
    locale: str | None = Field(None, description="Search locale, e.g. en-US, de-DE.")
    min_duration: float | None = Field(None, gt=0, description="Skip videos shorter than this (seconds).")
    max_mb: float = Field(200, gt=0, description="Largest file to download (MB).")


class StockInputs(Ports):
    scenes: list[Scene] | None = None
    queries: list[str] | None = None


class StockOutputs(Ports):
    clips: list[Clip]
    credits: list[Artifact]


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


@register
class InputStock(Node):
    type = "Input.Stock"
    version = "1"
    description = "Stock videos or photos from Pexels for each scene (never the same clip twice), plus a credits file."
    Params = StockParams
    Inputs = StockInputs
    Outputs = StockOutputs
    resource = "pexels"
    uses_template = True

    async def run(self, ctx: NodeContext, params: StockParams, inputs: StockInputs) -> StockOutputs:
        jobs = self._jobs(ctx, params, inputs)
        canvas = ctx.template.get("canvas") or {"width": 1080, "height": 1920}
        width, height = int(canvas["width"]), int(canvas["height"])
        orientation = orientation_of(width, height) if params.orientation == "auto" else params.orientation
        short = min(width, height)
        size = "large" if short >= 2160 else "medium" if short >= 1080 else "small"
        client: PexelsClient = client_for(ctx, PexelsClient)  # type: ignore[assignment]
        kind = "videos" if params.media == "video" else "photos"
        pages: dict[tuple[str, int], dict[str, Any]] = {}

        async def page(query: str, n: int, sized: bool = True) -> dict[str, Any]:
            key = (query, n, sized)
            if key not in pages:
                search = client.search_videos if kind == "videos" else client.search_photos
                try:
                    pages[key] = await search(query, orientation=orientation, size=size if sized else None, locale=params.locale, page=n, per_page=15)
                finally:
                    ctx.usage.record("pexels", units="requests", quantity=1, cost=0.0)
            return pages[key]

        try:
            # First pages of every distinct query in parallel; picking stays sequential so it is deterministic.
            await asyncio.gather(*(page(q, 1) for q in dict.fromkeys(q for _, q in jobs)))
            used: set[int] = set()
            picks: list[tuple[int | None, str, dict[str, Any]]] = []
            for scene_idx, query in jobs:
                item, got_query = await self._pick(ctx, page, query, params, used, kind)
                used.add(int(item["id"]))
                if got_query != query:
                    ctx.info(f"no Pexels {kind} for '{query}'; used '{got_query}'")
                picks.append((scene_idx, got_query, item))
            ctx.progress(0.2)
            done = 0
            sem = asyncio.Semaphore(4)

            async def fetch(pick: tuple[int | None, str, dict[str, Any]]) -> Clip:
                nonlocal done
                async with sem:
                    clip = await self._download(ctx, client, pick, params, width, height)
                done += 1
                ctx.progress(0.2 + 0.8 * done / len(picks))
                return clip

            clips = list(await asyncio.gather(*(fetch(p) for p in picks)))
        finally:
            ctx.usage.provider_state("pexels", client.ratelimit)
        credits = ctx.workdir / "credits.txt"
        credits.write_text(self._credits(picks, kind), encoding="utf-8")
        art = Artifact(kind="credits", path=ctx.keep(credits), name="{name}.credits.txt")
        return StockOutputs(clips=clips, credits=[art])

    def _jobs(self, ctx: NodeContext, params: StockParams, inputs: StockInputs) -> list[tuple[int | None, str]]:
        if inputs.scenes:
            base = [(i, scene_query(s)) for i, s in enumerate(inputs.scenes)]
        elif inputs.queries:
            base = [(i, q.strip()) for i, q in enumerate(inputs.queries) if q.strip()]
        elif params.queries:
            base = [(i, q.strip()) for i, q in enumerate(params.queries) if q.strip()]
        elif params.query and params.query.strip():
            return [(None, params.query.strip())] * params.count
        else:
            raise ctx.error("nothing to search for: connect 'scenes' or 'queries', or set params.query", field="params.query")
        if not base:
            raise ctx.error("every query is empty", field="params.queries")
        return [j for j in base for _ in range(params.per_scene)]

    async def _pick(self, ctx: NodeContext, page, query: str, params: StockParams, used: set[int], kind: str) -> tuple[dict[str, Any], str]:
        tried: list[str] = []
        candidates = [query, *broader(query)]
        if params.fallback_query and params.fallback_query.strip():
            candidates.append(params.fallback_query.strip())
        # Last resort: the original query without the minimum-size filter (smaller files get upscaled).
        attempts = [(q, True) for q in dict.fromkeys(candidates)] + [(query, False)]
        for q, sized in attempts:
            if sized:
                tried.append(q)
            n = 1
            while n <= 3:  # a few pages at most: stay polite with the rate limit
                body = await page(q, n, sized)
                for item in body.get(kind) or []:
                    if int(item.get("id", -1)) in used:
                        continue
                    if kind == "videos":
                        if params.min_duration and (item.get("duration") or 0) < params.min_duration:
                            continue
                        if not pick_video_file(item, 1, 1):
                            continue
                    return item, q
                if not body.get("next_page"):
                    break
                n += 1
        shown = ", ".join(f"'{t}'" for t in tried)
        raise ctx.error(
            f"Pexels has no unused {kind} for {shown} (also without a size filter); change the scene's visual query or set params.fallback_query",
            field="params.fallback_query",
        )

    async def _download(self, ctx: NodeContext, client: PexelsClient, pick: tuple[int | None, str, dict[str, Any]], params: StockParams, width: int, height: int) -> Clip:
        scene_idx, query, item = pick
        if "video_files" in item:
            f = pick_video_file(item, width, height)
            assert f is not None
            url, dest, types = f["link"], ctx.workdir / f"pexels-{item['id']}.mp4", ("video/", "application/octet-stream")
        else:
            url = pick_photo_url(item, width, height)
            if not url:
                raise ctx.error(f"Pexels photo {item.get('id')} has no downloadable size")
            dest, types = ctx.workdir / f"pexels-{item['id']}.jpg", ("image/", "application/octet-stream")
        try:
            size = await client.download(url, dest, max_bytes=int(params.max_mb * 1024 * 1024), content_types=types)
        except FentaError as e:
            e.message = f"{e.message} (Pexels media {item.get('id')} for '{query}')"
            e.args = (e.message,)
            raise
        ctx.usage.record("pexels", units="bytes", quantity=size, cost=0.0)
        info = await asyncio.to_thread(probe, dest)
        path = ctx.keep(dest)
        source = str(item.get("url") or url)
        provenance = {"provider": "pexels", "pexels_id": item.get("id"), "query": query, "cost": 0.0, "credit": credit_line(item, "video" if "video_files" in item else "photo")}
        warning = await asyncio.to_thread(record_safely, path, origin="stock", source=source, provenance=provenance, settings=ctx.settings)
        if warning:
            ctx.warn(warning)
        if "video_files" in item:
            return Clip(kind="video", path=path, duration=info.duration, width=info.width, height=info.height, rotation=info.rotation, has_audio=info.has_audio, source=source, scene=scene_idx)
        return Clip(kind="image", path=path, width=info.width, height=info.height, source=source, scene=scene_idx)

    @staticmethod
    def _credits(picks: list[tuple[int | None, str, dict[str, Any]]], kind: str) -> str:
        noun = "Videos" if kind == "videos" else "Photos"
        lines = [f"{noun} provided by Pexels: https://www.pexels.com", ""]
        for scene_idx, _q, item in picks:
            where = f"scene {scene_idx + 1}: " if scene_idx is not None else ""
            lines.append(where + credit_line(item, "video" if kind == "videos" else "photo"))
        return "\n".join(lines) + "\n"


def credit_line(item: dict[str, Any], kind: str) -> str:
    """Pexels' credit for one video or photo: 'Video by NAME on Pexels: PAGE (PROFILE)'."""
    noun = "Video" if kind.startswith("video") else "Photo"
    if noun == "Video":
        user = item.get("user") or {}
        who, who_url = user.get("name") or "unknown", user.get("url") or ""
    else:
        who, who_url = item.get("photographer") or "unknown", item.get("photographer_url") or ""
    return f"{noun} by {who} on Pexels: {item.get('url', '')} ({who_url})"

