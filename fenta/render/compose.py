"""Turning a `Timeline` into ONE FFmpeg command with one filter graph (built with ffmpeg-python).

No frame ever passes through Python: FFmpeg decodes, scales, moves, captions,
mixes and encodes in a single process. A long timeline (more than `CHUNK_SEGMENTS`
segments) is the exception that keeps memory flat: one such command per chunk of
segments, video only, the audio track made once beside them, joined without
re-encoding (`chunk_spans`, `audio_args`, `join_args`).

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

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from ..errors import MediaError
from ..media.ffmpeg import MediaInfo, probe, probe_many
from .captions import FONTS_DIR, wrap_title
from .encoders import X264, Encoder, resolve_encoder
from .stills import Slot, prepare_stills
from .timeline import Segment, Timeline

__all__ = [
    "Profile", "PROFILES", "output_size", "build_command", "thumbnail_args", "thumbnail_time", "render", "probe_inputs", "input_files",
    "segment_ranges", "chunk_spans", "audio_args", "join_args", "CHUNK_SEGMENTS",
]

log = logging.getLogger("fenta")

_SHORT_SIDE = {"1080p": 1080, "720p": 720, "480p": 480, "360p": 360, "preview": 360}
PROFILES = tuple(_SHORT_SIDE) + ("canvas",)
_HEX = re.compile(r"^#?([0-9A-Fa-f]{6})([0-9A-Fa-f]{2})?$")
BOLD_FONT = FONTS_DIR / "DejaVuSans-Bold.ttf"
#: Run the audio chain in its own filter graph (its own thread). Measured slower (more CPU in thread
#: hand-offs: 18.1 s vs 16.0 s on the bench scene), so off; kept for machines with more cores.
SEPARATE_AUDIO_GRAPH = False
#: Clips up to this many pixels (1080p) are decoded on one thread; larger ones (4K stock) keep frame threads.
_SMALL_SOURCE_PIXELS = 1920 * 1080
#: swscale slice threads for the per-frame scalers. One: x264 keeps the cores busy anyway, and on
#: the bench scene slicing cost 35% more CPU in the filters alone (no speed gained in a full render).
SCALE_THREADS = 1
#: Cut timelines with more slots than this copy each frame once after joining them (see `build_command`).
POOLED_SLOTS_MAX = 12
#: Timelines with more segments than this render in chunks of at most this many (see `chunk_spans`):
#: the benchmark scene's six, so a chunk holds what the 30 s benchmark holds (measured: 8 segments with
#: fades peaked at 680 MiB, the 30 s scene at 590).
CHUNK_SEGMENTS = 6


@dataclass(frozen=True)
class Profile:
    """Encoder settings; the defaults match the benchmark's (x264 veryfast crf 23, AAC).

    `encoder` is one of `encoders.CHOICES`: x264, a hardware encoder, or auto (see `fenta.render.encoders`).
    """

    name: str = "1080p"
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate: str = "192k"
    encoder: str = "x264"

    @classmethod
    def preview(cls, encoder: str = "x264") -> "Profile":
        """A quick low-resolution draft: 360p short side, fastest x264 preset."""
        return cls(name="preview", preset="ultrafast", crf=30, audio_bitrate="96k", encoder=encoder)


def output_size(canvas: dict, profile: str) -> tuple[int, int]:
    """Output width and height: the canvas aspect at the profile's short side (even numbers)."""
    w, h = canvas["width"], canvas["height"]
    short = _SHORT_SIDE.get(profile)
    if short is None:
        return w - w % 2, h - h % 2
    s = short / min(w, h)
    return int(round(w * s / 2)) * 2, int(round(h * s / 2)) * 2


def _hex(color: str | None, default: str = "000000") -> tuple[str, float]:
    """'#RRGGBB[AA]' -> ('0xRRGGBB', opacity 0-1); anything else gives the default."""
    m = _HEX.match((color or "").strip())
    if not m:
        return "0x" + default, 1.0
    return "0x" + m.group(1), (int(m.group(2), 16) / 255 if m.group(2) else 1.0)


def _color_arg(color: str | None, default: str = "000000") -> str:
    c, a = _hex(color, default)
    return f"{c}@{a:.3f}"


def input_files(tl: Timeline) -> list[tuple[str, str]]:
    """(role, path) of every file the timeline reads."""
    files: list[tuple[str, str]] = []
    for i, s in enumerate(tl.segments):
        if s.kind != "color":
            if not s.path:
                raise MediaError(f"segment {i} ({s.kind}) has no path", field=f"segments.{i}.path")
            files.append((f"segments.{i}.path", s.path))
    if tl.voice:
        files.append(("voice.path", tl.voice.path))
    if tl.music:
        files.append(("music.path", tl.music.path))
    if tl.subtitles_ass:
        files.append(("subtitles_ass", tl.subtitles_ass))
    logo = (tl.template or {}).get("logo") or {}
    if logo.get("path"):
        files.append(("template.logo.path", logo["path"]))
    return files


