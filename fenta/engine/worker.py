"""A worker: takes due jobs from the queue and runs them, several at once if asked.

    Worker(concurrency=2, until_empty=True).run()

Jobs are taken highest priority first, then oldest, in a `BEGIN IMMEDIATE` transaction, so workers
sharing one `FENTA_HOME` never take the same job. Each attempt runs on the worker's executor
(`fenta.engine.executors`): in this process by default, or on a Dask cluster; either way only this
process writes the store. A running job's lease is renewed by its own
thread; a job whose lease lapsed (its process was killed) is taken over by the next worker and
resumed from its checkpoints. A worker given no batch leaves the jobs of batches alone: they belong to
their batch's process (`fenta batch`, `fenta batch resume`), which reports on them. SIGTERM or
Ctrl-C stops a worker cleanly: running nodes finish (a
second signal cancels them), the jobs go back to the queue, and `run` returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..errors import QuotaError
from .attempt import Control, run_attempt
from .events import Bus, Event
from .executors import Executor, LocalExecutor
from .leases import check_lease_timing
from .lifecycle import NO_BATCH, Admit, pending, reserve
from .records import Job
from .results import RunResult
from .store import JobStore, Tx

__all__ = ["Worker", "install_stop_signals"]

log = logging.getLogger("fenta")


def install_stop_signals(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> list[int]:
    """Call `handler` on SIGTERM and Ctrl-C (main thread only); returns the signals to remove later."""
    if threading.current_thread() is not threading.main_thread():
        return []
    installed: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - platforms without them
            pass
    return installed


class Worker:
    """Runs queued jobs until stopped (or, with `until_empty`, until nothing is left to do).

    Args:
        settings: Defaults to `Settings.from_env()`.
        concurrency: Jobs run at once by this worker.
        until_empty: Return once nothing is queued, no retry is pending and this worker runs nothing.
        admit: Run inside the transaction that claims each job (`lifecycle.Admit`: the quota
            reservation of `fenta.ops.quotas`); raising `QuotaError` makes the job dead with that
            reason (`job.dead`) without running anything. Any other error leaves the job queued (it is
            logged, and the claim is tried again at the next poll).
        on_event: Called with every event of the jobs this worker runs (and the live-only ones), from
            a task of its own.
        executor: Where each attempt runs (`fenta.engine.executors.make_executor`); default: this process.
            The caller opens and closes it.
        batch_id: Take only this batch's jobs; `until_empty` then waits for this batch only. Without
            it, only jobs of no batch (a batch's jobs are run by `fenta batch` / `fenta batch resume`).

    Attributes:
        results: The outcome of every attempt this worker made, in the order they ended.

    Raises:
        JobError: FENTA_HEARTBEAT_SECONDS is not below FENTA_LEASE_SECONDS (`leases.check_lease_timing`).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        concurrency: int = 1,
        until_empty: bool = False,
        admit: Admit | None = None,
        on_event: Callable[[Event], None] | None = None,
        executor: Executor | None = None,
        batch_id: str | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        check_lease_timing(self.settings)
        self.concurrency = max(1, int(concurrency))
        self.until_empty = until_empty
        self.admit = admit
        self.on_event = on_event
        self.executor: Executor = executor if executor is not None else LocalExecutor()
        self.batch_id = batch_id
        self._batch = batch_id if batch_id is not None else NO_BATCH
        self.results: list[RunResult] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._now = False
        self._controls: dict[asyncio.Task[RunResult], Control] = {}

    # ------------------------------------------------------------ stopping

    def stop(self, now: bool = False) -> None:
        """Stop taking jobs; running nodes finish (`now`: they are cancelled). Safe from any thread."""
        if self._loop is None:
            self._stopping, self._now = True, self._now or now
            return
        try:
            self._loop.call_soon_threadsafe(self._stop, now)
        except RuntimeError:  # the loop has closed: nothing left to stop
            pass

    def _stop(self, now: bool) -> None:
        self._stopping = True
        self._now = self._now or now
        for control in self._controls.values():
            control.stop(now=self._now)
        if self._wake is not None:
            self._wake.set()

    def _on_signal(self) -> None:
        """First SIGTERM / Ctrl-C: finish running nodes; a second: cancel them."""
        self._stop(now=self._stopping)

    @property
    def stopping(self) -> bool:
        return self._stopping

    # ------------------------------------------------------------ running

    def run(self) -> list[RunResult]:
        """Blocking `run_async`."""
        return asyncio.run(self.run_async())

    async def run_async(self) -> list[RunResult]:
        """Take and run jobs until stopped; returns `results`."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        signals = install_stop_signals(self._loop, self._on_signal)
        store = JobStore(self.settings.db_path)
        bus = Bus(self.on_event).start()
        try:
            while not self._stopping:
                self._fill(store, bus)
                if self.until_empty and not self._controls and pending(store, batch_id=self._batch) == 0:
                    break
                await self._wait()
            for control in self._controls.values():
                control.stop(now=self._now)
            while self._controls:
                await self._wait()
        finally:
            for task in list(self._controls):  # only when the worker itself was cancelled
                task.cancel()
            if self._controls:
                await asyncio.gather(*self._controls, return_exceptions=True)
            for sig in signals:
                self._loop.remove_signal_handler(sig)
            await bus.close()
            store.close()
        return self.results

    def _fill(self, store: JobStore, bus: Bus) -> None:
        """Take due jobs until `concurrency` run."""
        while len(self._controls) < self.concurrency and not self._stopping:
            broken: list[str] = []  # the job whose admission hook broke (not a refusal)
            try:
                job, lease, events = reserve(
                    store, self.settings, batch_id=self._batch, admit=self._admit(broken)
                )
            except Exception:
                if not broken:
                    raise
                log.exception("admission check failed for job %s; it stays queued", broken[0])
                return
            bus.put(*events)
            if job is None or lease is None:
                return
            control = Control()
            task = asyncio.ensure_future(
                run_attempt(store, lease, self.executor, settings=self.settings, bus=bus, control=control)
            )
            self._controls[task] = control

    def _admit(self, broken: list[str]) -> Admit | None:
        """`admit`, noting in `broken` the job whose check broke (a refusal is a `QuotaError`, no break)."""
        if self.admit is None:
            return None
        hook = self.admit

        def admit(tx: Tx, job: Job) -> None:
            try:
                hook(tx, job)
            except QuotaError:
                raise
            except Exception:
                broken.append(job.id)
                raise

        return admit

    async def _wait(self) -> None:
        """Until an attempt ends, a stop is asked, or the poll interval passes."""
        assert self._wake is not None
        self._wake.clear()
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            waiting: list[asyncio.Future[Any]] = [*self._controls, waker]
            done, _ = await asyncio.wait(
                waiting, timeout=self.settings.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waker.cancel()
        for task in [t for t in self._controls if t in done]:
            self._controls.pop(task)
            try:
                self.results.append(task.result())
            except Exception:  # pragma: no cover - run_attempt ends every attempt in a state; keep going
                log.exception("an attempt ended with an error")
