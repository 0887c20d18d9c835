"""A batch's record in fenta.db, as fenta.ops reads it: the batch, its rows and their jobs (the rows
are the store's: `fenta.engine.store.batches`).

A batch row names its job once the job is queued (`job_id`, written in the transaction that writes the
job: a row never has a job it does not name); a row without one was not queued yet (the process was
killed while queueing) and is queued by `fenta batch resume`. The batch's own
`pid` and `host` say which process is running it, so a second process never runs it at once.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from ..engine.leases import HOST, pid_alive
from ..errors import BatchError

__all__ = [
    "new_batch_id",
    "create_batch",
    "get_batch",
    "batch_rows",
    "set_job",
    "is_live",
    "claim",
    "finish",
    "live_batches",
    "unheld_batches",
]


def new_batch_id() -> str:
    """A short, sortable, unique batch id (`b-` and the time, like a job id)."""
    return "b-" + time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


def create_batch(
    store: Any,
    *,
    batch_id: str,
    workflow_file: str,
    manifest: str,
    out_dir: str,
    options: dict[str, Any],
    rows: list[dict[str, Any]],
) -> None:
    """Write a batch (running, held by this process) and its rows (no jobs yet) in one transaction."""
    with store.write() as tx:
        tx.create_batch(
            batch_id=batch_id,
            workflow_file=workflow_file,
            manifest=manifest,
            out_dir=out_dir,
            options=options,
            rows=rows,
        )


def get_batch(store: Any, batch_id: str) -> dict[str, Any]:
    """A batch by id (a unique prefix is enough), its options decoded.

    Raises:
        BatchError: no such batch, or the prefix names several.
    """
    found = store.batches_starting(batch_id)
    exact = [b for b in found if b["id"] == batch_id]
    if exact:
        found = exact
    if not found or not batch_id:
        raise BatchError(
            f"no batch with id '{batch_id}' (the id is printed when a batch starts, and in its report)"
        )
    if len(found) > 1:
        raise BatchError(f"'{batch_id}' names more than one batch: give more of the id")
    return dict(found[0])


def batch_rows(store: Any, batch_id: str) -> list[dict[str, Any]]:
    """A batch's rows in order, each with its job's row (`job`, None while not queued)."""
    rows = store.batch_rows(batch_id)
    jobs = {j.id: j.to_dict() for j in store.jobs_of_batch(batch_id)}
    for r in rows:
        r["job"] = jobs.get(r["job_id"]) if r["job_id"] else None
    return rows


def set_job(tx: Any, batch_id: str, row_index: int, job_id: str) -> None:
    """Link a row to its job, in the open transaction that writes the job (`engine.queue.enqueue(tx=)`)."""
    tx.link_batch_row(batch_id, row_index, job_id)


def is_live(batch: dict[str, Any]) -> bool:
    """Whether a live process (this machine's, or any on another host) runs the batch."""
    return batch["status"] == "running" and (batch["host"] != HOST or pid_alive(batch["pid"]))


def claim(store: Any, batch_id: str) -> dict[str, Any]:
    """Hold a batch for this process (`resume`): running, this pid and host.

    Raises:
        BatchError: another live process on this machine runs it.
    """
    with store.write() as tx:
        batch = get_batch(tx, batch_id)
        if batch["pid"] != os.getpid() and is_live(batch):
            raise BatchError(f"batch '{batch['id']}' is running in process {batch['pid']} on {batch['host']}")
        tx.hold_batch(batch["id"])
    batch.update(status="running", pid=os.getpid(), host=HOST)
    return batch


def finish(store: Any, batch_id: str, status: str) -> None:
    """Let go of a batch: `finished` (every row has an outcome) or `stopped` (rows are left)."""
    store.release_batch(batch_id, status)


def live_batches(store: Any) -> set[str]:
    """The batches a live process runs now."""
    return {b["id"] for b in store.batch_holders(running_only=True) if is_live(b)}


def unheld_batches(store: Any) -> set[str]:
    """The batches no live process runs."""
    return {b["id"] for b in store.batch_holders() if not is_live(b)}
