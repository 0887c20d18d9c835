"""What the library learns about a file once, when it is added: streams, loudness and a thumbnail."""

from __future__ import annotations

import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError
from ..media.ffmpeg import ffmpeg_exe
from ..media.probe import MediaInfo, probe

__all__ = ["Facts", "read_facts", "make_thumbnail", "measure_loudness"]

#: Longest side of a thumbnail (pixels).
THUMB_SIZE = 320

_LOUDNESS = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf) LUFS")


@dataclass(frozen=True)
class Facts:
    """A probed file: its kind and the numbers `fenta assets list` shows."""

    kind: str  # video | image | audio
    info: MediaInfo
    loudness: float | None


def _kind(info: MediaInfo) -> str | None:
    if info.has_video:
        return "image" if info.is_still else "video"
    return "audio" if info.has_audio else None


def read_facts(path: Path, shown: str) -> Facts:
    """Probe `path` (named `shown` in messages) and measure its loudness when it has sound.

    Raises:
        MediaError: FFmpeg cannot read it, or it has neither picture nor sound (names `shown`).
    """
    try:
        info = probe(path)
    except MediaError as e:
        raise MediaError(e.message, file=shown) from None
    kind = _kind(info)
    if kind is None:
        raise MediaError("has neither video nor audio", file=shown)
    return Facts(kind=kind, info=info, loudness=measure_loudness(path) if info.has_audio else None)


def measure_loudness(path: Path) -> float | None:
    """Integrated loudness of the file's audio in LUFS (EBU R128; the video is not decoded), or None."""
    proc = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-i",
            str(path),
            "-vn",
            "-sn",
            "-af",
            "ebur128=framelog=quiet",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        errors="replace",
    )
    m = _LOUDNESS.search(proc.stderr)
    if proc.returncode != 0 or not m or m.group(1) == "-inf":
        return None
    return round(float(m.group(1)), 1)


def make_thumbnail(path: Path, facts: Facts, out: Path, shown: str) -> None:
    """A JPEG at most THUMB_SIZE on its longer side: a frame at 10% (at most 1 s in) of a clip, the
    picture itself, or the waveform of an audio file. Written under a temporary name, then renamed.

    Raises:
        MediaError: FFmpeg could not decode a frame (the file is damaged; names `shown`).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{uuid.uuid4().hex}.part.jpg")  # two processes adding one file never share it
    fit = f"scale={THUMB_SIZE}:{THUMB_SIZE}:force_original_aspect_ratio=decrease"
    if facts.kind == "audio":
        args = [
            "-i",
            str(path),
            "-filter_complex",
            f"showwavespic=s={THUMB_SIZE}x{THUMB_SIZE // 3}:colors=0x4FC3F7",
            "-frames:v",
            "1",
        ]
    elif facts.kind == "video" and facts.info.duration:
        args = [
            "-ss",
            f"{min(1.0, facts.info.duration * 0.1):.3f}",
            "-i",
            str(path),
            "-vf",
            fit,
            "-frames:v",
            "1",
        ]
    else:
        args = ["-i", str(path), "-vf", fit, "-frames:v", "1"]
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-y",
        *args,
        "-q:v",
        "4",
        "-update",
        "1",
        str(tmp),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        why = (proc.stderr.strip().splitlines() or ["no frame could be decoded"])[-1].split("] ")[-1]
        raise MediaError(f"not a readable media file ({why})", file=shown)
    tmp.replace(out)
