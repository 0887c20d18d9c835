"""One attempt at a job, the same in `fenta run`, a worker and a batch, on any executor.

`run_attempt(store, lease, executor)` alone owns the attempt's life:

1. it starts it (`lifecycle.start`: running, attempt + 1, `job.started`);
2. it hands the work to the executor (`executor.run(Work)`, a task of its own) and, while the work
   runs, a `LeaseKeeper` thread renews the lease on its own timer and watches for a cancel request
   from another process;
3. it writes what the work recorded elsewhere (a Dask worker's usage, provider tasks, node timings,
   events) into the store: only this process writes it;
4. it ends the attempt in exactly one state, from the executor's `Outcome`: `complete`, `fail` (a
   retry due, or dead), `cancelled`, or `release` (the job goes back to the queue).

The cancel handshake: to stop the work, the attempt cancels the executor's task. That happens when
the `LeaseKeeper` sees a cancel request ("cancel") or that another process took the job ("lost"), or
when a worker stops at once (`Control.stop(now=True)`: "stop"). The executor then stops its work
where it runs (cancels the local nodes; asks the Dask worker to stop the task and waits a little for
it) and answers `Outcome(stopped=True)` with what the work recorded until then; it never lets the
cancellation through. A stopped outcome the attempt did not ask for means the attempt itself was
cancelled (Ctrl-C, its caller): the job is failed as "interrupted" (waiting for a person) and the
cancellation goes on. A worker that stops gently (`Control.stop()`) lets running nodes finish; the
work then answers `stopped` too, and the job goes back to the queue.

Events reach this process's reader (`on_event`: the CLI's progress, a worker's log) through a `Bus`,
from a task of its own: no reader is ever called from inside the runner.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..errors import FentaError, JobError
from .clock import now_iso, parse_iso
from .events import Bus, Event
from .execute import append_log
from .executors import Executor
from .executors.local import LocalExecutor
from .leases import Lease, heartbeat_interval
from .lifecycle import (
    call_off,
    cancel_asked,
    cancelled,
    complete,
    fail,
    heartbeat,
    release,
    reserve_job,
    start,
)
from .outputs import unpublish
from .records import Job, JobState
from .results import RunResult
from .store import JobStore
from .work import Outcome, Work, classify
from .workflow import Workflow

__all__ = ["LeaseKeeper", "Control", "run_attempt", "drive", "LOST"]

log = logging.getLogger("fenta")

#: What an attempt whose lease another process took over says.
LOST = "another process took this job over (its lease lapsed here)"


class LeaseKeeper:
    """Renews a lease from a thread of its own (a busy event loop cannot let it lapse), on a timer of its
    own (`leases.heartbeat_interval`), and watches for a cancel request every `poll_seconds`; `reason`
    becomes "cancel" or "lost" (another process took the job) and `fire` is called once, on the loop."""

    def __init__(self, settings: Settings, lease: Lease, fire: Callable[[], Any]) -> None:
        self.settings = settings
        self.lease = lease
        self.fire = fire
        self.loop = asyncio.get_running_loop()
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.job_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        store = None
        while store is None:  # the lease must not lapse for want of a connection: keep trying
            try:
                store = JobStore(self.settings.db_path)
            except FentaError:
                if self._stop.wait(self.settings.poll_seconds):
                    return
        # Two timers: the heartbeat's (a third of the lease at most, whatever the poll interval) and
        # the look for a cancel request's (every poll; a heartbeat looks too).
        interval = heartbeat_interval(self.settings)
        beat = time.monotonic() + interval
        try:
            while not self._stop.wait(max(0.01, min(self.settings.poll_seconds, beat - time.monotonic()))):
                try:
                    if time.monotonic() >= beat:
                        held, cancel = heartbeat(store, self.lease, self.settings)
                        beat = time.monotonic() + interval
                    else:
                        held, cancel = cancel_asked(store, self.lease)
                except sqlite3.Error:
                    continue  # busy for longer than the busy timeout: try again next round
                if self.reason is None and (not held or cancel):
                    self.reason = "lost" if not held else "cancel"
                    try:
                        self.loop.call_soon_threadsafe(self.fire)
                    except RuntimeError:  # the loop has closed
                        return
                if not held:
                    return
        finally:
            store.close()


class Control:
    """How a worker stops an attempt: `stop()` lets running nodes finish and starts no more,
    `stop(now=True)` cancels the work (its finished nodes stay checkpointed)."""

    def __init__(self) -> None:
        self.task: asyncio.Future[Outcome] | None = None
        self.stopping = False
        self.now = False

    def attach(self, task: asyncio.Future[Outcome] | None) -> None:
        """The attempt's work (None: it ended); a stop asked before it began applies now."""
        self.task = task
        if task is not None and self.now:
            task.cancel()

    def stop(self, now: bool = False) -> None:
        self.stopping = True
        self.now = self.now or now
        if now and self.task is not None:
            self.task.cancel()


