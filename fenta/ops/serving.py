"""One way to serve the queue: the worker with everything that runs around it.

    fenta.jobs.Worker(concurrency=2, until_empty=True).run()     # what `fenta worker -c 2 --until-empty` runs

`Worker` is the engine's worker (`fenta.engine.worker`) with:

    admission   `quotas.admit` in the transaction that claims each job: the job's quota reservation,
                so no number of slots, batch rows or Dask tasks beats a limit (a refused job is dead
                with the reason); `admission=` adds a check of the caller's own
    readers     beside it, the event-log readers (`readers.Background`: usage, quota warnings,
                webhooks, hosted sync when FENTA_API_KEY is set) and, with FENTA_SYNC=1, the live push
                of the jobs' progress to the hosted project
    after-job   when it stops, one last pass: the last jobs' usage, and their webhooks (waiting at
                most `webhook_wait` seconds; what is left stays pending for the next fenta process)

Every process that runs queued jobs uses it: `fenta worker` (local or `--cluster`), the workers of
`fenta scheduler`, `fenta schedule run-due`, `fenta batch` / `fenta batch resume`, `fenta serve`'s worker
process (`serve`) and the SDK's `fenta.jobs.Worker`, so a script gets exactly what the CLI gets.
`serve_hosted` puts the same around the hosted worker (`fenta worker --hosted`); `fenta run` and
`fenta.run` are `fenta.ops.runs`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..engine.events import Event
from ..engine.executors import Executor
from ..engine.lifecycle import Admit
from ..engine.records import Job
from ..engine.results import RunResult
from ..engine.store import Tx
from ..engine.worker import Worker as EngineWorker
from .quotas import admit as quota_admit
from .readers import Background, after_job

__all__ = ["Worker", "serve", "serve_hosted"]

log = logging.getLogger("fenta")


def _admit(
    settings: Settings, with_quotas: bool, admission: Callable[[dict[str, Any]], None] | None
) -> Admit | None:
    """The claim's hook: the quota reservation, then the caller's own check (given the job's row)."""
    hooks: list[Admit] = [quota_admit(settings)] if with_quotas else []
    if admission is not None:
        check = admission
        hooks.append(lambda tx, job: check(job.to_dict()))
    if not hooks:
        return None

    def admit(tx: Tx, job: Job) -> None:
        for hook in hooks:
            hook(tx, job)

    return admit


class _Beside:
    """What runs beside a worker (the readers, the live hosted push) and after it (the after-job pass)."""

    def __init__(
        self, settings: Settings, *, readers: bool, sync: bool, log: Callable[[str], None], wait: float
    ) -> None:
        self.settings, self.readers, self.sync, self.log, self.wait = settings, readers, sync, log, wait
        self._running: list[Any] = []

    def start(self) -> _Beside:
        if self.readers:
            self._running.append(Background(self.settings, log=self.log, sync=self.sync).start())
        if self.sync and self.settings.sync and self.settings.keys.get("fenta"):  # FENTA_SYNC=1
            from .sync import Background as SyncBackground

            self._running.append(SyncBackground(self.settings, log=self.log).start())
        return self

    def stop(self) -> None:
        """Stop the readers and the push, then the after-job pass (never raises)."""
        for part in self._running:
            part.stop()
        after_job(self.settings, None, wait=self.wait)


class Worker:
    """Runs queued jobs until stopped (or, with `until_empty`, until nothing is left to do), with the
    quota reservation at each claim, the readers beside it and the after-job pass at the end.

    Args:
        settings: Defaults to `Settings.from_env()`.
        concurrency: Jobs run at once.
        until_empty: Return once nothing is queued, no retry is pending and this worker runs nothing.
        admission: Your own check, called with a job's row inside the transaction that claims it (after
            the quotas); raising `QuotaError` makes the job dead with that reason without running it.
            It must not write fenta.db itself (the claim holds the write lock).
        on_event: Called with every event of the jobs this worker runs, from a task of its own.
        executor: Where each attempt runs (`fenta.engine.executors.make_executor`); default: this
            process. The caller opens and closes it.
        batch_id: Take only this batch's jobs. Without it, only jobs of no batch.
        quotas: Hold jobs to the quota limits (`fenta quota`); False: only `admission`.
        readers: Run the event-log readers beside the worker (usage, quota warnings, webhooks, hosted
            sync); False when the process runs them itself (`fenta scheduler`).
        webhook_wait: Seconds the after-job pass waits for webhooks (default: 10 with `until_empty`,
            else 0: one pass).
        log: Where the readers' one-line notices go (default: the `fenta` logger).

    Attributes:
        results: The outcome of every attempt, in the order they ended.

    Raises:
        JobError: FENTA_HEARTBEAT_SECONDS is not below FENTA_LEASE_SECONDS.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        concurrency: int = 1,
        until_empty: bool = False,
        admission: Callable[[dict[str, Any]], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        executor: Executor | None = None,
        batch_id: str | None = None,
        quotas: bool = True,
        readers: bool = True,
        webhook_wait: float | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.engine = EngineWorker(
            self.settings,
            concurrency=concurrency,
            until_empty=until_empty,
            admit=_admit(self.settings, quotas, admission),
            on_event=on_event,
            executor=executor,
            batch_id=batch_id,
        )
        wait = webhook_wait if webhook_wait is not None else (10.0 if until_empty else 0.0)
        self._beside = _Beside(self.settings, readers=readers, sync=True, log=log or _warn, wait=wait)

    @property
    def concurrency(self) -> int:
        return self.engine.concurrency

    @property
    def results(self) -> list[RunResult]:
        return self.engine.results

    @property
    def stopping(self) -> bool:
        return self.engine.stopping

    def stop(self, now: bool = False) -> None:
        """Stop taking jobs; running nodes finish (`now`: they are cancelled). Safe from any thread."""
        self.engine.stop(now=now)

    def run(self) -> list[RunResult]:
        """Blocking `run_async`."""
        return asyncio.run(self.run_async())

    async def run_async(self) -> list[RunResult]:
        """Take and run jobs until stopped; returns `results`."""
        beside = self._beside.start()
        try:
            return await self.engine.run_async()
        finally:
            await asyncio.to_thread(beside.stop)


def _warn(line: str) -> None:
    log.warning("%s", line)


def serve(settings: Settings, *, stop: Any = None, **options: Any) -> list[RunResult]:
    """Run a `Worker(settings, **options)` until it ends or `stop` (a threading or multiprocessing
    Event) is set: running nodes finish and their jobs go back to the queue (`fenta serve`)."""
    worker = Worker(settings, **options)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(0.5):
                worker.stop()
                return

    if stop is not None:
        threading.Thread(target=watch, name="fenta-serve-stop", daemon=True).start()
    try:
        return worker.run()
    finally:
        done.set()


def serve_hosted(
    settings: Settings,
    *,
    until_empty: bool = False,
    on_event: Callable[[Event], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Any]:
    """`fenta worker --hosted`: the hosted worker (`fenta.ops.sync.HostedWorker`) with the quota
    reservation of each row's local job, the readers beside it (it pushes its hosted jobs itself) and
    the after-job pass. Returns its `HostedResult`s."""
    from .sync import HostedWorker

    say = log or _warn
    worker = HostedWorker(
        settings, until_empty=until_empty, on_event=on_event, log=say, admit=quota_admit(settings)
    )
    beside = _Beside(settings, readers=True, sync=False, log=say, wait=10.0 if until_empty else 0.0).start()
    try:
        return worker.run()
    finally:
        beside.stop()
