"""Rendering a timeline to a finished MP4 and its thumbnail, nothing left behind on failure.

A short video is one FFmpeg process (`compose.build_command`, run by `run.run_render`). A long one
(more than `chunks.CHUNK_SEGMENTS` segments) is one FFmpeg per chunk of segments, video only, one
after another, while another FFmpeg makes the whole audio track; the pieces are joined without
re-encoding (`chunks.render_chunks`), so memory stays flat however long the video. Renditions of one
story (`render_renditions`) share the probes, the loudness pass, the prepared stills and the audio
track.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MediaError
from ..media.probe import MediaInfo, probe
from .audio import measure_loudness
from .chunks import chunk_spans, render_chunks
from .compose import build_command
from .encoders import X264, Encoder, resolve_encoder
from .frames import still_args, still_slots
from .inputs import probe_inputs
from .profile import Profile, output_size
from .run import run_render
from .stills import Slot, prepare_stills
from .thumbnail import thumbnail_args
from .timeline import Timeline

__all__ = ["render", "render_renditions", "Rendition"]

log = logging.getLogger("fenta")


@dataclass
class _Ready:
    """What every rendition of a timeline shares: probes, the loudness gain, prepared stills, the encoder."""

    infos: dict[str, MediaInfo]
    gain: float | None
    stills: dict[Slot, Path]
    encoder: Encoder
    stills_dir: Path


@dataclass
class Rendition:
    """One output of `render_renditions`: a timeline laid out for its canvas, where it goes, its profile."""

    timeline: Timeline
    video: Path
    thumb: Path | None
    profile: Profile = field(default_factory=Profile)


async def _prepare(jobs: list[tuple[Timeline, Profile]], workdir: Path) -> _Ready:
    """Probe, measure the loudness, prepare the large stills (every rendition's slots) and choose the
    encoder, side by side. The audio is the same in every rendition: measured once."""
    import asyncio
    import os
    import shutil

    tl, profile = jobs[0]
    # The loudness pass reads only the audio files and large stills need only their headers:
    # both run alongside the probes.
    measuring = asyncio.ensure_future(measure_loudness(tl, {}))
    stills_dir = workdir / f".stills{os.getpid()}"
    slots = [s for t, p in jobs for s in still_slots(t, *output_size(t.canvas, p.name))]
    preparing = asyncio.ensure_future(prepare_stills(slots, stills_dir, still_args))
    # x264 needs no test; a hardware encoder is tested once per machine (cached), alongside the probes.
    choosing = None
    if profile.encoder != "x264":
        choosing = asyncio.ensure_future(asyncio.to_thread(resolve_encoder, profile.encoder))

    def probe_all() -> dict[str, MediaInfo]:
        infos: dict[str, MediaInfo] = {}
        for t, _ in jobs:
            infos = probe_inputs(t, infos)
        return infos

    try:
        infos = await asyncio.to_thread(probe_all)
        gain = await measuring
        prepared = await preparing
        enc = await choosing if choosing is not None else X264
    except BaseException:
        tasks = [t for t in (measuring, preparing, choosing) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        shutil.rmtree(stills_dir, ignore_errors=True)
        raise
    return _Ready(infos, gain, prepared, enc, stills_dir)


async def render(
    tl: Timeline,
    video: Path,
    thumb: Path | None,
    *,
    profile: Profile = Profile(),
    workdir: Path,
    on_progress=None,
) -> MediaInfo:
    """Render `tl` to `video` (+ `thumb`) in one FFmpeg process; nothing is left at the paths on failure.

    Both files are written under temporary names in `video`'s folder and renamed
    into place only when FFmpeg succeeded and the result probes as a video.

    Raises:
        MediaError: an input is missing, unreadable or of the wrong kind (names the file).
        RenderError: FFmpeg failed for another reason (carries its stderr tail).
    """
    import shutil

    ready = await _prepare([(tl, profile)], workdir)
    try:
        return await _encode(tl, video, thumb, profile, ready, workdir, on_progress=on_progress)
    finally:
        shutil.rmtree(ready.stills_dir, ignore_errors=True)


async def render_renditions(items: list[Rendition], *, workdir: Path, on_progress=None) -> list[MediaInfo]:
    """Render one story to several canvases (`aspects.rendition_timeline`), one after another.

    Probes, loudness and large stills are done once for all; the first rendition is rendered as `render`
    does, and its audio stream is copied (not encoded again) into the others, so every file has the same
    audio, bit for bit. Each file is whole or absent, as with `render`.

    Raises:
        MediaError, RenderError: as `render`.
    """
    import os
    import shutil

    from ..media.run import run_ffmpeg

    ready = await _prepare([(r.timeline, r.profile) for r in items], workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    audio = workdir / f".audio{os.getpid()}.m4a"
    weights = [r.timeline.duration * _pixels(r) for r in items]
    done: list[MediaInfo] = []
    try:
        for k, r in enumerate(items):
            lo, span = sum(weights[:k]) / sum(weights), weights[k] / sum(weights)
            progress = (lambda f, lo=lo, span=span: on_progress(lo + f * span)) if on_progress else None
            track = audio if k else None
            info = await _encode(
                r.timeline, r.video, r.thumb, r.profile, ready, workdir, audio=track, on_progress=progress
            )
            done.append(info)
            if k == 0 and len(items) > 1:
                source = "file:" + str(r.video.resolve())
                copy = ["-i", source, "-map", "0:a:0", "-c", "copy", "-f", "mp4", str(audio)]
                await run_ffmpeg(copy, what="copying the audio track")
        return done
    finally:
        shutil.rmtree(ready.stills_dir, ignore_errors=True)
        audio.unlink(missing_ok=True)


def _pixels(r: Rendition) -> int:
    w, h = output_size(r.timeline.canvas, r.profile.name)
    return w * h


async def _encode(
    tl: Timeline,
    video: Path,
    thumb: Path | None,
    profile: Profile,
    ready: _Ready,
    workdir: Path,
    *,
    audio: Path | None = None,
    on_progress=None,
) -> MediaInfo:
    """Encode one timeline with what `_prepare` made (and a finished `audio` track to copy, if given)."""
    import asyncio
    import os
    import shutil

    from ..errors import RenderError
    from ..media.run import run_ffmpeg

    W, _ = output_size(tl.canvas, profile.name)
    infos, gain, prepared = ready.infos, ready.gain, ready.stills
    tmp_video = video.with_name(f".{video.stem}.part{os.getpid()}.mp4")
    tmp_thumb = thumb.with_name(f".{thumb.stem}.part{os.getpid()}.jpg") if thumb is not None else None
    chunk_dir = workdir / f".chunks{os.getpid()}"
    spans = chunk_spans(tl, int(tl.canvas["fps"]))

    async def encode(enc: Encoder) -> None:
        if len(spans) == 1:
            args = build_command(
                tl,
                tmp_video,
                None,
                profile=profile,
                infos=infos,
                textdir=workdir,
                loudness_gain=gain,
                prepared_stills=prepared,
                encoder=enc,
                audio_track=audio,
            )
            await run_render(args, what="render", total_seconds=tl.duration, on_progress=on_progress)
        else:
            await render_chunks(
                tl,
                spans,
                tmp_video,
                chunk_dir,
                profile=profile,
                infos=infos,
                textdir=workdir,
                gain=gain,
                prepared=prepared,
                encoder=enc,
                on_progress=on_progress,
                audio=audio,
            )

    enc = ready.encoder
    try:
        try:
            await encode(enc)
        except (RenderError, MediaError) as e:
            if not enc.hardware:
                raise
            # Never a failed job for the encoder: x264 makes the same video (and names a bad input, if any).
            log.warning(
                "notice: the %s encoder failed (%s); encoding with x264",
                enc.name,
                getattr(e, "reason", None) or e,
            )
            await encode(X264)
        # The check of the finished file and the thumbnail cut from it run side by side.
        cutting = (
            run_ffmpeg(
                thumbnail_args(tmp_video, tmp_thumb, tl.duration, W, int(tl.canvas["fps"])), what="thumbnail"
            )
            if tmp_thumb is not None
            else asyncio.sleep(0)
        )
        info, cut = await asyncio.gather(asyncio.to_thread(probe, tmp_video), cutting, return_exceptions=True)
        if isinstance(info, BaseException):
            raise info
        if not info.has_video:
            raise RenderError("render produced no video stream")
        if isinstance(cut, BaseException):
            raise cut
        os.replace(tmp_video, video)
        if tmp_thumb is not None and tmp_thumb.exists():
            os.replace(tmp_thumb, thumb)  # type: ignore[arg-type]
        return info
    finally:
        shutil.rmtree(chunk_dir, ignore_errors=True)
        for p in (tmp_video, tmp_thumb):
            if p is not None and p.exists():
                p.unlink()
