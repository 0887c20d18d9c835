"""The render workers of `fenta serve`: one child process runs the queue (so renders never hold the API's
interpreter), supervised by the server (restarted if it dies), stopped cleanly with the server.

`run_workers` runs the queue as `fenta worker` does: `fenta.ops.serving` (the worker, quota reservations
at each claim, the event-log readers, the after-job pass).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from ..config import Settings

__all__ = ["run_workers", "WorkerGroup", "RENDER_NICENESS"]

#: How much nicer than the API the worker process (and the FFmpeg it starts) runs: when both want the
#: CPU, answering a request comes first; when the API idles, renders get every core as before.
RENDER_NICENESS = 10


def run_workers(settings: Settings, n: int, stop: Any, *, on_event: Any = None, log: Any = None) -> None:
    """Run queued jobs, `n` at a time, until `stop` (a threading or multiprocessing Event) is set
    (`fenta.ops.serving.serve`): the quota reservation at each claim, the readers (usage, quota
    warnings, webhooks, hosted sync) beside them, and the after-job pass at the end. Running nodes
    finish and their jobs go back to the queue.
    """
    from ..ops.serving import serve

    serve(settings, stop=stop, concurrency=n, on_event=on_event, log=log, webhook_wait=0.0)


def _child(settings: Settings, n: int, stop: Any, log_format: str) -> None:
    """The worker process: its own logging, then `run_workers` (its SIGTERM / Ctrl-C stop it too)."""
    from .logs import setup_logging

    # Ctrl-C reaches the whole group: the server's stop event governs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(
            RENDER_NICENESS
        )  # renders (and their FFmpeg) yield the CPU to the API: status reads stay fast
    except OSError:  # pragma: no cover - not allowed here: renders run at the server's priority
        pass
    lines = setup_logging(log_format, plain=True)
    assert lines is not None
    if stop.is_set():
        return
    run_workers(settings, n, stop, on_event=lines.event, log=lines.line)


class WorkerGroup:
    """The worker process, supervised: started, restarted when it dies, stopped with the server."""

    def __init__(self, settings: Settings, n: int, *, log_format: str, log: Any) -> None:
        self.settings = settings
        self.n = n
        self.log_format = log_format
        self.log = log
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self.stop_event = self._ctx.Event()
        self.process: Any = None
        self._thread: threading.Thread | None = None

    def _spawn(self) -> None:
        self.process = self._ctx.Process(
            target=_child,
            args=(self.settings, self.n, self.stop_event, self.log_format),
            name="fenta-serve-worker",
            daemon=False,
        )
        self.process.start()

    def start(self) -> WorkerGroup:
        if self.n <= 0:
            return self
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="fenta-serve-supervisor", daemon=True)
        self._thread.start()
        return self

    def _supervise(self) -> None:
        while not self.stop_event.is_set():
            self.process.join(0.5)
            if self.process.is_alive() or self.stop_event.is_set():
                continue
            self.log(
                f"warning: the worker process exited with code {self.process.exitcode}; starting a new one "
                "(jobs it ran are taken over)"
            )
            time.sleep(1.0)
            if not self.stop_event.is_set():
                self._spawn()

    def stop(self, now: bool = False) -> None:
        """First call: no new jobs, running nodes finish, jobs go back to the queue. `now`: cancel the
        nodes."""
        self.stop_event.set()
        if now and self.process is not None and self.process.is_alive():
            os.kill(self.process.pid, signal.SIGTERM)  # the worker's second stop: running nodes are cancelled

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker process to end; whether it did."""
        if self.process is None:
            return True
        self.process.join(timeout)
        if self._thread is not None:
            self._thread.join(1.0)
        return not self.process.is_alive()