def probe_inputs(tl: Timeline) -> dict[str, MediaInfo]:
    """Probe every media input once; refuse unusable ones with a MediaError naming the file.

    Raises:
        MediaError: missing, unreadable, or the wrong kind (audio where a picture is expected...).
    """
    files = input_files(tl)
    for field, path in files:
        if field == "subtitles_ass" and not Path(path).is_file():
            raise MediaError("subtitle file not found", file=path, field=field)
    media = {}
    for field, path in files:
        if field != "subtitles_ass":
            media.setdefault(path, field)

    # One FFmpeg process reads every header (a process per file cost ~0.15 s more on 2 cores).
    try:
        results = probe_many(list(media))
    except MediaError as e:
        bad = next((p for p in media if Path(p) == Path(e.file or "")), e.file)
        raise MediaError(e.message, file=bad, field=media.get(bad or "")) from None
    infos: dict[str, MediaInfo] = {}
    for (path, field), info in zip(media.items(), results):
        wants_picture = field.startswith("segments.") or field.startswith("template.logo")
        if wants_picture and not (info.has_video and info.width and info.height):
            what = "is audio only" if info.has_audio else "has no readable picture"
            raise MediaError(f"{what}; expected an image or a video clip", file=path, field=field)
        if not wants_picture and not info.has_audio:
            raise MediaError("has no audio stream", file=path, field=field)
        infos[path] = info
    return infos


def _input(path: str, info: MediaInfo | None, still: bool = False, *, self_describing: bool = False, **opts: Any):
    """An ffmpeg-python input for a local file, safe for any file name.

    Args:
        self_describing: The file's header states all FFmpeg needs (a raw frame fenta wrote).
    """
    p = str(Path(path).resolve())
    still = still or (info is not None and info.is_still)
    if still and "%" in p:
        # The image2 demuxer treats '%' as a sequence pattern; this is one file.
        opts.update(f="image2", pattern_type="none")
    if still or self_describing or Path(p).suffix.lower() == ".wav" or (info is not None and (info.audio_codec or "").startswith("pcm_")):
        # FFmpeg's stream-info pass decodes a still once more before the real decode and reads
        # 50 packets of a WAV: 10-30 ms each, one input after another, before the first frame.
        # A still's decoder and a WAV's header give everything that pass would find.
        opts["nofind_stream_info"] = None
    # 'file:' keeps a name with a colon from being taken as a protocol.
    return ffmpeg.input("file:" + p, **opts)


class _SourceNode(ffmpeg.nodes.FilterNode):
    """A source filter inside the graph (ffmpeg-python only knows filters that have inputs)."""

    def __init__(self, name: str, uid: int, **kwargs: Any) -> None:
        # ffmpeg-python merges nodes with equal arguments; `uid` enters the node's hash, not the graph.
        ffmpeg.nodes.Node.__init__(
            self, stream_spec=None, name=name, incoming_stream_types={ffmpeg.nodes.FilterableStream},
            outgoing_stream_type=ffmpeg.nodes.FilterableStream, min_inputs=0, max_inputs=0, args=[], kwargs={**kwargs, "_uid": uid},
        )
        del self.kwargs["_uid"]


def _source(name: str, uid: int, **kwargs: Any):
    """A generated stream (colour, silence) made by a filter in the graph, not by an `-i` input.

    An `-i lavfi` input runs in its own thread and produces frames as fast as it can; next to a
    transition those frames pile up in the graph (measured: +600 MiB for six colour slots with fades).
    A source filter only makes a frame when one is asked for.
    """
    return _SourceNode(name, uid, **kwargs).stream()


# Output colour: BT.709 at limited range, what HD players expect. Each scaler converts into it
# in the pass it makes anyway, so no extra conversion runs per frame. (Left to negotiation, a
# full-range JPEG made the whole video full range: tagged yuvj420p, and 15% dearer to encode.)
_OUT_COLOUR = {"out_range": "tv", "out_color_matrix": "bt709"}
_OUT_TAGS = {"color_range": "tv", "colorspace": "bt709"}
_SCALE_MATRIX = {"bt709": "bt709", "bt470bg": "bt470", "smpte170m": "smpte170m", "smpte240m": "smpte240m", "bt2020nc": "bt2020", "bt2020c": "bt2020", "fcc": "fcc"}


def _input_matrix(info: MediaInfo | None, still: bool) -> str:
    """The YCbCr matrix a source's pixels are in: the one it declares, else the one players assume.

    Unstated, JPEG and WebP stills are BT.601 by their specs; clips are BT.709 when HD and
    BT.601 when SD (mpv's rule). Taken as BT.601 by default, HD clips would shift colour.
    """
    if info is None:
        return "auto"
    if info.color_matrix in _SCALE_MATRIX:
        return _SCALE_MATRIX[info.color_matrix]
    return "bt709" if info.is_hd and not still else "bt601"


