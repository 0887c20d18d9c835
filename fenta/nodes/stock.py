"""Input.Stock: Pexels stock videos or photos for each scene, ranked by what they show, with a credits file.

Per scene: the first `candidates` fitting results (duration, files for the canvas; clips this
workflow's jobs showed in the last `avoid_recent_days` only when nothing else fits) are ranked
(`stock_rank`), and the best one no earlier scene took wins. Searches, downloads and vision scores
are cached (`stock_search`), so a re-run makes no request and pays nothing. Its params and ports:
`stock_params`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..config import Settings
from ..errors import FentaError
from ..library import record_safely
from ..media.probe import probe
from ..providers import client_for
from ..providers.openrouter_models import estimate_usd, resolve_model
from ..providers.pexels import (
    PexelsClient,
    orientation_of,
    pick_photo_url,
    pick_video_file,
)
from ..types import Artifact, Clip
from .base import Node, NodeContext, register
from .stock_params import StockInputs, StockOutputs, StockParams
from .stock_rank import (
    Ranked,
    best_first,
    estimate_vision_tokens,
    text_scores,
    vision_key,
)
from .stock_search import (
    StockPick,
    StockSearch,
    VisionScorer,
    cached_media,
    remember_media,
    scene_query,
)


def rank_mode(params: StockParams, settings: Settings) -> tuple[str, str | None]:
    """(rank actually used, vision model or None): `auto` is vision when a key and a vision model are set."""
    mode = params.rank
    if mode == "auto":
        model_set = params.vision_model.strip().lower() != "vision" or "vision" in settings.models
        mode = "vision" if "openrouter" in settings.keys and model_set else "text"
    return mode, resolve_model(params.vision_model, settings) if mode == "vision" else None


@register
class InputStock(Node):
    type = "Input.Stock"
    version = "2"  # 2: candidates ranked (vision, text or first), clips shown lately skipped
    description = (
        "Stock videos or photos from Pexels for each scene, ranked by what they show (a vision model, or the "
        "clip's own words), never the same clip twice nor one the workflow showed lately; plus credits."
    )
    Params = StockParams
    Inputs = StockInputs
    Outputs = StockOutputs
    resource = "pexels"
    uses_template = True
    # The pick depends on what the workflow's recent jobs showed (the job store), not only on params and
    # inputs: the node runs every time, and its searches, downloads and vision scores come from caches.
    cacheable = False

    def required_keys(self, params: StockParams) -> set[str]:
        return {"pexels", "openrouter"} if params.rank == "vision" else {"pexels"}

    def estimate_cost(self, params: StockParams, template: dict[str, Any]) -> dict[str, float]:
        mode, model = rank_mode(params, Settings.from_env())
        if mode != "vision" or model is None:
            return {}
        # Scenes come from a script at run time: six is a 30-40 s script's usual count.
        scenes = len(params.queries) if params.queries else params.count if params.query else 6
        prompt, completion = estimate_vision_tokens(params.candidates)
        return {"openrouter": estimate_usd(model, prompt * scenes, completion * scenes)}

    async def run(self, ctx: NodeContext, params: StockParams, inputs: StockInputs) -> StockOutputs:
        jobs = self._jobs(ctx, params, inputs)
        canvas = ctx.template.get("canvas") or {"width": 1080, "height": 1920}
        width, height = int(canvas["width"]), int(canvas["height"])
        orientation = orientation_of(width, height) if params.orientation == "auto" else params.orientation
        short = min(width, height)
        size = "large" if short >= 2160 else "medium" if short >= 1080 else "small"
        client: PexelsClient = client_for(ctx, PexelsClient)  # type: ignore[assignment]
        kind = "videos" if params.media == "video" else "photos"
        mode, model = rank_mode(params, ctx.settings)
        search = StockSearch(ctx, client, kind, orientation, size, params)
        provider = f"pexels-{params.media}"
        recent = self._recent(ctx, params, provider)
        try:
            # First pages of every distinct query in parallel; picking stays sequential (deterministic).
            await asyncio.gather(*(search.page(q, 1) for q in dict.fromkeys(q for _, q, _ in jobs)))
            want = 1 if mode == "first" else params.candidates
            found = [await search.candidates(q, want, recent) for _, q, _ in jobs]
            ranked = await self._rank(
                ctx, params, mode, model, [(text, c) for (_, _, text), (c, _) in zip(jobs, found)]
            )
            ctx.progress(0.15)
            # From here to _remember nothing awaits: jobs of this process running at once (a batch's rows)
            # see each other's picks, and the history is read again for the picks made meanwhile.
            recent |= self._recent(ctx, params, provider)
            used: set[int] = set()
            chosen: list[Ranked | None] = []
            for order in ranked:
                free = [r for r in order if r.id not in used]
                best = next((r for r in free if r.id not in recent), free[0] if free else None)
                chosen.append(best)
                used |= {best.id} if best else set()
            self._remember(ctx, provider, [b.id for b in chosen if b])
            picks: list[tuple[int | None, str, dict[str, Any]]] = []
            records: list[StockPick] = []
            for (scene_idx, query, _), (_, got_query), order, best in zip(jobs, found, ranked, chosen):
                if best is None:  # every ranked candidate is taken by an earlier scene: the next fitting one
                    cands, got_query = await search.candidates(query, 1, recent, exclude=used)
                    if not cands:
                        raise self._nothing_left(ctx, search, query, kind)
                    best = Ranked(cands[0], 0.0, "the ranked candidates were taken by earlier scenes", 0)
                    order = [best]
                    used.add(best.id)
                if got_query != query:
                    ctx.info(f"no Pexels {kind} for '{query}'; used '{got_query}'")
                if best.id in recent:
                    ctx.info(
                        f"every Pexels {kind[:-1]} that fits '{got_query}' was shown in the last "
                        f"{params.avoid_recent_days:g} days; showing one again"
                    )
                picks.append((scene_idx, got_query, best.item))
                records.append(StockPick.of(scene_idx, got_query, mode, model, best, order, recent))
            if None in chosen:
                self._remember(ctx, provider, [int(p[2]["id"]) for p in picks])
            ctx.progress(0.2)
            done = 0
            sem = asyncio.Semaphore(4)

            async def fetch(pick: tuple[int | None, str, dict[str, Any]], record: StockPick) -> Clip:
                nonlocal done
                async with sem:
                    clip = await self._download(ctx, client, pick, record, params, width, height)
                done += 1
                ctx.progress(0.2 + 0.8 * done / len(picks))
                return clip

            clips = list(await asyncio.gather(*(fetch(p, r) for p, r in zip(picks, records))))
        finally:
            ctx.usage.provider_state("pexels", client.ratelimit)
        credits = ctx.workdir / "credits.txt"
        credits.write_text(self._credits(picks, kind), encoding="utf-8")
        art = Artifact(kind="credits", path=ctx.keep(credits), name="{name}.credits.txt")
        return StockOutputs(clips=clips, credits=[art], picks=records)

    @staticmethod
    def _recent(ctx: NodeContext, params: StockParams, provider: str) -> set[int]:
        """Ids of the clips this workflow's other jobs showed in the last `avoid_recent_days`."""
        if ctx.store is None or params.avoid_recent_days <= 0:
            return set()
        since = time.time() - params.avoid_recent_days * 86400
        rows = ctx.store.recent_clips(ctx.workflow_name, since, exclude_job=ctx.job_id)
        return {int(r["clip_id"]) for r in rows if r["provider"] == provider and str(r["clip_id"]).isdigit()}

    @staticmethod
    def _remember(ctx: NodeContext, provider: str, ids: list[int]) -> None:
        if ctx.store is not None:
            ctx.store.remember_clips(
                workflow=ctx.workflow_name,
                provider=provider,
                clip_ids=[str(i) for i in ids],
                job_id=ctx.job_id,
                node_id=ctx.node_id,
            )

    def _jobs(
        self, ctx: NodeContext, params: StockParams, inputs: StockInputs
    ) -> list[tuple[int | None, str, str]]:
        """(scene index, search, the words the clip should show) per clip to find."""
        if inputs.scenes:
            base = [
                (i, scene_query(s), f"{s.narration} {s.visual or ''}".strip())
                for i, s in enumerate(inputs.scenes)
            ]
        elif inputs.queries:
            base = [(i, q.strip(), q.strip()) for i, q in enumerate(inputs.queries) if q.strip()]
        elif params.queries:
            base = [(i, q.strip(), q.strip()) for i, q in enumerate(params.queries) if q.strip()]
        elif params.query and params.query.strip():
            return [(None, params.query.strip(), params.query.strip())] * params.count
        else:
            raise ctx.error(
                "nothing to search for: connect 'scenes' or 'queries', or set params.query",
                field="params.query",
            )
        if not base:
            raise ctx.error("every query is empty", field="params.queries")
        return [j for j in base for _ in range(params.per_scene)]

    async def _rank(
        self,
        ctx: NodeContext,
        params: StockParams,
        mode: str,
        model: str | None,
        jobs: list[tuple[str, list[dict[str, Any]]]],
    ) -> list[list[Ranked]]:
        """Each job's candidates, best first (one vision request per distinct scene and candidates)."""
        if mode != "vision" or model is None:
            scored = [
                text_scores(t, c, params.locale)
                if mode == "text"
                else [Ranked(i, 0.0, "first result", n) for n, i in enumerate(c)]
                for t, c in jobs
            ]
            return [best_first(r) for r in scored]
        scorer = VisionScorer(ctx, model)
        distinct = {vision_key(model, t, c): (t, c) for t, c in jobs if c}
        results = dict(
            zip(distinct, await asyncio.gather(*(scorer.score(t, c) for t, c in distinct.values())))
        )
        return [best_first(results[vision_key(model, t, c)]) if c else [] for t, c in jobs]

    @staticmethod
    def _nothing_left(ctx: NodeContext, search: StockSearch, query: str, kind: str) -> Exception:
        shown = ", ".join(f"'{t}'" for t in search.tried(query))
        return ctx.error(
            f"Pexels has no unused {kind} for {shown} (also without a size filter); "
            "change the scene's visual query or set params.fallback_query",
            field="params.fallback_query",
        )

    async def _download(
        self,
        ctx: NodeContext,
        client: PexelsClient,
        pick: tuple[int | None, str, dict[str, Any]],
        record: StockPick,
        params: StockParams,
        width: int,
        height: int,
    ) -> Clip:
        scene_idx, query, item = pick
        if "video_files" in item:
            f = pick_video_file(item, width, height)
            assert f is not None
            url, dest, types = (
                f["link"],
                ctx.workdir / f"pexels-{item['id']}.mp4",
                ("video/", "application/octet-stream"),
            )
        else:
            url = pick_photo_url(item, width, height)
            if not url:
                raise ctx.error(f"Pexels photo {item.get('id')} has no downloadable size")
            dest, types = ctx.workdir / f"pexels-{item['id']}.jpg", ("image/", "application/octet-stream")
        path = cached_media(ctx, url)
        if path is None:
            try:
                size = await client.download(
                    url, dest, max_bytes=int(params.max_mb * 1024 * 1024), content_types=types
                )
            except FentaError as e:
                e.message = f"{e.message} (Pexels media {item.get('id')} for '{query}')"
                e.args = (e.message,)
                raise
            ctx.usage.record("pexels", units="bytes", quantity=size, cost=0.0)
            path = ctx.keep(dest)
            remember_media(ctx, url, path)
        info = await asyncio.to_thread(probe, path)
        source = str(item.get("url") or url)
        noun = "video" if "video_files" in item else "photo"
        provenance = {
            "provider": "pexels",
            "pexels_id": item.get("id"),
            "query": query,
            "cost": 0.0,
            "credit": credit_line(item, noun),
            "rank": record.rank,
            "score": record.score,
            "reason": record.reason,
            **({"model": record.model} if record.model else {}),
        }
        warning = await asyncio.to_thread(
            record_safely, path, origin="stock", source=source, provenance=provenance, settings=ctx.settings
        )
        if warning:
            ctx.warn(warning)
        if "video_files" in item:
            return Clip(
                kind="video",
                path=path,
                duration=info.duration,
                width=info.width,
                height=info.height,
                rotation=info.rotation,
                has_audio=info.has_audio,
                source=source,
                scene=scene_idx,
            )
        return Clip(
            kind="image", path=path, width=info.width, height=info.height, source=source, scene=scene_idx
        )

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
