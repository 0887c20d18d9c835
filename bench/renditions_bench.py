#!/usr/bin/env python3
"""Three aspects in one run (Render.renditions) against three separate runs.

The scene: about 25 s of espeak narration with karaoke captions (karaoke-bold: title card, progress bar),
over two moving clips (1280x720 and 720x1280 testsrc2) and two large stills (3000x2000, Ken Burns).
Its voice, captions and timeline are made once beforehand (a first run), so every timed command
renders only (`--refresh render`), as a CLI process with Python start-up and publishing included:

  together  one `fenta run` whose Render has renditions [9:16, 1:1, 16:9 at 720p]
  separate  three `fenta run`s, each with one of those renditions

Rounds alternate the order. Prints each round, the medians, and as its LAST line:

  together/separate=R together_s=A separate_s=B cpu_together/separate=C

(R below 1: one run is cheaper than three; C: the same in CPU seconds of the commands and all they
started, steadier on a busy host.)

Usage: python bench/renditions_bench.py [--rounds 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

SCRIPT = (
    "Octopuses have three hearts and blue blood. Two hearts pump blood through the gills, and the third "
    "sends it around the body. When an octopus swims, the heart that feeds the body stops beating, which "
    "is why these animals prefer crawling to swimming. Their blood is blue because it carries copper "
    "instead of iron, which works better in cold water with little oxygen."
)
ASPECTS = [{"aspect": "9:16"}, {"aspect": "1:1"}, {"aspect": "16:9", "profile": "720p"}]


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds of a command (and everything it started)."""
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return wall, cpu


def media(work: Path) -> list[str]:
    from fenta.media.ffmpeg import ffmpeg_exe

    made = []
    for name, src, extra in (
        (
            "wide.mp4",
            "testsrc2=s=1280x720:r=30:d=8",
            ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"],
        ),
        (
            "tall.mp4",
            "testsrc2=s=720x1280:r=30:d=8",
            ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"],
        ),
        ("photo1.jpg", "gradients=s=3000x2000:n=3:seed=1:d=1", ["-frames:v", "1"]),
        ("photo2.jpg", "gradients=s=3000x2000:n=4:seed=2:d=1", ["-frames:v", "1"]),
    ):
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", src, *extra, str(work / name)],
            check=True,
        )
        made.append(str(work / name))
    return made


def workflow(files: list[str], renditions: list[dict]) -> dict:
    return {
        "version": 1,
        "name": "aspects",
        "template": "karaoke-bold",
        "nodes": {
            "script": {"type": "Input.Text", "params": {"text": SCRIPT}},
            "voice": {"type": "Voice.TTS", "params": {"engine": "espeak"}, "inputs": {"text": "script.text"}},
            "subs": {"type": "Subtitle", "inputs": {"words": "voice.words"}},
            "clips": {"type": "Input.Asset", "params": {"paths": files}},
            "timeline": {
                "type": "Timeline",
                "inputs": {
                    "clips": "clips.clips",
                    "voice": "voice.audio",
                    "subtitles": "subs.track",
                    "script": "script.text",
                },
            },
            "render": {
                "type": "Render",
                "params": {"renditions": renditions},
                "inputs": {"timeline": "timeline.timeline"},
            },
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fenta-renditions-bench"
    )
    args = ap.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sys.path.insert(0, str(REPO))
    files = media(work)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]), FENTA_HOME=str(work / "home")
    )
    fenta = [sys.executable, "-m", "fenta"]
    together = work / "together.json"
    together.write_text(json.dumps(workflow(files, ASPECTS)))
    separate = []
    for r in ASPECTS:
        path = work / f"only-{r['aspect'].replace(':', 'x')}.json"
        path.write_text(json.dumps(workflow(files, [r])))
        separate.append(path)
    # Voice, captions and timeline once, so every timed command renders only.
    timed([*fenta, "run", str(together), "-o", str(work / "warm"), "--overwrite"], env)

    def run(path: Path, out: str) -> tuple[float, float]:
        return timed(
            [*fenta, "run", str(path), "-o", str(work / out), "--overwrite", "--refresh", "render"], env
        )

    rows = []
    for k in range(args.rounds):
        order = ["together", "separate"] if k % 2 == 0 else ["separate", "together"]
        got: dict[str, tuple[float, float]] = {}
        for which in order:
            if which == "together":
                got[which] = run(together, "together")
            else:
                parts = [run(p, p.stem) for p in separate]
                got[which] = (sum(p[0] for p in parts), sum(p[1] for p in parts))
        rows.append(got)
        (tw, tc), (sw, sc) = got["together"], got["separate"]
        print(
            f"round {k + 1}: together {tw:.1f} s ({tc:.1f} CPU-s), separate {sw:.1f} s ({sc:.1f} CPU-s), "
            f"ratio {tw / sw:.2f}"
        )
    tw = statistics.median(r["together"][0] for r in rows)
    sw = statistics.median(r["separate"][0] for r in rows)
    tc = statistics.median(r["together"][1] for r in rows)
    sc = statistics.median(r["separate"][1] for r in rows)
    print(
        f"together/separate={tw / sw:.2f} together_s={tw:.1f} separate_s={sw:.1f} "
        f"cpu_together/separate={tc / sc:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
