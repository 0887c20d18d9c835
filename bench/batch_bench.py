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

(M: the higher of the two batch processes' peaks.) With `--rounds N` the ways take turns, in the
opposite order every other round (serial, batch, cluster, then cluster, batch, serial, ...), so a
change in the machine's other load does not favour one way; the ratios are of the median times.
CPU seconds (each command and everything it started) are printed too: steadier on a busy host.

Usage: python bench/batch_bench.py [--videos 8] [--rounds 1] [--concurrency N] [--workflow FILE]
                                   [--no-cluster] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
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


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(cmd: list[str], env: dict, *, ok: tuple[int, ...] = (0,)) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, the process's own peak MiB) of one command; exits on a status not in ok."""
    c0, t0 = _children_cpu(), time.perf_counter()
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
    return wall, _children_cpu() - c0, max(peaks, default=0.0)


def per_hour(n: int, seconds: float) -> float:
    return n * 3600 / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--videos",
        type=int,
        default=8,
        help="How many videos each way makes (at most 8 scripts; more repeat them with a number).",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Rounds; the ways take turns, the order reversed every other round.",
    )
    ap.add_argument(
        "--concurrency", type=int, default=None, help="fenta batch --concurrency (default: fenta's own)."
    )
    ap.add_argument(
        "--workflow",
        type=Path,
        default=REPO / "examples" / "quickstart.yaml",
        help="A workflow with a `script` variable.",
    )
    ap.add_argument("--no-cluster", action="store_true", help="Skip the Dask LocalCluster way.")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fenta-batch-bench")
    args = ap.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    scripts = [
        SCRIPTS[i % len(SCRIPTS)] + ("" if i < len(SCRIPTS) else f" Number {i + 1}.")
        for i in range(args.videos)
    ]
    rows = work / "rows.csv"
    with open(rows, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "script"])
        w.writerows([f"video-{i + 1}", s] for i, s in enumerate(scripts))
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), base.get("PYTHONPATH", "")])
    fenta = [sys.executable, "-m", "fenta"]
    extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []
    print(
        f"{args.videos} videos of {args.workflow.name}; {os.cpu_count()} CPU cores;"
        f" load average before {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    def serial(tag: str) -> tuple[float, float, float]:
        env = {**base, "FENTA_HOME": str(work / f"home-{tag}")}
        wall = cpu = 0.0
        for i, script in enumerate(scripts):
            w, c, _ = run(
                [
                    *fenta,
                    "run",
                    str(args.workflow),
                    "--var",
                    f"script={script}",
                    "-o",
                    str(work / tag),
                    "--name",
                    f"video-{i + 1}",
                    "--json",
                ],
                env,
            )
            wall, cpu = wall + w, cpu + c
        return wall, cpu, 0.0

    def batch(tag: str, *cluster: str) -> tuple[float, float, float]:
        env = {**base, "FENTA_HOME": str(work / f"home-{tag}")}
        return run(
            [
                *fenta,
                "batch",
                str(args.workflow),
                str(rows),
                "-o",
                str(work / tag),
                "--report",
                str(work / f"{tag}.json"),
                *extra,
                *cluster,
            ],
            env,
        )

    ways = {"serial": serial, "batch": batch, "cluster": lambda tag: batch(tag, "--cluster", "local")}
    if args.no_cluster:
        del ways["cluster"]
    notes = {"serial": "(a loop of fenta run)", "batch": "", "cluster": "(Dask LocalCluster)"}
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
    for r in range(args.rounds):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        for name in order:
            wall, cpu, peak = ways[name](f"{name}{r + 1}")  # an empty FENTA_HOME each time: nothing cached
            results[name].append((wall, cpu, peak))
            mem = f"  client peak {peak:.0f} MiB" if name != "serial" else ""
            print(
                (
                    f"round {r + 1} {name:8s} {wall:7.1f} s  {per_hour(args.videos, wall):6.0f} videos/hour"
                    f"  CPU {cpu:6.1f} s{mem}  {notes[name]}"
                ).rstrip(),
                flush=True,
            )
    med = {name: statistics.median(w for w, _, _ in res) for name, res in results.items()}
    cpu = {name: statistics.median(c for _, c, _ in res) for name, res in results.items()}
    peak = max((p for name, res in results.items() if name != "serial" for _, _, p in res), default=0.0)
    for name in ways:
        print(
            f"median   {name:8s} {med[name]:7.1f} s  {per_hour(args.videos, med[name]):6.0f} videos/hour"
            f"  CPU {cpu[name]:6.1f} s",
            flush=True,
        )
    print(f"load average after {os.getloadavg()[0]:.2f}", flush=True)
    cluster_ratio = f"{med['serial'] / med['cluster']:.2f}" if "cluster" in med else "n/a"
    print(
        f"batch/serial={med['serial'] / med['batch']:.2f} cluster/serial={cluster_ratio}"
        f" client_peak_mib={peak:.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
