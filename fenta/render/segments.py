"""The video of each segment, and segments joined by their transitions (ffmpeg-python streams).

A segment is a slot of the timeline: a colour, a still (looped, with its Ken Burns zoom) or a
moving clip (seeked, looped if short, cut to length), always exactly its frames at the canvas size.
Frame numbers, not times, place everything: `segment_ranges` gives each segment's frames on the
video's clock, transition overlaps included.

Cost notes (the filters must stay cheap next to x264):

* Every source is cropped to the output aspect in its own pixels first, then
  scaled once (bicubic) - never scaled up to cover and cropped afterwards (`frames`).
* A still is decoded and scaled once; the `loop` filter repeats that frame, and
  Ken Burns is one bicubic downscale per frame from the pre-zoomed picture.
  Stills far larger than their slot get that one scale in a short FFmpeg run of
  their own before the render (`stills`): same frames, far less memory held.
* A transition blends only the frames that overlap (`crossfaded`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg

from ..media.probe import MediaInfo
from .frames import (
    OUT_COLOUR,
    SCALE_THREADS,
    cover,
    cover_size,
    input_matrix,
    slot_key,
    still_frame,
)
from .inputs import file_input, source_filter
from .overlays import hex_colour
from .stills import Slot
from .timeline import Segment, Timeline

__all__ = ["frame_count", "segment_ranges", "segment_stream", "crossfaded"]

#: Clips up to this many pixels (1080p) are decoded on one thread; larger ones (4K stock) keep frame threads.
_SMALL_SOURCE_PIXELS = 1920 * 1080


def frame_count(seconds: float, fps: int) -> int:
    return int(round(seconds * fps))


def segment_ranges(tl: Timeline, fps: int) -> list[tuple[int, int]]:
    """Output frames [first, end) of each segment on the video's clock, transition overlaps included."""
    total = frame_count(tl.duration, fps)
    ranges = [(frame_count(s.start, fps), frame_count(s.start + s.duration, fps)) for s in tl.segments]
    ranges[-1] = (ranges[-1][0], max(ranges[-1][0] + 1, total))
    return ranges


def _ken_burns(v, W: int, H: int, fps: int, z0: float, z1: float, n: int, first: int = 0):
    """A still's frames zoomed from `z0` to `z1` over `n` frames, centred, always W x H.

    `first` > 0 makes frames `first`..n-1 of that zoom (a segment cut by a chunk boundary).

    `v` is the still scaled to its largest zoom (`frames.cover_size`). `zoompan` cuts the visible
    region out of it and scales that region to W x H in one bicubic pass, so every frame
    leaving it has the same size. (Scaling with `eval=frame` and cropping afterwards made a
    frame of a new size every frame: `crop` positions its window by the first frame's size,
    so zoom-ins drifted to a corner and zoom-outs read past the end of the smaller frames,
    which crashed FFmpeg with SIGSEGV on long videos.)
    """
    # The prepared frame is the whole picture, so the region at zoom z is 1/z of it, centred
    # (x and y even: yuv420p chroma planes move in steps of two pixels).
    on = f"(on+{first})" if first else "on"
    z = f"({z0}+({z1 - z0:.6f})*{on}/{max(1, n - 1)})"
    return v.filter(
        "zoompan", z=z, x="trunc((iw-iw/zoom)/4)*2", y="trunc((ih-ih/zoom)/4)*2", d=1, s=f"{W}x{H}", fps=fps
    )


