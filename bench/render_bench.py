#!/usr/bin/env python3
"""Render benchmark: fenta vs its content limit vs the testsrc2 encode limit vs the MoviePy peer.

Renders the scene of ../shared/peer-bench (6 x 5 s segments: 3 stills with a slow
zoom, 2 clips, 1 colour; word-by-word captions; voice over a ducked music bed;
1080x1920 30 fps; libx264 veryfast crf 23 + AAC) and times, alternating round by round:

  fenta    `fenta render scene.timeline.json` (the CLI, one FFmpeg process)
  limit    the content limit: the same x264 settings encoding fenta's own frames
           from a raw yuv420p dump (dumped once, untimed)
  testsrc  the peer bench's encode_limit.sh (testsrc2 straight into x264)
  moviepy  the peer bench's render_moviepy.py (skipped with --no-peer)
  fenta-X  `fenta render --encoder X` for each hardware encoder usable here (none: skipped)

Prints each one's median wall time, CPU time and peak memory (RSS summed over the
whole process tree), fenta/limit per round and in CPU time, and as its LAST line:

  fenta/limit=R1 fenta/testsrc=R2 moviepy/fenta=R3 fenta_peak_mib=M

Usage:
  python bench/render_bench.py [--rounds 3] [--transition cut|fade] [--no-peer] [--no-hardware]
                               [--peer-python /path/to/venv/bin/python] [--work DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from _procmem import run_measured  # noqa: E402

PEER = Path(os.environ.get("FENTA_PEER_BENCH", REPO.parent / "shared" / "peer-bench"))
W, H, FPS, SEG = 1080, 1920, 30, 5.0


def make_inputs(d: Path) -> None:
    if (d / "subs.ass").exists() and (d / "music.wav").exists():
        return
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([sys.executable, str(PEER / "make_inputs.py"), str(d)], check=True, env=env)


def scene_timeline(d: Path, transition: str, t_sec: float = 0.5):
    """The peer scene as a fenta timeline (stills zoom 1.00 -> 1.12, like the peer)."""
    from fenta.render.templates import resolve_template
    from fenta.render.timeline import MusicBed, Segment, Timeline
    from fenta.types import Audio

    tpl = resolve_template("karaoke-bold", {"canvas": {"width": W, "height": H, "fps": FPS}})
    tpl["title_card"] = None
    tpl["progress_bar"] = None
    sources = [
        ("image", d / "img1.jpg"),
        ("image", d / "img2.png"),
        ("video", d / "grad.mp4"),
        ("image", d / "img3.jpg"),
        ("video", d / "testsrc.mp4"),
        ("color", None),
    ]
    t = t_sec if transition != "cut" else 0.0
    segs = []
    for i, (kind, path) in enumerate(sources):
        start = i * SEG - (t / 2 if i else 0)
        end = (i + 1) * SEG + (t / 2 if i < len(sources) - 1 else 0)
        segs.append(
            Segment(
                kind=kind,
                path=str(path) if path else None,
                color="#2A6F97" if kind == "color" else None,
                start=start,
                duration=end - start,
                zoom=(1.0, 1.12) if kind == "image" else None,
            )
        )
    return Timeline(
        canvas={"width": W, "height": H, "fps": FPS},
        duration=len(sources) * SEG,
        segments=segs,
        transition={"type": transition, "seconds": t},
        voice=Audio(path=str(d / "voice.wav"), duration=30.0),
        music=MusicBed(
            path=str(d / "music.wav"),
            duration=30.0,
            level_db=-12,
            ducking=True,
            duck_ratio=8,
            duck_threshold=0.02,
            fade_out=1.0,
        ),
        subtitles_ass=str(d / "subs.ass"),
        loudness=-14,
        template=tpl,
    )


def ffmpeg_bin() -> str:
    from fenta.media.ffmpeg import ffmpeg_exe

    return ffmpeg_exe()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--transition", default="cut", help="cut, fade or another xfade kind")
    ap.add_argument("--no-peer", action="store_true", help="skip the slow MoviePy render")
    ap.add_argument("--no-hardware", action="store_true", help="skip the hardware encoders even when usable")
    ap.add_argument(
        "--peer-python",
        default=os.environ.get("PEER_PYTHON", sys.executable),
        help="python with moviepy installed",
    )
    ap.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fenta-render-bench"
    )
    args = ap.parse_args()

    work = args.work
    inputs = work / "inputs"
    work.mkdir(parents=True, exist_ok=True)
    make_inputs(inputs)
    tl = scene_timeline(inputs, args.transition)
    tl_path = work / "scene.timeline.json"
    tl_path.write_text(json.dumps(tl.model_dump(mode="json"), indent=1), encoding="utf-8")
    ff = ffmpeg_bin()

    # The content limit's input: fenta's own frames, dumped once (untimed).
    from fenta.render.compose import build_command
    from fenta.render.profile import Profile

    raw = work / "frames.yuv"
    args_raw = build_command(
        tl, work / "unused.mp4", None, profile=Profile(name="canvas"), raw_video=raw, textdir=work
    )
    # Keyed by the dump's own command: frames left by an older graph would time another picture.
    stamp = work / "frames.key"
    key = hashlib.sha256(json.dumps([ff, args_raw]).encode()).hexdigest()
    if not raw.exists() or not stamp.exists() or stamp.read_text() != key:
        subprocess.run([ff, "-v", "error", "-y", *args_raw], check=True)
        stamp.write_text(key)

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "FFMPEG": ff,
        "FENTA_FFMPEG": ff,
    }
    font = REPO / "fenta" / "assets" / "fonts" / "DejaVuSans-Bold.ttf"
    cmds = {
        "fenta": [
            sys.executable,
            "-m",
            "fenta",
            "render",
            str(tl_path),
            "-o",
            str(work / "out"),
            "--profile",
            "canvas",
        ],
        "limit": [
            ff,
            "-hide_banner",
            "-v",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-s",
            f"{W}x{H}",
            "-r",
            str(FPS),
            "-i",
            str(raw),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            str(work / "limit.mp4"),
        ],
        "testsrc": ["bash", str(PEER / "encode_limit.sh"), str(work / "testsrc.mp4")],
    }
    # Hardware encoders that work here (`fenta doctor` lists them) are timed beside x264.
    from fenta.render.encoders import usable_encoders

    hardware = [e for e in usable_encoders(ffmpeg=ff) if e != "x264"] if not args.no_hardware else []
    for name in hardware:
        cmds[f"fenta-{name}"] = [*cmds["fenta"], "--encoder", name]
    if not hardware:
        print("hardware encoders: none usable here (fenta doctor says why)", flush=True)
    if not args.no_peer:
        cmds["moviepy"] = [
            args.peer_python,
            str(PEER / "render_moviepy.py"),
            str(inputs),
            str(work / "moviepy.mp4"),
        ]
    env_for = {k: env for k in cmds}
    env_for["moviepy"] = {**env, "FONT": str(font), "FFMPEG_BINARY": ff}

    times: dict[str, list[float]] = {k: [] for k in cmds}
    peaks: dict[str, list[float]] = {k: [] for k in cmds}
    cpus: dict[str, list[float]] = {k: [] for k in cmds}
    for r in range(args.rounds):
        for name, cmd in cmds.items():
            m = run_measured(cmd, env=env_for[name])
            times[name].append(m.wall)
            peaks[name].append(m.peak_mib)
            cpus[name].append(m.cpu)
            print(
                f"round {r + 1}: {name:8s} {m.wall:7.2f} s  cpu {m.cpu:6.2f} s  peak {m.peak_mib:7.1f} MiB",
                flush=True,
            )

    med = {k: statistics.median(v) for k, v in times.items()}
    mem = {k: statistics.median(v) for k, v in peaks.items()}
    for k in cmds:
        print(f"{k:8s} median {med[k]:7.2f} s  peak {mem[k]:7.1f} MiB")
    # The machine is shared: one round's ratio swings by +-15%. The rounds alternate, so each
    # round's own ratio is also worth seeing next to the ratio of medians below.
    per_round = [f / lim for f, lim in zip(times["fenta"], times["limit"])]
    print(
        "fenta/limit per round: "
        + " ".join(f"{r:.2f}" for r in per_round)
        + f"  (median {statistics.median(per_round):.2f})"
    )
    # CPU seconds move less with the host's load than wall time does: the work itself, compared.
    cpu_ratio = statistics.median(cpus["fenta"]) / statistics.median(cpus["limit"])
    print(
        f"fenta/limit in CPU time: {cpu_ratio:.2f} (fenta {statistics.median(cpus['fenta']):.1f} s,"
        f" limit {statistics.median(cpus['limit']):.1f} s)"
    )
    for name in hardware:
        k = f"fenta-{name}"
        print(
            f"{k}: {med[k]:.2f} s, {med[k] / med['fenta']:.2f}x fenta with x264,"
            f" {med[k] / med['limit']:.2f}x the x264 content limit, peak {mem[k]:.0f} MiB"
        )
    peer = f"{med['moviepy'] / med['fenta']:.1f}" if "moviepy" in med else "skipped"
    shutil.rmtree(work / "out", ignore_errors=True)
    print(
        f"fenta/limit={med['fenta'] / med['limit']:.2f} fenta/testsrc={med['fenta'] / med['testsrc']:.2f}"
        f" moviepy/fenta={peer} fenta_peak_mib={mem['fenta']:.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
