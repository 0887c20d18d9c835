"""Wall time, CPU time and peak memory of a command, over its whole process tree (Linux /proc)."""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from typing import NamedTuple

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree_rss_mib(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MiB."""
    kids = _children()
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except OSError:
            pass
        todo.extend(kids.get(p, []))
    return total / (1024 * 1024)


class Measured(NamedTuple):
    wall: float  # seconds
    peak_mib: float  # RSS summed over the process tree
    cpu: float  # user + system seconds of the command and every child it waited for


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_measured(cmd: list[str], *, env: dict | None = None, interval: float = 0.05) -> Measured:
    """Run `cmd` to completion and measure it (one command at a time). Raises on failure."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_mib(proc.pid))
            stop.wait(interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode(errors='replace')[-1500:]}")
    return Measured(wall, peak, _children_cpu() - cpu0)
