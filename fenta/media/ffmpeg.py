"""Choosing, running and probing FFmpeg (no ffprobe: `-i` banners are parsed).

Which binary: `FENTA_FFMPEG` (environment or `.env`, read through Settings) when
set, and it must do the job (else `FFmpegUnusable`, exit 2); else the first `ffmpeg`
on PATH when it has what fenta uses (users may have a faster build); else the binary
bundled by imageio-ffmpeg, so a pip install is enough. A system FFmpeg passed over
is named in one notice line on stderr.

"What fenta uses" is one table below (`MIN_VERSION`, `FILTERS`, `ENCODERS`,
`OPTIONS`), checked with two FFmpeg calls (`-version`, `-h full`); the verdict is
kept per binary (resolved path, mtime, size) in FENTA_HOME/cache/ffmpeg-check.json,
so later runs cost a stat and a small JSON read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..config import Settings
from ..errors import FFmpegUnusable, MediaError, RenderError
from .verdicts import BinaryVerdicts

__all__ = [
    "FFmpegCheck", "FFmpegChoice", "FFmpegUnusable", "check_ffmpeg", "ffmpeg_choice", "ffmpeg_exe", "ffmpeg_source",
    "MediaInfo", "probe", "probe_many", "run_ffmpeg", "run_ffmpeg_sync",
]

log = logging.getLogger("fenta")

# What fenta asks of FFmpeg: the render graph (render/compose.py, stills.py), captions (the ASS
# file drawn by `subtitles`), backgrounds (nodes/background.py) and audio decoding (tts/audio.py).
# A binary missing any of it is passed over (or refused, when FENTA_FFMPEG names it).

#: Oldest FFmpeg fenta runs on, and what needs it: drawtext's `text_align` (title cards) came in 6.1.
MIN_VERSION = ((6, 1), "drawtext text_align")

#: Filter -> the options fenta passes it. A filter absent from the build (drawtext needs libfreetype,
#: subtitles needs libass) or an option it lacks rules the binary out.
FILTERS: dict[str, tuple[str, ...]] = {
    "drawtext": ("fontfile", "textfile", "expansion", "text_align", "line_spacing", "boxborderw", "alpha"),
    "subtitles": ("filename", "fontsdir"),
    "xfade": ("transition", "duration", "offset"),
    "scale": ("in_color_matrix", "out_color_matrix", "out_range"),
    "zoompan": ("z", "x", "y", "d", "s", "fps"),
    "setparams": ("range", "colorspace", "color_primaries", "color_trc"),
    "loop": ("loop", "size", "start"),
    "tpad": ("stop_mode", "stop"),
    "trim": ("start_frame", "end_frame"),
    "overlay": ("eof_action", "shortest", "format"),
    "colorchannelmixer": ("aa",),
    "geq": ("lum", "cb", "cr"),
    "color": ("c", "s", "r", "d"),
    "anullsrc": ("r", "cl", "d"),
    "amix": ("inputs", "duration", "normalize"),
    "sidechaincompress": ("threshold", "ratio", "attack", "release", "makeup"),
    "alimiter": ("limit", "level", "attack", "release"),
    "loudnorm": ("I", "TP", "LRA"),
    "ebur128": ("framelog",),
}

#: Encoder -> the name its options go by in `ffmpeg -h full`.
ENCODERS: dict[str, str] = {"libx264": "libx264", "aac": "AAC encoder"}

#: Command-line options fenta passes (`-nofind_stream_info` is the negation of `-find_stream_info`).
OPTIONS: tuple[str, ...] = ("-fps_mode", "-find_stream_info")

_CHECK_TIMEOUT_S = 20
_BUNDLED = "imageio-ffmpeg (bundled)"


@dataclass(frozen=True)
class FFmpegCheck:
    """What `check_ffmpeg` found out about one binary."""

    path: str
    ok: bool
    version: str | None  # "5.1.6-0+deb12u1", "n9.0.2-17-g2a571b6068-20260930"; None when it did not answer
    problem: str | None = None  # why it cannot do the job: "drawtext lacks text_align", "no xfade filter", "does not exist"

    @property
    def short_version(self) -> str:
        """"5.1.6" out of "5.1.6-0+deb12u1" (the whole string when it is no release number)."""
        v = self.version or "?"
        m = _VERSION_NUMBER.match(v)
        return ".".join(g for g in m.groups() if g) if m else v


@dataclass(frozen=True)
class FFmpegChoice:
    """The FFmpeg fenta uses, where it came from and why."""

    path: str
    source: str  # "FENTA_FFMPEG", "system PATH" or "imageio-ffmpeg (bundled)"
    reason: str  # why this one, in words
    passed_over: FFmpegCheck | None = None  # the system FFmpeg that could not do the job, if any


def _requirements_key() -> str:
    table = json.dumps([MIN_VERSION, FILTERS, ENCODERS, OPTIONS], sort_keys=True)
    return hashlib.sha256(table.encode()).hexdigest()[:16]


_VERSION_LINE = re.compile(r"^ffmpeg version (\S+)", re.M)
_VERSION_NUMBER = re.compile(r"^n?(\d+)\.(\d+)(?:\.(\d+))?")
_CLASS = re.compile(r"^(\S.*) AVOptions:$")
_CLASS_OPTION = re.compile(r"^\s+-?([\w-]+)\s+<")
_MAIN_OPTION = re.compile(r"^(-[\w-]+)")


def _run_for_text(cmd: list[str]) -> tuple[str | None, str]:
    """(stdout, complaint): stdout is None when the binary could not be run to the end."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=_CHECK_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"did not answer `{' '.join(cmd[1:])}` within {_CHECK_TIMEOUT_S} s"
    except OSError as e:
        return None, f"cannot be run ({e.strerror or e})"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return None, f"fails `{' '.join(cmd[1:])}` ({last})"
    return proc.stdout, ""


