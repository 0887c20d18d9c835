"""One job's push: its row, events, usage records and (once completed) files, the unit every push pass
repeats (`fenta.ops.sync.push`).

Every write is an upsert on a stable id (`on_conflict=id`, merge-duplicates), so pushing twice adds
nothing. A running job's row is pushed at most once a second. A job a hosted worker claimed changes its
row only with a conditional PATCH (`claimed_by=eq.TOKEN&status=neq.cancelled`): a stale local copy (its
worker was killed, another took the row over) or a row the web app cancelled is let go, never
overwritten.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
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

__all__ = ["PROGRESS_SECONDS", "SIGNED_URL_SECONDS", "JobPush", "push_job"]

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
        and not await _still_ours(api, srow)  # type: ignore[arg-type]  # api is None only with plan_only
    ):
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
        used = usage[i : i + BATCH]
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
            for u in used
        ]
        await api.upsert("usage_records", _redacted(settings, rows))
        store.update_sync_job(job["id"], usage_done=used[-1]["id"])
    store.sync_job_pushed(job["id"], generation=srow["dirty"], now=now)
    return out
