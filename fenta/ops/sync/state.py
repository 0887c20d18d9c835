"""What hosted sync remembers in fenta.db: which jobs to push, how far each got, the last push and error.

    sync_jobs   one row per job to push: its hosted id, `dirty` (a generation number: new events bump
                it, a push that saw generation g clears it only if it is still g), the last event and
                usage record pushed, the files uploaded (object name -> size), TUS uploads in flight, the
                signed video URL, the last error
    sync_meta   last_push_at, last_error, last_error_at

The event log drives it (`collect`, cursor "sync"): a job's events mark it dirty; the push reads the
job's row, events and usage from the store, so an event missed by the cursor is never lost.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ...config import Settings

__all__ = ["CURSOR", "ensure_tables", "collect", "mark", "mark_job", "release", "released", "dirty_jobs", "get", "meta", "set_meta", "signed_video_url", "hosted_video", "wanted"]

#: The event-log cursor this reader keeps.
CURSOR = "sync"

_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS sync_jobs (
        job_id TEXT PRIMARY KEY,            -- the local job
        remote_id TEXT NOT NULL,            -- the hosted row's id
        hosted INTEGER NOT NULL DEFAULT 0,  -- 1: claimed from the hosted queue (worker --hosted); -1: no longer ours
        dirty INTEGER NOT NULL DEFAULT 1,   -- 0: pushed; else a generation bumped by every new event
        events_done INTEGER NOT NULL DEFAULT 0,
        usage_done INTEGER NOT NULL DEFAULT 0,
        files TEXT NOT NULL DEFAULT '{}',   -- Storage object name -> size uploaded
        uploads TEXT NOT NULL DEFAULT '{}', -- name -> TUS upload URL (resumed by any process)
        video_url TEXT,                     -- signed Storage URL of the video
        row_pushed_at REAL,
        pushed_at REAL,
        last_error TEXT,
        last_error_at REAL,
        claim TEXT                          -- hosted: the claim token its row must still carry
    )""",
    "CREATE TABLE IF NOT EXISTS sync_meta (key TEXT PRIMARY KEY, value TEXT)",
]
_NAMES = ["sync_jobs", "sync_meta"]
#: Columns added after the first release: the hosted worker's claim token of a hosted job (its row is
#: changed only while that claim holds).
_COLUMNS = [("sync_jobs", "claim", "TEXT")]


def ensure_tables(store: Any) -> None:
    """Create the sync tables when missing (idempotent)."""
    from .._db import ensure

    ensure(store, "sync", statements=_STATEMENTS, names=_NAMES)
    ensure(store, "sync-columns", columns=_COLUMNS)  # fenta.db files made before these columns


def _document_says(tx: Any, job_id: str) -> bool:
    job = tx.job(job_id)
    return job is not None and job.document.get("sync") is True


def wanted(conn: Any, settings: Settings, job_id: str) -> bool:
    """Whether a job is pushed: FENTA_SYNC=1, `sync: true` in its workflow (or `fenta run --sync`), or marked."""
    if settings.sync:
        return True
    if conn.execute("SELECT 1 FROM sync_jobs WHERE job_id = ?", (job_id,)).fetchone():
        return True
    return _document_says(conn, job_id)


def mark(conn: Any, job_id: str, *, remote_id: str | None = None, hosted: bool = False, claim: str | None = None) -> None:
    """Put a job on the push list (or bump its generation); `remote_id` maps it to a hosted row, which
    `claim` (a hosted worker's token) then holds."""
    conn.execute(
        "INSERT INTO sync_jobs (job_id, remote_id, hosted, dirty, claim) VALUES (?, ?, ?, 1, ?) "
        "ON CONFLICT(job_id) DO UPDATE SET dirty = sync_jobs.dirty + 1"
        + (", remote_id = excluded.remote_id, hosted = excluded.hosted, claim = excluded.claim" if remote_id else ""),
        (job_id, remote_id or job_id, int(hosted), claim),
    )


