"""Probing media files with FFmpeg: `MediaInfo`, `probe`, `probe_many`.

No ffprobe: FFmpeg's `-i` banner is parsed.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError
from .ffmpeg import ffmpeg_exe

__all__ = ["MediaInfo", "probe", "probe_many"]


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` learned about a media file."""

    path: str
    duration: float | None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    video_codec: str | None = None
    has_video: bool = False
    has_audio: bool = False
    rotation: int = 0
    sample_rate: int | None = None
    audio_codec: str | None = None
    color_matrix: str | None = (
        None  # YCbCr matrix the file declares ("bt709", "bt470bg"...); None if unstated
    )

    @property
    def is_hd(self) -> bool:
        """At least 1280 wide or taller than 576: where players take an unstated matrix as BT.709."""
        return (self.width or 0) >= 1280 or (self.height or 0) > 576

    @property
    def is_still(self) -> bool:
        """A single picture (jpeg/png/webp still) rather than a moving clip."""
        return self.has_video and self.video_codec in _STILL_CODECS and not self.animated

    @property
    def animated(self) -> bool:
        return self.video_codec in ("gif", "webp") and (self.duration or 0) > 0.05

    @property
    def display_size(self) -> tuple[int | None, int | None]:
        """Width and height after applying rotation metadata."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height


_STILL_CODECS = {"mjpeg", "png", "webp", "bmp", "tiff", "gif", "jpegxl", "jpeg2000"}
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (\w+)(?:.*?(\d+) Hz)?")
_PIXEL_FORMAT = re.compile(r", [a-z0-9_]+\(([^)]*)\)")  # "yuv420p(tv, bt709, progressive)"
_MATRICES = {"bt709", "bt470bg", "smpte170m", "smpte240m", "bt2020nc", "bt2020c", "fcc"}
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees|rotate\s*:\s*(-?\d+)")


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read duration, size, streams and rotation of a media file.

    Raises:
        MediaError: the file is missing or FFmpeg cannot read it.
    """
    p = Path(path)
    if not p.is_file():
        raise MediaError("file not found", file=str(path))
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(p)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    err = proc.stderr
    if "Invalid data found" in err or ("Stream #" not in err):
        tail = err.strip().splitlines()[-1:] or ["unreadable"]
        raise MediaError(f"not a readable media file ({tail[0].split(': ')[-1]})", file=str(path))
    return _parse_probe(err, str(p))


_INPUT_SECTION = re.compile(r"^Input #(\d+), ", re.M)


#: Files probed by one FFmpeg together total at most this many bytes: probing reads a still
#: whole and keeps it until the process ends (twenty 43 MB photos held 825 MiB).
_PROBE_BATCH_BYTES = 64 * 2**20


def probe_many(paths: Sequence[str | os.PathLike]) -> list[MediaInfo]:
    """`probe` several files with as few FFmpeg processes as memory allows (usually one).

    When FFmpeg cannot open one of a batch, each file of it is probed on its own so
    the error names the right one.

    Raises:
        MediaError: a file is missing or FFmpeg cannot read it (names the file).
    """
    files = [Path(p) for p in paths]
    batches: list[list[Path]] = []
    size = 0
    for f in files:
        n = f.stat().st_size if f.is_file() else 0
        if not batches or size + n > _PROBE_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(f)
        size += n
    return [info for batch in batches for info in _probe_batch(batch)]


def _probe_batch(files: list[Path]) -> list[MediaInfo]:
    if len(files) > 1:
        proc = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", *(a for p in files for a in ("-i", str(p)))],
            capture_output=True,
            text=True,
            errors="replace",
        )
        err = proc.stderr
        marks = list(_INPUT_SECTION.finditer(err))
        if [int(m.group(1)) for m in marks] == list(range(len(files))) and "Invalid data found" not in err:
            ends = [m.start() for m in marks[1:]] + [len(err)]
            sections = [err[m.start() : end] for m, end in zip(marks, ends)]
            if all("Stream #" in sec for sec in sections):
                return [_parse_probe(sec, str(p)) for sec, p in zip(sections, files)]
    # One file, or one FFmpeg could not open (missing, unreadable): `probe` each, so the error names it.
    return [probe(p) for p in files]


def _parse_probe(err: str, path: str) -> MediaInfo:
    """MediaInfo from FFmpeg's description of one input (its `-i` banner)."""
    duration = None
    m = _DURATION.search(err)
    if m:
        h, mi, s = m.groups()
        duration = int(h) * 3600 + int(mi) * 60 + float(s)
    info: dict = {"path": path, "duration": duration}
    v = _VIDEO.search(err)
    if v:
        info.update(has_video=True, video_codec=v.group(1), width=int(v.group(2)), height=int(v.group(3)))
        line = err[v.start() : err.find("\n", v.start())]
        f = _FPS.search(line)
        if f:
            info["fps"] = float(f.group(1))
        pf = _PIXEL_FORMAT.search(line)
        if pf:
            # Either "bt709" or "matrix/primaries/transfer" when those differ.
            declared = [t.split("/")[0] for t in pf.group(1).split(", ")]
            info["color_matrix"] = next((t for t in declared if t in _MATRICES), None)
    a = _AUDIO.search(err)
    if a:
        info["has_audio"] = True
        info["audio_codec"] = a.group(1)
        if a.group(2):
            info["sample_rate"] = int(a.group(2))
    r = _ROTATION.search(err)
    if r:
        info["rotation"] = int(round(float(r.group(1) or r.group(2)))) % 360
    return MediaInfo(**info)
