"""Music.Gen: a music bed made by Suno through KIE.ai, fitted to the narration, paid for once.

Non-custom mode writes an instrumental (or a song) from an idea - mood, genre, instruments; custom mode
takes a title, a style and (for vocals) the lyrics. Suno makes two tracks per request; the one nearest
the narration's length is the output `audio` (Timeline.music loops or trims it and ducks it under the
voice). Both are kept in the asset library with their provenance and the node's `tags` (e.g.
`mood:calm`); with `reuse` (the default), a later run that asks for the same tags takes a tagged track
from the library instead of paying again.

Suno reports in stages (PENDING, TEXT_SUCCESS, FIRST_SUCCESS = one track ready, SUCCESS = all) and calls
back in stages (text, first, complete); the task is done at SUCCESS / complete. Lyrics KIE refuses
(copyrighted: 400, matching existing work: 413) are one line and never retried.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from ..errors import FentaError
from ..library import clean_tag, list_assets
from ..media.probe import probe
from ..pricing import KieModel, credits_to_usd, kie_model, kie_models
from ..providers import client_for
from ..providers.kie import KieClient, suno_request
from ..types import Audio
from .ai_params import models_help
from .base import Node, NodeContext, Params, Ports, register
from .kie_tasks import Paid, fetch_files, keep_in_library, label_for, run_paid, task_key

__all__ = ["MusicGen", "nearest"]

_IDEA_MAX = 500  # non-custom prompt (api-contracts 1.9)
_TITLE_MAX = 80


class MusicGenParams(Params):
    prompt: str | None = Field(
        None,
        description="The idea: mood, genre, instruments, e.g. 'calm lo-fi piano, warm' (at most 500 "
        "characters; custom mode: ignored with lyrics).",
    )
    instrumental: bool = Field(True, description="No vocals (a bed under the narration).")
    model: str = Field("V4_5", description=models_help("music"))
    style: str | None = Field(
        None, description="Genre and sound, e.g. 'lo-fi hip hop, soft drums' (required in custom mode)."
    )
    title: str | None = Field(None, description="Custom mode: the track's title (at most 80 characters).")
    lyrics: str | None = Field(
        None, description="Custom mode with vocals (instrumental: false): the exact lyrics."
    )
    seconds: float | None = Field(
        None, gt=0, le=3600, description="Length to fit when no 'voice' is connected."
    )
    tags: list[str] = Field(
        default_factory=list, description="Library tags for the tracks, e.g. ['mood:calm']."
    )
    reuse: bool = Field(
        True, description="With tags: use a library track carrying every tag instead of paying for a new one."
    )
    negative_tags: str | None = Field(None, description="Styles to avoid, e.g. 'heavy metal, drums'.")
    callback_url: str | None = Field(
        None,
        description="Your public endpoint for KIE callbacks (KIE documents one as required for Suno; "
        "polling does the work).",
    )
    timeout: float = Field(
        900, gt=0, description="Seconds to wait for the music before giving up (resume continues it)."
    )


class MusicGenInputs(Ports):
    voice: Audio | None = Field(None, description="The narration: the track nearest its length is picked.")


class MusicGenOutputs(Ports):
    audio: Audio


def nearest(durations: list[float | None], target: float | None) -> int:
    """Index of the duration nearest `target` (the first when there is no target)."""
    if target is None:
        return 0
    known = [(abs(d - target), i) for i, d in enumerate(durations) if d is not None]
    return min(known)[1] if known else 0


@register
class MusicGen(Node):
    type = "Music.Gen"
    version = "1"
    description = (
        "A music bed made by Suno (KIE.ai): instrumental from a mood/style idea, or custom with title, style "
        "and lyrics; the track nearest the narration's length; tagged in the library and reused by tag. "
        "Connect 'audio' to Timeline.music."
    )
    Params = MusicGenParams
    Inputs = MusicGenInputs
    Outputs = MusicGenOutputs
    resource = "kie"

    def estimate_cost(self, params: MusicGenParams, template: dict[str, Any]) -> dict[str, float]:
        model = kie_model(params.model)
        return {"kie": credits_to_usd(model.credits(count=1))} if model and model.kind == "music" else {}

    def validate_params(self, params: MusicGenParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        model = kie_model(params.model)
        if model is None or model.kind != "music":
            known = sorted(m.id for m in kie_models().values() if m.kind == "music")
            return [("params.model", f"unknown music model '{params.model}'; known: {', '.join(known)}")]
        problems: list[tuple[str, str]] = []
        custom = bool(params.title or params.lyrics)
        style_max = 200 if model.id == "V4" else 1000
        if custom:
            if not (params.style and params.style.strip()):
                problems.append(("params.style", "custom mode (a title or lyrics) needs a style"))
            if not (params.title and params.title.strip()):
                problems.append(("params.title", "custom mode (lyrics) needs a title"))
            if params.lyrics and params.instrumental:
                problems.append(
                    ("params.lyrics", "lyrics are sung: set instrumental: false (or leave lyrics out)")
                )
            if not params.instrumental and not (params.lyrics and params.lyrics.strip()):
                problems.append(("params.lyrics", "custom mode with vocals needs the lyrics"))
        elif not (params.prompt and params.prompt.strip()):
            problems.append(
                (
                    "params.prompt",
                    "say what to make: a mood, genre or instruments (or give title, style and lyrics)",
                )
            )
        elif len(", ".join(p for p in (params.prompt, params.style) if p)) > _IDEA_MAX:
            problems.append(("params.prompt", f"the idea (prompt and style) is over {_IDEA_MAX} characters"))
        if params.style and len(params.style) > style_max:
            problems.append(("params.style", f"{model.id} takes a style of at most {style_max} characters"))
        if params.title and len(params.title) > _TITLE_MAX:
            problems.append(("params.title", f"a title has at most {_TITLE_MAX} characters"))
        if params.lyrics and model.prompt_max and len(params.lyrics) > model.prompt_max:
            problems.append(
                ("params.lyrics", f"{model.id} takes lyrics of at most {model.prompt_max} characters")
            )
        for i, t in enumerate(params.tags):
            try:
                clean_tag(t)
            except FentaError as e:
                problems.append((f"params.tags[{i}]", e.message))
        return problems

    async def run(self, ctx: NodeContext, params: MusicGenParams, inputs: MusicGenInputs) -> MusicGenOutputs:
        model = kie_model(params.model)
        assert model is not None  # validated at load time
        target = inputs.voice.duration if inputs.voice is not None else params.seconds
        tags = [clean_tag(t) for t in params.tags]
        if tags and params.reuse:
            found = await asyncio.to_thread(self._tagged, ctx, tags)
            if found:
                pick = found[nearest([a.duration for a in found], target)]
                ctx.info(
                    f"using library track {pick.id} ({pick.name}), tagged {', '.join(tags)}: no new music "
                    "paid for"
                )
                return MusicGenOutputs(audio=Audio(path=pick.path, duration=float(pick.duration or 0.0)))
        if not params.callback_url:
            ctx.warn(
                "KIE documents callBackUrl as required for Suno; if the request is refused, set "
                "params.callback_url (polling still does the work)"
            )
        return await self._generate(ctx, model, params, target, tags)

    @staticmethod
    def _tagged(ctx: NodeContext, tags: list[str]) -> list[Any]:
        assets = [
            a
            for a in list_assets(kind="audio", tag=tags[0], settings=ctx.settings)
            if set(tags) <= set(a.tags)
        ]
        return [a for a in assets if a.duration]

    async def _generate(
        self, ctx: NodeContext, model: KieModel, params: MusicGenParams, target: float | None, tags: list[str]
    ) -> MusicGenOutputs:
        client: KieClient = client_for(ctx, KieClient)  # type: ignore[assignment]
        path, body = suno_request(
            model,
            prompt=params.prompt,
            instrumental=params.instrumental,
            style=params.style,
            title=params.title,
            lyrics=params.lyrics,
            negative_tags=params.negative_tags,
            callback_url=params.callback_url,
        )
        key = task_key(model.id, path, body)
        sung = bool(params.lyrics and not params.instrumental)
        label = label_for(
            params.lyrics if sung else str(body.get("prompt") or params.title or ""),  # type: ignore[arg-type]
            what="lyrics" if sung else "music prompt",
        )
        paid = Paid(
            key,
            model,
            "suno",
            path,
            body,
            label,
            model.credits(count=1),
            meta={"prompt": body.get("prompt"), "style": params.style, "title": params.title},
            refusal_field="params.lyrics" if sung else "params.prompt",
        )
        status = await run_paid(ctx, client, paid, timeout=params.timeout)
        files, fresh = await fetch_files(ctx, client, key, status.urls, status.task_id, ".mp3")
        durations = [probe(f).duration for f in files]
        if fresh or tags:
            credits = float(
                ((ctx.job_store().provider_task(key) or {}).get("result") or {}).get("credits") or 0
            )
            provenance = {
                "provider": "kie",
                "model": model.id,
                "prompt": body.get("prompt"),
                "style": params.style,
                "title": params.title,
                "instrumental": params.instrumental,
                "task_id": status.task_id,
                "credits": credits,
                "cost": credits_to_usd(credits),
                "tracks": len(files),
            }
            for n, (f, url) in enumerate(zip(files, status.urls)):
                track = {**provenance, "track": n + 1, "seconds": durations[n]}
                await keep_in_library(ctx, [f], [url], track, tags)
        i = nearest(durations, target)
        if target is not None:
            ctx.info(
                f"picked Suno track {i + 1} of {len(files)} ({durations[i] or 0:.0f} s) for {target:.0f} s "
                "of narration"
            )
        return MusicGenOutputs(audio=Audio(path=files[i], duration=float(durations[i] or 0.0)))
