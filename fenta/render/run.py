"""Running one render FFmpeg: once more after a crash (with a notice), and a bad input named.

A crash (SIGSEGV, SIGBUS, SIGABRT, SIGILL) is not about the inputs, so the same command runs once
more before the render fails; any other failure whose error names an input file is that file's
`MediaError`.
"""

from __future__ import annotations

import logging
import re

from ..errors import MediaError, RenderError

__all__ = ["run_render"]

log = logging.getLogger("fenta")

_CRASH_SIGNALS = {-11, -7, -6, -4}  # SIGSEGV, SIGBUS, SIGABRT, SIGILL as negative exit codes

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


async def run_render(args: list[str], *, what: str, total_seconds: float | None, on_progress=None) -> None:
    """Run one render FFmpeg: once more after a crash (with a notice); a bad input is named.

    Raises:
        MediaError: FFmpeg could not decode an input (names the file).
        RenderError: FFmpeg failed for another reason.
    """
    from ..media.run import run_ffmpeg

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
