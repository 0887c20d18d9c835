#!/usr/bin/env python3
"""Batch throughput: the same short videos made three ways in one run.

  serial   a loop of `fenta run` (one process per video, one video at a time)
  batch    `fenta batch WORKFLOW rows.csv` (one process, --concurrency rows at once)
  cluster  `fenta batch WORKFLOW rows.csv --cluster local` (the rows on a Dask LocalCluster)

Every way starts from an empty FENTA_HOME (nothing cached) and makes the same videos: the
quickstart (voice, karaoke subtitles, gradient backdrop, 1080x1920) with a different two-sentence
script each. It prints each way's wall time and videos per hour, the peak resident memory of the
`fenta batch` process itself (not its FFmpeg children, not the Dask workers), the load average before
and after, and as its LAST line:

  batch/serial=R1 cluster/serial=R2 client_peak_mib=M

(M: the higher of the two batch processes' peaks.)

Usage: python bench/batch_bench.py [--videos 8] [--concurrency N] [--workflow FILE] [--no-cluster] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: Eight facts, two sentences each: about 5-7 s of speech apiece.
SCRIPTS = [
    "Octopuses have three hearts and blue blood. Each arm can taste, touch and decide on its own.",
    "Sea otters hold hands while they sleep. That way they do not drift apart.",
    "A day on Venus is longer than its year. The planet also spins the other way round.",
    "Honey found in ancient tombs was still good to eat. It almost never spoils.",
    "Bananas are berries, but strawberries are not. Botanists count the seeds differently.",
    "Sharks were swimming before trees grew on land. They are older than the rings of Saturn.",
    "A teaspoon of a neutron star would weigh billions of tonnes. It is the densest matter we know.",
    "Wombats make cube-shaped droppings. Their intestines shape them on the way out.",
]


def _peak_mib(pid: int, stop: threading.Event, out: list[float]) -> None:
    """Follow one process's VmHWM (its own peak resident memory) until it exits."""
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        out.append(int(line.split()[1]) / 1024)
        except OSError:
            return
        stop.wait(0.05)


def run(cmd: list[str], env: dict, *, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, the process's own peak MiB) of one command; exits on an unexpected status."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, peaks = threading.Event(), []
    watcher = threading.Thread(target=_peak_mib, args=(proc.pid, stop, peaks), daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[2:5])} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, max(peaks, default=0.0)


def per_hour(n: int, seconds: float) -> float:
    return n * 3600 / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=8, help="How many videos each way makes (at most 8 scripts; more repeat them with a number).")
    ap.add_argument("--concurrency", type=int, default=None, help="fenta batch --concurrency (default: fenta's own).")
    ap.add_argument("--workflow", type=Path, default=REPO / "examples" / "quickstart.yaml", help="A workflow with a `script` variable.")
    ap.add_argument("--no-cluster", action="store_true", help="Skip the Dask LocalCluster way.")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fenta-batch-bench")
    args = ap.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    scripts = [SCRIPTS[i % len(SCRIPTS)] + ("" if i < len(SCRIPTS) else f" Number {i + 1}.") for i in range(args.videos)]
    rows = work / "rows.csv"
    with open(rows, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "script"])
        w.writerows([f"video-{i + 1}", s] for i, s in enumerate(scripts))
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), base.get("PYTHONPATH", "")])
    fenta = [sys.executable, "-m", "fenta"]
    print(f"{args.videos} videos of {args.workflow.name}; {os.cpu_count()} CPU cores; load average before {os.getloadavg()[0]:.2f}", flush=True)

    env = {**base, "FENTA_HOME": str(work / "home-serial")}
    serial = 0.0
    for i, script in enumerate(scripts):
        wall, _ = run([*fenta, "run", str(args.workflow), "--var", f"script={script}", "-o", str(work / "serial"), "--name", f"video-{i + 1}", "--json"], env)
        serial += wall
    print(f"serial   {serial:7.1f} s  {per_hour(args.videos, serial):6.0f} videos/hour  (a loop of fenta run)", flush=True)

    extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []
    env = {**base, "FENTA_HOME": str(work / "home-batch")}
    batch, batch_peak = run([*fenta, "batch", str(args.workflow), str(rows), "-o", str(work / "batch"), "--report", str(work / "batch.json"), *extra], env)
    print(f"batch    {batch:7.1f} s  {per_hour(args.videos, batch):6.0f} videos/hour  client peak {batch_peak:.0f} MiB", flush=True)

    cluster, cluster_peak = float("nan"), 0.0
    if not args.no_cluster:
        env = {**base, "FENTA_HOME": str(work / "home-cluster")}
        cluster, cluster_peak = run([*fenta, "batch", str(args.workflow), str(rows), "-o", str(work / "cluster"), "--cluster", "local", "--report", str(work / "cluster.json"), *extra], env)
        print(f"cluster  {cluster:7.1f} s  {per_hour(args.videos, cluster):6.0f} videos/hour  client peak {cluster_peak:.0f} MiB (Dask LocalCluster)", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}", flush=True)
    print(f"batch/serial={serial / batch:.2f} cluster/serial={serial / cluster:.2f} client_peak_mib={max(batch_peak, cluster_peak):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
