"""A long video in chunks: where the chunks lie (`chunk_spans`), rendering them one after another
(`render_chunks`: one FFmpeg per chunk, video only, while another makes the whole audio track) and
joining them without re-encoding (`join_args`), so memory stays flat however long the video.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..media.probe import MediaInfo
from .audio import audio_args
from .compose import build_command
from .encoders import X264, Encoder
from .profile import Profile
from .run import run_render
from .segments import frame_count, segment_ranges
from .stills import Slot
from .timeline import Timeline

__all__ = ["CHUNK_SEGMENTS", "chunk_spans", "join_args", "render_chunks"]

#: Timelines with more segments than this render in chunks of at most this many (see `chunk_spans`):
#: the benchmark scene's six, so a chunk holds what the 30 s benchmark holds (measured: 8 segments with
#: fades peaked at 680 MiB, the 30 s scene at 590).
CHUNK_SEGMENTS = 6


def chunk_spans(tl: Timeline, fps: int, per_chunk: int | None = None) -> list[tuple[int, int]]:
    """Output frames [first, end) of each chunk a render is made of: one span for a short video.

    FFmpeg opens every input at start-up and keeps every filter's frame pool until the end, so
    one graph's memory grows with the number of segments (~10 MiB a segment with cuts, ~30 MiB
    more per transition). A timeline of more than `per_chunk` segments (`CHUNK_SEGMENTS`) is
    rendered as chunks of at most that many, each by its own FFmpeg, joined without re-encoding.
    A boundary lies where one segment ends: with transitions, that is where the transition into
    the next segment is complete, so no transition is cut in two (the next chunk starts inside
    that segment, from the same frames).
    """
    per_chunk = per_chunk or CHUNK_SEGMENTS
    ranges = segment_ranges(tl, fps)
    total = frame_count(tl.duration, fps)
    n = len(ranges)
    if n <= per_chunk:
        return [(0, total)]

    def usable(i: int) -> bool:
        """A boundary at the end of segment i-1: segment i goes on past it before its own transition-out."""
        f = ranges[i - 1][1]
        nxt = ranges[i + 1][0] if i + 1 < n else total
        return ranges[i][0] <= f < min(nxt, total) and all(b <= f for _, b in ranges[: i - 1])

    k = -(-n // per_chunk)
    cuts: list[int] = []
    for j in range(1, k):
        ideal = round(j * n / k)
        for d in range(n):
            i = next(
                (c for c in (ideal - d, ideal + d) if (not cuts or c > cuts[-1]) and 0 < c < n and usable(c)),
                None,
            )
            if i is not None:
                cuts.append(i)
                break
    bounds = [0] + sorted({ranges[i - 1][1] for i in cuts}) + [total]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def join_args(pieces: list[tuple[Path, int]], audio: Path, out: Path, fps: int) -> list[str]:
    """FFmpeg arguments joining video chunks (path, frame count) and the audio track into `out`, copying both.

    Writes the concat list beside the pieces (they must share a folder); each piece's length is
    stated in frames there: MP4 headers round it to the millisecond, which shifted the next
    chunk's timestamps by up to a millisecond.
    """
    folder = pieces[0][0].parent
    listing = folder / "chunks.txt"
    lines = ["ffconcat version 1.0"]
    for path, frames in pieces:
        if path.parent != folder or not re.fullmatch(r"[\w.-]+", path.name):
            raise ValueError(f"chunk {path} must be a plain name in {folder}")
        lines += [f"file {path.name}", f"duration {frames / fps:.6f}"]
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        "file:" + str(listing.resolve()),
        "-i",
        "file:" + str(Path(audio).resolve()),
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(out),
    ]


async def render_chunks(
    tl: Timeline,
    spans: list[tuple[int, int]],
    out: Path,
    folder: Path,
    *,
    profile: Profile,
    infos: dict[str, MediaInfo],
    textdir: Path,
    gain: float | None,
    prepared: dict[Slot, Path],
    encoder: Encoder = X264,
    on_progress=None,
    audio: Path | None = None,
) -> None:
    """Render `tl` as one FFmpeg per span (video only, one after another) while another FFmpeg
    makes the whole audio track, then join them without re-encoding.

    Every chunk has the same encoder settings and starts on a keyframe (each FFmpeg run starts
    its stream with one), so the joined stream plays as one. The audio is made once for the
    whole video: one loudness gain, one limiter, no AAC priming gap at the joins. A finished `audio`
    track (another rendition's) is joined instead.
    """
    import asyncio

    from ..media.run import run_ffmpeg

    fps = int(tl.canvas["fps"])
    total = spans[-1][1]
    folder.mkdir(parents=True, exist_ok=True)
    if audio is None:
        audio = folder / "audio.m4a"
        making = audio_args(tl, audio, profile=profile, infos=infos, loudness_gain=gain)
        audio_task = asyncio.ensure_future(run_render(making, what="render audio", total_seconds=None))
    else:
        audio_task = asyncio.ensure_future(asyncio.sleep(0))
    pieces: list[tuple[Path, int]] = []
    try:
        for j, (lo, hi) in enumerate(spans):
            piece = folder / f"chunk{j:04d}.mp4"
            args = build_command(
                tl,
                piece,
                None,
                profile=profile,
                infos=infos,
                textdir=textdir,
                prepared_stills=prepared,
                span=(lo, hi),
                with_audio=False,
                encoder=encoder,
            )
            progress = (
                (lambda f, lo=lo, hi=hi: on_progress((lo + f * (hi - lo)) / total)) if on_progress else None
            )
            await run_render(
                args,
                what=f"render chunk {j + 1} of {len(spans)}",
                total_seconds=(hi - lo) / fps,
                on_progress=progress,
            )
            pieces.append((piece, hi - lo))
        await audio_task
    except BaseException:
        audio_task.cancel()
        await asyncio.gather(audio_task, return_exceptions=True)
        raise
    await run_ffmpeg(join_args(pieces, audio, out, fps), what="joining chunks")