def _missing(help_text: str) -> list[str]:
    """What of FILTERS, ENCODERS and OPTIONS the `-h full` text lacks, in words."""
    classes: dict[str, set[str]] = {}
    main: set[str] = set()
    current: list[set[str]] | None = None
    for line in help_text.splitlines():
        m = _CLASS.match(line)
        if m:
            # "acompressor/sidechaincompress", "(no)format": one option class shared by several names.
            current = [classes.setdefault(n.replace("(no)", ""), set()) for n in m.group(1).split("/")]
            continue
        if current is None:
            mm = _MAIN_OPTION.match(line)
            if mm:
                main.add(mm.group(1))
            continue
        mo = _CLASS_OPTION.match(line)
        if mo:
            for opts in current:
                opts.add(mo.group(1))
    missing = []
    for name, opts in FILTERS.items():
        if name not in classes:
            missing.append(f"no {name} filter")
        else:
            lacks = [o for o in opts if o not in classes[name]]
            if lacks:
                missing.append(f"{name} lacks {', '.join(lacks)}")
    missing += [f"no {enc} encoder" for enc, cls in ENCODERS.items() if cls not in classes]
    missing += [f"no {opt} option" for opt in OPTIONS if opt not in main]
    return missing


def _inspect(path: str) -> FFmpegCheck:
    """Run the check itself: `-version`, then (if recent enough) `-h full`."""
    out, complaint = _run_for_text([path, "-version"])
    if out is None:
        return FFmpegCheck(path, False, None, complaint)
    m = _VERSION_LINE.search(out)
    if not m:
        first = (out.strip().splitlines() or ["no output"])[0][:60]
        return FFmpegCheck(path, False, None, f"does not look like FFmpeg (`-version` said: {first})")
    version = m.group(1)
    number = _VERSION_NUMBER.match(version)
    (need, what) = MIN_VERSION
    if number and tuple(int(g) for g in number.groups()[:2]) < need:
        return FFmpegCheck(path, False, version, f"older than {need[0]}.{need[1]}, needed for {what}")
    # A version we can't read ("N-112345-g…", a git build) is judged by its features alone.
    out, complaint = _run_for_text([path, "-hide_banner", "-h", "full"])
    if out is None:
        return FFmpegCheck(path, False, version, complaint)
    missing = _missing(out)
    if missing:
        shown = "; ".join(missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
        return FFmpegCheck(path, False, version, shown)
    return FFmpegCheck(path, True, version)


def check_ffmpeg(path: str, settings: Settings | None = None) -> FFmpegCheck:
    """Whether the FFmpeg at `path` has what fenta uses, from the cache when the binary is unchanged.

    The verdict is kept per resolved path with the binary's mtime and size (and the requirements
    table it was checked against) in `settings.cache_dir`: a changed binary, or a changed table, is
    checked again.
    """
    return _check(path, (settings or Settings.from_env()).cache_dir)


def _check(path: str, cache_dir: Path) -> FFmpegCheck:
    try:
        os.stat(os.path.realpath(path))
    except OSError as e:
        return FFmpegCheck(path, False, None, "does not exist" if isinstance(e, FileNotFoundError) else f"cannot be read ({e.strerror})")

    def inspect() -> dict:
        found = _inspect(path)
        return {"ok": found.ok, "version": found.version, "problem": found.problem}

    hit = BinaryVerdicts(cache_dir / "ffmpeg-check.json", _requirements_key()).get(path, "check", inspect)
    return FFmpegCheck(path, bool(hit.get("ok")), hit.get("version"), hit.get("problem"))


def _bundled() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _describe(found: FFmpegCheck) -> str:
    """ "is FFmpeg 5.1.6 (older than 6.1, needed for drawtext text_align)", or "does not exist"."""
    return f"is FFmpeg {found.short_version} ({found.problem})" if found.version else str(found.problem)


_noticed: set[str] = set()  # system binaries already named in a notice by this process


@functools.lru_cache(maxsize=8)
def _choose(forced: str | None, system: str | None, cache_dir: Path) -> FFmpegChoice:
    if forced:
        path = shutil.which(forced) if os.sep not in forced else forced
        found = _check(path or forced, cache_dir)
        if not found.ok:
            raise FFmpegUnusable(f"FENTA_FFMPEG={forced} {_describe(found)}; point it at FFmpeg {MIN_VERSION[0][0]}.{MIN_VERSION[0][1]} or newer, or unset it to use the bundled FFmpeg")
        return FFmpegChoice(found.path, "FENTA_FFMPEG", "named by FENTA_FFMPEG")
    if not system:
        return FFmpegChoice(_bundled(), _BUNDLED, "no ffmpeg on PATH")
    found = _check(system, cache_dir)
    if found.ok:
        return FFmpegChoice(system, "system PATH", "first ffmpeg on PATH; it has every filter, option and encoder fenta uses")
    bundled = _bundled()
    if system not in _noticed:
        _noticed.add(system)
        log.warning("notice: %s %s; using the bundled FFmpeg %s", system, _describe(found), _check(bundled, cache_dir).short_version)
    return FFmpegChoice(bundled, _BUNDLED, f"{system} on PATH passed over: it {_describe(found)}", passed_over=found)


_choose_lock = threading.Lock()


def _locate() -> FFmpegChoice:
    settings = Settings.from_env()
    with _choose_lock:
        return _choose(settings.ffmpeg, shutil.which("ffmpeg"), settings.cache_dir)


# Forget the choices made so far (kept per FENTA_FFMPEG, system ffmpeg and FENTA_HOME for the process).
_locate.cache_clear = _choose.cache_clear  # type: ignore[attr-defined]


def ffmpeg_choice() -> FFmpegChoice:
    """Which FFmpeg fenta uses, and why (see the module docstring for the order).

    Raises:
        FFmpegUnusable: FENTA_FFMPEG names a binary that is missing or cannot do the job.
    """
    return _locate()


def ffmpeg_exe() -> str:
    """Path of the FFmpeg binary fenta uses.

    Raises:
        FFmpegUnusable: FENTA_FFMPEG names a binary that is missing or cannot do the job.
    """
    return _locate().path


def ffmpeg_source() -> str:
    """Where the binary came from: 'FENTA_FFMPEG', 'system PATH' or 'imageio-ffmpeg (bundled)'."""
    return _locate().source


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
    color_matrix: str | None = None  # YCbCr matrix the file declares ("bt709", "bt470bg"...); None if unstated

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
        proc = subprocess.run([ffmpeg_exe(), "-hide_banner", *(a for p in files for a in ("-i", str(p)))], capture_output=True, text=True, errors="replace")
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


_TIME = re.compile(r"out_time_us=(\d+)")


def _tail(lines: deque[str]) -> str:
    return "\n".join(line for line in lines if line.strip())[-2000:]


async def run_ffmpeg(
    args: list[str],
    *,
    total_seconds: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    what: str = "ffmpeg",
    log_dir: Path | None = None,
) -> None:
    """Run FFmpeg with `args`, reporting progress (0-1) from its `-progress` output.

    Args:
        log_dir: Where FFmpeg's whole output (and the command) is kept when it fails, in a file
            the error names (default: FENTA_HOME/logs). Nothing is kept when it succeeds.

    Raises:
        RenderError: FFmpeg exited non-zero; carries the tail of its stderr. Killed by a signal
            (a crash), the message says so - "FFmpeg crashed (signal 11, SIGSEGV)" - rather than
            quoting whatever FFmpeg printed last.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", *args]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stderr_lines: deque[str] = deque(maxlen=30)
    log_file = None
    log_dir = log_dir or Settings.from_env().home / "logs"
    with contextlib.suppress(OSError):  # an unwritable home costs the log, not the run
        log_dir.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"\W+", "-", what).strip("-")
        log_path = log_dir / f"ffmpeg-{slug}-{time.strftime('%Y%m%d-%H%M%S')}-{proc.pid}.log"
        log_file = open(log_path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
        log_file.write(" ".join(_quote(a) for a in cmd) + "\n\n")

    async def read_progress() -> None:
        assert proc.stdout
        async for raw in proc.stdout:
            m = _TIME.match(raw.decode(errors="replace"))
            if m and total_seconds and on_progress:
                on_progress(min(1.0, int(m.group(1)) / 1e6 / total_seconds))

    async def read_stderr() -> None:
        assert proc.stderr
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            stderr_lines.append(line)
            if log_file is not None:
                log_file.write(line + "\n")

    try:
        try:
            await asyncio.gather(read_progress(), read_stderr())
            code = await proc.wait()
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
    finally:
        if log_file is not None:
            log_file.close()
    kept = None
    if log_file is not None:
        if code == 0:
            log_path.unlink(missing_ok=True)
        else:
            kept = log_path
    if code != 0:
        raise _failure(what, code, _tail(stderr_lines), kept)


def _failure(what: str, code: int, tail: str, log_path: Path | None) -> RenderError:
    """The error for an FFmpeg run that exited `code` (negative: killed by that signal)."""
    where = f" (log: {log_path})" if log_path is not None else ""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        # What FFmpeg printed last before dying is stream metadata, not a cause: leave it out.
        err = RenderError(f"FFmpeg crashed (signal {-code}, {name}) in step '{what}'{where}")
        err.stderr_tail = tail
    else:
        err = RenderError(f"{what} failed (exit {code}){where}", stderr_tail=tail)
    err.returncode = code
    err.log_path = log_path
    return err


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def run_ffmpeg_sync(args: list[str], *, what: str = "ffmpeg") -> None:
    """Blocking variant of `run_ffmpeg` for short helper jobs."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error", *args],
        capture_output=True,
        text=True,
        errors="replace",
    )
    if proc.returncode != 0:
        raise RenderError(f"{what} failed (exit {proc.returncode})", stderr_tail=proc.stderr[-2000:])
