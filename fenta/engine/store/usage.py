"""The store's part about spending: usage records, what providers said about themselves, and paid
provider tasks (tables `usage_records`, `provider_state`, `provider_tasks`). None holds a key."""

from __future__ import annotations

import json
import time
from typing import Any

from .base import Sql

__all__ = ["UsageQueries", "FINAL_TASK_STATES"]

#: A provider task in one of these states keeps it when a slower poller reports something else.
FINAL_TASK_STATES = ("succeeded", "failed")

_TASK_COLUMNS = (
    "key",
    "provider",
    "task_id",
    "job_id",
    "node_id",
    "status",
    "result",
    "created_at",
    "updated_at",
)


class UsageQueries(Sql):
    """Usage records, provider state and provider tasks."""

    # ------------------------------------------------------------------ usage records

    def record_usage(
        self,
        *,
        provider: str,
        model: str | None = None,
        units: str | None = None,
        quantity: float | None = None,
        cost: float | None = None,
        job_id: str | None = None,
        node_id: str | None = None,
        created_at: float | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO usage_records (job_id, node_id, provider, model, units, quantity, cost, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                node_id,
                provider,
                model,
                units,
                quantity,
                cost,
                created_at if created_at is not None else time.time(),
            ),
        )

    def usage_records(self, job_id: str, *, after_id: int = 0) -> list[dict[str, Any]]:
        """A job's usage records with an id above `after_id`, oldest first."""
        return self._all(
            "SELECT * FROM usage_records WHERE job_id = ? AND id > ? ORDER BY id", (job_id, after_id)
        )

    def has_usage(self, job_id: str | None, *, provider: str, units: str) -> bool:
        return (
            self._value(
                "SELECT 1 FROM usage_records WHERE job_id = ? AND provider = ? AND units = ?",
                (job_id, provider, units),
            )
            is not None
        )

    def job_cost(self, job_id: str) -> float:
        """What a job's provider calls cost so far (USD)."""
        return float(
            self._value("SELECT COALESCE(SUM(cost), 0) FROM usage_records WHERE job_id = ?", (job_id,)) or 0.0
        )

    def usage_total(
        self,
        *,
        since: float,
        until: float | None = None,
        provider: str | None = None,
        units: str | None = None,
        column: str = "quantity",
        job_id: str | None = None,
    ) -> float:
        """The sum of `column` ("quantity" or "cost") over the records from `since` (to `until`) of a
        provider and unit (None: any), and of one job (None: every job)."""
        if column not in ("quantity", "cost"):
            raise ValueError(f"usage_total sums quantity or cost, not {column!r}")
        where: list[str] = ["created_at >= ?"]
        args: list[Any] = [since]
        for name, value in (("provider", provider), ("units", units), ("job_id", job_id)):
            if value is not None:
                where.append(f"{name} = ?")
                args.append(value)
        if until is not None:
            where.append("created_at < ?")
            args.append(until)
        q = f"SELECT COALESCE(SUM({column}), 0) FROM usage_records WHERE {' AND '.join(where)}"
        return float(self._value(q, args) or 0.0)

    def usage_by_day(self, *, since: float) -> list[dict[str, Any]]:
        """Usage per UTC day, provider and unit since `since`, newest first."""
        return self._all(
            "SELECT date(created_at, 'unixepoch') AS day, provider, COALESCE(units, '') AS units, COUNT(*) "
            "AS calls,"
            " SUM(COALESCE(quantity, 0)) AS quantity, SUM(COALESCE(cost, 0)) AS cost FROM usage_records"
            " WHERE created_at >= ? GROUP BY day, provider, units ORDER BY day DESC, provider, units",
            (since,),
        )

    # ------------------------------------------------------------------ what providers said about themselves

    def set_provider_state(self, provider: str, values: dict[str, Any]) -> None:
        """Remember the latest values a provider reported (e.g. its remaining rate limit); None is skipped."""
        now = time.time()
        for k, v in values.items():
            if v is not None:
                self.conn.execute(
                    "INSERT OR REPLACE INTO provider_state (provider, key, value, updated_at) VALUES (?, ?, "
                    "?, ?)",
                    (provider, k, str(v), now),
                )

    def provider_state(self, provider: str | None = None) -> dict[str, dict[str, Any]]:
        """provider -> {key: value, 'updated_at': t} for what `set_provider_state` stored."""
        where, args = ("WHERE provider = ?", (provider,)) if provider else ("", ())
        out: dict[str, dict[str, Any]] = {}
        for r in self._all(f"SELECT provider, key, value, updated_at FROM provider_state {where}", args):
            d = out.setdefault(r["provider"], {})
            d[r["key"]] = r["value"]
            d["updated_at"] = max(d.get("updated_at", 0), r["updated_at"])
        return out

    # ------------------------------------------------------------------ provider tasks (paid, asynchronous)

    @staticmethod
    def _task(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is not None and isinstance(row.get("result"), str):
            row["result"] = json.loads(row["result"])
        return row

    def provider_task(self, key: str) -> dict[str, Any] | None:
        """The stored task for a request key (hash of provider + model + request), if any."""
        return self._task(self._first("SELECT * FROM provider_tasks WHERE key = ?", (key,)))

    def provider_task_by_id(self, provider: str, task_id: str) -> dict[str, Any] | None:
        return self._task(
            self._first(
                "SELECT * FROM provider_tasks WHERE provider = ? AND task_id = ? ORDER BY updated_at DESC "
                "LIMIT 1",
                (provider, task_id),
            )
        )

    def provider_tasks_of_job(self, job_id: str) -> list[dict[str, Any]]:
        """A job's provider tasks as stored (result as JSON text)."""
        return self._all("SELECT * FROM provider_tasks WHERE job_id = ?", (job_id,))

    def save_provider_task(
        self,
        *,
        key: str,
        provider: str,
        task_id: str,
        status: str,
        result: dict[str, Any] | None = None,
        job_id: str | None = None,
        node_id: str | None = None,
    ) -> None:
        """Record a just-submitted task (replacing a failed one under the same key); committed at once."""
        now = time.time()
        self.put_provider_task(
            {
                "key": key,
                "provider": provider,
                "task_id": task_id,
                "job_id": job_id,
                "node_id": node_id,
                "status": status,
                "result": result,
                "created_at": now,
                "updated_at": now,
            }
        )

    def put_provider_task(self, row: dict[str, Any]) -> None:
        """Write a task row as another store had it (the columns it has; a result dict is stored as JSON)."""
        cols = [c for c in _TASK_COLUMNS if c in row]
        values = [
            json.dumps(row[c]) if c == "result" and isinstance(row[c], (dict, list)) else row[c] for c in cols
        ]
        self.conn.execute(
            f"INSERT OR REPLACE INTO provider_tasks ({', '.join(cols)}) VALUES "
            f"({', '.join('?' for _ in cols)})",
            values,
        )

    def delete_provider_task(self, key: str) -> None:
        self.conn.execute("DELETE FROM provider_tasks WHERE key = ?", (key,))

    def set_provider_task(
        self, key: str, *, status: str | None, result: dict[str, Any] | None, keep_final: bool
    ) -> None:
        """Change a task's status and/or merge fields into its result (a read, then a write: call it
        inside a transaction; `JobStore.update_provider_task` does)."""
        row = self.conn.execute("SELECT status, result FROM provider_tasks WHERE key = ?", (key,)).fetchone()
        if row is None:
            return
        merged = {**(json.loads(row[1]) if row[1] else {}), **(result or {})}
        if keep_final and row[0] in FINAL_TASK_STATES:
            status = row[0]
        self.conn.execute(
            "UPDATE provider_tasks SET status = ?, result = ?, updated_at = ? WHERE key = ?",
            (status or row[0], json.dumps(merged), time.time(), key),
        )
