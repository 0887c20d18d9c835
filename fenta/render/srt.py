"""SRT files, read and written verbatim, and cutting a video's captions (ASS and SRT) at its end."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

__all__ = ["write_srt", "read_srt", "clamp_captions"]


def _srt_time(ms: int) -> str:
    h, rest = divmod(max(0, int(ms)), 3_600_000)
    m, rest = divmod(rest, 60_000)
    sec, milli = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{sec:02d},{milli:03d}"


def write_srt(path: Path, cues: Sequence[tuple[int, int, str]]) -> None:
    """Write (start ms, end ms, text) cues as SRT, the text exactly as given.

    pysubs2 reads braces in SRT text as ASS override tags and drops them
    ("{y}", "%{pts}" -> "%"); an SRT has no escapes, so the text is written verbatim.
    """
    blocks = [f"{i}\n{_srt_time(a)} --> {_srt_time(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1)]
    Path(path).write_text("\n".join(blocks), encoding="utf-8")


_SRT_TIME = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{1,3})")


def read_srt(path: Path) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) per cue of an SRT file, the text exactly as written."""
    raw = Path(path).read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    cues = []
    for block in re.split(r"\n\s*\n", raw.strip()):
        lines = block.split("\n")
        k = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        if k is None:
            continue
        times = _SRT_TIME.findall(lines[k])
        if len(times) < 2:
            continue
        a, b = (
            (int(h) * 3600 + int(m) * 60 + int(sec)) * 1000 + int(ms.ljust(3, "0"))
            for h, m, sec, ms in times[:2]
        )
        cues.append((a, b, "\n".join(lines[k + 1 :])))
    return cues


def clamp_captions(
    ass_path: str | Path, srt_path: str | Path, end: float, out_dir: Path, *, fps: float | None = None
) -> tuple[Path, Path]:
    """Copies of an ASS and an SRT whose cues all end by the video's end.

    The end is `end` seconds, or with `fps` the end of the last whole frame
    before it when that comes first (a 0.4826 s video at 30 fps shows 14
    frames, and its file may say 0.480 s). A cue that starts at or after the
    end is dropped; one that runs past it is cut there. The copies are written
    into `out_dir` (as captions.ass and captions.srt) even when nothing
    changes, so callers can always keep them.
    """
    import pysubs2

    if fps:
        end = min(end, round(end * fps) / fps)
    out_dir.mkdir(parents=True, exist_ok=True)
    ass_out, srt_out = out_dir / "captions.ass", out_dir / "captions.srt"
    cs_end = int(math.floor(end * 100 + 1e-6)) * 10  # ASS keeps centiseconds: never round past the end
    ms_end = int(math.floor(end * 1000 + 1e-6))
    subs = pysubs2.load(str(ass_path), format_="ass")
    subs.events = [e for e in subs.events if e.start < cs_end]
    for e in subs.events:
        e.end = min(e.end, cs_end)
    subs.save(str(ass_out), format_="ass")
    write_srt(srt_out, [(a, min(b, ms_end), text) for a, b, text in read_srt(Path(srt_path)) if a < ms_end])
    return ass_out, srt_out
