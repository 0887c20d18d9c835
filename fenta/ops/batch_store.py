"""Where batches live in fenta.db: the `batches` and `batch_rows` tables (fenta.ops adds them).

A batch row names its job once the job is queued (`job_id`, written in the transaction that writes the
job: a row never has a job it does not name); a row without one was not queued yet (the process was
killed while queueing) and is queued by `fenta batch resume`. The batch's own
`pid` and `host` say which process is running it, so a second process never runs it at once.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from ..engine.leases import HOST, pid_alive
from ..errors import BatchError
from ._db import ensure

__all__ = ["ensure_tables", "new_batch_id", "create_batch", "get_batch", "batch_rows", "set_job", "claim", "finish"]

_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS batches (
        id TEXT PRIMARY KEY,
        workflow_file TEXT NOT NULL,
        manifest TEXT NOT NULL,
        out_dir TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        rows INTEGER NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        pid INTEGER,
        host TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS batch_rows (
        batch_id TEXT NOT NULL REFERENCES batches(id),
        row_index INTEGER NOT NULL,
        name TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        vars TEXT NOT NULL DEFAULT '{}',
        job_id TEXT,
        PRIMARY KEY (batch_id, row_index)
    )""",
    "CREATE INDEX IF NOT EXISTS batch_rows_job ON batch_rows(job_id)",
]


def ensure_tables(store: Any) -> None:
    """Create the batch tables when missing (once per process and database)."""
    ensure(store, "batches", statements=_STATEMENTS, names={"batches", "batch_rows", "batch_rows_job"})


def new_batch_id() -> str:
    """A short, sortable, unique batch id (`b-` and the time, like a job id)."""
    return "b-" + time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


def create_batch(store: Any, *, batch_id: str, workflow_file: str, manifest: str, out_dir: str, options: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Write a batch (running, held by this process) and its rows (no jobs yet) in one transaction."""
    ensure_tables(store)
    now = time.time()
    with store.write() as conn:
        conn.execute(
            "INSERT INTO batches (id, workflow_file, manifest, out_dir, options, status, rows, created_at, started_at, pid, host) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (batch_id, workflow_file, manifest, out_dir, json.dumps(options), len(rows), now, now, os.getpid(), HOST),
        )
        conn.executemany(
            "INSERT INTO batch_rows (batch_id, row_index, name, priority, vars) VALUES (?, ?, ?, ?, ?)",
            [(batch_id, r["index"], r["name"], r["priority"], json.dumps(r["vars"], default=str, ensure_ascii=False)) for r in rows],
        )


def get_batch(store: Any, batch_id: str) -> dict[str, Any]:
    """A batch by id (a unique prefix is enough), its options decoded.

    Raises:
        BatchError: no such batch, or the prefix names several.
    """
    ensure_tables(store)
    found = list(store.db.query("SELECT * FROM batches WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 2", [len(batch_id), batch_id]))
    exact = [b for b in found if b["id"] == batch_id]
    if exact:
        found = exact
    if not found or not batch_id:
        raise BatchError(f"no batch with id '{batch_id}' (the id is printed when a batch starts, and in its report)")
    if len(found) > 1:
        raise BatchError(f"'{batch_id}' names more than one batch: give more of the id")
    batch = dict(found[0])
    batch["options"] = json.loads(batch["options"] or "{}")
    return batch


def batch_rows(store: Any, batch_id: str) -> list[dict[str, Any]]:
    """A batch's rows in order, each with its job's row (`job`, None while not queued)."""
    ensure_tables(store)
    rows = list(store.db.query("SELECT * FROM batch_rows WHERE batch_id = ? ORDER BY row_index", [batch_id]))
    jobs = {j.id: j.to_dict() for j in store.jobs_of_batch(batch_id)}
    for r in rows:
        r["vars"] = json.loads(r["vars"] or "{}")
        r["job"] = jobs.get(r["job_id"]) if r["job_id"] else None
    return rows


def set_job(tx: Any, batch_id: str, row_index: int, job_id: str) -> None:
    """Link a row to its job, in the open transaction that writes the job (`engine.queue.enqueue(tx=)`)."""
    tx.execute(
        "UPDATE batch_rows SET job_id = ? WHERE batch_id = ? AND row_index = ?", (job_id, batch_id, row_index)
    )


def is_live(batch: dict[str, Any]) -> bool:
    """Whether a live process (this machine's, or any on another host) runs the batch."""
    return batch["status"] == "running" and (batch["host"] != HOST or pid_alive(batch["pid"]))


def claim(store: Any, batch_id: str) -> dict[str, Any]:
    """Hold a batch for this process (`resume`): running, this pid and host.

    Raises:
        BatchError: another live process on this machine runs it.
    """
    ensure_tables(store)
    with store.write() as conn:
        batch = get_batch(store, batch_id)
        if batch["pid"] != os.getpid() and is_live(batch):
            raise BatchError(f"batch '{batch['id']}' is running in process {batch['pid']} on {batch['host']}")
        conn.execute("UPDATE batches SET status = 'running', pid = ?, host = ?, finished_at = NULL WHERE id = ?", (os.getpid(), HOST, batch["id"]))
    batch.update(status="running", pid=os.getpid(), host=HOST)
    return batch


def finish(store: Any, batch_id: str, status: str) -> None:
    """Let go of a batch: `finished` (every row has an outcome) or `stopped` (rows are left)."""
    store.db.conn.execute("UPDATE batches SET status = ?, finished_at = ?, pid = NULL, host = NULL WHERE id = ?", (status, time.time(), batch_id))
