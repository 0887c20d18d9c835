"""The store's part about batches (tables `batches`, `batch_rows`): one workflow over many rows.

A batch row names its job once the job is queued (`link_batch_row`, in the transaction that writes the
job: a row never has a job it does not name); a row without one was not queued yet. A batch's `pid`
and `host` say which process runs it (`hold_batch`: this one). What a batch does with its rows is
`fenta.ops.batch`'s business.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..leases import HOST
from ..tables import Schema
from .base import Sql

__all__ = ["SCHEMA", "BatchQueries"]

SCHEMA = Schema(
    tables="""
    CREATE TABLE IF NOT EXISTS batches (
        id TEXT PRIMARY KEY,
        workflow_file TEXT NOT NULL,
        manifest TEXT NOT NULL,
        out_dir TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,            -- running | finished | stopped
        rows INTEGER NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        pid INTEGER,
        host TEXT
    );
    CREATE TABLE IF NOT EXISTS batch_rows (
        batch_id TEXT NOT NULL REFERENCES batches(id),
        row_index INTEGER NOT NULL,
        name TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        vars TEXT NOT NULL DEFAULT '{}',
        job_id TEXT,
        PRIMARY KEY (batch_id, row_index)
    )
    """,
    indexes="CREATE INDEX IF NOT EXISTS batch_rows_job ON batch_rows(job_id)",
)


def _batch(row: dict[str, Any]) -> dict[str, Any]:
    row["options"] = json.loads(row["options"] or "{}")
    return row


class BatchQueries(Sql):
    """Batches and their rows (dicts, their JSON decoded: what `fenta batch status --json` shows)."""

    def create_batch(
        self,
        *,
        batch_id: str,
        workflow_file: str,
        manifest: str,
        out_dir: str,
        options: dict[str, Any],
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        """Write a batch (running, held by this process) and its rows (index, name, priority, vars; no
        jobs yet): call it inside a transaction, so both or neither are written."""
        now = time.time()
        self.conn.execute(
            "INSERT INTO batches (id, workflow_file, manifest, out_dir, options, status, rows, created_at,"
            " started_at, pid, host) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (
                batch_id,
                workflow_file,
                manifest,
                out_dir,
                json.dumps(options),
                len(rows),
                now,
                now,
                os.getpid(),
                HOST,
            ),
        )
        self.conn.executemany(
            "INSERT INTO batch_rows (batch_id, row_index, name, priority, vars) VALUES (?, ?, ?, ?, ?)",
            [
                (
                    batch_id,
                    r["index"],
                    r["name"],
                    r["priority"],
                    json.dumps(r["vars"], default=str, ensure_ascii=False),
                )
                for r in rows
            ],
        )

    def batches_starting(self, prefix: str) -> list[dict[str, Any]]:
        """At most two batches whose id starts with `prefix` (by id)."""
        rows = self._all(
            "SELECT * FROM batches WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 2", (len(prefix), prefix)
        )
        return [_batch(r) for r in rows]

    def latest_batch_id(self) -> str | None:
        """The newest batch's id."""
        value = self._value("SELECT id FROM batches ORDER BY created_at DESC, id DESC LIMIT 1")
        return str(value) if value is not None else None

    def batch_holders(self, *, running_only: bool = False) -> list[dict[str, Any]]:
        """Every batch's (or every running one's) id, status, pid and host."""
        only = " WHERE status = 'running'" if running_only else ""
        return self._all(f"SELECT id, status, pid, host FROM batches{only}")

    def batch_rows(self, batch_id: str) -> list[dict[str, Any]]:
        """A batch's rows in order (vars decoded; `job_id` None while not queued)."""
        rows = self._all("SELECT * FROM batch_rows WHERE batch_id = ? ORDER BY row_index", (batch_id,))
        for r in rows:
            r["vars"] = json.loads(r["vars"] or "{}")
        return rows

    def link_batch_row(self, batch_id: str, row_index: int, job_id: str) -> None:
        """Name a row's job (in the transaction that writes the job: `fenta.engine.queue.enqueue(tx=)`)."""
        self.conn.execute(
            "UPDATE batch_rows SET job_id = ? WHERE batch_id = ? AND row_index = ?",
            (job_id, batch_id, row_index),
        )

    def hold_batch(self, batch_id: str) -> None:
        """Mark a batch running in this process (`fenta batch resume`)."""
        self.conn.execute(
            "UPDATE batches SET status = 'running', pid = ?, host = ?, finished_at = NULL WHERE id = ?",
            (os.getpid(), HOST, batch_id),
        )

    def release_batch(self, batch_id: str, status: str) -> None:
        """Let go of a batch: `finished` (every row has an outcome) or `stopped` (rows are left)."""
        self.conn.execute(
            "UPDATE batches SET status = ?, finished_at = ?, pid = NULL, host = NULL WHERE id = ?",
            (status, time.time(), batch_id),
        )

    def set_batch_options(self, batch_id: str, options: dict[str, Any]) -> None:
        self.conn.execute("UPDATE batches SET options = ? WHERE id = ?", (json.dumps(options), batch_id))
