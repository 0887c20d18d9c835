"""Running FFmpeg: `run_ffmpeg` (async, progress, a log kept on failure), `run_ffmpeg_sync` (short jobs)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from ..errors import RenderError
from .ffmpeg import ffmpeg_exe

__all__ = ["run_ffmpeg", "run_ffmpeg_sync"]


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
        # What FFmpeg printed last before dying is stream metadata, not a cause: leave it out. A crash is
        # not about the inputs: a job that fails with one is retried.
        err = RenderError(f"FFmpeg crashed (signal {-code}, {name}) in step '{what}'{where}", retryable=True)
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