def _cover(v, W: int, H: int, in_matrix: str = "auto"):
    """Crop to the W:H aspect in the source's own pixels (sample aspect respected), then scale to WxH."""
    a = W / H
    v = v.filter("crop", w=f"trunc(min(iw,ih*{a:.6f}/sar)/2)*2", h=f"trunc(min(ih,iw*sar/{a:.6f})/2)*2")
    return v.filter("scale", W, H, flags="bicubic", in_color_matrix=in_matrix, **_OUT_COLOUR, threads=SCALE_THREADS).filter("setsar", 1)


def _cover_size(W: int, H: int, zoom: tuple[float, float] | None) -> tuple[int, int]:
    """Size a still is scaled to before Ken Burns: the frame at the largest zoom (even numbers)."""
    zmax = max(zoom or (1.0, 1.0))
    return int(round(W * zmax / 2)) * 2, int(round(H * zmax / 2)) * 2


def _still_frame(path: str, info: MediaInfo | None, cw: int, ch: int, idx: int = 0):
    """A still's one frame, cropped to the slot's aspect and scaled to cw x ch (yuv420p, BT.709)."""
    v = _input(path, info, still=True).video.filter("setpts", f"PTS-STARTPTS+0*{idx}").filter("trim", end_frame=1)
    return _cover(v, cw, ch, _input_matrix(info, still=True)).filter("format", "yuv420p")


def _still_slots(tl: Timeline, W: int, H: int) -> list[Slot]:
    """(path, width, height) each image segment's still is scaled to."""
    return [(s.path, *_cover_size(W, H, s.zoom)) for s in tl.segments if s.kind == "image" and s.path]


def _prepare_args(slot: Slot, out: Path) -> list[str]:
    """FFmpeg arguments writing one slot's frame, by the graph's own filters, as raw video."""
    path, cw, ch = slot
    return ffmpeg.output(_still_frame(path, None, cw, ch), str(out), f="nut", vcodec="rawvideo", frames=1).get_args()


def _frames(seconds: float, fps: int) -> int:
    return int(round(seconds * fps))


