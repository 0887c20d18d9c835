"""Turning a `Timeline` into ONE FFmpeg command with one filter graph (built with ffmpeg-python).

No frame ever passes through Python: FFmpeg decodes, scales, moves, captions,
mixes and encodes in a single process. The segments' streams and their transitions are
`segments`'; here they are joined, overlaid and sent to the encoder with the audio. A long
timeline is the exception that keeps memory flat: one such command per chunk of segments
(`span`, video only), the audio track made once beside them, joined without re-encoding
(`chunks`).

Overlays touch only their own pixels: the progress bar is a small colour strip moved by
`overlay`, the title card a `drawtext` enabled for its seconds (`overlays`).

Escaping: user text never enters the graph. Titles and watermarks are written
to UTF-8 files read by `drawtext textfile=` with expansion off. File paths in
filter options are passed raw: ffmpeg-python escapes both levels (option and
graph) itself - escaping them here too breaks names with quotes or colons.
"""

from __future__ import annotations

import re
from pathlib import Path

import ffmpeg

from ..media.probe import MediaInfo
from .audio import final_audio
from .encoders import X264, Encoder
from .inputs import probe_inputs
from .overlays import overlays
from .profile import Profile, output_size
from .segments import crossfaded, frame_count, segment_ranges, segment_stream
from .stills import Slot
from .thumbnail import thumbnail_time
from .timeline import Timeline

__all__ = ["build_command"]

#: Run the audio chain in its own filter graph (its own thread). Measured slower (more CPU in thread
#: hand-offs: 18.1 s vs 16.0 s on the bench scene), so off; kept for machines with more cores.
SEPARATE_AUDIO_GRAPH = False
#: Cut timelines with more slots than this copy each frame once after joining them (see `build_command`).
POOLED_SLOTS_MAX = 12


# Output colour: see `frames` (where each source is converted into it); the encoder tags it too.
_OUT_TAGS = {"color_range": "tv", "colorspace": "bt709"}


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
        span: Only output frames [first, last) of the video (a chunk, see `chunks.chunk_spans`); captions
            and overlays still go by the whole video's clock.
        with_audio: False: video only (a chunk; the audio track comes from `audio.audio_args`).
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
        streams.append(segment_stream(s, n, W, H, fps, infos, tl.background, i, prepared_stills, first, last))
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
        video = crossfaded(streams, local, kind, fps)
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
        # A chunk: video only, joined to the others and to the audio track by `chunks.join_args`.
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
