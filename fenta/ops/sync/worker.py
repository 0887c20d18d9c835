"""fenta as the web app's render worker: take hosted `queued` jobs, render them here, push the results.

    GET   /rest/v1/jobs?status=eq.queued&document=not.is.null           rows the web app queued
    PATCH /rest/v1/jobs?id=eq.X&status=eq.queued  (return=representation) the claim: an empty answer
          means another worker took it first, so two workers never render one job
    ...   the normal runner renders it (a local job mapped to the hosted row), progress and events are
          pushed as for any synced job, the files go to renders/{id}/{file}, the row ends completed,
          failed or dead
    PATCH ?id=eq.X&claimed_by=eq.ME  lease_expires_at = now + FENTA_LEASE_SECONDS, every third of it

A worker killed mid-job stops renewing its lease; once `lease_expires_at` has passed, the next worker's
claim (`status=eq.running&lease_expires_at=lt.NOW&claimed_by=eq.OLD`) matches and the job is rendered
again. A workflow that does not validate goes back to the row as `failed` with the message, and so does
a row whose id is not one plain segment (`keys.remote_id_problem`): it never becomes a folder or a key.
A row that fails before it runs ends `failed` without a lease; one whose results cannot be pushed keeps
its lease, which lapses: a row is never left `running` without a lease. A row over a quota of this
FENTA_HOME (`fenta quota`) is one that fails before it runs: `failed`, not retryable, with the quota's
one line as its error (the limit says no more renders here this period; a row handed back would come
straight back to this worker).

Every row is someone else's document: it is loaded under the untrusted policy (docs/security.md), so
a local file it names outside FENTA_ALLOWED_DIRS fails the row with one line and is never opened.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from ...config import Settings
from ...engine.events import Event, iso
from ...engine.leases import HOST, check_lease_timing
from ...engine.lifecycle import Admit
from ...engine.store import JobStore
from ...engine.worker import install_stop_signals
from ...errors import FentaError, QuotaError, SyncError
from ...policy import Policy
from . import state
from .claims import Claims
from .client import Hosted, check_configured
from .keys import remote_id_problem, shown_id
from .push import Background
from .push_job import push_job
from .schema import BUCKET

__all__ = ["HostedWorker", "HostedResult"]

#: The `owner` of a hosted row's local job: a plain `fenta worker` never runs it (a copy a killed
#: hosted worker left would be rendered for nobody; the row goes to the next hosted worker).
OWNER = "hosted"


@dataclass
class HostedResult:
    """What the worker did with one hosted job."""

    remote_id: str
    job_id: str | None
    #: completed | failed | dead | cancelled (here or on the web app) | lost (another worker took it
    #: over) | queued (stopped here and given back, or it needs a key not set here)
    status: str
    error: str | None = None
    synced: bool = True


def _json_column(row: dict[str, Any], name: str, remote: str) -> Any:
    """A jsonb column's value; a text column (some web apps store JSON as text) is parsed here."""
    value = row.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise SyncError(f"hosted job {remote}: column '{name}' holds text that is not JSON") from None


