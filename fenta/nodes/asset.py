"""Input.Asset: local files, URLs or library assets (images, video, audio)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..config import Settings
from ..errors import AssetError, FentaError, MediaError, URLError
from ..library import Asset, add_url, pick, tagged
from ..library import get as get_asset
from ..media.probe import MediaInfo, probe
from ..netguard import literal_problem
from ..types import Audio, Clip, Fraction
from .base import CheckContext, Node, NodeContext, Params, Ports, file_stamp, local_path, register


class AssetParams(Params):
    paths: list[str] = Field(
        default_factory=list, description="Files (relative to the workflow) or http(s) URLs."
    )
    asset: str | list[str] | None = Field(
        None, description="Asset id(s) from the library (`fenta assets list`)."
    )
    tag: str | None = Field(
        None, description="Every library asset with this tag, in the order they were added."
    )
    pick: Literal["all", "random"] = Field(
        "all", description="With `tag`: all in order, or random: shuffled with `seed`."
    )
    seed: int = Field(0, description="Seed of `pick: random` (the same seed picks the same clips).")
    count: int | None = Field(
        None, ge=1, description="With `tag`: use at most this many of the tagged assets."
    )
    focus: tuple[Fraction, Fraction] | None = Field(
        None, description="What stays in frame when a clip is cropped to a canvas: [x, y] fractions (centre)."
    )

    def asset_ids(self) -> list[str]:
        return [self.asset] if isinstance(self.asset, str) else list(self.asset or [])


class AssetOutputs(Ports):
    clips: list[Clip]
    audio: Audio | None = None


def _is_url(s: str) -> bool:
    # By its scheme alone: urlparse raises on some malformed URLs ("http://[::1/x"), which are URLs
    # all the same, and bad ones (validation says why).
    return s.split(":", 1)[0].lower() in ("http", "https") and "://" in s


async def _download(ctx: NodeContext, url: str) -> Path:
    """A URL through the asset library: downloaded once (http(s), size cap, media content type), then
    reused by every later run; it is listed by `fenta assets list` like any other asset."""
    try:
        asset = await asyncio.to_thread(add_url, url, settings=ctx.settings, policy=ctx.policy)
    except FentaError as e:
        where: dict[str, Any] = {"file": url, "node": ctx.node_id, "field": "params.paths"}
        raise MediaError(e.message, retryable=e.retryable, **where) from None
    return Path(asset.path)


class _LibraryProblem(Exception):
    """An asset id or tag the library cannot resolve (a validation problem: field and message)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _library_assets(params: AssetParams, settings: Settings) -> list[Asset]:
    """The library assets the params name: the `asset` ids in order, then the `tag`'s pick (no repeats)."""
    out: list[Asset] = []
    ids = params.asset_ids()
    for i, asset_id in enumerate(ids):
        field = "params.asset" if isinstance(params.asset, str) else f"params.asset[{i}]"
        try:
            out.append(get_asset(asset_id, settings=settings))
        except FentaError as e:
            raise _LibraryProblem(field, e.message) from None
    if params.tag is not None:
        try:
            found = tagged(params.tag, settings=settings)
        except FentaError as e:
            raise _LibraryProblem("params.tag", e.message) from None
        if not found:
            raise _LibraryProblem(
                "params.tag",
                f"no asset in the library is tagged '{params.tag}' "
                f"(tag some with `fenta assets tag ID {params.tag}`)",
            )
        seen = {a.id for a in out}
        out += [
            a for a in pick(found, how=params.pick, seed=params.seed, count=params.count) if a.id not in seen
        ]
    for a in out:
        if not Path(a.path).is_file():
            raise _LibraryProblem(
                "params.tag" if a.id not in ids else "params.asset",
                f"asset {a.id} ({a.name}): its stored file is gone ({a.path}); add it again",
            )
    return out


def _focus_of(asset: Asset | None) -> tuple[float, float] | None:
    """A library asset's focus point, when its provenance records one ([x, y] fractions)."""
    value = (asset.provenance or {}).get("focus") if asset is not None else None
    try:
        x, y = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return (x, y) if 0 <= x <= 1 and 0 <= y <= 1 else None