def mark_job(store: Any, job_id: str, *, remote_id: str | None = None, hosted: bool = False, claim: str | None = None) -> None:
    """`mark` in a transaction of its own (creating the tables when missing)."""
    ensure_tables(store)
    with store.write() as conn:
        mark(conn, job_id, remote_id=remote_id, hosted=hosted, claim=claim)


def release(store: Any, job_id: str) -> None:
    """A hosted job this worker no longer holds (cancelled there, or taken over): never push it again."""
    store.db.conn.execute("UPDATE sync_jobs SET hosted = -1, dirty = 0 WHERE job_id = ?", (job_id,))


def released(store: Any, job_id: str) -> bool:
    row = store.db.conn.execute("SELECT hosted FROM sync_jobs WHERE job_id = ?", (job_id,)).fetchone()
    return bool(row and row[0] == -1)


def collect(store: Any, settings: Settings, *, batch: int = 1000) -> int:
    """Read new events from the cursor; mark their jobs dirty when they are pushed. Returns the events read.

    The cursor moves in the same transaction as the marks, so a crash marks nothing twice and loses nothing.
    """
    from ...engine.events import get_cursor, read_events, set_cursor

    ensure_tables(store)
    seen = 0
    while True:
        with store.write() as conn:
            events = read_events(store, since_id=get_cursor(store, CURSOR), limit=batch)
            decided: dict[str, bool] = {}
            for ev in events:
                if ev.job_id is None:
                    continue
                if ev.job_id not in decided:
                    decided[ev.job_id] = wanted(conn, settings, ev.job_id)
                    if decided[ev.job_id]:
                        mark(conn, ev.job_id)
            if events:
                set_cursor(store, CURSOR, events[-1].id)
        seen += len(events)
        if len(events) < batch:
            return seen


def dirty_jobs(store: Any, job_id: str | None = None) -> list[dict[str, Any]]:
    """Jobs with something to push (oldest first), or the one job asked for (pushed again even if clean)."""
    ensure_tables(store)
    if job_id is not None:
        return [dict(r) for r in store.db.query("SELECT * FROM sync_jobs WHERE job_id = ?", [job_id])]
    # Usage rows the usage reader adds after job.completed come with no event: they count as pending too.
    return [dict(r) for r in store.db.query(
        "SELECT s.* FROM sync_jobs s LEFT JOIN jobs j ON j.id = s.job_id WHERE s.hosted != -1 AND (s.dirty > 0 OR EXISTS "
        "(SELECT 1 FROM usage_records u WHERE u.job_id = s.job_id AND u.id > s.usage_done)) ORDER BY j.created_at, s.job_id")]


def get(store: Any, job_id: str) -> dict[str, Any] | None:
    ensure_tables(store)
    rows = list(store.db.query("SELECT * FROM sync_jobs WHERE job_id = ?", [job_id]))
    return dict(rows[0]) if rows else None


def meta(store: Any) -> dict[str, str]:
    ensure_tables(store)
    return {r["key"]: r["value"] for r in store.db.query("SELECT key, value FROM sync_meta")}


def set_meta(store: Any, **values: Any) -> None:
    ensure_tables(store)
    for k, v in values.items():
        store.db.conn.execute("INSERT INTO sync_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (k, None if v is None else str(v)))


def hosted_video(store: Any, job_id: str) -> tuple[bool, str | None]:
    """(whether the job is pushed to the hosted project, its video's signed URL once uploaded)."""
    try:
        row = store.db.conn.execute("SELECT hosted, video_url FROM sync_jobs WHERE job_id = ?", (job_id,)).fetchone()
    except sqlite3.OperationalError:  # sync was never used here
        return False, None
    if not row or row[0] == -1:
        return False, None
    return True, row[1] or None


def signed_video_url(store: Any, job_id: str | None) -> str | None:
    """The signed Storage URL of a synced job's video (None when the job is not synced or not uploaded yet)."""
    if not job_id:
        return None
    try:  # read-only, inside the caller's transaction (the webhook outbox): no table means never synced
        row = store.db.conn.execute("SELECT video_url FROM sync_jobs WHERE job_id = ?", (job_id,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row and row[0] else None
