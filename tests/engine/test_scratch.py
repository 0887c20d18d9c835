"""Scratch folders of Dask tasks: a folder a SIGKILLed process left is removed by the next task on
the machine; a live process's folder, another host's and a folder without an owner are kept."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile

import pytest

from fenta.engine.scratch import OWNER_FILE, scratch_folder

#: A process that holds a scratch folder (as a Dask task does while it renders) until it is killed.
HOLDER = (
    "import sys, time\n"
    "from fenta.engine.scratch import scratch_folder\n"
    "with scratch_folder(sys.argv[1]) as root:\n"
    "    print(root, flush=True)\n"
    "    time.sleep(120)\n"
)


@pytest.fixture
def tmp_dir(tmp_path, monkeypatch):
    """Scratch folders go to `tmp_path` (TMPDIR, as for the worker's own processes)."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _holder(job_id: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, job_id], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    return proc, proc.stdout.readline().strip()


def test_the_next_task_removes_the_folder_of_a_process_killed_with_sigkill_and_keeps_a_live_ones(tmp_dir):
    killed, killed_root = _holder("j1")
    live, live_root = _holder("j2")
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(10)
        assert os.path.isdir(killed_root)  # nothing runs to clean it up
        with scratch_folder("j3") as root:
            assert not os.path.exists(killed_root)
            assert os.path.isdir(live_root) and os.path.isdir(root)
        assert not os.path.exists(root)
    finally:
        live.kill()
        live.wait(10)


def test_folders_of_another_host_or_without_an_owner_file_are_never_touched(tmp_dir):
    other_host = tmp_dir / "fenta-j1-abc"
    other_host.mkdir()
    (other_host / OWNER_FILE).write_text(
        json.dumps({"pid": 2**22 + 1, "host": socket.gethostname() + "-elsewhere"})
    )
    no_owner = tmp_dir / "fenta-j2-def"
    no_owner.mkdir()
    with scratch_folder("j3"):
        pass
    assert other_host.is_dir() and no_owner.is_dir()
