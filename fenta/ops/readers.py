"""The event-log readers every live fenta process runs: usage tracking (quotas), hosted sync (when
FENTA_API_KEY is set) and the webhook outbox.

None of them is called from inside the runner. A process that runs jobs calls them beside it:

    fenta run          after_job(settings, job_id) after the job (`fenta.ops.runs`: records usage,
                       sends the job's webhooks, waiting up to 10 s)
    a worker           Background(settings).start() beside it, .stop() and after_job after it
                       (`fenta.ops.serving`: fenta worker, batch, run-due, serve, fenta.jobs.Worker)
    fenta scheduler    pump on its own APScheduler interval job

Errors in a reader are kept away from jobs: a receiver that is down never slows or fails a job.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from ..config import Settings

__all__ = ["pump", "after_job", "Background"]


def pump(
    settings: Settings, *, deliver: bool = True, log: Callable[[str], None] | None = None, sync: bool = True
) -> None:
    """One pass: record finished jobs' usage (and quota warnings), push what hosted sync has pending
    (unless `sync` is False: a hosted worker pushes its jobs itself), queue new events for the webhook
    endpoints, send what is due. Never raises."""
    from ..engine.store import JobStore
    from . import quotas, webhooks

    try:
        store = JobStore(settings.db_path)
    except Exception as e:  # pragma: no cover - FENTA_HOME vanished
        if log:
            log(f"readers: {e}")
        return
    try:
        steps = (
            ("usage", lambda: quotas.track(store, settings)),
            # Before webhooks: job.completed's videoUrl is the hosted video's.
            ("sync", lambda: _sync_step(settings, store, log) if sync else None),
            ("webhooks", lambda: webhooks.sync_outbox(store)),
        )
        for name, step in steps:
            try:
                step()
            except Exception as e:
                if log:
                    log(f"{name}: {type(e).__name__}: {settings.redact(str(e))}")
        if deliver:
            try:
                for a in webhooks.deliver_due(store, settings):
                    if log and a.status != "delivered":
                        log(
                            f"webhook {webhooks.message_id(a.event_id or 0)} to {a.endpoint_id}: "
                            f"{a.error or a.http_status} ({a.status})"
                        )
            except Exception as e:
                if log:
                    log(f"webhooks: {type(e).__name__}: {e}")
    finally:
        store.close()


def _sync_step(settings: Settings, store, log: Callable[[str], None] | None) -> None:
    """Push what hosted sync has pending (one try per request: the next pass retries); nothing when
    FENTA_API_KEY or FENTA_API_URL is not set."""
    from . import sync
    from .sync.client import configured

    if not configured(settings):  # `fenta run --sync` and `fenta sync` say what is missing
        return  # readers stay quiet
    report = sync.push(settings, attempts=1, store=store, timeout=10.0)
    if report.error and log:
        log(f"sync: {report.error} (the push waits)")


def after_job(settings: Settings, job_id: str | None, *, wait: float = 10.0) -> None:
    """After a job ran in this process (`fenta run`): record its usage, then send its webhooks,
    waiting at most `wait` seconds for them; what is left stays pending for the next fenta process.
    Never raises."""
    from . import webhooks

    pump(settings, deliver=False)
    try:
        webhooks.flush(settings, job_id=job_id, wait=wait)
    except Exception:
        pass


class Background:
    """`pump` every `settings.scheduler_poll` seconds in a daemon thread (for `fenta worker`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        interval: float | None = None,
        log: Callable[[str], None] | None = None,
        sync: bool = True,
    ) -> None:
        self.settings = settings
        self.sync = sync
        self.interval = interval if interval is not None else settings.scheduler_poll
        self.log = log or (lambda m: print(m, file=sys.stderr))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Background:
        self._thread = threading.Thread(target=self._loop, name="fenta-readers", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            pump(self.settings, log=self.log, sync=self.sync)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current pass (waiting at most `timeout` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
