"""One attempt at a job, the same in `fenta run` and in a worker: start, execute, end in one state.

An attempt begins with `lifecycle.start` (running, `job.started`) and ends with exactly one of
`complete`, `fail` (a retry due, or dead), `cancelled` or `release` (its worker is stopping). While it
runs, a `LeaseKeeper` thread renews the job's lease and watches for a cancel request from another
process. Events reach this process's reader (`on_event`: the CLI's progress, a worker's log) through a
`Bus`, from a task of its own: no reader is ever called from inside the runner.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import sqlite3
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from ..config import Settings
from ..errors import FentaError, JobError, PathError
from ..policy import Policy
from .events import Event, now_iso, parse_iso
from .execute import Execution, _Stopped
from .keys import check_keys
from .lifecycle import Lease, call_off, cancel_asked, cancelled, complete, fail, heartbeat, release, reserve_job, start
from .outputs import check_writable
from .runner import RunResult, apply_options
from .spec import Workflow, from_document
from .store import JobStore

__all__ = ["Bus", "LeaseKeeper", "Control", "run_attempt", "drive"]

log = logging.getLogger("fenta")


class Bus:
    """Hands events to one reader callback from a task of its own, in order.

    A slow reader never holds up a node, and a reader that raises is logged, never fails a job.
    """

    def __init__(self, on_event: Callable[[Event], None] | None) -> None:
        self.on_event = on_event
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.task: asyncio.Task | None = None

    def start(self) -> "Bus":
        if self.on_event is not None:
            self.task = asyncio.get_running_loop().create_task(self._pump(), name="fenta-events")
        return self

    def put(self, *events: Event) -> None:
        if self.task is not None:
            for ev in events:
                self.queue.put_nowait(ev)

    async def _pump(self) -> None:
        while True:
            ev = await self.queue.get()
            if ev is None:
                return
            try:
                self.on_event(ev)  # type: ignore[misc]
            except Exception:  # a reader's bug is the reader's: log it, keep going
                log.exception("an on_event callback failed on %s", ev.type)

    async def close(self) -> None:
        """Deliver what is queued, then stop."""
        if self.task is not None:
            self.queue.put_nowait(None)
            await asyncio.shield(self.task)
            self.task = None


class LeaseKeeper:
    """Renews a lease from a thread of its own (a busy event loop cannot let it lapse) and watches for a
    cancel request; `reason` becomes "cancel" or "lost" (another process took the job) and `fire` is
    called once, on the loop."""

    def __init__(self, settings: Settings, lease: Lease, fire: Callable[[], None]) -> None:
        self.settings = settings
        self.lease = lease
        self.fire = fire
        self.loop = asyncio.get_running_loop()
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.job_id}", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
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
        try:
            last = time.monotonic()
            while not self._stop.wait(self.settings.poll_seconds):
                try:
                    if time.monotonic() - last >= self.settings.heartbeat_seconds:
                        held, cancel = heartbeat(store, self.lease, self.settings)
                        last = time.monotonic()
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
    `stop(now=True)` cancels them (their finished predecessors stay checkpointed)."""

    def __init__(self) -> None:
        self.execution: Execution | None = None
        self.task: asyncio.Task | None = None
        self.stopping = False
        self.now = False

    def attach(self, execution: Execution | None, task: asyncio.Task | None) -> None:
        self.execution, self.task = execution, task
        if execution is not None and self.stopping:
            execution.stopping = True
        if task is not None and self.now:
            task.cancel()

    def stop(self, now: bool = False) -> None:
        self.stopping = True
        self.now = self.now or now
        if self.execution is not None:
            self.execution.stopping = True
        if now and self.task is not None:
            self.task.cancel()


def _decode(job: dict[str, Any], key: str) -> Any:
    value = job.get(key)
    return json.loads(value) if isinstance(value, str) else value


async def _body(ex: Execution) -> dict[str, str]:
    await ex.execute()
    try:
        return ex.publish()
    except OSError as e:
        # Every node finished and is checkpointed: another attempt only publishes again, which helps
        # once the disk has room or the folder is back; a name too long fails the same way every time.
        message = f"cannot write the finished files to {e.filename or ex.out_dir}: {e.strerror or e}"
        raise PathError(message, retryable=e.errno != errno.ENAMETOOLONG) from None


