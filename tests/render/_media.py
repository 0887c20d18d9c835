"""Helpers for render tests: small timelines and FFmpeg's own analysers (ebur128, blackdetect, frames)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render.profile import Profile
from fenta.render.renderer import render
from fenta.render.templates import resolve_template
from fenta.render.timeline import Timeline, build_timeline
from fenta.types import Audio, Clip

SMALL = {"canvas": {"width": 180, "height": 320, "fps": 15}, "title_card": None, "progress_bar": None}


def template(name: str = "karaoke-bold", **over) -> dict:
    merged = {**SMALL, **over}
    return resolve_template(name, merged)


def ff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, text=True, errors="replace"
    )


def tone(path: Path, seconds: float, freq: int = 440, volume: float = 0.5) -> Audio:
    """A speech-like test signal: a tone switched on and off (gaps let ducking release)."""
    expr = f"{volume}*sin(2*PI*{freq}*t)*lt(mod(t\\,1)\\,0.6)"
    ff("-v", "error", "-y", "-f", "lavfi", "-i", f"aevalsrc={expr}:s=44100:d={seconds}", str(path))
    return Audio(path=str(path), duration=seconds)


def do_render(
    tl: Timeline,
    out: Path,
    *,
    profile: Profile = Profile(name="canvas", preset="ultrafast"),
    thumb: bool = True,
):
    out.parent.mkdir(parents=True, exist_ok=True)
    th = out.with_suffix(".jpg") if thumb else None
    return asyncio.run(render(tl, out, th, profile=profile, workdir=out.parent / "work"))


def streams(path: Path) -> dict:
    """Video size, frame count and audio/video durations, measured by decoding."""
    r = ff("-i", str(path), "-map", "0:v", "-f", "null", "-")
    err = r.stderr
    m = re.search(r"Video: \w+.*?, (\d+)x(\d+)", err)
    frames = int(re.findall(r"frame=\s*(\d+)", err)[-1])
    ra = ff("-i", str(path), "-map", "0:a", "-f", "null", "-")
    times = re.findall(r"time=(\d+):(\d+):([\d.]+)", ra.stderr)
    h, mi, s = times[-1]
    return {
        "width": int(m.group(1)),
        "height": int(m.group(2)),
        "frames": frames,
        "audio_seconds": int(h) * 3600 + int(mi) * 60 + float(s),
    }


def loudness(path: Path, start: float | None = None, end: float | None = None) -> float:
    """Integrated loudness (LUFS) by ebur128, optionally of a time range."""
    args = []
    if start is not None:
        args += ["-ss", str(start)]
    if end is not None:
        args += ["-t", str(end - (start or 0))]
    r = ff(*args, "-i", str(path), "-map", "0:a", "-af", "ebur128", "-f", "null", "-")
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", r.stderr)[-1])


def black_intervals(path: Path) -> list[str]:
    r = ff("-i", str(path), "-vf", "blackdetect=d=0.05:pix_th=0.05", "-an", "-f", "null", "-")
    return re.findall(r"black_start:\S+ black_end:\S+", r.stderr)


def frame_png(path: Path, at: float, out: Path) -> Path:
    ff("-v", "error", "-y", "-ss", str(at), "-i", str(path), "-frames:v", "1", str(out))
    return out


def gray_frame(path: Path, at: float) -> tuple[int, int, bytes]:
    """Frame at `at` s as 8-bit gray bytes (width, height, data)."""
    r = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-ss",
            str(at),
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
    )
    s = streams_size(path)
    return s[0], s[1], r.stdout


def streams_size(path: Path) -> tuple[int, int]:
    r = ff("-i", str(path))
    m = re.search(r"Video: \w+.*?, (\d+)x(\d+)", r.stderr)
    return int(m.group(1)), int(m.group(2))


def clip(path: Path, kind: str = "video", duration: float | None = None, scene: int | None = None) -> Clip:
    return Clip(kind=kind, path=str(path), duration=duration, scene=scene)


def simple_timeline(clips, *, voice=None, duration=None, tpl=None, **kw) -> Timeline:
    return build_timeline(clips=clips, voice=voice, template=tpl or template(), duration=duration, **kw)
