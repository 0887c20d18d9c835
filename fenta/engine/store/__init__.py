"""The local job store: one SQLite file (WAL, busy timeout), and every SQL statement about fenta.db's
jobs and what runs around them.

    store = JobStore(settings.db_path)
    job = store.get_job(job_id)                    # a `Job` (frozen, decoded), or None
    with store.write() as tx:                      # BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an error)
        job = tx.job(job_id)                       # read ...
        tx.update_job(job.id, status="running")    # ... then write, nothing in between
        tx.append_events(job.id, [("job.started", {...})])

The store is split by concept, each part a set of statements on the shared connection: jobs
(`store.jobs`), node runs, the cache index, artifacts and scripts (`store.nodes`), the event log and
cursors (`store.events`), usage, provider state and provider tasks (`store.usage`), quota limits,
reservations and warnings (`store.quotas`), the stock clips already shown (`store.clips`); and for
what runs around jobs: webhook endpoints and the outbox (`store.webhooks`), schedules
(`store.schedules`), batches (`store.batches`), hosted sync's push list (`store.sync`), and the figures
`fenta serve` reports (`store.figures`). `JobStore` runs them in autocommit, `Tx` inside one
transaction. Which state may follow which is not the store's business but `fenta.engine.lifecycle`'s,
nor when a schedule fires, a webhook is retried or a quota refuses a job (`fenta.ops`'). Tables:
`fenta.engine.tables` and each concept's `SCHEMA`, all created or upgraded when a store opens. Nothing
here ever holds an API key (a webhook endpoint's signing secret lives in `webhook_endpoints` alone).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict

import sqlite_utils

from ...database import open_database
from .. import tables
from ..records import Event
from . import batches, schedules, sync, webhooks
from .batches import BatchQueries
from .clips import ClipQueries
from .events import EventQueries
from .figures import FigureQueries
from .jobs import NO_BATCH, JobQueries
from .nodes import NodeQueries
from .quotas import QuotaQueries
from .schedules import ScheduleQueries
from .sync import SyncQueries
from .usage import UsageQueries
from .webhooks import WebhookQueries

__all__ = ["JobStore", "Tx", "RemoteRecords", "NO_BATCH", "new_job_id"]


def new_job_id() -> str:
    """A short, sortable, unique job id."""
    return time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


class RemoteRecords(TypedDict, total=False):
    """What a job's attempt recorded in another store (a Dask worker's scratch store), to be written
    into this one: rows as that store had them."""

    usage: list[dict[str, Any]]
    provider_tasks: list[dict[str, Any]]
    node_runs: list[dict[str, Any]]
    scripts: list[dict[str, Any]]
    clips: list[dict[str, Any]]
    events: list[dict[str, Any]]  # id, type, data (JSON text), created_at


#: The tables the store creates or upgrades when it opens: the job core's, then each concept's.
_SCHEMAS = (tables.SCHEMA, webhooks.SCHEMA, schedules.SCHEMA, batches.SCHEMA, sync.SCHEMA)


def _ensure_schema(conn: sqlite3.Connection) -> None:
    tables.ensure_schema(conn, _SCHEMAS)


class _Queries(
    JobQueries,
    NodeQueries,
    EventQueries,
    UsageQueries,
    QuotaQueries,
    ClipQueries,
    WebhookQueries,
    ScheduleQueries,
    BatchQueries,
    SyncQueries,
    FigureQueries,
):
    """Every statement of the store, on `conn`."""

    def append_remote_event(self, job_id: str, type_: str, data: dict[str, Any]) -> Event:
        """Append an event a job's attempt sent from elsewhere, keeping the row's node and progress
        current while it runs."""
        if type_ == "node.started":
            self.set_current_node(job_id, data.get("node"), while_running=True)
        elif type_ == "job.progress" and data.get("progress") is not None:
            self.set_progress(job_id, float(data["progress"]), while_running=True)
        return self.append_event(type_, job_id, data)


class Tx(_Queries):
    """The store inside one `BEGIN IMMEDIATE` transaction (`JobStore.write()`): what is read here is
    still so when what is written commits."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """A statement on a table whose SQL is not the store's: `fenta serve`'s own tables."""
        return self.conn.execute(sql, args)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A step inside the transaction that is undone alone when it raises (the rest stays)."""
        self.conn.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            raise
        self.conn.execute("RELEASE step")