async def run_attempt(
    store: JobStore,
    lease: Lease,
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
    """Run one attempt of a reserved job and end it in exactly one state (see the module docstring).

    Args:
        workflow: The loaded workflow (`fenta run`); None reads the copy stored with the job.
        keep_lease: On a failure with a retry due, keep holding the job (`fenta run` waits for it here).
        control: Lets a worker stop the attempt.

    Raises:
        JobError: the job was taken by another process before it started.
    """
    t0 = time.perf_counter()
    job, events = start(store, lease, fresh_budget=fresh_budget, max_retries=max_retries)
    bus.put(*events)
    job_id = job["id"]

    def result(status: str, row: dict[str, Any] | None, *, ex: Execution | None = None, artifacts: dict[str, str] | None = None, video: str | None = None, cost: float = 0.0, exit_code: int = 1) -> RunResult:
        row = row or {}
        return RunResult(
            job_id, status, video, artifacts or {}, cost, time.perf_counter() - t0, ex.outputs if ex else {},
            error=row.get("error"), retryable=None if row.get("retryable") is None else bool(row.get("retryable")),
            nodes=dict(ex.status) if ex else {}, state=row.get("status", "lost"), attempt=job["attempt"], next_attempt_at=row.get("next_attempt_at"),
            exit_code=exit_code,
        )

    def failed(error: str, retryable: bool, ex: Execution | None = None, retry_after: float | None = None, exit_code: int = 1) -> RunResult:
        row, evs = fail(store, lease, settings, settings.redact(error), retryable, retry_after=retry_after, keep_lease=keep_lease)
        bus.put(*evs)
        return result("failed", row or {"status": "lost", "error": error}, ex=ex, exit_code=exit_code)

    try:
        options = _decode(job, "options") or {}
        policy = Policy.from_stored(options.get("policy"))  # the one it was queued under, on every attempt
        document, variables = _decode(job, "document"), _decode(job, "vars")
        wf = workflow or from_document(document, file=job["workflow_file"], vars=variables, policy=policy)
        apply_options(wf, options)
        check_keys(wf, settings)
        out_dir = Path(job["out_dir"])
        check_writable(out_dir, "output folder")
    except FentaError as e:
        return failed(str(e), e.retryable, exit_code=e.exit_code)

    ex = Execution(wf, job_id=job_id, out_dir=out_dir, settings=settings, store=store, refresh=refresh or set(), bus=bus, checkpoints=store.checkpoints(job_id), options=options)
    ex.notify("job.plan", attempt=job["attempt"], nodes=list(wf.nodes), types={n: s.type for n, s in wf.nodes.items()})
    task = asyncio.ensure_future(_body(ex))
    if control is not None:
        control.attach(ex, task)
    try:
        with LeaseKeeper(settings, lease, task.cancel) as keeper:
            try:
                artifacts = await task
            except asyncio.CancelledError:
                me = asyncio.current_task()
                reason = keeper.reason or ("stop" if control is not None and control.now else None)
                if reason is None or (me is not None and me.cancelling()):
                    # Interrupted (Ctrl-C, the caller cancelled): the job waits for a person.
                    row, evs = fail(store, lease, settings, "interrupted", True, interrupted=True)
                    bus.put(*evs)
                    raise
                if reason == "cancel":
                    ex.unpublish()
                    row, evs = cancelled(store, lease)
                    bus.put(*evs)
                    return result("cancelled", row, ex=ex)
                if reason == "lost":
                    return result("failed", {"status": "lost", "error": "another process took this job over (its lease lapsed here)"}, ex=ex)
                row, evs = release(store, lease)
                bus.put(*evs)
                return result("stopped", row, ex=ex)
            except _Stopped:
                row, evs = release(store, lease)
                bus.put(*evs)
                return result("stopped", row, ex=ex)
            except FentaError as e:
                return failed(str(e), e.retryable, ex, e.retry_after, exit_code=e.exit_code)
            except Exception as e:  # a bug: fail the attempt (retryable), keep the traceback in the job's log
                ex.log(traceback.format_exc())
                return failed(f"internal error: {type(e).__name__}: {e} (details in {ex.log_path})", True, ex)
    finally:
        if control is not None:
            control.attach(None, None)
    cost = sum(r["cost"] or 0 for r in store.db.query("SELECT cost FROM usage_records WHERE job_id = ?", [job_id]))
    video = artifacts.get("video")
    row, evs = complete(store, lease, video=video, duration=ex.video(), cost=cost)
    bus.put(*evs)
    if row is None:
        return result("failed", {"status": "lost", "error": "another process took this job over (its lease lapsed here)"}, ex=ex)
    return result("completed", row, ex=ex, artifacts=artifacts, video=video, cost=cost)


async def _wait_for_retry(store: JobStore, lease: Lease, res: RunResult, settings: Settings, bus: Bus) -> bool:
    """Wait (holding the job) until its retry is due, with a `job.waiting` countdown each second.

    Returns False when the wait was called off from elsewhere (the job was cancelled or taken).
    """
    due = parse_iso(res.next_attempt_at) or time.time()
    wake = asyncio.Event()
    try:
        with LeaseKeeper(settings, lease, wake.set) as keeper:
            while (left := due - time.time()) > 0 and keeper.reason is None:
                bus.put(Event(0, "job.waiting", res.job_id, {"jobId": res.job_id, "seconds": round(left, 1), "attempt": res.attempt + 1, "error": res.error}, now_iso()))
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
        res = await run_attempt(store, lease, settings=settings, bus=bus, workflow=workflow, refresh=refresh, fresh_budget=fresh_budget, max_retries=max_retries, keep_lease=True)
        while res.state == "failed" and res.next_attempt_at:
            if not await _wait_for_retry(store, lease, res, settings, bus):
                row = store.get_job(job_id) or {}
                status = "cancelled" if row.get("status") == "cancelled" else "failed"
                res.status, res.state = status, row.get("status", res.state)
                return res
            try:
                reserve_job(store, job_id, settings, lease=lease, allow=("failed",))
            except JobError as e:
                res.error = str(e)
                return res
            res = await run_attempt(store, lease, settings=settings, bus=bus, workflow=workflow, refresh=refresh, keep_lease=True)
        return res
    finally:
        await bus.close()
