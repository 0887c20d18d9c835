#!/usr/bin/env python3
"""Long-video check: does a 10-minute 1080x1920 render keep the 30 s scene's speed and memory?

Builds the peer-bench scene (see render_bench.py) repeated to `--minutes` (same inputs, same
settings: libx264 veryfast crf 23 + AAC), with cuts or with 0.5 s transitions at every segment
boundary, renders it in-process with `fenta.render.renderer.render` and times, in the same run:

  short    the 30 s scene         vs  testsrc2 30 s   (encode_limit.sh's command)
  long     the N-minute timeline  vs  testsrc2 N min  (the same command, longer)

for each kind of `--transition` (cut, fade or both: the testsrc2 encodes are timed once). It
prints the fenta/testsrc ratios, the peak RSS of the whole process tree (Python, the render's
FFmpeg processes, the audio FFmpeg beside them) for each render, the Python process's own peak,
and as its LAST line, for the last kind:

  short_fenta/testsrc=R1 long_fenta/testsrc=R2 python_peak_mib=P tree_peak_mib=T long_tree_peak_mib=L

`--one-graph` renders the long video in ONE FFmpeg (as before chunking) to compare;
`--chunk-segments N` sets the chunk size (chunks.CHUNK_SEGMENTS).

Usage: python bench/long_render.py [--minutes 10] [--transition cut|fade|both] [--one-graph]
                                   [--chunk-segments N] [--no-testsrc] [--work DIR]
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
    """The scene's segments repeated back to back until `minutes` are filled, with the scene's
    transition (if any) at every boundary, the joins between copies included."""
    from fenta.render.timeline import Segment

    scene = tl.duration
    copies = max(1, int(round(minutes * 60 / scene)))
    t = float(tl.transition.get("seconds", 0)) if tl.transition.get("type", "cut") != "cut" else 0.0
    cuts = [
        (
            k * scene + (s.start + (t / 2 if i else 0)),
            k * scene + s.start + s.duration - (t / 2 if i < len(tl.segments) - 1 else 0),
            s,
        )
        for k in range(copies)
        for i, s in enumerate(tl.segments)
    ]
    segs = []
    for i, (a, b, s) in enumerate(cuts):
        start = a - (t / 2 if i else 0)
        end = b + (t / 2 if i < len(cuts) - 1 else 0)
        segs.append(
            Segment(**{**s.model_dump(), "start": round(start, 4), "duration": round(end - start, 4)})
        )
    return tl.model_copy(update={"segments": segs, "duration": scene * copies})


def render_measured(tl, out: Path, work: Path) -> tuple[float, float]:
    """Wall seconds and peak tree RSS (MiB) of one in-process render."""
    from fenta.render.profile import Profile
    from fenta.render.renderer import render

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
    subprocess.run(
        [
            ffmpeg_bin(),
            "-hide_banner",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s={W}x{H}:r={FPS}:d={seconds:g}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            str(out),
        ],
        check=True,
    )
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument(
        "--transition",
        default="cut",
        choices=["cut", "fade", "both"],
        help="cuts, 0.5 s fades, or one run of each",
    )
    ap.add_argument(
        "--one-graph", action="store_true", help="render the long video in one FFmpeg process (no chunks)"
    )
    ap.add_argument(
        "--chunk-segments",
        type=int,
        default=None,
        help="segments per chunk (default: chunks.CHUNK_SEGMENTS)",
    )
    ap.add_argument("--no-testsrc", action="store_true", help="skip the testsrc2 encodes (memory only)")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fenta-long-bench")
    args = ap.parse_args()
    from fenta.render import chunks

    if args.chunk_segments:
        chunks.CHUNK_SEGMENTS = args.chunk_segments
    work = args.work
    inputs = work / "inputs"
    work.mkdir(parents=True, exist_ok=True)
    make_inputs(inputs)
    kinds = ["cut", "fade"] if args.transition == "both" else [args.transition]
    src: dict[str, float] = {}
    results = []
    for kind in kinds:
        short = scene_timeline(inputs, kind)
        long = repeated(short, args.minutes)
        s_fenta, s_peak = render_measured(short, work / f"short-{kind}.mp4", work)
        if not args.no_testsrc:
            # Right after the render it is compared with: the host's load drifts over a long run.
            src[f"short-{kind}"] = testsrc(short.duration, work / "short_testsrc.mp4")
        print(
            f"{kind} short: fenta {s_fenta:.1f} s (tree peak {s_peak:.0f} MiB)"
            + (f", testsrc {src[f'short-{kind}']:.1f} s" if src else ""),
            flush=True,
        )
        spans = chunks.chunk_spans(long, FPS)
        if args.one_graph:
            saved, chunks.CHUNK_SEGMENTS = chunks.CHUNK_SEGMENTS, 10**9
        try:
            l_fenta, l_peak = render_measured(long, work / f"long-{kind}.mp4", work)
        finally:
            if args.one_graph:
                chunks.CHUNK_SEGMENTS = saved
        how = (
            "one FFmpeg" if args.one_graph else f"{len(spans)} chunks of <= {chunks.CHUNK_SEGMENTS} segments"
        )
        print(
            f"{kind} long ({long.duration / 60:.1f} min, {len(long.segments)} segments, {how}):"
            f" fenta {l_fenta:.1f} s (tree peak {l_peak:.0f} MiB)",
            flush=True,
        )
        results.append((kind, s_fenta, s_peak, l_fenta, l_peak, long.duration))
    if not args.no_testsrc:
        src["long"] = testsrc(results[-1][5], work / "long_testsrc.mp4")
        print(
            f"testsrc: {results[-1][5] / 60:.1f} min {src['long']:.1f} s (timed after the last long render)",
            flush=True,
        )
    py_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for kind, s_fenta, s_peak, l_fenta, l_peak, _ in results:
        ratios = (
            f"short_fenta/testsrc={s_fenta / src[f'short-{kind}']:.2f}"
            f" long_fenta/testsrc={l_fenta / src['long']:.2f} "
            if src
            else ""
        )
        print(
            f"{kind}: {ratios}python_peak_mib={py_peak:.0f} tree_peak_mib={max(s_peak, l_peak):.0f}"
            f" long_tree_peak_mib={l_peak:.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
