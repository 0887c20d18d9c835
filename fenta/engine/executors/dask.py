"""The Dask executor: each attempt is one Dask task on a worker; this process keeps the store.

One task per job attempt: `client.submit(remote.run_job, payload, key="fenta-<job>-<attempt>-<nonce>",
pure=False, resources={"render": 1}, retries=0)`. fenta owns retries and their backoff: a worker lost
mid-job fails the attempt retryably, and the job's next attempt is a new task that runs wherever
the scheduler puts it. The client comes from `cluster` (a LocalCluster, or a running scheduler);
results are collected by one `distributed.as_completed` in a thread of its own (`collector`) and
handed to the waiting attempt on the event loop. Node events arrive live through a scheduler topic
(`Worker.log_event` -> `Client.subscribe_topic`) and are appended to the job's event log here.

Like every executor it only runs the work: the task's answer comes back as an `Outcome` whose
`records` (usage, provider tasks, node timings, the events not yet seen live) the attempt writes into
the store. When the attempt cancels it, it asks the worker to stop the task (`remote.stop_job`: Dask
cannot interrupt a running task, the task cancels its own nodes), waits up to 15 s for what the task
recorded until then, and answers `stopped` with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from ...config import Settings
from ...errors import ClusterError, FentaError
from .. import remote
from ..store import RemoteRecords
from ..work import Outcome, Work, classify
from .cluster import connect_to_scheduler, start_local_cluster
from .collector import Answer, Collector
from .payload import build_payload, live_event, publish_files

__all__ = ["DaskExecutor"]

#: Files at least this large travel by `client.scatter`, once per executor, instead of inside each task.
_SCATTER_BYTES = 1 << 20


def _outcome(answer: dict[str, Any], route: dict[str, Any], *, stopped: bool = False) -> Outcome:
    """A task's answer (`remote.run_job`) as an outcome here; its records without the events already
    appended as they came (live)."""
    seen: set[int] = route["seen"]
    unseen = [ev for ev in answer.get("events") or [] if ev["id"] not in seen]
    seen.update(ev["id"] for ev in unseen)
    records: RemoteRecords = {
        "events": unseen,
        "node_runs": answer.get("node_runs") or [],
        "usage": answer.get("usage") or [],
        "scripts": answer.get("scripts") or [],
        "provider_tasks": answer.get("provider_tasks") or [],
        "clips": answer.get("clips") or [],
    }
    return Outcome(
        bool(answer.get("ok")) and not stopped,
        answer.get("error") or (None if answer.get("ok") else "failed on the Dask worker"),
        bool(answer.get("retryable")),
        answer.get("retry_after"),
        int(answer.get("exit_code") or 1),
        stopped=stopped,
        duration=answer.get("duration"),
        outputs=answer.get("outputs") or {},
        nodes=answer.get("status") or {},
        records=records,
        log=(answer.get("log_text") or "") + (answer.get("log") or ""),
    )


class DaskExecutor:
    """Runs attempts on a Dask cluster (see the module docstring); made by `make_executor`.

    Attributes:
        slots: Render slots of the usable workers (the sum of their `render` resources).
        problems: One line per worker left out because it cannot run jobs.
    """

    def __init__(
        self,
        client: Any,
        settings: Settings,
        *,
        address: str,
        cluster: Any = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.address = address
        self.cluster = cluster
        self.on_warning = on_warning
        self.topic = f"fenta-events-{uuid.uuid4().hex[:8]}"
        self.bad: dict[str, str] = {}
        self.problems: list[str] = []
        self.slots: int | None = None
        self._routes: dict[tuple[str, int], dict[str, Any]] = {}
        self._scattered: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._collector: Collector | None = None
        try:
            self._check_workers()
            self.client.subscribe_topic(self.topic, self._on_topic)
            self._collector = Collector()
        except BaseException:
            self.close()
            raise
        where = "local Dask cluster" if cluster is not None else f"dask {address}"
        self.name = f"{where} ({self.slots} worker{'s' if self.slots != 1 else ''})"

    # ------------------------------------------------------------ making one

    @classmethod
    def local(cls, workers: int | None, settings: Settings, **options: Any) -> DaskExecutor:
        """Start a LocalCluster: `workers` single-thread worker processes with one render slot each."""
        client, cluster = start_local_cluster(workers)
        return cls(client, settings, address=cluster.scheduler_address, cluster=cluster, **options)

    @classmethod
    def connect(
        cls,
        address: str,
        settings: Settings,
        *,
        connect_timeout: float = 10.0,
        wait_for_workers: float = 30.0,
        **options: Any,
    ) -> DaskExecutor:
        """Connect to a running scheduler and wait (up to `wait_for_workers` s) for a worker."""
        client = connect_to_scheduler(
            address, connect_timeout=connect_timeout, wait_for_workers=wait_for_workers
        )
        return cls(client, settings, address=address, **options)

    def _check_workers(self) -> None:
        """Run `remote.check_worker` on every worker; leave out (in one line each) those that cannot run
        jobs."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        answers = self.client.run(remote.check_worker, remote.fenta_version(), on_error="return")
        for addr, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):
                missing = isinstance(answer, ModuleNotFoundError) or "No module named 'fenta" in str(answer)
                problem = "fenta is not installed there" if missing else f"{type(answer).__name__}: {answer}"
            elif not answer.get("ok"):
                problem = answer.get("problem") or "cannot run fenta jobs"
            elif (info.get(addr, {}).get("resources") or {}).get("render", 0) < 1:
                problem = "was started without --resources render=1"
            else:
                continue
            self._leave_out(addr, problem)
        good = [a for a in answers if a not in self.bad]
        if not good:
            why = "; ".join(f"{addr}: {problem}" for addr, problem in self.bad.items()) or "none is connected"
            raise ClusterError(f"no Dask worker at {self.address} can run fenta jobs ({why})")
        self.slots = int(sum((info.get(a, {}).get("resources") or {}).get("render", 1) for a in good))

    def _leave_out(self, addr: str, problem: str) -> None:
        if addr in self.bad:
            return
        self.bad[addr] = problem
        line = f"dask worker {addr} cannot run fenta jobs: {problem}; no job is sent to it"
        self.problems.append(line)
        if self.on_warning is not None:
            self.on_warning(line)
        else:
            logging.getLogger("fenta").warning(line)

    def _allowed(self) -> list[str] | None:
        if not self.bad:
            return None
        return [a for a in self.client.scheduler_info(n_workers=-1)["workers"] if a not in self.bad]

    # ------------------------------------------------------------ live events

    def _on_topic(self, event: Any) -> None:
        """From the Dask client's thread: hand the message to the event loop the attempts run on."""
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if self._loop is not None and isinstance(msg, dict):
            try:
                self._loop.call_soon_threadsafe(self._live, msg)
            except RuntimeError:
                pass

    def _live(self, msg: dict[str, Any]) -> None:
        route = self._routes.get((str(msg.get("job")), int(msg.get("attempt") or 0)))
        if route is None:  # the attempt has ended: its result carried everything
            return
        ev = live_event(route, msg)
        if ev is not None:
            route["bus"].put(ev)

    # ------------------------------------------------------------ running

    async def run(self, work: Work) -> Outcome:
        """Run the attempt as one Dask task and bring back what it made and recorded (see the module
        docstring); never raises for the job's failure.

        Cancelled (the attempt stops the work: a cancel, a lost lease, a stop, an interrupt), it asks
        the worker to stop the task, waits a little for what the task recorded (paid provider work)
        and answers `stopped` with it.
        """
        self._loop = asyncio.get_running_loop()
        job, store, settings = work.job, work.store, work.settings
        try:
            payload = build_payload(job, store, topic=self.topic, attempt=job.attempt, settings=settings)
        except FentaError as e:
            return Outcome.failed(classify(e))
        assert self._collector is not None
        # Unique per job and attempt, and per try of an attempt: a job given back (its worker could not run
        # it, or stopped) starts the same attempt again, and Dask would hand back the old task's result.
        payload["key"] = key = f"fenta-{job.id}-{job.attempt}-{uuid.uuid4().hex[:6]}"
        try:
            self._scatter_large(payload)
            future = self.client.submit(
                remote.run_job,
                payload,
                key=key,
                pure=False,
                resources={"render": 1},
                retries=0,
                workers=self._allowed(),
            )
        except Exception as e:  # the scheduler went away: this attempt never started anywhere
            where = f"the Dask scheduler at {self.address}"
            return Outcome(False, f"cannot send the job to {where} ({type(e).__name__}: {e})", retryable=True)
        route = self._routes[(job.id, job.attempt)] = {
            "store": store,
            "bus": work.bus,
            "job_id": job.id,
            "seen": set(),
        }
        waiter = self._collector.watch(future)
        try:
            try:
                kind, answer = await asyncio.shield(waiter)
            except asyncio.CancelledError:
                # Stop the task where it runs, and keep what it recorded (paid provider work).
                stopped = await self._stop_and_collect(key, waiter)
                future.cancel()
                return _outcome(stopped or {}, route, stopped=True)
        finally:
            self._routes.pop((job.id, job.attempt), None)
        if kind == "error":
            name = type(answer).__name__
            first = str(answer).splitlines()[0] if str(answer) else name
            return Outcome(
                False, f"the Dask worker running this job was lost ({name}: {first})", retryable=True
            )
        if answer.get("unusable"):
            self._leave_out(answer.get("worker") or "?", answer["unusable"])
            if self._allowed() == []:
                return Outcome(False, f"no Dask worker can run fenta jobs: {answer['unusable']}", exit_code=2)
            return Outcome(False, give_back=True)
        outcome = _outcome(answer, route)
        if not outcome.ok:
            return outcome
        try:
            artifacts = publish_files(store, job, answer, settings)
        except FentaError as e:
            failure = classify(e)
            return dataclasses.replace(
                outcome,
                ok=False,
                error=failure.error,
                retryable=failure.retryable,
                exit_code=failure.exit_code,
            )
        return dataclasses.replace(outcome, artifacts=artifacts)

    def _scatter_large(self, payload: dict[str, Any]) -> None:
        """Send files of 1 MiB or more to the cluster once (`client.scatter`), not inside every task:
        rows sharing a music bed or a clip share one copy, and the task stays small."""
        files = payload["files"]
        for name, data in list(files.items()):
            if len(data) < _SCATTER_BYTES:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest not in self._scattered:
                self._scattered[digest] = self.client.scatter(data, hash=False)
            files[name] = self._scattered[digest]

    def _stop_remote(self, key: str) -> None:
        """Ask the worker running task `key` to cancel its nodes (Dask cannot interrupt a running task)."""
        try:
            where = [addr for addr, keys in self.client.processing().items() if key in keys]
            if where:
                self.client.run(remote.stop_job, key, workers=where, on_error="ignore")
        except Exception:  # the worker is gone or the scheduler unreachable: nothing is left running there
            pass

    async def _stop_and_collect(
        self, key: str, waiter: asyncio.Future[Answer], timeout: float = 15.0
    ) -> dict[str, Any] | None:
        """Stop the task and wait (at most `timeout` s) for what it recorded; None when nothing came back."""
        await asyncio.to_thread(self._stop_remote, key)
        try:
            kind, outcome = await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            return None
        return outcome if kind == "ok" and isinstance(outcome, dict) else None

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        if self._collector is not None:
            self._collector.close()
            self._collector = None
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:
            pass
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
