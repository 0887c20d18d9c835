"""Pushing local jobs to the hosted project: rows, events, usage records and artifacts.

    event log ──(cursor "sync")──▶ sync_jobs (dirty) ──▶ POST /rest/v1/jobs, job_events, usage_records
                                                     └─▶ renders/{job_id}/{file} in Storage (TUS over 6 MB)

A push never runs inside the runner and never fails a job: when the service is down or the machine is
offline the job's row stays dirty and the next push (this process's next pass, `fenta sync`, any later
fenta process) catches up. Every write is an upsert on a stable id (`on_conflict=id`, merge-duplicates),
so pushing twice adds nothing. A running job's row is pushed at most once a second. A job a hosted
worker claimed changes its row only with a conditional PATCH (`claimed_by=eq.TOKEN&status=neq.cancelled`):
a stale local copy (its worker was killed, another took the row over) or a row the web app cancelled
is let go, never overwritten.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...config import Settings
from ...engine.events import iso, read_events
from ...engine.leases import HOST
from ...engine.store import JobStore
from ...errors import SyncError
from . import state
from .client import Hosted, content_type
from .keys import object_key
from .schema import BUCKET

__all__ = [
    "PROGRESS_SECONDS",
    "SIGNED_URL_SECONDS",
    "JobPush",
    "PushReport",
    "push",
    "push_async",
    "push_job",
    "status",
    "Background",
    "after_run",
]

#: A running job's row goes out at most this often (the web page's Realtime view moves smoothly).
PROGRESS_SECONDS = 1.0
#: How long the signed video URL in `job.completed` webhooks stays valid (7 days).
SIGNED_URL_SECONDS = 7 * 24 * 3600
#: Rows per bulk upsert.
BATCH = 500
#: Artifact kinds -> the jobs column naming their Storage path.
_PATH_COLUMNS = {"video": "video_path", "thumbnail": "thumbnail_path", "srt": "srt_path"}


@dataclass
class JobPush:
    """What one push did (or, with --dry-run, would do) for one job."""

    job_id: str
    remote_id: str
    status: str
    events: int = 0
    usage: int = 0
    files: list[str] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None


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


def _iso(value: Any) -> str | None:
    return iso(value) if isinstance(value, (int, float)) else value


def _redacted(settings: Settings, value: Any) -> Any:
    """A JSON value with every key replaced by *** (rows never carry a key, whatever a message quoted)."""
    return json.loads(settings.redact(json.dumps(value, default=str, ensure_ascii=False)))


def _job_row(
    store: JobStore, job: dict[str, Any], srow: dict[str, Any], paths: dict[str, str]
) -> dict[str, Any]:
    timings = {
        r["node_id"]: round(r["seconds"], 3)
        for r in store.node_runs(job["id"])
        if r.get("seconds") is not None
    }
    duration = next(
        (a["duration"] for a in store.artifacts(job["id"]) if a["kind"] == "video" and a["duration"]), None
    )
    row = {
        "id": srow["remote_id"],
        "workflow_name": job["workflow_name"],
        "status": job["status"],
        "progress": job["progress"] or 0,
        "current_node": job["current_node"],
        "error": job["error"],
        "retryable": None if job["retryable"] is None else bool(job["retryable"]),
        "attempt": job["attempt"] or 0,
        "cost": job["cost"] or 0,
        "duration": duration,
        "stage_timings": timings,
        "host": job.get("lease_host") or HOST,
        "started_at": _iso(job["started_at"]),
        "finished_at": _iso(job["finished_at"]),
        **paths,
    }
    if srow["hosted"]:  # the claims count a hosted job's attempts (a job taken over is attempt 2 there)
        del row["attempt"]
    else:  # the web app's own rows keep their creation time
        row["created_at"] = _iso(job["created_at"])
    return row


async def _upload_files(
    api: Hosted,
    store: JobStore,
    srow: dict[str, Any],
    files: dict[str, int],
    uploads: dict[str, str],
    plan_only: bool,
) -> tuple[dict[str, str], list[str]]:
    """Upload a completed job's artifacts not uploaded yet; (jobs columns -> Storage keys, names sent).

    Each file goes to `renders/{remote_id}/{its name as Storage takes it}` (`keys.object_key`), and the row
    records that same key.

    Raises:
        SyncError: the row's id is not a plain id, or two files would share one key (never sent).
    """
    paths: dict[str, str] = {}
    sent: list[str] = []
    keys: dict[str, str] = {}
    for art in store.artifacts(srow["job_id"]):
        path = Path(art["path"])
        column = _PATH_COLUMNS.get(art["kind"])
        # Another aspect's cut (video-1x1, thumbnail-1x1, srt-1x1) goes to Storage beside it, with no column.
        rendition = column is None and art["kind"].split("-", 1)[0] in _PATH_COLUMNS
        if (column is None and not rendition) or not path.is_file():  # not the timeline
            continue
        key = object_key(srow["remote_id"], path.name)
        if keys.setdefault(key, path.name) != path.name:
            raise SyncError(f"{keys[key]} and {path.name} would both be stored as {BUCKET}/{key}: not pushed")
        # What was uploaded is kept by the object's name: a file a version before the keys were encoded
        # sent under another name is sent again, and its unfinished TUS upload is not resumed.
        name = key.rsplit("/", 1)[1]
        if column is not None:
            paths[column] = f"{BUCKET}/{key}"
        size = path.stat().st_size
        if files.get(name) == size:
            continue
        sent.append(name)
        if plan_only:
            continue

        def remember(url: str, name: str = name) -> None:  # a later process resumes this TUS upload
            uploads[name] = url
            store.update_sync_job(srow["job_id"], uploads=uploads)

        await api.upload(
            BUCKET, key, path, content_type(path), resume_url=uploads.get(name), on_created=remember
        )
        uploads.pop(name, None)
        files[name] = size
        store.update_sync_job(srow["job_id"], files=files, uploads=uploads)
    return paths, sent


def _claim_filter(srow: dict[str, Any]) -> dict[str, str]:
    """A claimed hosted job's row while this worker's claim holds and the web app has not cancelled it."""
    filters = {"id": f"eq.{srow['remote_id']}", "status": "neq.cancelled"}
    if srow.get("claim"):
        filters["claimed_by"] = f"eq.{srow['claim']}"
    return filters


async def _still_ours(api: Hosted, srow: dict[str, Any]) -> bool:
    """Whether the claim holds (checked before a finished job's files replace what is in Storage)."""
    return bool(await api.select("jobs", {**_claim_filter(srow), "select": "id"}))


def _let_go(store: JobStore, out: JobPush) -> JobPush:
    """A hosted job whose row another worker took over (after this claim's lease lapsed) or the web app
    cancelled: nothing more of it is pushed, so the row keeps what its owner says."""
    state.release(store, out.job_id)
    out.skipped = "the hosted job was cancelled there or taken over by another worker"
    return out


async def push_job(
    api: Hosted | None, store: JobStore, settings: Settings, srow: dict[str, Any], *, force: bool = False
) -> JobPush:
    """Push one job's row, events, usage and (once completed) files; `api` None only plans.

    Raises:
        SyncError: the hosted project refused a request or cannot be reached (the job stays dirty).
    """
    # Events first, then the row: a `job.completed` read here means the row says completed too, so its
    # video is uploaded (and its signed URL known) before the event goes out.
    events = read_events(store, job_id=srow["job_id"], since_id=srow["events_done"], limit=100000)
    usage = store.usage_records(srow["job_id"], after_id=srow["usage_done"])
    found = store.get_job(srow["job_id"])
    job = found.to_dict() if found is not None else None
    plan_only = api is None
    if job is None or job["id"] != srow["job_id"]:
        if not plan_only:
            store.forget_sync_job(srow["job_id"])
        return JobPush(srow["job_id"], srow["remote_id"], "gone", skipped="the local job no longer exists")
    out = JobPush(job["id"], srow["remote_id"], job["status"])
    if srow["hosted"] == -1:
        out.skipped = "the hosted job was cancelled there or taken over by another worker"
        return out
    now = time.time()
    if (
        job["status"] == "running"
        and not force
        and srow["row_pushed_at"]
        and now - srow["row_pushed_at"] < PROGRESS_SECONDS
    ):
        out.skipped = "pushed less than a second ago"
        return out
    files, uploads = json.loads(srow["files"] or "{}"), json.loads(srow["uploads"] or "{}")
    paths: dict[str, str] = {}
    if (
        job["status"] == "completed"
        and srow["hosted"] == 1
        and not plan_only
        and not await _still_ours(api, srow)
    ):  # type: ignore[arg-type]
        return _let_go(store, out)
    if job["status"] == "completed":
        paths, out.files = await _upload_files(api, store, srow, files, uploads, plan_only)  # type: ignore[arg-type]
    video_url = srow["video_url"]
    if not plan_only and paths.get("video_path") and (not video_url or out.files):
        video_url = await api.sign(BUCKET, paths["video_path"].split("/", 1)[1], SIGNED_URL_SECONDS)  # type: ignore[union-attr]
        store.update_sync_job(job["id"], video_url=video_url)
        from ..webhooks import hosted_video_ready

        hosted_video_ready(store, job["id"], time.time())  # its job.completed webhooks waited for this URL
    out.events, out.usage = len(events), len(usage)
    if plan_only:
        return out
    assert api is not None
    if state.released(store, job["id"]):  # the hosted worker let go of it while this pass ran
        return out
    # A claimed hosted job is `running` there already; its local `queued` moment is never sent back
    # (another worker would take the row again).
    if not (srow["hosted"] and job["status"] == "queued"):
        row = _redacted(settings, _job_row(store, job, srow, paths))
        if srow["hosted"] != 1:
            await api.upsert("jobs", [row])
        elif not await api.update(
            "jobs", {**_claim_filter(srow), "select": "id"}, {k: v for k, v in row.items() if k != "id"}
        ):
            return _let_go(store, out)
    for i in range(0, len(events), BATCH):
        part = events[i : i + BATCH]
        rows = []
        for ev in part:
            data = dict(ev.data)
            if srow["hosted"] and "jobId" in data:  # the web app knows the job by its row's id
                data["jobId"] = srow["remote_id"]
            if ev.type == "job.completed" and video_url:
                data["videoUrl"] = video_url
            rows.append(
                {
                    "id": f"{job['id']}:{ev.id}",
                    "job_id": srow["remote_id"],
                    "type": ev.type,
                    "data": data,
                    "created_at": ev.created_at,
                }
            )
        await api.upsert("job_events", _redacted(settings, rows))
        store.update_sync_job(job["id"], events_done=part[-1].id)
    for i in range(0, len(usage), BATCH):
        part = usage[i : i + BATCH]
        rows = [
            {
                "id": f"{job['id']}:{u['id']}",
                "job_id": srow["remote_id"],
                "node_id": u["node_id"],
                "provider": u["provider"],
                "model": u["model"],
                "units": u["units"],
                "quantity": u["quantity"],
                "cost": u["cost"],
                "created_at": _iso(u["created_at"]),
            }
            for u in part
        ]
        await api.upsert("usage_records", _redacted(settings, rows))
        store.update_sync_job(job["id"], usage_done=part[-1]["id"])
    store.sync_job_pushed(job["id"], generation=srow["dirty"], now=now)
    return out


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
