"""Scratch folders for jobs run on a Dask worker, and the clean-up of those a killed process left.

A task removes its scratch folder when it ends; a worker killed with SIGKILL (the OOM killer, a
`kill -9`) cannot. So each folder holds a small file naming its owner (pid and host), and the next
task on that machine removes the folders whose owner is a process that no longer runs there. A
folder of a live process, of another host (a shared /tmp), or without the file is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["scratch_folder", "remove_orphans", "OWNER_FILE"]

#: The file in each scratch folder that names the process owning it: {"pid": ..., "host": ...}.
OWNER_FILE = ".fenta-owner.json"

#: Scratch folders are `<tmp>/fenta-<job id>-<random>`.
PREFIX = "fenta-"


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and none of ours to judge
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS): kill(0) is the answer
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def remove_orphans(where: Path) -> list[Path]:
    """Remove the scratch folders in `where` whose owner ran on this host and is dead.

    Returns:
        The folders removed.
    """
    host, removed = socket.gethostname(), []
    for folder in where.glob(f"{PREFIX}*"):
        try:
            owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
            pid, owner_host = int(owner["pid"]), owner["host"]
        except (OSError, ValueError, KeyError, TypeError):  # not ours, or just being made
            continue
        if owner_host == host and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def scratch_folder(job_id: str) -> Iterator[Path]:
    """A fresh `<tmp>/fenta-<job_id>-*` folder owned by this process, removed afterwards; first
    removes the folders that dead processes of this host left (see the module docstring)."""
    where = Path(tempfile.gettempdir())
    remove_orphans(where)
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{job_id}-", dir=where))
    try:
        (root / OWNER_FILE).write_text(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname()}), encoding="utf-8"
        )
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
