"""Pushing local jobs to the hosted project: rows, events, usage records and artifacts.

    event log ──(cursor "sync")──▶ sync_jobs (dirty) ──▶ POST /rest/v1/jobs, job_events, usage_records
                                                     └─▶ renders/{job_id}/{file} in Storage (TUS over 6 MB)

A push never runs inside the runner and never fails a job: when the service is down or the machine is
offline the job's row stays dirty and the next push (this process's next pass, `fenta sync`, any later
fenta process) catches up. A pass pushes each dirty job with `push_job.push_job` (upserts on stable
ids: pushing twice adds nothing); `Background` runs passes beside a run or a worker.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ...config import Settings
from ...engine.events import iso
from ...engine.store import JobStore
from ...errors import SyncError
from . import state
from .client import Hosted
from .push_job import PROGRESS_SECONDS, JobPush, push_job

__all__ = ["PushReport", "push", "push_async", "status", "after_run", "pending_count", "Background"]


@dataclass
class PushReport:
    """One push pass: a `JobPush` per job looked at, and the error that stopped the pass, if any."""

    jobs: list[JobPush] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False
    #: Whether the error may go away by itself (offline, 5xx); False: a key, a column, a policy to fix.
    retryable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "error": self.error,
            "retryable": self.retryable if self.error else None,
            "jobs": [asdict(j) for j in self.jobs],
        }


async def push_async(
    settings: Settings,
    *,
    job_id: str | None = None,
    dry_run: bool = False,
    attempts: int = 4,
    deadline: float | None = None,
    store: JobStore | None = None,
) -> PushReport:
    """Push what is pending (or one job, even if already pushed). Never raises for the service's errors:
    they are in the report and in `fenta sync status`.

    Args:
        job_id: Only this job (a unique prefix is enough).
        dry_run: Say what would be pushed; send nothing.
        attempts: Attempts per request (1: no retry, for background passes that come round again).
        deadline: A `time.monotonic()` value after which no further job is started.

    Raises:
        SyncError: FENTA_API_KEY is not set (exit 2; a dry run needs no key).
        JobError: `job_id` names no job.
    """
    from ...errors import JobError
    from .client import check_configured

    if not dry_run:
        check_configured(settings)
    own = store is None
    store = store or JobStore(settings.db_path)
    report = PushReport(dry_run=dry_run)
    try:
        state.collect(store, settings)
        if job_id is not None:
            one = store.get_job(job_id)
            if one is None:
                alike = store.job_ids_starting(job_id, 4)
                if len(alike) > 1:
                    shown = ", ".join(alike[:3]) + (", ..." if len(alike) > 3 else "")
                    raise JobError(f"'{job_id}' is the start of several job ids ({shown}): give more of it")
                raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
            if state.get(store, one.id) is None and not dry_run:
                state.mark_job(store, one.id)
            rows = state.dirty_jobs(store, one.id) or [
                {
                    "job_id": one.id,
                    "remote_id": one.id,
                    "hosted": 0,
                    "dirty": 1,
                    "events_done": 0,
                    "usage_done": 0,
                    "files": "{}",
                    "uploads": "{}",
                    "video_url": None,
                    "row_pushed_at": None,
                }
            ]
        else:
            rows = state.dirty_jobs(store)
        if dry_run:
            for srow in rows:
                report.jobs.append(await push_job(None, store, settings, srow))
            return report
        if not rows:
            return report
        async with Hosted(settings, attempts=attempts) as api:
            for srow in rows:
                if deadline is not None and time.monotonic() > deadline:
                    break
                try:
                    report.jobs.append(await push_job(api, store, settings, srow, force=job_id is not None))
                except SyncError as e:
                    message = settings.redact(str(e))
                    report.jobs.append(JobPush(srow["job_id"], srow["remote_id"], "?", error=message))
                    report.error = message
                    report.retryable = e.retryable
                    store.update_sync_job(srow["job_id"], last_error=message, last_error_at=time.time())
                    state.set_meta(store, last_error=message, last_error_at=iso(time.time()))
                    if e.retryable:  # down or offline: the other jobs would wait just the same
                        break
        if any(j.error is None and j.skipped is None for j in report.jobs):
            state.set_meta(store, last_push_at=iso(time.time()))
        return report
    finally:
        if own:
            store.close()


def push(settings: Settings, *, timeout: float | None = None, **kwargs: Any) -> PushReport:
    """Blocking `push_async`; with `timeout`, a pass still running after that many seconds is cut short
    (a service that hangs never holds a fenta process up; a cut TUS upload resumes next time)."""
    if timeout is None:
        return asyncio.run(push_async(settings, **kwargs))

    async def bounded() -> PushReport:
        try:
            return await asyncio.wait_for(push_async(settings, **kwargs), timeout)
        except asyncio.TimeoutError:
            return PushReport(
                error=f"the hosted project did not finish answering within {timeout:g} s; the push waits"
            )

    return asyncio.run(bounded())


def status(settings: Settings) -> dict[str, Any]:
    """What is pending, when the last push happened and the last error (reads fenta.db only)."""
    from .client import check_configured

    try:
        check_configured(settings)
        problem = None
    except SyncError as e:
        problem = str(e.args[0]) if e.args else str(e)  # the message alone: it names the variable
    store = JobStore(settings.db_path)
    try:
        state.collect(store, settings)
        pending = []
        for srow in state.dirty_jobs(store):
            found = store.get_job(srow["job_id"])
            pending.append(
                {
                    "job_id": srow["job_id"],
                    "remote_id": srow["remote_id"],
                    "status": found.status.value if found else None,
                    "hosted": bool(srow["hosted"]),
                    "last_error": srow["last_error"],
                }
            )
        meta = state.meta(store)
        synced = store.sync_job_count() - len(pending)
        return {
            "configured": problem is None,
            "problem": problem,
            "url": settings.urls["fenta"],
            "sync_all": settings.sync,
            "pending": pending,
            "synced": synced,
            "last_push_at": meta.get("last_push_at"),
            "last_error": meta.get("last_error"),
            "last_error_at": meta.get("last_error_at"),
        }
    finally:
        store.close()


def after_run(settings: Settings, *, wait: float = 15.0) -> PushReport | None:
    """After a job ran here (`fenta run --sync`): push what is pending, trying for at most about `wait`
    seconds. Never raises; what is left waits for the next push."""
    try:
        return push(settings, deadline=time.monotonic() + wait, timeout=wait + 15.0)
    except Exception:  # never fail the run over sync
        return None


class Background:
    """Push passes every `interval` seconds in a daemon thread (beside `fenta run --sync` and workers);
    each request is tried once per pass: the next pass is the retry."""

    def __init__(
        self,
        settings: Settings,
        *,
        interval: float = PROGRESS_SECONDS,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.interval = interval
        self.log = log
        self.lock = threading.Lock()  # held while a pass runs (the hosted worker maps a job under it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None

    def start(self) -> Background:
        self._thread = threading.Thread(target=self._loop, name="fenta-sync", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.once()
            self._stop.wait(max(0.05, self.interval - (time.monotonic() - t0)))

    def once(self) -> None:
        """One pass; errors are logged once each, never raised."""
        with self.lock:
            try:
                report = push(self.settings, attempts=1, timeout=60.0)
                error = report.error
            except Exception as e:
                error = f"{type(e).__name__}: {self.settings.redact(str(e))}"
        if error and error != self._last_error and self.log:
            self.log(f"sync: {error} (the push waits and tries again)")
        self._last_error = error

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def pending_count(settings: Settings) -> int:
    """Jobs waiting to be pushed (0 when sync was never used here)."""
    if not os.path.exists(settings.db_path):
        return 0
    store = JobStore(settings.db_path)
    try:
        state.collect(store, settings)
        return len(state.dirty_jobs(store))
    finally:
        store.close()
