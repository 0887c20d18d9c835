#!/usr/bin/env python3
"""Quickstart end to end against its render alone.

Times, alternating round by round on the same machine:

  run     `fenta run examples/quickstart.yaml` with an empty FENTA_HOME (nothing cached: loading,
          planning, the offline voice, subtitles, timeline, the render, publishing)
  render  `fenta render` of the timeline.json that run wrote (the render alone)

and prints each median, run/render per round, and as its LAST line:

  run/render=R run_s=A render_s=B cpu_run/render=C

(C: the same ratio in CPU seconds of the commands and all they started, steadier on a busy host.)

Usage: python bench/quickstart_bench.py [--rounds 3] [--work DIR]
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


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the command and everything it started) and stdout."""
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return wall, cpu, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fenta-quickstart-bench"
    )
    args = ap.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), base.get("PYTHONPATH", "")])
    runs, renders, run_cpu, render_cpu = [], [], [], []
    for r in range(args.rounds):
        home = work / f"home{r}"
        env = {**base, "FENTA_HOME": str(home)}
        run_s, run_c, out = timed(
            [
                sys.executable,
                "-m",
                "fenta",
                "run",
                str(REPO / "examples" / "quickstart.yaml"),
                "-o",
                str(work / f"run{r}"),
                "--json",
            ],
            env,
        )
        arts = json.loads(out)["artifacts"]
        timeline = (
            arts["timeline"]
            if isinstance(arts, dict)
            else next(a["path"] for a in arts if a.get("kind") == "timeline")
        )
        render_s, render_c, _ = timed(
            [
                sys.executable,
                "-m",
                "fenta",
                "render",
                str(timeline),
                "-o",
                str(work / f"render{r}"),
                "--json",
            ],
            env,
        )
        runs.append(run_s)
        renders.append(render_s)
        run_cpu.append(run_c)
        render_cpu.append(render_c)
        print(
            f"round {r + 1}: run {run_s:6.2f} s  render {render_s:6.2f} s  run/render {run_s / render_s:.2f}"
            f"  (CPU {run_c:.1f} s / {render_c:.1f} s = {run_c / render_c:.2f})",
            flush=True,
        )
    run_m, render_m = statistics.median(runs), statistics.median(renders)
    cpu_ratio = statistics.median(run_cpu) / statistics.median(render_cpu)
    print(
        f"run/render={run_m / render_m:.2f} run_s={run_m:.2f} render_s={render_m:.2f}"
        f" cpu_run/render={cpu_ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