def _ken_burns(v, W: int, H: int, fps: int, z0: float, z1: float, n: int, first: int = 0):
    """A still's frames zoomed from `z0` to `z1` over `n` frames, centred, always W x H.

    `first` > 0 makes frames `first`..n-1 of that zoom (a segment cut by a chunk boundary).

    `v` is the still scaled to its largest zoom (`_cover_size`). `zoompan` cuts the visible
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
    return v.filter("zoompan", z=z, x="trunc((iw-iw/zoom)/4)*2", y="trunc((ih-ih/zoom)/4)*2", d=1, s=f"{W}x{H}", fps=fps)


def _segment_stream(
    seg: Segment, n: int, W: int, H: int, fps: int, infos: dict[str, MediaInfo], bg: str, idx: int = 0, prepared: dict[Slot, Path] | None = None,
    first: int = 0, last: int | None = None,
):
    """The video of one segment: exactly `n` frames of WxH yuv420p at `fps`.

    `first` / `last`: only frames first..last-1 of those `n` (a chunk holding part of the
    segment, see `chunk_spans`), the same pixels as in the whole segment, timestamps from 0.
    """
    last = n if last is None else last
    if seg.kind == "color":
        c, _ = _hex(seg.color or bg)
        k = last - first
        src = _source("color", idx, c=c, s=f"{W}x{H}", r=fps, d=f"{k / fps:.4f}")
        # Tagged like every other slot: untagged, its range was left to negotiation, which came out
        # differently with other neighbours (a chunk's last slot), and so did its pixels through xfade.
        return src.filter("format", "yuv420p").filter("setparams", range="tv", colorspace="bt709").filter("trim", end_frame=k)
    info = infos.get(seg.path or "")
    if seg.kind == "image" or (info is not None and info.is_still):
        z0, z1 = seg.zoom or (1.0, 1.0)
        cw, ch = _cover_size(W, H, seg.zoom)
        ready = (prepared or {}).get((seg.path, cw, ch))
        if ready is not None:
            # Scaled before the render (see `stills`); raw video keeps no colour tags, so restate them.
            v = _input(str(ready), None, self_describing=True).video.filter("setpts", f"PTS-STARTPTS+0*{idx}").filter("trim", end_frame=1).filter("setparams", range="tv", colorspace="bt709").filter("setsar", 1)
        else:
            v = _still_frame(seg.path, info, cw, ch, idx)
        # Frame-exact timestamps: N/(fps*TB) rounded in an image's 1/25 time base gave 30 fps
        # frames equal timestamps, and `fps` then dropped and doubled frames (a juddering zoom).
        # `fps` changes no frame here (one per tick already) but gives the link the frame rate
        # xfade checks; before the zoom, the frame it holds back is a reference, not a copy.
        k = last - first
        v = v.filter("loop", loop=k - 1, size=1, start=0).filter("settb", f"1/{fps}").filter("setpts", "N").filter("fps", fps)
        if z0 != z1:
            v = _ken_burns(v, W, H, fps, z0, z1, n, first)
        elif max(z0, z1) != 1.0:
            v = v.filter("scale", W, H, flags="bicubic", **_OUT_COLOUR, threads=SCALE_THREADS)
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
    v = _input(seg.path, info, **opts).video.filter("setpts", f"PTS-STARTPTS+0*{idx}")
    if animated_webp and seg.loop:
        v = v.filter("loop", loop=-1, size=2000)
    v = v.filter("fps", fps)
    v = _cover(v, W, H, _input_matrix(info, still=False)).filter("format", "yuv420p")
    # Pad with the last frame if the clip ends early (a short or damaged file), then cut exactly.
    # A part that starts later is cut from the same frames: a seek could land a frame off.
    v = v.filter("tpad", stop_mode="clone", stop=last).filter("trim", **({"start_frame": first} if first else {}), end_frame=last)
    return v.filter("setpts", "PTS-STARTPTS")


def segment_ranges(tl: Timeline, fps: int) -> list[tuple[int, int]]:
    """Output frames [first, end) of each segment on the video's clock, transition overlaps included."""
    total = _frames(tl.duration, fps)
    ranges = [(_frames(s.start, fps), _frames(s.start + s.duration, fps)) for s in tl.segments]
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
    total = _frames(tl.duration, fps)
    n = len(ranges)
    if n <= per_chunk:
        return [(0, total)]

    def usable(i: int) -> bool:
        """A boundary at the end of segment i-1: segment i must go on past it before its own transition-out."""
        f = ranges[i - 1][1]
        nxt = ranges[i + 1][0] if i + 1 < n else total
        return ranges[i][0] <= f < min(nxt, total) and all(b <= f for _, b in ranges[: i - 1])

    k = -(-n // per_chunk)
    cuts: list[int] = []
    for j in range(1, k):
        ideal = round(j * n / k)
        for d in range(n):
            i = next((c for c in (ideal - d, ideal + d) if (not cuts or c > cuts[-1]) and 0 < c < n and usable(c)), None)
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
            xf = ffmpeg.filter([prev_tail, cut[(0, head)]], "xfade", transition=kind, duration=f"{head / fps:.4f}", offset="0")
            pieces.append(xf.filter("format", "yuv420p"))
        if n - tail > head:
            pieces.append(cut[(head, n - tail)])
        tails.append(cut.get((n - tail, n)))
    return ffmpeg.concat(*pieces, n=len(pieces), v=1, a=0).filter("format", "yuv420p")


def _text_file(textdir: Path, name: str, text: str) -> str:
    textdir.mkdir(parents=True, exist_ok=True)
    p = textdir / name
    p.write_text(text, encoding="utf-8")
    return str(p.resolve())


def _overlays(video, tl: Timeline, W: int, H: int, fps: int, textdir: Path, infos: dict[str, MediaInfo], first_frame: int = 0):
    """Progress bar, title card, logo and captions over `video`, whose timestamps are the video's clock.

    `first_frame`: where `video` begins (a chunk of a longer video); the progress strip starts there too.
    """
    tpl = tl.template or {}
    zone = tpl.get("safe_zone") or {"top": 0.1, "bottom": 0.2, "left": 0.06, "right": 0.06}
    scale = W / tl.canvas["width"]
    L, R, T, B = int(W * zone["left"]), int(W * zone["right"]), int(H * zone["top"]), int(H * zone["bottom"])
    font = str(BOLD_FONT)
    D = tl.duration

    bar = tpl.get("progress_bar")
    if bar:
        h = max(2, int(round(bar["height"] * scale)))
        c, _ = _hex(bar["color"], "FFD400")
        strip = _source("color", -1, c=c, s=f"{W}x{h}", r=fps, d=f"{D - first_frame / fps:.4f}")
        if first_frame:
            strip = strip.filter("setpts", f"PTS+{first_frame}/({fps}*TB)")
        y = T if bar["position"] == "top" else H - B - h
        video = ffmpeg.overlay(video, strip, x=f"-w+w*t/{D:.4f}", y=y, eof_action="pass", shortest=0)

    card = tpl.get("title_card")
    if card and tl.title:
        # Balanced lines measured with the bundled font (a greedy wrap left "blood." alone on the last line).
        text, size = wrap_title(tl.title, int(card["size"] * scale), W - L - R - int(0.06 * W))
        pad = max(4, size // 3)
        pos = card.get("position", "center")
        y = {"top": f"{T + pad}", "bottom": f"{H - B - pad}-text_h", "center": f"{T}+({H - T - B}-text_h)/2"}[pos]
        fade = min(0.4, card["seconds"] / 3)
        video = video.filter(
            "drawtext",
            fontfile=font,
            textfile=_text_file(textdir, "title.txt", text),
            expansion="none",
            fontsize=size,
            fontcolor=_color_arg(card["color"], "FFFFFF"),
            line_spacing=int(size * 0.15),
            text_align="center",
            x="(w-text_w)/2",
            y=y,
            box=1,
            boxcolor=_color_arg(card["box_color"]),
            boxborderw=pad,
            alpha=f"if(lt(t,{card['seconds'] - fade:.3f}),1,max(0,({card['seconds']:.3f}-t)/{fade:.3f}))",
            enable=f"lt(t,{card['seconds']:.3f})",
        )

    logo = tpl.get("logo")
    if logo:
        corner = logo["position"]
        right, bottom = corner.endswith("right"), corner.startswith("bottom")
        if logo.get("path"):
            lw = max(2, int(W * logo["width"]) // 2 * 2)
            info = infos.get(logo["path"])
            img = _input(logo["path"], info).video.filter("trim", end_frame=1)
            img = img.filter("scale", lw, -2, flags="bicubic").filter("format", "rgba")
            if logo["opacity"] < 1:
                img = img.filter("colorchannelmixer", aa=f"{logo['opacity']:.3f}")
            x = f"{W - R}-w" if right else f"{L}"
            y = f"{H - B}-h" if bottom else f"{T}"
            video = ffmpeg.overlay(video, img, x=x, y=y, eof_action="repeat", format="yuv420")
        elif logo.get("text"):
            size = max(8, int(logo["size"] * scale))
            # Keep the watermark inside the safe zone: shrink long text to the width available.
            size = max(6, min(size, int((W - L - R) / (0.62 * max(1, len(logo["text"]))))))
            c, _ = _hex(logo["color"], "FFFFFF")
            video = video.filter(
                "drawtext",
                fontfile=font,
                textfile=_text_file(textdir, "watermark.txt", logo["text"].replace("\n", " ")),
                expansion="none",
                fontsize=size,
                fontcolor=f"{c}@{logo['opacity']:.3f}",
                x=f"{W - R}-text_w" if right else f"{L}",
                y=f"{H - B}-text_h" if bottom else f"{T}",
                borderw=max(1, size // 16),
                bordercolor=f"0x000000@{logo['opacity'] * 0.6:.3f}",
            )
    if tl.subtitles_ass:
        video = video.filter("subtitles", filename=str(Path(tl.subtitles_ass).resolve()), fontsdir=str(FONTS_DIR))
    return video


def _mix(tl: Timeline, infos: dict[str, MediaInfo]):
    """Narration + music bed (looped, ducked under the voice), before loudness normalisation; None if silent."""
    D = tl.duration
    voice = None
    if tl.voice:
        voice = (
            _input(tl.voice.path, infos.get(tl.voice.path)).audio.filter("aresample", 48000).filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
            .filter("apad").filter("atrim", duration=f"{D:.4f}")
        )
    music = None
    if tl.music:
        m = tl.music
        opts: dict[str, Any] = {"stream_loop": -1} if m.loop else {}
        # An endless input is read as fast as the disk allows and its frames pile up in the
        # graph (gigabytes over a long video): stop reading at the video's length.
        opts["t"] = f"{D + 0.5:.3f}"
        if m.start > 0:
            opts["ss"] = f"{m.start:.3f}"
        music = (
            _input(m.path, infos.get(m.path), **opts).audio.filter("aresample", 48000).filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
            .filter("volume", f"{m.level_db}dB").filter("apad").filter("atrim", duration=f"{D:.4f}")
        )
        if m.fade_out > 0 and D > m.fade_out * 2:
            music = music.filter("afade", t="out", st=f"{D - m.fade_out:.3f}", d=f"{m.fade_out:.3f}")
    if voice is not None and music is not None:
        if tl.music.ducking:  # type: ignore[union-attr]
            vs = voice.filter_multi_output("asplit", 2)
            voice = vs.stream(0)
            music = ffmpeg.filter(
                [music, vs.stream(1)], "sidechaincompress",
                threshold=tl.music.duck_threshold, ratio=tl.music.duck_ratio, attack=15, release=350, makeup=1,  # type: ignore[union-attr]
            )
        return ffmpeg.filter([voice, music], "amix", inputs=2, duration="first", normalize=0)
    return voice if voice is not None else music


_TRUE_PEAK_DB = -1.5
_CRASH_SIGNALS = {-11, -7, -6, -4}  # SIGSEGV, SIGBUS, SIGABRT, SIGILL as negative exit codes


def _audio(tl: Timeline, infos: dict[str, MediaInfo], gain_db: float | None = None):
    D = tl.duration
    audio = _mix(tl, infos)
    if audio is None:
        return ffmpeg.input(f"anullsrc=r=48000:cl=stereo:d={D:.4f}", f="lavfi").audio.filter("atrim", duration=f"{D:.4f}")
    if gain_db is None:
        # No measurement available: single-pass loudnorm (dynamic; lands within about 1.5 LU).
        audio = audio.filter("loudnorm", I=tl.loudness, TP=_TRUE_PEAK_DB, LRA=11)
    else:
        # Measured beforehand (`measure_loudness`): one fixed gain hits the target exactly, and a
        # limiter keeps peaks under the ceiling. Far cheaper than loudnorm, which runs at 192 kHz.
        audio = audio.filter("volume", f"{gain_db:.2f}dB").filter("alimiter", limit=f"{10 ** (_TRUE_PEAK_DB / 20):.4f}", level=0, attack=5, release=50)
    return audio.filter("aresample", 48000).filter("aformat", sample_fmts="fltp", channel_layouts="stereo").filter("atrim", duration=f"{D:.4f}")


_LOUDNESS = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf) LUFS")


async def measure_loudness(tl: Timeline, infos: dict[str, MediaInfo]) -> float | None:
    """Gain (dB) that brings the timeline's audio mix to its loudness target, or None.

    An audio-only analysis pass (no video is decoded): about 0.2 s for a 30 s short.
    """
    import asyncio

    mix = _mix(tl, infos)
    if mix is None:
        return None
    args = ffmpeg.output(mix.filter("ebur128", framelog="quiet"), "-", f="null").get_args()
    from ..media.ffmpeg import ffmpeg_exe

    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    m = _LOUDNESS.search(err.decode(errors="replace"))
    if proc.returncode != 0 or not m or m.group(1) == "-inf" or float(m.group(1)) < -69:
        return None  # silence or a failure: the render falls back to loudnorm (and reports real errors)
    return round(tl.loudness - float(m.group(1)), 2)


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
) -> list[str]:
    """FFmpeg arguments rendering `tl` to `out_video` (and a JPEG thumbnail) in one process.

    Args:
        infos: Probes of the inputs (from `probe_inputs`); probed here when missing.
        textdir: Where title/watermark text files go (default: next to the output).
        raw_video: Instead of the MP4, dump the final frames as raw yuv420p here (benchmarks).
        loudness_gain: From `measure_loudness`; without it the audio goes through single-pass loudnorm.
        prepared_stills: Stills already scaled to their slot (from `stills.prepare_stills`).
        out_thumb: Unused (kept for callers); the thumbnail is cut from the finished file, see `thumbnail_args`.
        span: Only output frames [first, last) of the video (a chunk, see `chunk_spans`); captions
            and overlays still go by the whole video's clock.
        with_audio: False: video only (a chunk; the audio track comes from `audio_args`).
        encoder: The H.264 encoder (from `encoders.resolve_encoder`; default x264 with the profile's preset and CRF).
    """
    if infos is None:
        infos = probe_inputs(tl)
    textdir = textdir or Path(out_video).parent
    W, H = output_size(tl.canvas, profile.name)
    fps = int(tl.canvas["fps"])
    total_frames = _frames(tl.duration, fps)

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
        streams.append(_segment_stream(s, n, W, H, fps, infos, tl.background, i, prepared_stills, first, last))
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
    video = _overlays(video, tl, W, H, fps, textdir, infos, lo)
    if lo:
        video = video.filter("setpts", "PTS-STARTPTS")
    # Primaries and transfer come from the frames (FFmpeg ignores encoder options for them): tag them here.
    video = video.filter("trim", end_frame=hi - lo).filter("format", "yuv420p").filter("setparams", color_primaries="bt709", color_trc="bt709")

    if raw_video is not None:
        return ffmpeg.output(video, str(raw_video), f="rawvideo", pix_fmt="yuv420p", **_OUT_TAGS).get_args()

    audio = _audio(tl, infos, loudness_gain)
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
        return [*enc.global_args, *_get_args(ffmpeg.output(video, str(out_video), **vopts, **_OUT_TAGS, r=fps, fps_mode="cfr", **keyframe, an=None, f="mp4"))]
    if not SEPARATE_AUDIO_GRAPH:
        return [*enc.global_args, *ffmpeg.output(
            video, audio, str(out_video), **vopts, **_OUT_TAGS,
            r=fps, fps_mode="cfr", **keyframe, acodec="aac", audio_bitrate=profile.audio_bitrate, ar=48000, movflags="+faststart", f="mp4",
        ).get_args()]
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
        *enc.global_args, *v_inputs, *a_inputs,
        "-filter_complex", v_graph,
        "-filter_complex", a_graph,
        "-map", v_map, "-map", a_map,
        *(a for k, v in vopts.items() for a in ("-c:v" if k == "vcodec" else f"-{k}", str(v))), *(a for k, v in _OUT_TAGS.items() for a in (f"-{k}", v)),
        "-r", str(fps), "-fps_mode", "cfr", *(a for k, v in keyframe.items() for a in (f"-{k}", v)),
        "-c:a", "aac", "-b:a", profile.audio_bitrate, "-ar", "48000",
        "-movflags", "+faststart", "-f", "mp4", str(out_video),
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
    return ["-filter_complex", graph, *(a for n in nodes if isinstance(n, _run.OutputNode) for a in _run._get_output_args(n, names))]


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


def thumbnail_time(duration: float, fps: int) -> float:
    """When the thumbnail is taken: the frame at 40% of the video, on the frame grid."""
    at = min(duration * 0.4, max(0.0, duration - 0.2))
    return round(at * fps) / fps


def thumbnail_args(video: Path, thumb: Path, duration: float, width: int, fps: int = 30) -> list[str]:
    """Arguments that cut a JPEG thumbnail (the frame at `thumbnail_time`) out of the finished video.

    A split branch inside the render would be free in CPU, but FFmpeg lets the graph run
    ahead of x264 for an output that rarely gets frames: measured +500-900 MiB at 1080p.
    The render forces a keyframe at that frame, so the seek lands on it and FFmpeg decodes
    one frame instead of everything since the previous keyframe (0.24 s -> 0.08 s at 1080p).
    """
    at = thumbnail_time(duration, fps) + 0.25 / fps
    return [
        # One keyframe to decode: frame threads and the stream-info pass would only add start-up time.
        "-threads", "1", "-nofind_stream_info", "-noaccurate_seek", "-ss", f"{at:.4f}", "-i", "file:" + str(Path(video).resolve()),
        "-map", "0:v:0",
        "-frames:v", "1", "-vf", f"scale={min(width, 720)}:-2:flags=bicubic:out_color_matrix=bt601:out_range=pc",  # JPEG: BT.601, full range
        "-q:v", "3", "-f", "image2", "-update", "1", str(thumb),
    ]


_INPUT_REF = re.compile(r"\[(?:in#|[av]ist#|dec:\w+#?)(\d+)")


def _failing_input(stderr: str, args: list[str]) -> str | None:
    """The input file FFmpeg complained about, if its error names one."""
    inputs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-i"]
    for line in reversed(stderr.splitlines()):
        if "rror" not in line and "nvalid" not in line:
            continue
        m = _INPUT_REF.search(line)
        if m and int(m.group(1)) < len(inputs):
            name = inputs[int(m.group(1))]
            if name.startswith("file:"):
                return name[5:]
        for name in inputs:
            if name.startswith("file:") and name[5:] in line:
                return name[5:]
    return None


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
    import os
    import shutil

    from ..errors import RenderError
    from ..media.ffmpeg import run_ffmpeg

    import asyncio

    # The loudness pass reads only the audio files and large stills need only their headers:
    # both run alongside the probes.
    measuring = asyncio.ensure_future(measure_loudness(tl, {}))
    W, H = output_size(tl.canvas, profile.name)
    stills_dir = workdir / f".stills{os.getpid()}"
    preparing = asyncio.ensure_future(prepare_stills(_still_slots(tl, W, H), stills_dir, _prepare_args))
    # x264 needs no test; a hardware encoder is tested once per machine (cached), alongside the probes.
    choosing = asyncio.ensure_future(asyncio.to_thread(resolve_encoder, profile.encoder)) if profile.encoder != "x264" else None
    try:
        infos = await asyncio.to_thread(probe_inputs, tl)
        gain = await measuring
        prepared = await preparing
        enc = await choosing if choosing is not None else X264
    except BaseException:
        for task in (measuring, preparing, choosing):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (measuring, preparing, choosing) if t is not None), return_exceptions=True)
        shutil.rmtree(stills_dir, ignore_errors=True)
        raise
    tmp_video = video.with_name(f".{video.stem}.part{os.getpid()}.mp4")
    tmp_thumb = thumb.with_name(f".{thumb.stem}.part{os.getpid()}.jpg") if thumb is not None else None
    chunk_dir = workdir / f".chunks{os.getpid()}"
    spans = chunk_spans(tl, int(tl.canvas["fps"]))

    async def encode(enc: Encoder) -> None:
        if len(spans) == 1:
            args = build_command(tl, tmp_video, None, profile=profile, infos=infos, textdir=workdir, loudness_gain=gain, prepared_stills=prepared, encoder=enc)
            await _run_render(args, what="render", total_seconds=tl.duration, on_progress=on_progress)
        else:
            await _render_chunks(tl, spans, tmp_video, chunk_dir, profile=profile, infos=infos, textdir=workdir, gain=gain, prepared=prepared, encoder=enc, on_progress=on_progress)

    try:
        try:
            await encode(enc)
        except (RenderError, MediaError) as e:
            if not enc.hardware:
                raise
            # Never a failed job for the encoder: x264 makes the same video (and names a bad input, if that was it).
            log.warning("notice: the %s encoder failed (%s); encoding with x264", enc.name, getattr(e, "reason", None) or e)
            await encode(X264)
        # The check of the finished file and the thumbnail cut from it run side by side.
        cutting = run_ffmpeg(thumbnail_args(tmp_video, tmp_thumb, tl.duration, W, int(tl.canvas["fps"])), what="thumbnail") if tmp_thumb is not None else asyncio.sleep(0)
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
        shutil.rmtree(stills_dir, ignore_errors=True)
        shutil.rmtree(chunk_dir, ignore_errors=True)
        for p in (tmp_video, tmp_thumb):
            if p is not None and p.exists():
                p.unlink()