def segment_stream(
    seg: Segment,
    n: int,
    W: int,
    H: int,
    fps: int,
    infos: dict[str, MediaInfo],
    bg: str,
    idx: int = 0,
    prepared: dict[Slot, Path] | None = None,
    first: int = 0,
    last: int | None = None,
):
    """The video of one segment: exactly `n` frames of WxH yuv420p at `fps`.

    `first` / `last`: only frames first..last-1 of those `n` (a chunk holding part of the
    segment, see `chunk_spans`), the same pixels as in the whole segment, timestamps from 0.
    """
    last = n if last is None else last
    if seg.kind == "color":
        c, _ = hex_colour(seg.color or bg)
        k = last - first
        src = source_filter("color", idx, c=c, s=f"{W}x{H}", r=fps, d=f"{k / fps:.4f}")
        # Tagged like every other slot: untagged, its range was left to negotiation, which came out
        # differently with other neighbours (a chunk's last slot), and so did its pixels through xfade.
        return (
            src.filter("format", "yuv420p")
            .filter("setparams", range="tv", colorspace="bt709")
            .filter("trim", end_frame=k)
        )
    info = infos.get(seg.path or "")
    if seg.kind == "image" or (info is not None and info.is_still):
        z0, z1 = seg.zoom or (1.0, 1.0)
        cw, ch = cover_size(W, H, seg.zoom)
        # only a colour segment has no path, and it returned above
        ready = (prepared or {}).get(slot_key(seg.path, cw, ch, seg.focus))  # type: ignore[arg-type]
        if ready is not None:
            # Scaled before the render (see `stills`); raw video keeps no colour tags, so restate them.
            v = (
                file_input(str(ready), None, self_describing=True)
                .video.filter("setpts", f"PTS-STARTPTS+0*{idx}")
                .filter("trim", end_frame=1)
                .filter("setparams", range="tv", colorspace="bt709")
                .filter("setsar", 1)
            )
        else:
            v = still_frame(seg.path, info, cw, ch, idx, seg.focus)  # type: ignore[arg-type]
        # Frame-exact timestamps: N/(fps*TB) rounded in an image's 1/25 time base gave 30 fps
        # frames equal timestamps, and `fps` then dropped and doubled frames (a juddering zoom).
        # `fps` changes no frame here (one per tick already) but gives the link the frame rate
        # xfade checks; before the zoom, the frame it holds back is a reference, not a copy.
        k = last - first
        v = (
            v.filter("loop", loop=k - 1, size=1, start=0)
            .filter("settb", f"1/{fps}")
            .filter("setpts", "N")
            .filter("fps", fps)
        )
        if z0 != z1:
            v = _ken_burns(v, W, H, fps, z0, z1, n, first)
        elif max(z0, z1) != 1.0:
            v = v.filter("scale", W, H, flags="bicubic", **OUT_COLOUR, threads=SCALE_THREADS)
        # Pin the format: without it, negotiation with xfade picked a costlier format for the whole chain.
        return v.filter("setsar", 1).filter("format", "yuv420p").filter("trim", end_frame=k)
    # A moving clip: seek, loop if short, normalise the frame rate (VFR sources), cover, pad, cut to length.
    opts: dict[str, Any] = {}
    animated_webp = info is not None and info.video_codec == "webp_anim"
    if seg.loop and not animated_webp:
        opts["stream_loop"] = -1
    if seg.in_point > 0:
        opts["ss"] = f"{seg.in_point:.3f}"
    if not animated_webp:
        # Read a few source frames past the slot (the fps filter needs the next frame to close
        # the last one), not more: every frame read is also decoded.
        opts["t"] = f"{last / fps + max(0.1, 3 / (info.fps if info is not None and info.fps else fps)):.3f}"
    # Its own input (ffmpeg-python merges inputs with equal arguments): one decoder shared by
    # several slots fans every frame out to all of them, and the later slots queue the whole
    # clip in memory (gigabytes over a long video). A distinct packet-queue size keeps it apart.
    opts["thread_queue_size"] = 16 + idx
    if info is not None and (info.width or 0) * (info.height or 0) <= _SMALL_SOURCE_PIXELS:
        # Frame threads buy nothing for a small clip here (x264 keeps the cores busy) and each
        # one holds its own frames: one decoder thread is ~10 MiB lighter per clip.
        opts["threads"] = 1
    v = file_input(seg.path, info, **opts).video.filter(  # type: ignore[arg-type]  # not a colour: a path
        "setpts", f"PTS-STARTPTS+0*{idx}"
    )
    if animated_webp and seg.loop:
        v = v.filter("loop", loop=-1, size=2000)
    v = v.filter("fps", fps)
    v = cover(v, W, H, input_matrix(info, still=False), seg.focus).filter("format", "yuv420p")
    # Pad with the last frame if the clip ends early (a short or damaged file), then cut exactly.
    # A part that starts later is cut from the same frames: a seek could land a frame off.
    v = v.filter("tpad", stop_mode="clone", stop=last).filter(
        "trim", **({"start_frame": first} if first else {}), end_frame=last
    )
    return v.filter("setpts", "PTS-STARTPTS")


def crossfaded(streams: list, ranges: list[tuple[int, int]], kind: str, fps: int):
    """Segments joined by xfade transitions, blending only the overlapping frames.

    A plain xfade chain sends every frame of the video through every xfade and
    queues the next segment's frames until its offset (measured: 2x the filter
    CPU and +120 MiB). Instead each segment is split into head / middle / tail;
    xfade sees only tail + head (the overlap) and concat joins the pieces.
    """
    n_seg = len(streams)
    overlaps = [0] + [max(1, ranges[k - 1][1] - ranges[k][0]) for k in range(1, n_seg)] + [0]
    pieces: list = []
    tails: list = []
    for k, (stream, (a, b)) in enumerate(zip(streams, ranges)):
        n = b - a
        head, tail = min(overlaps[k], n), min(overlaps[k + 1], n - min(overlaps[k], n))
        parts = [(0, head), (head, n - tail), (n - tail, n)]
        wanted = [(lo, hi) for lo, hi in parts if hi > lo]
        split = stream.filter_multi_output("split", len(wanted)) if len(wanted) > 1 else None
        cut = {}
        for i, (lo, hi) in enumerate(wanted):
            src = split.stream(i) if split is not None else stream
            cut[(lo, hi)] = src.filter("trim", start_frame=lo, end_frame=hi).filter("setpts", "PTS-STARTPTS")
        if head:
            prev_tail = tails[-1]
            # xfade, although it takes no 4:2:0 format (three scalers per transition, to 4:4:4 and back):
            # it pulls its inputs only when its output is wanted. Blending in 4:2:0 with `overlay` and a
            # rising alpha held 85 MiB less, but overlay (framesync) pulls the outgoing tail as soon as an
            # incoming frame reaches it, which made the source queue whole segments for concat: 1.8 GiB in
            # some runs of the 30 s fade scene.
            xf = ffmpeg.filter(
                [prev_tail, cut[(0, head)]],
                "xfade",
                transition=kind,
                duration=f"{head / fps:.4f}",
                offset="0",
            )
            pieces.append(xf.filter("format", "yuv420p"))
        if n - tail > head:
            pieces.append(cut[(head, n - tail)])
        tails.append(cut.get((n - tail, n)))
    return ffmpeg.concat(*pieces, n=len(pieces), v=1, a=0).filter("format", "yuv420p")
