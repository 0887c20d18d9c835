"""Turning a `Timeline` into ONE FFmpeg command with one filter graph (built with ffmpeg-python).

No frame ever passes through Python: FFmpeg decodes, scales, moves, captions,
mixes, encodes and writes the thumbnail in a single process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from .captions import FONTS_DIR
from .timeline import Segment, Timeline

__all__ = ["Profile", "output_size", "build_command", "escape_filter_path"]

_SHORT_SIDE = {"1080p": 1080, "720p": 720, "480p": 480, "360p": 360}


@dataclass(frozen=True)
class Profile:
    """Encoder settings; the defaults match the benchmark's (x264 veryfast crf 23, AAC)."""

    name: str = "1080p"
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate: str = "192k"


def output_size(canvas: dict, profile: str) -> tuple[int, int]:
    """Output width and height: the canvas aspect at the profile's short side (even numbers)."""
    w, h = canvas["width"], canvas["height"]
    short = _SHORT_SIDE.get(profile)
    if short is None:
        return w - w % 2, h - h % 2
    s = short / min(w, h)
    return int(round(w * s / 2)) * 2, int(round(h * s / 2)) * 2


def escape_filter_path(path: str) -> str:
    """Escape a path for use as a filter option value inside a filter graph."""
    out = path.replace("\\", "/")
    for ch in ("'", ":", ",", ";", "[", "]", "="):
        out = out.replace(ch, "\\" + ch)
    return out


def _hex(color: str) -> str:
    return "0x" + color.lstrip("#")[:6]


def _input(path: str, index: int, **kwargs):
    # ffmpeg-python merges inputs with equal arguments into one node; a clip used in two
    # slots needs two inputs, so each gets a distinct (harmless) queue size.
    return ffmpeg.input(path, thread_queue_size=512 + index, **kwargs)


def _segment_stream(seg: Segment, W: int, H: int, fps: int, index: int = 0):
    if seg.kind == "color":
        return ffmpeg.input(f"color=c={_hex(seg.color or '#000000')}:s={W}x{H}:r={fps}:d={seg.duration:.4f}", f="lavfi").video
    if seg.kind == "image":
        frames = max(1, int(round(seg.duration * fps)))
        src = _input(seg.path, index).video
        z0, z1 = seg.zoom or (1.0, 1.0)
        zmax = max(z0, z1)
        # Scale once to cover the frame at the largest zoom; the loop filter then repeats that frame.
        cw, ch = int(W * zmax + 1) // 2 * 2, int(H * zmax + 1) // 2 * 2
        v = src.filter("scale", cw, ch, force_original_aspect_ratio="increase", flags="bicubic").filter("crop", cw, ch)
        v = v.filter("loop", loop=frames - 1, size=1, start=0).filter("setpts", f"N/({fps}*TB)")
        if seg.zoom and z0 != z1:
            # Per-frame zoom: size follows z(t), then a centred crop to the frame.
            z = f"({z0}+({z1}-{z0})*n/{max(1, frames - 1)})"
            v = v.filter("scale", w=f"trunc({W}*{z}/2)*2", h=f"trunc({H}*{z}/2)*2", eval="frame", flags="bicubic")
            v = v.filter("crop", W, H)
        else:
            v = v.filter("scale", W, H, flags="bicubic")
        return v
    # video
    kwargs = {"stream_loop": -1} if seg.loop else {}
    if seg.in_point:
        kwargs["ss"] = seg.in_point
    src = _input(seg.path, index, **kwargs).video
    v = src.filter("trim", duration=seg.duration).filter("setpts", "PTS-STARTPTS").filter("fps", fps)
    v = v.filter("scale", W, H, force_original_aspect_ratio="increase", flags="bicubic").filter("crop", W, H)
    return v


def build_command(tl: Timeline, out_video: Path, out_thumb: Path | None, *, profile: Profile = Profile()) -> list[str]:
    """FFmpeg arguments rendering `tl` to `out_video` (and a JPEG thumbnail) in one process."""
    W, H = output_size(tl.canvas, profile.name)
    fps = tl.canvas["fps"]
    D = tl.duration
    streams = [_segment_stream(s, W, H, fps, i).filter("setsar", 1).filter("format", "yuv420p") for i, s in enumerate(tl.segments)]
    trans = tl.transition.get("type", "cut")
    t_sec = float(tl.transition.get("seconds", 0.0))
    if len(streams) == 1:
        video = streams[0]
    elif trans == "cut" or t_sec <= 0:
        video = ffmpeg.concat(*streams, n=len(streams), v=1, a=0)
    else:
        video = streams[0]
        for seg, nxt in zip(tl.segments[1:], streams[1:]):
            xf = {"fade": "fade", "dissolve": "dissolve"}.get(trans, trans)
            video = ffmpeg.filter([video, nxt], "xfade", transition=xf, duration=t_sec, offset=round(seg.start, 4))
    if tl.subtitles_ass:
        video = video.filter("subtitles", filename=tl.subtitles_ass, fontsdir=str(FONTS_DIR))
    video = video.filter("format", "yuv420p")

    # Audio: narration + music bed (looped, ducked under the voice), normalised to the target loudness.
    voice = None
    if tl.voice:
        voice = ffmpeg.input(tl.voice.path).audio.filter("aresample", 48000).filter("apad").filter("atrim", duration=D)
    music = None
    if tl.music:
        music = ffmpeg.input(tl.music.path, stream_loop=-1).audio.filter("aresample", 48000).filter("atrim", duration=D).filter("volume", f"{tl.music.level_db}dB")
    if voice is not None and music is not None:
        if tl.music.ducking:  # type: ignore[union-attr]
            vs = voice.filter_multi_output("asplit", 2)
            voice = vs.stream(0)
            music = ffmpeg.filter([music, vs.stream(1)], "sidechaincompress", threshold=0.02, ratio=tl.music.duck_ratio, attack=20, release=400)  # type: ignore[union-attr]
        audio = ffmpeg.filter([voice, music], "amix", inputs=2, duration="first", normalize=0)
    elif voice is not None or music is not None:
        audio = voice if voice is not None else music
    else:
        audio = ffmpeg.input(f"anullsrc=r=48000:cl=stereo:d={D:.4f}", f="lavfi").audio
    audio = audio.filter("loudnorm", I=tl.loudness, TP=-1.5, LRA=11).filter("aresample", 48000).filter("aformat", channel_layouts="stereo")

    outputs = []
    if out_thumb is not None:
        split = video.filter_multi_output("split", 2)
        video, thumb_src = split.stream(0), split.stream(1)
        frame = int(min(D * 0.4, max(0.0, D - 0.1)) * fps)
        thumb = thumb_src.filter("select", f"eq(n,{frame})").filter("scale", min(W, 720), -2)
        outputs.append(ffmpeg.output(thumb, str(out_thumb), vframes=1, **{"q:v": 3}))
    main = ffmpeg.output(
        video,
        audio,
        str(out_video),
        vcodec="libx264",
        preset=profile.preset,
        crf=profile.crf,
        pix_fmt="yuv420p",
        acodec="aac",
        audio_bitrate=profile.audio_bitrate,
        movflags="+faststart",
        r=fps,
        t=f"{D:.4f}",
        f="mp4",
    )
    outputs.insert(0, main)
    return ffmpeg.merge_outputs(*outputs).get_args()