def _being_cancelled(task: asyncio.Task[Any] | None) -> bool:
    """Whether `task` has a cancellation pending (Python 3.11+ can tell; 3.10 cannot, and says no)."""
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


async def run_attempt(
    store: JobStore,
    lease: Lease,
    executor: Executor | None = None,
    *,
    settings: Settings,
    bus: Bus,
    workflow: Workflow | None = None,
    refresh: set[str] | None = None,
    fresh_budget: bool = False,
    max_retries: int | None = None,
    keep_lease: bool = False,
    control: Control | None = None,
) -> RunResult:
    """Run one attempt of a reserved job on `executor` and end it in exactly one state (see the module
    docstring).

    Args:
        executor: Where the work runs (default: this process).
        workflow: The loaded workflow (`fenta run`); None reads the copy stored with the job.
        keep_lease: On a failure with a retry due, keep holding the job (`fenta run` waits for it here).
        control: Lets a worker stop the attempt.

    Raises:
        JobError: the job was taken by another process before it started.
        asyncio.CancelledError: the attempt itself was cancelled (the job is failed as "interrupted").
    """
    t0 = time.perf_counter()
    job, events = start(store, lease, fresh_budget=fresh_budget, max_retries=max_retries)
    bus.put(*events)
    control = control or Control()
    work = Work(
        store,
        job,
        settings,
        bus,
        workflow=workflow,
        refresh=frozenset(refresh or ()),
        stopping=lambda: control.stopping,
    )
    task = asyncio.ensure_future((executor or LocalExecutor()).run(work))
    control.attach(task)
    try:
        with LeaseKeeper(settings, lease, task.cancel) as keeper:
            try:
                outcome = await task
            except asyncio.CancelledError:  # cancelled before the executor began: nothing ran
                outcome = Outcome(False, stopped=True)
            except Exception as e:  # an executor's bug: fail the attempt (retryable), keep going
                log.exception("the executor failed on job %s", job.id)
                outcome = Outcome.failed(classify(e))
    finally:
        control.attach(None)
    _write_records(store, settings, bus, job, outcome)
    ending = _Ending(store, lease, settings, bus, job, outcome, t0)
    if outcome.stopped:
        reason = keeper.reason or ("stop" if control.stopping else None)
        if reason is None or _being_cancelled(asyncio.current_task()):
            bus.put(*fail(store, lease, settings, "interrupted", True, interrupted=True)[1])
            raise asyncio.CancelledError()
        if reason == "cancel":
            unpublish(store, job.id, outcome.created)
            return ending.result("cancelled", *cancelled(store, lease))
        if reason == "lost":
            return ending.result("failed", None, [], error=LOST)
        return ending.result("stopped", *release(store, lease))
    if outcome.give_back:
        return ending.result("stopped", *release(store, lease))
    if not outcome.ok:
        return ending.failed(keep_lease=keep_lease)
    cost = store.job_cost(job.id)
    row, evs = complete(store, lease, video=outcome.video, duration=outcome.duration, cost=cost)
    if row is None:
        return ending.result("failed", None, evs, error=LOST)
    return ending.result("completed", row, evs, cost=cost, artifacts=outcome.artifacts, video=outcome.video)


def _write_records(store: JobStore, settings: Settings, bus: Bus, job: Job, outcome: Outcome) -> None:
    """What the work recorded elsewhere, into this store (only this process writes it)."""
    if outcome.records:
        bus.put(*store.import_records(job.id, outcome.records))
    if outcome.log.strip():
        append_log(settings, job.id, outcome.log)


