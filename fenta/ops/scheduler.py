"""`fenta scheduler`: the foreground daemon that enqueues scheduled jobs and runs workers for them.

    start    take FENTA_HOME's scheduler lock (a second scheduler exits 2 naming the holder), then
             enqueue what was missed while no scheduler ran (each schedule's `--catchup`)
    run      APScheduler 3.x BackgroundScheduler with its memory job store: one cron job per enabled
             schedule (coalesce, one instance at a time) wakes at each fire time; an interval job
             every `settings.scheduler_poll` seconds re-reads the `schedules` table (schedules added,
             paused or removed from another terminal are picked up without a restart) and enqueues
             anything due the cron jobs did not; another records usage and sends webhooks
    workers  a `fenta.ops.serving.Worker` thread runs the queued jobs (quota reservations at each
             claim, the last jobs' webhooks when it stops; the readers are the interval job above)
    stop     SIGTERM or Ctrl-C: no new jobs start, the workers stop, the lock is released, exit 0

Fire times are decided by `schedules.fire_due` from the stored last fire time (a compare-and-set),
never by APScheduler's state, so a late, early or repeated wake-up enqueues nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ScheduleError

__all__ = ["SchedulerLock", "Scheduler", "LOCK_NAME"]

LOCK_NAME = "scheduler.lock"

#: Job events the daemon logs, one line each.
_JOB_LINES = {
    "job.started": "started",
    "job.completed": "completed {videoUrl}",
    "job.retrying": "retry {attempt} in {delaySeconds:.0f} s: {error}",
    "job.failed": "failed: {error}",
    "job.dead": "dead: {error}",
    "job.cancelled": "cancelled",
}


class SchedulerLock:
    """One scheduler per FENTA_HOME: an exclusive lock on `FENTA_HOME/scheduler.lock`, held while the
    process lives (the system releases it when the process dies, however it dies)."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / LOCK_NAME
        self._fh: Any = None

    def holder(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        """Take the lock or raise ScheduleError (exit 2) naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            _lock(fh)
        except OSError:
            fh.close()
            h = self.holder()
            who = f"process {h.get('pid', '?')} on {h.get('host', '?')}" + (
                f", started {h['started']}" if h.get("started") else ""
            )
            raise ScheduleError(
                f"another scheduler is running for {self.path.parent} ({who}); stop it first (one "
                "scheduler per FENTA_HOME)"
            ) from None
        fh.seek(0)
        fh.truncate()
        started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            try:
                self._fh.seek(0)
                self._fh.truncate()
                self._fh.flush()
                _unlock(self._fh)
            finally:
                self._fh.close()
                self._fh = None


def _lock(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]  # Windows only
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]  # Windows only
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class Scheduler:
    """The daemon. `run()` blocks until `stop()` (or SIGTERM / Ctrl-C when `run(signals=True)`).

    Args:
        settings: Where FENTA_HOME is, and `scheduler_poll` (seconds between looks at the tables).
        workers: How many jobs run at once (0: only enqueue; a `fenta worker` elsewhere runs them).
        clock: The time used for fire-time arithmetic (tests pass a fixed one).
        log: Where one-line notices go (default: stderr).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        workers: int = 1,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.workers = max(0, int(workers))
        self.clock = clock
        self.log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        self.lock = SchedulerLock(settings.home)
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._aps: Any = None
        self._jobs: dict[str, tuple] = {}  # schedule id -> (cron, tz) the APScheduler job was made from
        self._worker: Any = None
        self._worker_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ passes (also called by tests)

    def _store(self) -> Any:
        from ..engine.store import JobStore

        return JobStore(self.settings.db_path)

    def catch_up(self) -> list[tuple[str, float, str | None]]:
        """The start-up pass: every fire time up to now was missed (no scheduler was running)."""
        from .schedules import fire_due

        now = self.clock()
        self.started_at = now
        store = self._store()
        try:
            return fire_due(self.settings, store, now=now, live_since=now, log=self.log)
        finally:
            store.close()

    def tick(self, names: list[str] | None = None) -> list[tuple[str, float, str | None]]:
        """Enqueue what is due now (fire times after start-up are live: they run; several at once
        coalesce into one)."""
        from .schedules import fire_due

        if self.started_at is None:
            return self.catch_up()
        store = self._store()
        try:
            return fire_due(
                self.settings, store, now=self.clock(), live_since=self.started_at, names=names, log=self.log
            )
        finally:
            store.close()

    def readers(self) -> None:
        """Record usage (quota warnings) and send due webhooks."""
        from .readers import pump

        pump(self.settings, log=self.log)

    # ------------------------------------------------------------------ APScheduler

    def _sync(self) -> None:
        """Make APScheduler's jobs match the enabled schedules, then enqueue anything due."""
        from .cron import parse_cron
        from .schedules import list_schedules

        store = self._store()
        try:
            rows = {r["id"]: r for r in list_schedules(store) if r["enabled"]}
        finally:
            store.close()
        for sid in list(self._jobs):
            if sid not in rows or self._jobs[sid] != (rows[sid]["cron"], rows[sid]["tz"]):
                try:
                    self._aps.remove_job(f"schedule:{sid}")
                except Exception:
                    pass
                del self._jobs[sid]
                if sid not in rows:
                    self.log(f"schedule {sid}: no longer active")
        for sid, row in rows.items():
            if sid in self._jobs:
                continue
            try:
                cron = parse_cron(row["cron"], row["tz"])
            except ScheduleError as e:
                self.log(f"schedule {sid}: {e}")
                continue
            self._aps.add_job(
                # the default binds this row's id (a closure would see the loop's last one)
                self._guard(lambda _sid=sid: self.tick([_sid]), f"schedule {sid}"),  # type: ignore[misc]
                trigger=cron.trigger,
                id=f"schedule:{sid}",
                name=sid,
            )
            self._jobs[sid] = (row["cron"], row["tz"])
            nxt = row.get("next_fire_at")
            when = (
                dt.datetime.fromtimestamp(nxt, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                if nxt
                else "never"
            )
            self.log(f"schedule {sid}: '{row['cron']}' ({row['tz']}), next {when}")
        self.tick()

    def _guard(self, fn: Callable[[], Any], what: str) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as e:  # keep the daemon alive; say what went wrong
                self.log(f"{what}: {type(e).__name__}: {self.settings.redact(str(e))}")

        return run

    def start(self) -> None:
        """Lock, catch up, start APScheduler and the workers (returns at once)."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self.lock.acquire()
        # APScheduler warns when an interval pass is still running at its next tick ("skipped: maximum
        # number of running instances reached"): expected here (a webhook may take 15 s), not news.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        try:
            self.catch_up()
            self._aps = BackgroundScheduler(
                jobstores={"default": MemoryJobStore()},
                executors={"default": ThreadPoolExecutor(4)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
                timezone=dt.timezone.utc,
            )
            poll = self.settings.scheduler_poll
            self._aps.add_job(
                self._guard(self._sync, "schedules"),
                IntervalTrigger(seconds=poll),
                id="fenta:sync",
                next_run_time=dt.datetime.now(dt.timezone.utc),
            )
            self._aps.add_job(
                self._guard(self.readers, "readers"),
                IntervalTrigger(seconds=poll),
                id="fenta:readers",
                next_run_time=dt.datetime.now(dt.timezone.utc),
            )
            self._aps.start()
            if self.workers:
                self._start_workers()
        except BaseException:
            self._shutdown()
            raise
        self.log(
            f"scheduler running (pid {os.getpid()}, {self.workers} worker(s), FENTA_HOME "
            f"{self.settings.home}); stop with Ctrl-C or SIGTERM"
        )

    def _start_workers(self) -> None:
        from .serving import Worker

        def on_event(ev: Any) -> None:
            line = _JOB_LINES.get(ev.type)
            if line and ev.id:
                try:
                    text = line.format(
                        **{k: ("" if v is None else v) for k, v in ev.data.items() if k != "jobId"}
                    ).rstrip()
                except (KeyError, ValueError):
                    text = ev.type
                self.log(f"job {ev.job_id}: {text}")

        # Its readers are the daemon's own interval job (`readers`), which runs with --workers 0 too.
        self._worker = Worker(
            self.settings, concurrency=self.workers, on_event=on_event, readers=False, log=self.log
        )
        self._worker_thread = threading.Thread(
            target=self._guard(self._worker.run, "worker"), name="fenta-worker", daemon=True
        )
        self._worker_thread.start()

    def stop(self) -> None:
        """Ask `run()` to return (safe from a signal handler or another thread). The workers let
        their running nodes finish and give their jobs back to the queue; a second stop cancels them."""
        if self._stop.is_set() and self._worker is not None:
            self._worker.stop(now=True)
        self._stop.set()

    def _shutdown(self, worker_grace: float = 30.0) -> None:
        if self._worker is not None:
            try:
                self._worker.stop()
            except Exception:
                pass
        if self._aps is not None:
            try:
                self._aps.shutdown(wait=False)
            except Exception:
                pass
        if self._worker_thread is not None:
            self._worker_thread.join(worker_grace)
        self.lock.release()

    def run(self, *, signals: bool = True) -> None:
        """Start, then block until stopped; SIGTERM and Ctrl-C (SIGINT) stop it cleanly."""
        previous: dict[signal.Signals, Any] = {}
        if signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stop())
        try:
            self.start()
            while not self._stop.wait(0.5):
                pass
            self.log("scheduler stopping")
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.log("scheduler stopped")
