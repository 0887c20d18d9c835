"""What hosted sync remembers in fenta.db: which jobs to push, how far each got, the last push and error
(the rows are the store's: `fenta.engine.store.sync`).

The event log drives it (`collect`, cursor "sync"): a job's events mark it dirty; the push reads the
job's row, events and usage from the store, so an event missed by the cursor is never lost.
"""

from __future__ import annotations

from typing import Any

from ...config import Settings

__all__ = [
    "CURSOR",
    "collect",
    "mark",
    "mark_job",
    "release",
    "released",
    "dirty_jobs",
    "get",
    "meta",
    "set_meta",
    "signed_video_url",
    "hosted_video",
    "wanted",
]

#: The event-log cursor this reader keeps.
CURSOR = "sync"


def _document_says(tx: Any, job_id: str) -> bool:
    job = tx.job(job_id)
    return job is not None and job.document.get("sync") is True


def wanted(tx: Any, settings: Settings, job_id: str) -> bool:
    """Whether a job is pushed: FENTA_SYNC=1, `sync: true` in its workflow (or `fenta run --sync`), or
    marked."""
    if settings.sync:
        return True
    if tx.sync_job(job_id) is not None:
        return True
    return _document_says(tx, job_id)


def mark(
    tx: Any, job_id: str, *, remote_id: str | None = None, hosted: bool = False, claim: str | None = None
) -> None:
    """Put a job on the push list (or bump its generation); `remote_id` maps it to a hosted row, which
    `claim` (a hosted worker's token) then holds."""
    tx.mark_sync_job(job_id, remote_id=remote_id, hosted=hosted, claim=claim)


def mark_job(
    store: Any, job_id: str, *, remote_id: str | None = None, hosted: bool = False, claim: str | None = None
) -> None:
    """`mark` in a transaction of its own."""
    with store.write() as tx:
        mark(tx, job_id, remote_id=remote_id, hosted=hosted, claim=claim)


def release(store: Any, job_id: str) -> None:
    """A hosted job this worker no longer holds (cancelled there, or taken over): never push it again."""
    store.release_sync_job(job_id)


def released(store: Any, job_id: str) -> bool:
    row = store.sync_job(job_id)
    return bool(row and row["hosted"] == -1)


def collect(store: Any, settings: Settings, *, batch: int = 1000) -> int:
    """Read new events from the cursor; mark their jobs dirty when they are pushed. Returns the events
    read.

    The cursor moves in the same transaction as the marks, so a crash marks nothing twice and loses
    nothing.
    """
    seen = 0
    while True:
        with store.write() as tx:
            events = tx.read_events(since_id=tx.cursor(CURSOR), limit=batch)
            decided: dict[str, bool] = {}
            for ev in events:
                if ev.job_id is None:
                    continue
                if ev.job_id not in decided:
                    decided[ev.job_id] = wanted(tx, settings, ev.job_id)
                    if decided[ev.job_id]:
                        mark(tx, ev.job_id)
            if events:
                tx.set_cursor(CURSOR, events[-1].id)
        seen += len(events)
        if len(events) < batch:
            return seen


def dirty_jobs(store: Any, job_id: str | None = None) -> list[dict[str, Any]]:
    """Jobs with something to push (oldest first), or the one job asked for (pushed again even if
    clean)."""
    if job_id is not None:
        row = store.sync_job(job_id)
        return [row] if row is not None else []
    return list(store.dirty_sync_jobs())


def get(store: Any, job_id: str) -> dict[str, Any] | None:
    return store.sync_job(job_id)


def meta(store: Any) -> dict[str, str]:
    return dict(store.sync_meta())


def set_meta(store: Any, **values: Any) -> None:
    for k, v in values.items():
        store.set_sync_meta(k, None if v is None else str(v))


def hosted_video(store: Any, job_id: str) -> tuple[bool, str | None]:
    """(whether the job is pushed to the hosted project, its video's signed URL once uploaded)."""
    row = store.sync_job(job_id)
    if not row or row["hosted"] == -1:
        return False, None
    return True, row["video_url"] or None


def signed_video_url(store: Any, job_id: str | None) -> str | None:
    """The signed Storage URL of a synced job's video (None when the job is not synced or not uploaded
    yet)."""
    row = store.sync_job(job_id) if job_id else None
    return row["video_url"] if row and row["video_url"] else None
