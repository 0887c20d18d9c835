"""Choosing and checking the FFmpeg binary fenta runs.

Probing is `fenta.media.probe`; running, `fenta.media.run`.

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

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import FFmpegUnusable
from .verdicts import BinaryVerdicts

__all__ = [
    "FFmpegCheck",
    "FFmpegChoice",
    "FFmpegUnusable",
    "check_ffmpeg",
    "ffmpeg_choice",
    "ffmpeg_exe",
    "ffmpeg_source",
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
    problem: str | None = (
        None  # why it cannot do the job: "drawtext lacks text_align", "no xfade filter", "does not exist"
    )

    @property
    def short_version(self) -> str:
        """ "5.1.6" out of "5.1.6-0+deb12u1" (the whole string when it is no release number)."""
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
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_CHECK_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
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
            for class_options in current:
                class_options.add(mo.group(1))
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
        return FFmpegCheck(
            path,
            False,
            None,
            "does not exist" if isinstance(e, FileNotFoundError) else f"cannot be read ({e.strerror})",
        )

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
            (major, minor), _ = MIN_VERSION
            raise FFmpegUnusable(
                f"FENTA_FFMPEG={forced} {_describe(found)}; point it at FFmpeg {major}.{minor} or newer, "
                "or unset it to use the bundled FFmpeg"
            )
        return FFmpegChoice(found.path, "FENTA_FFMPEG", "named by FENTA_FFMPEG")
    if not system:
        return FFmpegChoice(_bundled(), _BUNDLED, "no ffmpeg on PATH")
    found = _check(system, cache_dir)
    if found.ok:
        return FFmpegChoice(
            system, "system PATH", "first ffmpeg on PATH; it has every filter, option and encoder fenta uses"
        )
    bundled = _bundled()
    if system not in _noticed:
        _noticed.add(system)
        log.warning(
            "notice: %s %s; using the bundled FFmpeg %s",
            system,
            _describe(found),
            _check(bundled, cache_dir).short_version,
        )
    return FFmpegChoice(
        bundled, _BUNDLED, f"{system} on PATH passed over: it {_describe(found)}", passed_over=found
    )


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