def clip_from_info(info: MediaInfo, path: str, source: str) -> Clip:
    w, h = info.display_size
    if info.is_still:
        return Clip(kind="image", path=path, width=w, height=h, source=source)
    return Clip(
        kind="video",
        path=path,
        duration=info.duration,
        width=w,
        height=h,
        rotation=info.rotation,
        has_audio=info.has_audio,
        source=source,
    )


@register
class InputAsset(Node):
    type = "Input.Asset"
    description = (
        "Your own images, video clips and audio: files, URLs, "
        "or library assets by id or tag (`fenta assets`)."
    )
    Params = AssetParams
    Outputs = AssetOutputs

    def validate(self, params: AssetParams, ctx: CheckContext) -> list[tuple[str, str]]:
        """Every local file must exist (each missing one is its own problem); asset ids and tags must be
        in the library (read from fenta.db); URLs are not fetched."""
        problems = super().validate(params, ctx)
        if not (params.paths or params.asset or params.tag):
            problems.append(
                ("params.paths", "required param is missing: give paths, asset (library ids) or tag")
            )
        for i, p in enumerate(params.paths):
            if _is_url(p):
                # No DNS here: a bad host or port, or (untrusted) a loopback or private address literal,
                # is bad input now; a host name is resolved and checked under the job's policy when
                # it is fetched.
                try:
                    refused = literal_problem(p, ctx.policy)  # an address literal is judged now
                except URLError as e:
                    refused = e.message
                if refused:
                    problems.append((f"params.paths[{i}]", refused))
                continue
            path = ctx.path(p)
            if not path.exists():
                problems.append((f"params.paths[{i}]", f"file not found: {path}"))
            elif not path.is_file():
                problems.append((f"params.paths[{i}]", f"not a file: {path}"))
        try:
            _library_assets(params, Settings.from_env())
        except _LibraryProblem as e:
            problems.append((e.field, e.message))
        return problems

    def local_paths(self, params: AssetParams) -> list[tuple[str, str]]:
        # URLs are fetched, not opened (the guarded fetch checks them); library assets are the library's.
        return [(f"params.paths[{i}]", p) for i, p in enumerate(params.paths) if not _is_url(p)]

    def fingerprint(self, params: AssetParams, inputs, *, workflow_file: str | None = None) -> str:
        # Local files may change under the same name: key on size and mtime too. Library assets are
        # named by content; a tag's key changes when assets gain or lose it.
        parts = []
        for p in params.paths:
            if _is_url(p):
                parts.append(p)
                continue
            parts.append(file_stamp(local_path(workflow_file, p)))
        try:
            parts += [a.sha256 for a in _library_assets(params, Settings.from_env())]
        except _LibraryProblem as e:
            parts.append(f"missing:{e.field}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    async def run(self, ctx: NodeContext, params: AssetParams, inputs) -> AssetOutputs:
        clips: list[Clip] = []
        audio: Audio | None = None
        try:
            assets = await asyncio.to_thread(_library_assets, params, ctx.settings)
        except _LibraryProblem as e:
            raise ctx.error(e.message, field=e.field, cls=AssetError) from None
        sources = [(p, None) for p in params.paths] + [(a.path, a) for a in assets]
        for p, asset in sources:
            if asset is not None:
                local, shown = Path(p), f"asset {asset.id} ({asset.name})"
            elif _is_url(p):
                local = await _download(ctx, p)
                shown = p
            else:
                local = ctx.local_file(p, field="params.paths")
                shown = str(local)
                if not local.is_file():
                    raise MediaError("file not found", file=shown, node=ctx.node_id, field="params.paths")
            try:
                info = await asyncio.to_thread(probe, local)
            except MediaError as e:
                raise MediaError(e.message, file=shown, node=ctx.node_id, field="params.paths") from None
            if not info.has_video and info.has_audio:
                if audio is not None:
                    ctx.warn(f"more than one audio file; using the first, ignoring {shown}")
                    continue
                audio = Audio(path=str(local), duration=info.duration or 0.0)
                continue
            if not info.has_video:
                raise MediaError(
                    "has neither video nor audio", file=shown, node=ctx.node_id, field="params.paths"
                )
            clip = clip_from_info(info, str(local), f"asset:{asset.id}" if asset else os.path.basename(shown))
            focus = params.focus or _focus_of(asset)
            clips.append(clip.model_copy(update={"focus": focus}) if focus else clip)
        return AssetOutputs(clips=clips, audio=audio)