class JobStore(_Queries):
    """Jobs, node checkpoints, artifacts, the event log and usage in `fenta.db`.

    Args:
        path: The database file; its folder is created when missing.

    Attributes:
        db: The `sqlite_utils.Database` (for `fenta.ops.quotas`, whose SQL still lives there, and tests).

    Raises:
        PathError: the folder or the file cannot be created, opened or written (`FENTA_HOME`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db: sqlite_utils.Database = open_database(self.path, "the job store", ensure=_ensure_schema)
        self.conn = self.db.conn

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A `BEGIN IMMEDIATE` transaction, for read-then-write sequences: committed when the block
        ends, rolled back when it raises."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield Tx(self.conn)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[JobStore]:
        """Several reads that see fenta.db at one moment (a read transaction: in WAL mode writers go on
        meanwhile; what they commit shows after the block). Nothing is written inside it."""
        self.conn.execute("BEGIN")
        try:
            yield self
        finally:
            self.conn.execute("COMMIT")

    def update_provider_task(
        self,
        key: str,
        *,
        status: str | None = None,
        result: dict[str, Any] | None = None,
        keep_final: bool = False,
    ) -> None:
        """Change a task's status and/or merge fields into its result.

        With `keep_final`, a task already 'succeeded' or 'failed' keeps that status (a slower poller
        must not undo what a callback recorded in between).
        """
        with self.write() as tx:
            tx.set_provider_task(key, status=status, result=result, keep_final=keep_final)

    # ------------------------------------------------------------------ records of an attempt run elsewhere

    def export_records(self, job_id: str, event_types: Sequence[str]) -> RemoteRecords:
        """What this (scratch) store recorded for a job, for the store that owns the job."""
        return {
            "usage": [
                {k: r[k] for k in ("provider", "model", "units", "quantity", "cost", "node_id", "created_at")}
                for r in self.usage_records(job_id)
            ],
            "provider_tasks": self.provider_tasks_of_job(job_id),
            "node_runs": self.raw_node_runs(job_id),
            "scripts": self.scripts_of_job(job_id),
            "clips": self.clips_of_job(job_id),
            "events": self.raw_events(job_id, event_types),
        }

    def import_records(self, job_id: str, records: RemoteRecords) -> list[Event]:
        """Write what another store recorded for a job, in one transaction; the events appended."""
        with self.write() as tx:
            events = [
                tx.append_remote_event(job_id, ev["type"], _data(ev["data"]))
                for ev in records.get("events") or []
            ]
            for run in records.get("node_runs") or []:
                tx.put_node_run(job_id, run)
            for u in records.get("usage") or []:
                tx.record_usage(
                    provider=u["provider"],
                    model=u.get("model"),
                    units=u.get("units"),
                    quantity=u.get("quantity"),
                    cost=u.get("cost"),
                    job_id=job_id,
                    node_id=u.get("node_id"),
                    created_at=u["created_at"],
                )
            for sc in records.get("scripts") or []:
                tx.remember_script(
                    topic=sc["topic"],
                    title=sc.get("title"),
                    hook=sc.get("hook"),
                    job_id=job_id,
                    created_at=sc["created_at"],
                )
            picked: dict[tuple[str, str, str | None, float], list[str]] = {}
            for clip in records.get("clips") or []:  # one call per node: it replaces that node's rows
                group = (clip["workflow"], clip["provider"], clip.get("node_id"), clip["created_at"])
                picked.setdefault(group, []).append(clip["clip_id"])
            for (workflow, provider, node_id, at), ids in picked.items():
                tx.remember_clips(
                    workflow=workflow,
                    provider=provider,
                    clip_ids=ids,
                    job_id=job_id,
                    node_id=node_id,
                    created_at=at,
                )
            for task in records.get("provider_tasks") or []:
                tx.put_provider_task(task)
        return events


def _data(value: Any) -> dict[str, Any]:
    data = json.loads(value) if isinstance(value, str) else value
    return dict(data) if isinstance(data, dict) else {}