class HostedWorker:
    """Claims hosted jobs one at a time and renders them until stopped (or, with `until_empty`, until
    no claimable job is left).

    Args:
        settings: FENTA_API_URL/KEY/TOKEN, FENTA_LEASE_SECONDS (the hosted lease), FENTA_POLL_SECONDS
            (the hosted table is read every 10 polls: 5 s by default).
        on_event: Called with every event of the jobs it renders (the CLI's log).
        log: Called with one line for each thing worth saying (claims, sync trouble).
        admit: Run in the transaction that queues a claimed row's local job (`lifecycle.Admit`: the
            quota reservation `fenta.ops.serving.serve_hosted` passes); a row it refuses ends `failed`
            with the reason, and no local job is made.

    Raises:
        SyncError: FENTA_API_KEY is not set (exit 2), or the hosted project refuses the key.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        until_empty: bool = False,
        on_event: Callable[[Event], None] | None = None,
        log: Callable[[str], None] | None = None,
        admit: Admit | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.admit = admit
        check_lease_timing(self.settings)
        self.until_empty = until_empty
        self.on_event = on_event
        self.log = log or (lambda m: None)
        self.token = f"{HOST}:{uuid.uuid4().hex[:12]}"
        self.claims = Claims(self.settings, self.token, self.log)
        self.results: list[HostedResult] = []
        self._stopping = False
        self._now = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._current: asyncio.Future | None = None
        #: Rows this worker gave back because it lacks a key they need: not claimed again in this run.
        self._given_back: set[str] = set()

    def stop(self, now: bool = False) -> None:
        """Take no further job: the one rendering finishes, or (`now`) is stopped and handed back to the
        hosted queue at once (status `queued`, for the next worker). Safe from any thread."""
        if self._loop is None:
            self._stopping, self._now = True, self._now or now
            return
        try:
            self._loop.call_soon_threadsafe(self._stop, now)
        except RuntimeError:  # the loop has closed
            pass

    def _stop(self, now: bool) -> None:
        self._stopping, self._now = True, self._now or now
        if self._wake is not None:
            self._wake.set()
        if self._now and self._current is not None:
            self._current.cancel()

    def _on_signal(self) -> None:
        """First SIGTERM / Ctrl-C: finish the job rendering; a second: hand it back now."""
        if self._current is None:
            self.log("stopping (no job is rendering)")
        elif self._stopping:
            self.log("stopping now: the job goes back to the hosted queue")
        else:
            self.log("stopping after the job rendering now (again to stop at once)")
        self._stop(now=self._stopping)

    def _drop_orphans(self, store: JobStore) -> None:
        """Local copies of hosted rows that a killed hosted worker on this FENTA_HOME left `running`:
        never pushed again (their rows go to the next claim once their leases lapse), then `dead` here."""
        from ...engine.leases import lease_is_live
        from ...engine.lifecycle import reap

        with store.write() as tx:
            for job in tx.running_jobs():
                if job.owner == OWNER and not lease_is_live(job):
                    state.release(store, job.id)
            reap(tx, self.settings, owner=OWNER)

    def run(self) -> list[HostedResult]:
        """Blocking `run_async`."""
        return asyncio.run(self.run_async())

    async def run_async(self) -> list[HostedResult]:
        check_configured(self.settings)
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        signals = install_stop_signals(self._loop, self._on_signal)
        pusher = Background(self.settings, log=self.log).start()
        try:
            async with Hosted(self.settings) as api:
                while not self._stopping:
                    try:
                        row = await self.claim_next(api)
                    except SyncError as e:
                        # --until-empty: an unread queue is not an empty one.
                        if not e.retryable or self.until_empty:
                            raise
                        self.log(f"hosted queue: {e} (trying again)")
                        row = None
                    if row is None:
                        if self.until_empty:
                            break
                        try:
                            await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds * 10)
                        except asyncio.TimeoutError:
                            pass
                        continue
                    try:
                        self.results.append(await self.render(api, row, pusher))
                    except SyncError as e:
                        if not e.retryable:
                            raise
                        self.log(
                            f"hosted job {row['id']}: {e} (what is left is pushed later; an "
                            "unreleased lease lapses)"
                        )
        finally:
            pusher.stop()
            for sig in signals:
                self._loop.remove_signal_handler(sig)
        return self.results

    # ------------------------------------------------------------------ claiming (claims.Claims)

    async def claim(self, api: Hosted, candidate: dict[str, Any]) -> dict[str, Any] | None:
        """Claim one hosted row with a conditional update; the full row, or None when another worker won."""
        return await self.claims.claim(api, candidate)

    async def claim_next(self, api: Hosted) -> dict[str, Any] | None:
        """The oldest claimable job (queued with a workflow, or running with a lapsed lease), claimed; rows
        this worker gave back for a key it lacks are left to others."""
        return await self.claims.claim_next(api, skip=self._given_back)

    # ------------------------------------------------------------------ rendering

    async def render(self, api: Hosted, row: dict[str, Any], pusher: Background) -> HostedResult:
        """Render one claimed row through the normal runner and push its results."""
        from ...engine.attempt import drive
        from ...engine.keys import check_keys
        from ...engine.queue import enqueue, retry_policy
        from ...engine.results import prepare
        from ...engine.spec import loads
        from ...errors import MissingKeysError, SpecError

        remote = str(row["id"])
        settings = self.settings
        try:
            problem = remote_id_problem(remote)
            if problem:  # never a folder (FENTA_HOME/hosted/{id}) or a Storage key (renders/{id}/...)
                raise SyncError(f"hosted job {shown_id(remote)}: {problem}")
            document = _json_column(row, "document", remote)
            variables = _json_column(row, "vars", remote)
            variables = {} if variables is None else variables
            if not isinstance(document, dict):
                raise SyncError(
                    f"hosted job {remote}: column 'document' is not a workflow (a JSON object with 'nodes')"
                )
            if not isinstance(variables, dict):
                raise SyncError(f"hosted job {remote}: column 'vars' is not a JSON object of variables")
            label = f"hosted job {remote}"
            try:
                untrusted = Policy.untrusted(settings)  # anyone who can insert a row wrote it
                wf = loads(json.dumps(document), file=label, vars=variables, policy=untrusted)
            except SpecError as e:  # line numbers of fenta's own JSON text would mean nothing to the web app
                raise SpecError(
                    [replace(p, line=None) if p.file == label else p for p in e.problems], file=label
                ) from None
            check_keys(wf, settings)
            out_dir, base = prepare(out=Path(settings.home) / "hosted" / remote, settings=settings)
        except MissingKeysError as e:
            return await self._lacks_keys(api, row, e)
        except FentaError as e:
            return await self._failed_before(api, remote, settings.redact(str(e)))
        except Exception as e:  # a bug, or a document nothing foresaw: the row says so, not claimed forever
            error: str | None  # also the finished job's error below, which may be None
            error = settings.redact(f"internal error: {type(e).__name__}: {e}")
            return await self._failed_before(api, remote, error)
        max_retries, base_seconds = retry_policy(wf, None, settings)
        store = JobStore(settings.db_path)
        try:
            try:
                self._drop_orphans(store)  # before this claim's own local job exists
                with pusher.lock:  # this process's pusher must see the mapping with the job's first event
                    job_id, lease = enqueue(
                        store,
                        wf,
                        settings=settings,
                        out_dir=out_dir,
                        name=base,
                        hold=True,
                        max_retries=max_retries,
                        retry_base=base_seconds,
                        owner=OWNER,
                        admit=self.admit,
                    )
                    state.mark_job(store, job_id, remote_id=remote, hosted=True, claim=self.token)
            except QuotaError as e:  # over a quota here: the row says why; nothing ran, no local job
                return await self._failed_before(api, remote, str(e))
            except Exception:  # this machine's trouble (its disk, its fenta.db): another worker takes the row
                await self.claims.hand_back(api, row)
                raise
            task = asyncio.ensure_future(
                # hold=True: enqueue returned the lease it holds
                drive(store, job_id, lease, settings=settings, workflow=wf, on_event=self.on_event)  # type: ignore[arg-type]
            )
            self._current = task
            if self._now:
                task.cancel()
            keeper = asyncio.ensure_future(self.claims.keep_lease(api, store, job_id, remote, task))
            try:
                result = await task
                status, error = result.state or result.status, result.error
            except asyncio.CancelledError:
                if keeper.done() and keeper.result() is not None:
                    reason = cast(str, keeper.result())  # not None: checked just above
                    return HostedResult(
                        remote,
                        job_id,
                        reason,
                        "cancelled on the hosted project"
                        if reason == "cancelled"
                        else "another worker took the job over",
                    )
                if not self._now:
                    raise
                return await self._give_back(api, store, job_id, remote)
            finally:
                self._current = None
                keeper.cancel()
            synced = await self._final_push(api, store, job_id, remote)
            if synced:  # the row says how it ended; unpushed, its lease lapses (never `running` without one)
                await self.claims.mine(api, remote, {"lease_expires_at": None})
                files = json.loads((state.get(store, job_id) or {}).get("files") or "{}")
                self.log(
                    f"hosted job {remote} {status}, pushed"
                    + (f": {BUCKET}/{remote}/{', '.join(files)}" if files else "")
                )
            return HostedResult(remote, job_id, status, error, synced)
        finally:
            store.close()

    async def _failed_before(self, api: Hosted, remote: str, error: str) -> HostedResult:
        """A claimed row that cannot run ends `failed` with the reason and no lease (`Claims.fail`)."""
        synced = await self.claims.fail(api, remote, error)
        return HostedResult(remote, None, "failed", error, synced=synced)

    async def _lacks_keys(self, api: Hosted, row: dict[str, Any], e: Any) -> HostedResult:
        """A job needing a key this machine lacks goes back to the hosted queue as it was (not failed):
        a worker that has the key takes it. This worker skips it for the rest of its run."""
        remote = str(row["id"])
        self._given_back.add(remote)
        names = ", ".join(k.var for k in e.missing)
        await self.claims.hand_back(api, row)
        message = f"needs {names}, not set here"
        self.log(
            f"hosted job {remote} {message}: given back to the hosted queue for a worker that has "
            f"{'it' if len(e.missing) == 1 else 'them'}"
        )
        return HostedResult(remote, None, "queued", message)

    async def _give_back(self, api: Hosted, store: JobStore, job_id: str, remote: str) -> HostedResult:
        """A render stopped by `stop(now=True)`: the row goes back to `queued` for the next worker."""
        state.release(store, job_id)
        await self.claims.give_back(api, remote)
        return HostedResult(remote, job_id, "queued", "stopped here and given back to the hosted queue")

    async def _final_push(self, api: Hosted, store: JobStore, job_id: str, remote: str) -> bool:
        """Push the job's last row, events and files, holding the lease meanwhile (a row left `running`
        would be rendered again once its lease lapsed). False when the service stayed away."""
        for attempt in range(1, 6):
            srow = state.get(store, job_id)
            if srow is None:
                return False
            try:
                await push_job(api, store, self.settings, srow, force=True)
                return True
            except SyncError as e:
                self.log(
                    f"hosted job {remote}: push failed ({e}); "
                    f"{'trying again' if attempt < 5 else 'it waits for the next push'}"
                )
                if not e.retryable:
                    return False
                renewed = {"lease_expires_at": iso(time.time() + self.claims.lease)}
                try:
                    await self.claims.mine(api, remote, renewed)
                except SyncError:
                    pass
                await api.retry.sleep(attempt)
        return False
