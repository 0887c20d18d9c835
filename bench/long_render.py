#!/usr/bin/env python3
"""Long-video check: does a 10-minute 1080x1920 render keep the 30 s scene's speed, with a small Python process?

Builds the peer-bench scene (see render_bench.py) repeated to `--minutes` (same inputs, same
settings: libx264 veryfast crf 23 + AAC), renders it in-process with `fenta.render.compose.render`
and times, in the same run:

  short    the 30 s scene         vs  testsrc2 30 s   (encode_limit.sh's command)
  long     the N-minute timeline  vs  testsrc2 N min  (the same command, longer)

It prints both fenta/testsrc ratios, the Python process's own peak RSS (FFmpeg excluded) and the
peak RSS of the whole process tree, and as its LAST line:

  short_fenta/testsrc=R1 long_fenta/testsrc=R2 python_peak_mib=P tree_peak_mib=T

Usage: python bench/long_render.py [--minutes 10] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _procmem import tree_rss_mib  # noqa: E402
from render_bench import FPS, H, W, ffmpeg_bin, make_inputs, scene_timeline  # noqa: E402


def repeated(tl, minutes: float):
    """The scene's segments repeated back to back until `minutes` are filled."""
    from fenta.render.timeline import Segment

    scene = tl.duration
    copies = max(1, int(round(minutes * 60 / scene)))
    segs = []
    for k in range(copies):
        for s in tl.segments:
            segs.append(Segment(**{**s.model_dump(), "start": s.start + k * scene}))
    return tl.model_copy(update={"segments": segs, "duration": scene * copies})


def render_measured(tl, out: Path, work: Path) -> tuple[float, float]:
    """Wall seconds and peak tree RSS (MiB) of one in-process render."""
    from fenta.render.compose import Profile, render

    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mib(os.getpid()))
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    asyncio.run(render(tl, out, None, profile=Profile(name="canvas"), workdir=work))
    wall = time.perf_counter() - t0
    done.set()
    t.join()
    return wall, peak[0]


def testsrc(seconds: float, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r={FPS}:d={seconds:g}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", str(out)], check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fenta-long-bench")
    args = ap.parse_args()
    work = args.work
    inputs = work / "inputs"
    work.mkdir(parents=True, exist_ok=True)
    make_inputs(inputs)
    short = scene_timeline(inputs, "cut")
    long = repeated(short, args.minutes)

    s_fenta, s_peak = render_measured(short, work / "short.mp4", work)
    s_src = testsrc(short.duration, work / "short_testsrc.mp4")
    print(f"short: fenta {s_fenta:.1f} s (tree peak {s_peak:.0f} MiB), testsrc {s_src:.1f} s", flush=True)
    l_fenta, l_peak = render_measured(long, work / "long.mp4", work)
    l_src = testsrc(long.duration, work / "long_testsrc.mp4")
    print(f"long ({long.duration / 60:.1f} min, {len(long.segments)} segments): fenta {l_fenta:.1f} s (tree peak {l_peak:.0f} MiB), testsrc {l_src:.1f} s", flush=True)
    py_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"short_fenta/testsrc={s_fenta / s_src:.2f} long_fenta/testsrc={l_fenta / l_src:.2f} python_peak_mib={py_peak:.0f} tree_peak_mib={max(s_peak, l_peak):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