async def _run_render(args: list[str], *, what: str, total_seconds: float | None, on_progress=None) -> None:
    """Run one render FFmpeg: once more after a crash (with a notice); a bad input is named.

    Raises:
        MediaError: FFmpeg could not decode an input (names the file).
        RenderError: FFmpeg failed for another reason.
    """
    from ..errors import RenderError
    from ..media.ffmpeg import run_ffmpeg

    try:
        try:
            await run_ffmpeg(args, total_seconds=total_seconds, on_progress=on_progress, what=what)
        except RenderError as e:
            # A crash is not about the inputs: say so, keep its log, and render once more before failing.
            if e.returncode not in _CRASH_SIGNALS:
                raise
            log.warning("notice: %s; rendering once more", e.message)
            await run_ffmpeg(args, total_seconds=total_seconds, on_progress=on_progress, what=what)
    except RenderError as e:
        bad = _failing_input(e.stderr_tail, args)
        if bad:
            raise MediaError(f"cannot decode this file ({e.reason})", file=bad) from None
        raise


def audio_args(tl: Timeline, out: Path, *, profile: Profile = Profile(), infos: dict[str, MediaInfo] | None = None, loudness_gain: float | None = None) -> list[str]:
    """FFmpeg arguments writing the whole video's audio track (AAC in MP4) to `out`: the same chain as a one-process render."""
    if infos is None:
        infos = probe_inputs(tl)
    audio = _audio(tl, infos, loudness_gain)
    return ffmpeg.output(audio, str(out), acodec="aac", audio_bitrate=profile.audio_bitrate, ar=48000, f="mp4").get_args()


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
        "-f", "concat", "-safe", "0", "-i", "file:" + str(listing.resolve()),
        "-i", "file:" + str(Path(audio).resolve()),
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out),
    ]


