"""Turning a `Timeline` into ONE FFmpeg command with one filter graph (built with ffmpeg-python).

No frame ever passes through Python: FFmpeg decodes, scales, moves, captions,
mixes and encodes in a single process. A long timeline (more than `CHUNK_SEGMENTS`
segments) is the exception that keeps memory flat: one such command per chunk of
segments, video only, the audio track made once beside them, joined without
re-encoding (`chunk_spans` here; the audio track by `audio.audio_args`, the run and the join
by `renderer`).

Cost notes (the filters must stay cheap next to x264):

* Every source is cropped to the output aspect in its own pixels first, then
  scaled once (bicubic) - never scaled up to cover and cropped afterwards.
* A still is decoded and scaled once; the `loop` filter repeats that frame, and
  Ken Burns is one bicubic downscale per frame from the pre-zoomed picture.
  Stills far larger than their slot get that one scale in a short FFmpeg run of
  their own before the render (`stills`): same frames, far less memory held.
* Overlays touch only their own pixels: the progress bar is a small colour
  strip moved by `overlay`, the title card a `drawtext` enabled for its seconds.

Escaping: user text never enters the graph. Titles and watermarks are written
to UTF-8 files read by `drawtext textfile=` with expansion off. File paths in
filter options are passed raw: ffmpeg-python escapes both levels (option and
graph) itself - escaping them here too breaks names with quotes or colons.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import ffmpeg

from ..media.probe import MediaInfo
from .audio import final_audio
from .encoders import X264, Encoder
from .frames import (  # noqa: F401  (their old import path: fenta.render.compose)
    OUT_COLOUR,
    SCALE_THREADS,
    cover,
    cover_size,
    input_matrix,
    slot_key,
    still_args,
    still_frame,
    still_slots,
)
from .inputs import file_input, probe_inputs, source_filter
from .overlays import hex_colour, overlays
from .profile import Profile, output_size
from .stills import Slot
from .thumbnail import thumbnail_time
from .timeline import Segment, Timeline

__all__ = [
    "build_command",
    "segment_ranges",
    "chunk_spans",
    "still_slots",
    "still_args",
    "frame_count",
    "CHUNK_SEGMENTS",
]

#: Run the audio chain in its own filter graph (its own thread). Measured slower (more CPU in thread
#: hand-offs: 18.1 s vs 16.0 s on the bench scene), so off; kept for machines with more cores.
SEPARATE_AUDIO_GRAPH = False
#: Clips up to this many pixels (1080p) are decoded on one thread; larger ones (4K stock) keep frame threads.
_SMALL_SOURCE_PIXELS = 1920 * 1080
#: Cut timelines with more slots than this copy each frame once after joining them (see `build_command`).
POOLED_SLOTS_MAX = 12
#: Timelines with more segments than this render in chunks of at most this many (see `chunk_spans`):
#: the benchmark scene's six, so a chunk holds what the 30 s benchmark holds (measured: 8 segments with
#: fades peaked at 680 MiB, the 30 s scene at 590).
CHUNK_SEGMENTS = 6


# Output colour: see `frames` (where each source is converted into it); the encoder tags it too.
_OUT_TAGS = {"color_range": "tv", "colorspace": "bt709"}


def frame_count(seconds: float, fps: int) -> int:
    return int(round(seconds * fps))


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


def _segment_stream(
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
        ready = (prepared or {}).get(slot_key(seg.path, cw, ch, seg.focus))
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
            v = still_frame(seg.path, info, cw, ch, idx, seg.focus)
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
    v = file_input(seg.path, info, **opts).video.filter("setpts", f"PTS-STARTPTS+0*{idx}")
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


def segment_ranges(tl: Timeline, fps: int) -> list[tuple[int, int]]:
    """Output frames [first, end) of each segment on the video's clock, transition overlaps included."""
    total = frame_count(tl.duration, fps)
    ranges = [(frame_count(s.start, fps), frame_count(s.start + s.duration, fps)) for s in tl.segments]
    ranges[-1] = (ranges[-1][0], max(ranges[-1][0] + 1, total))
    return ranges


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


def _crossfaded(streams: list, ranges: list[tuple[int, int]], kind: str, fps: int):
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