class _Ending:
    """The attempt's `RunResult`, from the job as its last change left it."""

    def __init__(
        self,
        store: JobStore,
        lease: Lease,
        settings: Settings,
        bus: Bus,
        job: Job,
        outcome: Outcome,
        t0: float,
    ) -> None:
        self.store, self.lease, self.settings, self.bus = store, lease, settings, bus
        self.job, self.outcome, self.t0 = job, outcome, t0

    def result(
        self,
        status: str,
        row: Job | None,
        events: list[Event],
        *,
        error: str | None = None,
        cost: float = 0.0,
        artifacts: dict[str, str] | None = None,
        video: str | None = None,
    ) -> RunResult:
        self.bus.put(*events)
        return RunResult(
            self.job.id,
            status,
            video,
            artifacts or {},
            cost,
            time.perf_counter() - self.t0,
            self.outcome.outputs,
            error=row.error if row else error,
            retryable=row.retryable if row else None,
            nodes=self.outcome.nodes,
            state=row.status.value if row else "lost",
            attempt=self.job.attempt,
            next_attempt_at=row.next_attempt_at if row else None,
            exit_code=self.outcome.exit_code,
        )

    def failed(self, *, keep_lease: bool) -> RunResult:
        """End the attempt as failed: a retry due (or dead), as the lifecycle's budget says."""
        error = self.outcome.error or "failed"
        row, events = fail(
            self.store,
            self.lease,
            self.settings,
            self.settings.redact(error),
            self.outcome.retryable,
            retry_after=self.outcome.retry_after,
            keep_lease=keep_lease,
        )
        return self.result("failed", row, events, error=error)


async def _wait_for_retry(
    store: JobStore, lease: Lease, res: RunResult, settings: Settings, bus: Bus
) -> bool:
    """Wait (holding the job) until its retry is due, with a `job.waiting` countdown each second.

    Returns False when the wait was called off from elsewhere (the job was cancelled or taken).
    """
    due = parse_iso(res.next_attempt_at) or time.time()
    wake = asyncio.Event()
    try:
        with LeaseKeeper(settings, lease, wake.set) as keeper:
            while (left := due - time.time()) > 0 and keeper.reason is None:
                data = {
                    "jobId": res.job_id,
                    "seconds": round(left, 1),
                    "attempt": res.attempt + 1,
                    "error": res.error,
                }
                bus.put(Event(0, "job.waiting", res.job_id, data, now_iso()))
                try:
                    await asyncio.wait_for(wake.wait(), timeout=min(1.0, left))
                except asyncio.TimeoutError:
                    pass
            return keeper.reason is None
    except asyncio.CancelledError:
        bus.put(*call_off(store, lease, "interrupted"))
        raise


async def drive(
    store: JobStore,
    job_id: str,
    lease: Lease,
    *,
    settings: Settings,
    workflow: Workflow | None = None,
    refresh: set[str] | None = None,
    on_event: Callable[[Event], None] | None = None,
    fresh_budget: bool = False,
    max_retries: int | None = None,
) -> RunResult:
    """Run a job this process holds until it completes, dies, is cancelled or interrupted, waiting
    here for each retry that falls due (`fenta run`, `fenta resume`)."""
    bus = Bus(on_event).start()
    try:
        res = await run_attempt(
            store,
            lease,
            settings=settings,
            bus=bus,
            workflow=workflow,
            refresh=refresh,
            fresh_budget=fresh_budget,
            max_retries=max_retries,
            keep_lease=True,
        )
        while res.state == JobState.FAILED and res.next_attempt_at:
            if not await _wait_for_retry(store, lease, res, settings, bus):
                now = store.job(job_id)
                status = "cancelled" if now is not None and now.status == JobState.CANCELLED else "failed"
                res.status, res.state = status, now.status.value if now is not None else res.state
                return res
            try:
                reserve_job(store, job_id, settings, lease=lease, allow=(JobState.FAILED,))
            except JobError as e:
                res.error = str(e)
                return res
            res = await run_attempt(
                store, lease, settings=settings, bus=bus, workflow=workflow, refresh=refresh, keep_lease=True
            )
        return res
    finally:
        await bus.close()
