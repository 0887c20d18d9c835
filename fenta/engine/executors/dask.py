"""The Dask executor: each attempt is one Dask task on a worker; this process keeps the store.

One task per job attempt: `client.submit(remote.run_job, payload, key="fenta-<job>-<attempt>-<nonce>",
pure=False, resources={"render": 1}, retries=0)`. fenta owns retries and their backoff: a worker lost
mid-job fails the attempt retryably, and the job's next attempt is a new task that runs wherever
the scheduler puts it. Results are collected by one `distributed.as_completed` in a thread of its own
and handed to the waiting attempt on the event loop. Node events arrive live through a scheduler topic
(`Worker.log_event` -> `Client.subscribe_topic`) and are appended to the job's event log here.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable

from ...config import Settings
from ...errors import ClusterError, FentaError
from .. import remote
from ..attempt import LeaseKeeper
from ..lifecycle import cancelled, complete, fail, release, start
from ..runner import RunResult
from .payload import apply_records, build_payload, publish_files

if TYPE_CHECKING:
    from ..attempt import Bus, Control
    from ..lifecycle import Lease
    from ..store import JobStore

__all__ = ["DaskExecutor"]

#: Files at least this large travel by `client.scatter`, once per executor, instead of inside each task.
_SCATTER_BYTES = 1 << 20


def _dask():
    try:
        import dask  # noqa: F401
        import distributed
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install 'fenta[dask]'") from None
    return distributed


class _Collector:
    """One `as_completed` over every submitted future, read by a thread; each result goes to its waiter."""

    def __init__(self) -> None:
        distributed = _dask()
        self.ac = distributed.as_completed([], with_results=False)
        self.waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self.more = threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="fenta-dask-results", daemon=True)
        self.thread.start()

    def watch(self, future: Any) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.waiters[future.key] = (loop, waiter)
        self.ac.add(future)
        self.more.set()
        return waiter

    def _run(self) -> None:
        try:
            self._collect()
        except Exception as e:  # the client closed under it, or the scheduler went away: no waiter hangs
            for key in list(self.waiters):
                loop, waiter = self.waiters.pop(key)
                try:
                    loop.call_soon_threadsafe(_settle, waiter, ("error", e))
                except RuntimeError:
                    pass

    def _collect(self) -> None:
        while not self.closed:
            for future in self.ac:
                try:
                    outcome: tuple[str, Any] = ("ok", future.result())
                except BaseException as e:  # a lost worker, a cancelled future: the waiter decides
                    outcome = ("error", e)
                loop, waiter = self.waiters.pop(future.key, (None, None))
                if loop is not None:
                    try:
                        loop.call_soon_threadsafe(_settle, waiter, outcome)
                    except RuntimeError:  # that loop has closed
                        pass
            self.more.wait(0.2)
            self.more.clear()

    def close(self) -> None:
        self.closed = True
        self.more.set()


def _settle(waiter: asyncio.Future, outcome: tuple[str, Any]) -> None:
    if not waiter.done():
        waiter.set_result(outcome)


class DaskExecutor:
    """Runs attempts on a Dask cluster (see the module docstring); made by `make_executor`.

    Attributes:
        slots: Render slots of the usable workers (the sum of their `render` resources).
        problems: One line per worker left out because it cannot run jobs.
    """

    def __init__(self, client: Any, settings: Settings, *, address: str, cluster: Any = None, on_warning: Callable[[str], None] | None = None) -> None:
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
        self._collector: _Collector | None = None
        try:
            self._check_workers()
            self.client.subscribe_topic(self.topic, self._on_topic)
            self._collector = _Collector()
        except BaseException:
            self.close()
            raise
        where = "local Dask cluster" if cluster is not None else f"dask {address}"
        self.name = f"{where} ({self.slots} worker{'s' if self.slots != 1 else ''})"

    # ------------------------------------------------------------ making one

    @classmethod
    def local(cls, workers: int | None, settings: Settings, **options: Any) -> "DaskExecutor":
        """Start a LocalCluster: `workers` single-thread worker processes with one render slot each."""
        import logging

        distributed = _dask()
        import dask

        n = workers or max(1, os.cpu_count() or 1)
        # A worker that dies fails the attempt at once (fenta retries it), instead of the scheduler
        # quietly running the same task again.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            try:
                cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, resources={"render": 1}, dashboard_address=":0", silence_logs=logging.ERROR)
            except Exception as e:
                raise ClusterError(f"cannot start a local Dask cluster: {type(e).__name__}: {e}") from None
        try:
            client = distributed.Client(cluster)
            client.run(remote.quiet_notices)  # their stderr is this terminal, which has the notices already
        except BaseException:
            cluster.close()
            raise
        return cls(client, settings, address=cluster.scheduler_address, cluster=cluster, **options)

    @classmethod
    def connect(cls, address: str, settings: Settings, *, connect_timeout: float = 10.0, wait_for_workers: float = 30.0, **options: Any) -> "DaskExecutor":
        """Connect to a running scheduler and wait (up to `wait_for_workers` s) for a worker."""
        distributed = _dask()
        try:
            client = distributed.Client(address, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError) as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        try:
            if not client.scheduler_info(n_workers=-1)["workers"]:
                try:
                    client.wait_for_workers(1, timeout=wait_for_workers)
                except (TimeoutError, asyncio.TimeoutError):
                    raise ClusterError(f"no Dask worker is connected to {address} (start one: dask worker {address} --nthreads 1 --resources render=1)") from None
        except BaseException:
            client.close()
            raise
        return cls(client, settings, address=address, **options)

    def _check_workers(self) -> None:
        """Run `remote.check_worker` on every worker; leave out (in one line each) those that cannot run jobs."""
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
            import logging

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
        route = self._routes.get((msg.get("job"), msg.get("attempt")))
        if route is None:  # the attempt has ended: its result carried everything
            return
        from .payload import live_event

        ev = live_event(route, msg)
        if ev is not None:
            route["bus"].put(ev)

    # ------------------------------------------------------------ running

    async def run(self, store: "JobStore", lease: "Lease", *, settings: Settings, bus: "Bus", control: "Control") -> RunResult:
        self._loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        job, events = start(store, lease)
        bus.put(*events)
        job_id, attempt = job["id"], job["attempt"]

        def result(status: str, row: dict | None, *, outcome: dict | None = None, **kw: Any) -> RunResult:
            row = row or {}
            outcome = outcome or {}
            return RunResult(
                job_id, status, kw.get("video"), kw.get("artifacts") or {}, kw.get("cost", 0.0), time.perf_counter() - t0, outcome.get("outputs") or {},
                error=row.get("error"), retryable=None if row.get("retryable") is None else bool(row.get("retryable")), nodes=outcome.get("status") or {},
                state=row.get("status", "lost"), attempt=attempt, next_attempt_at=row.get("next_attempt_at"), exit_code=kw.get("exit_code", 1),
            )

        def failed(error: str, retryable: bool, outcome: dict | None = None, retry_after: float | None = None, exit_code: int = 1) -> RunResult:
            row, evs = fail(store, lease, settings, settings.redact(error), retryable, retry_after=retry_after)
            bus.put(*evs)
            return result("failed", row or {"status": "lost", "error": error}, outcome=outcome, exit_code=exit_code)

        try:
            payload = build_payload(job, store, topic=self.topic, attempt=attempt, settings=settings)
        except FentaError as e:
            return failed(str(e), e.retryable, exit_code=e.exit_code)
        assert self._collector is not None
        # Unique per job and attempt, and per try of an attempt: a job given back (its worker could not run
        # it, or stopped) starts the same attempt again, and Dask would hand back the old task's result.
        payload["key"] = key = f"fenta-{job_id}-{attempt}-{uuid.uuid4().hex[:6]}"
        try:
            self._scatter_large(payload)
            future = self.client.submit(remote.run_job, payload, key=key, pure=False, resources={"render": 1}, retries=0, workers=self._allowed())
        except Exception as e:  # the scheduler went away: this attempt never started anywhere
            return failed(f"cannot send the job to the Dask scheduler at {self.address} ({type(e).__name__}: {e})", True)
        route = self._routes[(job_id, attempt)] = {"store": store, "bus": bus, "job_id": job_id, "seen": set()}
        waiter = self._collector.watch(future)
        task = asyncio.ensure_future(asyncio.shield(waiter))
        control.attach(None, task)
        try:
            with LeaseKeeper(settings, lease, task.cancel) as keeper:
                try:
                    kind, outcome = await task
                except asyncio.CancelledError:
                    me = asyncio.current_task()
                    reason = keeper.reason or ("stop" if control.now else None)
                    if reason is None or (me is not None and me.cancelling()):
                        self._stop_remote(key)
                        future.cancel()
                        row, evs = fail(store, lease, settings, "interrupted", True, interrupted=True)
                        bus.put(*evs)
                        raise
                    # Stop the task where it runs, and keep what it recorded (paid provider work) before ending here.
                    stopped = await self._stop_and_collect(key, waiter)
                    future.cancel()
                    if stopped is not None:
                        apply_records(store, job_id, stopped, route, settings)
                    if reason == "cancel":
                        row, evs = cancelled(store, lease)
                        bus.put(*evs)
                        return result("cancelled", row)
                    if reason == "lost":
                        return result("failed", {"status": "lost", "error": "another process took this job over (its lease lapsed here)"})
                    row, evs = release(store, lease)
                    bus.put(*evs)
                    return result("stopped", row)
        finally:
            control.attach(None, None)
            self._routes.pop((job_id, attempt), None)
        if kind == "error":
            name = type(outcome).__name__
            return failed(f"the Dask worker running this job was lost ({name}: {str(outcome).splitlines()[0] if str(outcome) else name})", True)
        if outcome.get("unusable"):
            worker = outcome.get("worker") or "?"
            self._leave_out(worker, outcome["unusable"])
            if self._allowed() == []:
                return failed(f"no Dask worker can run fenta jobs: {outcome['unusable']}", False, exit_code=2)
            row, evs = release(store, lease)
            bus.put(*evs)
            return result("stopped", row)
        cost = apply_records(store, job_id, outcome, route, settings)
        if not outcome.get("ok"):
            return failed(outcome.get("error") or "failed on the Dask worker", bool(outcome.get("retryable")), outcome, outcome.get("retry_after"), outcome.get("exit_code", 1))
        try:
            artifacts = publish_files(store, job, outcome, settings)
        except FentaError as e:
            return failed(str(e), e.retryable, outcome, exit_code=e.exit_code)
        video = artifacts.get("video")
        row, evs = complete(store, lease, video=video, duration=outcome.get("duration"), cost=cost)
        bus.put(*evs)
        if row is None:
            return result("failed", {"status": "lost", "error": "another process took this job over (its lease lapsed here)"}, outcome=outcome)
        return result("completed", row, outcome=outcome, artifacts=artifacts, video=video, cost=cost)

    def _scatter_large(self, payload: dict[str, Any]) -> None:
        """Send files of 1 MiB or more to the cluster once (`client.scatter`), not inside every task:
        rows sharing a music bed or a clip share one copy, and the task stays small."""
        import hashlib

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

    async def _stop_and_collect(self, key: str, waiter: asyncio.Future, timeout: float = 15.0) -> dict[str, Any] | None:
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

    def __enter__(self) -> "DaskExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