def build_command(
    tl: Timeline,
    out_video: Path,
    out_thumb: Path | None,
    *,
    profile: Profile = Profile(),
    infos: dict[str, MediaInfo] | None = None,
    textdir: Path | None = None,
    raw_video: Path | None = None,
    loudness_gain: float | None = None,
    prepared_stills: dict[Slot, Path] | None = None,
    span: tuple[int, int] | None = None,
    with_audio: bool = True,
    encoder: Encoder | None = None,
    audio_track: Path | None = None,
) -> list[str]:
    """FFmpeg arguments rendering `tl` to `out_video` (and a JPEG thumbnail) in one process.

    Args:
        infos: Probes of the inputs (from `probe_inputs`); probed here when missing.
        textdir: Where title/watermark text files go (default: next to the output).
        raw_video: Instead of the MP4, dump the final frames as raw yuv420p here (benchmarks).
        loudness_gain: From `measure_loudness`; without it the audio goes through single-pass loudnorm.
        prepared_stills: Stills already scaled to their slot (from `stills.prepare_stills`).
        out_thumb: Unused (kept for callers); the thumbnail is cut from the finished file
            (`thumbnail_args`).
        span: Only output frames [first, last) of the video (a chunk, see `chunk_spans`); captions
            and overlays still go by the whole video's clock.
        with_audio: False: video only (a chunk; the audio track comes from `audio_args`).
        encoder: The H.264 encoder (from `encoders.resolve_encoder`; default x264 with the profile's
            preset and CRF).
        audio_track: The finished audio (from `audio.audio_args`), copied in instead of mixing it here (the
            renditions of one video share it).
    """
    if infos is None:
        infos = probe_inputs(tl)
    textdir = textdir or Path(out_video).parent
    W, H = output_size(tl.canvas, profile.name)
    fps = int(tl.canvas["fps"])
    total_frames = frame_count(tl.duration, fps)

    ranges = segment_ranges(tl, fps)
    lo, hi = span or (0, total_frames)
    # The segments this span shows, each as the frames of it that fall inside the span.
    streams, local = [], []
    for i, (s, (a, b)) in enumerate(zip(tl.segments, ranges)):
        n = max(1, b - a)
        if span is None:
            first, last = 0, n
        elif max(a, lo) < min(b, hi):
            first, last = max(a, lo) - a, min(b, hi) - a
        else:
            continue
        streams.append(
            _segment_stream(s, n, W, H, fps, infos, tl.background, i, prepared_stills, first, last)
        )
        local.append((a, b) if span is None else (a + first - lo, a + last - lo))
    kind = tl.transition.get("type", "cut")
    if len(streams) == 1:
        video = streams[0]
    elif kind == "cut" or float(tl.transition.get("seconds", 0)) <= 0:
        video = ffmpeg.concat(*streams, n=len(streams), v=1, a=0)
        if len(streams) > POOLED_SLOTS_MAX:
            # Each slot's last scaler keeps a pool of the frames it made, as many as were ever on
            # their way to x264 at once, until the render ends: ~10 MiB per 1080p slot. One copy per
            # frame (~0.3 ms) sends every frame to x264 from a single pool: 40 slots 861 -> 544 MiB.
            video = video.filter("copy")
    else:
        video = _crossfaded(streams, local, kind, fps)
    # Captions, title card and progress bar go by the video's clock, so every frame's time is its
    # number on that clock (a chunk's first frame is `lo`): concat's microsecond clock rounded some
    # frames' times to the other side of a caption's start.
    video = video.filter("settb", f"1/{fps}").filter("setpts", f"N+{lo}" if lo else "N")
    video = overlays(video, tl, W, H, fps, textdir, infos, lo)
    if lo:
        video = video.filter("setpts", "PTS-STARTPTS")
    # Primaries and transfer come from the frames (FFmpeg ignores encoder options for them): tag them here.
    video = (
        video.filter("trim", end_frame=hi - lo)
        .filter("format", "yuv420p")
        .filter("setparams", color_primaries="bt709", color_trc="bt709")
    )

    if raw_video is not None:
        return ffmpeg.output(video, str(raw_video), f="rawvideo", pix_fmt="yuv420p", **_OUT_TAGS).get_args()

    audio = final_audio(tl, infos, loudness_gain)
    enc = encoder or X264
    vopts = enc.output_options(profile.preset, profile.crf)
    for f in enc.upload:  # frames to the device (VAAPI)
        name, _, arg = f.partition("=")
        video = video.filter(name, arg) if arg else video.filter(name)
    # The thumbnail's frame is a keyframe (see `thumbnail_args`), named by its number: a time
    # printed to 4 decimals can fall after the frame's own time and force the next frame instead.
    thumb_frame = round(thumbnail_time(tl.duration, fps) * fps) - lo
    keyframe = {"force_key_frames": f"expr:eq(n,{thumb_frame})"} if 0 <= thumb_frame < hi - lo else {}
    if not with_audio:
        # A chunk: video only, joined to the others and to the audio track by `join_args`.
        return [
            *enc.global_args,
            *_get_args(
                ffmpeg.output(
                    video,
                    str(out_video),
                    **vopts,
                    **_OUT_TAGS,
                    r=fps,
                    fps_mode="cfr",
                    **keyframe,
                    an=None,
                    f="mp4",
                )
            ),
        ]
    if audio_track is not None:
        track = ffmpeg.input("file:" + str(Path(audio_track).resolve())).audio
        return [
            *enc.global_args,
            *ffmpeg.output(
                video,
                track,
                str(out_video),
                **vopts,
                **_OUT_TAGS,
                r=fps,
                fps_mode="cfr",
                **keyframe,
                acodec="copy",
                movflags="+faststart",
                f="mp4",
            ).get_args(),
        ]
    if not SEPARATE_AUDIO_GRAPH:
        return [
            *enc.global_args,
            *ffmpeg.output(
                video,
                audio,
                str(out_video),
                **vopts,
                **_OUT_TAGS,
                r=fps,
                fps_mode="cfr",
                **keyframe,
                acodec="aac",
                audio_bitrate=profile.audio_bitrate,
                ar=48000,
                movflags="+faststart",
                f="mp4",
            ).get_args(),
        ]
    # Two filter graphs in the one process: FFmpeg runs each graph in its own thread, so the
    # audio chain (loudnorm works at 192 kHz) never holds up the frames x264 is waiting for.
    v_args = ffmpeg.output(video, "v", f="null").get_args()
    a_args = ffmpeg.output(audio, "a", f="null").get_args()
    v_inputs, v_graph, v_map = _split_args(v_args)
    a_inputs, a_graph, a_map = _split_args(a_args)
    n_v = v_inputs.count("-i")
    a_graph = _shift_graph(a_graph, n_v, "a")
    a_map = "[a" + a_map[1:]
    return [
        *enc.global_args,
        *v_inputs,
        *a_inputs,
        "-filter_complex",
        v_graph,
        "-filter_complex",
        a_graph,
        "-map",
        v_map,
        "-map",
        a_map,
        *(a for k, v in vopts.items() for a in ("-c:v" if k == "vcodec" else f"-{k}", str(v))),
        *(a for k, v in _OUT_TAGS.items() for a in (f"-{k}", v)),
        "-r",
        str(fps),
        "-fps_mode",
        "cfr",
        *(a for k, v in keyframe.items() for a in (f"-{k}", v)),
        "-c:a",
        "aac",
        "-b:a",
        profile.audio_bitrate,
        "-ar",
        "48000",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(out_video),
    ]