async def _render_chunks(
    tl: Timeline, spans: list[tuple[int, int]], out: Path, folder: Path, *, profile: Profile, infos: dict[str, MediaInfo],
    textdir: Path, gain: float | None, prepared: dict[Slot, Path], encoder: Encoder = X264, on_progress=None,
) -> None:
    """Render `tl` as one FFmpeg per span (video only, one after another) while another FFmpeg
    makes the whole audio track, then join them without re-encoding.

    Every chunk has the same encoder settings and starts on a keyframe (each FFmpeg run starts
    its stream with one), so the joined stream plays as one. The audio is made once for the
    whole video: one loudness gain, one limiter, no AAC priming gap at the joins.
    """
    import asyncio

    from ..media.ffmpeg import run_ffmpeg

    fps = int(tl.canvas["fps"])
    total = spans[-1][1]
    folder.mkdir(parents=True, exist_ok=True)
    audio = folder / "audio.m4a"
    audio_task = asyncio.ensure_future(_run_render(audio_args(tl, audio, profile=profile, infos=infos, loudness_gain=gain), what="render audio", total_seconds=None))
    pieces: list[tuple[Path, int]] = []
    try:
        for j, (lo, hi) in enumerate(spans):
            piece = folder / f"chunk{j:04d}.mp4"
            args = build_command(tl, piece, None, profile=profile, infos=infos, textdir=textdir, prepared_stills=prepared, span=(lo, hi), with_audio=False, encoder=encoder)
            progress = (lambda f, lo=lo, hi=hi: on_progress((lo + f * (hi - lo)) / total)) if on_progress else None
            await _run_render(args, what=f"render chunk {j + 1} of {len(spans)}", total_seconds=(hi - lo) / fps, on_progress=progress)
            pieces.append((piece, hi - lo))
        await audio_task
    except BaseException:
        audio_task.cancel()
        await asyncio.gather(audio_task, return_exceptions=True)
        raise
    await run_ffmpeg(join_args(pieces, audio, out, fps), what="joining chunks")
