"""`fenta scheduler` as a real process: one per FENTA_HOME, SIGTERM and Ctrl-C stop it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class Daemon:
    """`fenta scheduler` in a subprocess; its stderr lines are collected as they come."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "FENTA_HOME": str(home), "FENTA_SCHEDULER_POLL": "0.2", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fenta", "scheduler", *args],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30.0) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            if any(text in line for line in self.lines):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.1)
                return any(text in line for line in self.lines)
            time.sleep(0.05)
        return False

    def finish(self, timeout: float = 30.0) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def daemons(fenta_home):
    started: list[Daemon] = []

    def start(*args: str, **kw) -> Daemon:
        d = Daemon(fenta_home, *args, **kw)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


def test_one_scheduler_per_home_and_sigterm_stops_it_cleanly(daemons, fenta_home, write):
    first = daemons("--workers", "0")
    assert first.wait_for("scheduler running"), first.lines
    # schedules added, paused and removed from another terminal are picked up without a restart
    from fenta.config import Settings
    from fenta.engine.store import JobStore
    from fenta.ops import schedules as sch

    wf = write("note.yaml", "version: 1\nname: note\nnodes:\n  a: {type: Input.Text, params: {text: hi}}\n")
    store = JobStore(Settings.from_env().db_path)
    try:
        sch.add_schedule(store, "added-later", wf, "0 9 * * 1", tz="Europe/Berlin")
        assert first.wait_for("schedule added-later: '0 9 * * 1' (Europe/Berlin), next", timeout=10), (
            first.lines
        )
        sch.set_enabled(store, "added-later", False)
        assert first.wait_for("schedule added-later: no longer active", timeout=10), first.lines
    finally:
        store.close()
    second = daemons("--workers", "0")
    assert second.finish() == 2
    said = "\n".join(second.lines)
    assert "another scheduler is running" in said and f"process {first.proc.pid}" in said, said
    assert first.proc.poll() is None  # the first keeps running
    first.proc.send_signal(signal.SIGTERM)
    assert first.finish() == 0, first.lines
    assert any("scheduler stopped" in line for line in first.lines)
    assert not any("Traceback" in line for line in first.lines + second.lines)


def test_ctrl_c_stops_it_cleanly_and_a_killed_one_leaves_no_lock_behind(daemons, fenta_home):
    killed = daemons("--workers", "0")
    assert killed.wait_for("scheduler running"), killed.lines
    killed.proc.kill()
    killed.proc.wait(10)
    d = daemons("--workers", "0")  # the system released the dead process's lock
    assert d.wait_for("scheduler running"), d.lines
    d.proc.send_signal(signal.SIGINT)
    assert d.finish() == 0, d.lines
    assert any("scheduler stopped" in line for line in d.lines)
    assert not any("Traceback" in line for line in d.lines)