def _get_args(out) -> list[str]:
    """`out.get_args()`, also for a graph made of source filters alone (a chunk of colour slots:
    ffmpeg-python expects at least one input file)."""
    from ffmpeg import _run

    nodes, edges = _run.topo_sort(_run.get_stream_spec_nodes(out))
    if any(isinstance(n, _run.InputNode) for n in nodes):
        return out.get_args()
    names: dict = {}
    graph = _run._get_filter_arg([n for n in nodes if isinstance(n, _run.FilterNode)], edges, names)
    return [
        "-filter_complex",
        graph,
        *(a for n in nodes if isinstance(n, _run.OutputNode) for a in _run._get_output_args(n, names)),
    ]


def _split_args(args: list[str]) -> tuple[list[str], str, str]:
    """(input arguments, filter graph, mapped label) of an ffmpeg-python command with one output."""
    k = args.index("-filter_complex")
    return args[:k], args[k + 1], args[args.index("-map", k) + 1]


_LABEL = re.compile(r"\[s(\d+)\]")
_INPUT_LABEL = re.compile(r"\[(\d+)(:[av])?\]")


def _shift_graph(graph: str, offset: int, prefix: str) -> str:
    """Renumber a graph's input references by `offset` and rename its labels [sN] -> [<prefix>sN].

    Only used on the audio graph, whose filters carry no file names or free text.
    """
    graph = _INPUT_LABEL.sub(lambda m: f"[{int(m.group(1)) + offset}{m.group(2) or ''}]", graph)
    return _LABEL.sub(lambda m: f"[{prefix}s{m.group(1)}]", graph)
