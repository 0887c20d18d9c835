"""The store's part about cron schedules (table `schedules`): a schedule only queues jobs.

What is due and when is `fenta.ops.schedules`' business; here are the rows. The last fire time moves
forward with a compare-and-set (`advance_schedule`), so two processes never queue one fire time twice,
and a schedule's job is written together with the schedule's `last_job_id` (`set_schedule_job` in the
transaction of `fenta.engine.queue.enqueue(tx=)`), so the busy rule always knows the previous job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..tables import Schema
from .base import Sql

__all__ = ["SCHEMA", "Schedule", "ScheduleQueries"]

SCHEMA = Schema(
    tables="""
    CREATE TABLE IF NOT EXISTS schedules (
        id TEXT PRIMARY KEY,
        workflow_file TEXT NOT NULL,
        cron TEXT NOT NULL,
        vars TEXT NOT NULL DEFAULT '{}',
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL
    )
    """,
    columns=(
        ("schedules", "tz", "TEXT NOT NULL DEFAULT 'UTC'"),
        ("schedules", "priority", "INTEGER NOT NULL DEFAULT 0"),
        ("schedules", "catchup", "TEXT NOT NULL DEFAULT 'latest'"),
        ("schedules", "out_dir", "TEXT"),
        ("schedules", "last_fire_at", "REAL"),  # the newest fire time handled (run or skipped)
        ("schedules", "last_job_id", "TEXT"),
        ("schedules", "last_error", "TEXT"),
        ("schedules", "updated_at", "REAL"),
        ("schedules", "policy", "TEXT"),  # JSON (fenta.policy.Policy.to_stored); NULL: the local user's
    ),
)


@dataclass(frozen=True)
class Schedule:
    """One row of `schedules`, its vars decoded (`id` is the schedule's name)."""

    id: str
    workflow_file: str
    cron: str
    vars: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    created_at: float = 0.0
    tz: str = "UTC"
    priority: int = 0
    catchup: str = "latest"
    out_dir: str | None = None
    last_fire_at: float | None = None
    last_job_id: str | None = None
    last_error: str | None = None
    updated_at: float | None = None
    #: The trust policy its jobs are loaded under, as stored (JSON text); None: the local user's.
    policy: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Schedule:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        text = values.get("vars")
        values["vars"] = json.loads(text) if isinstance(text, str) else dict(text or {})
        values["enabled"] = bool(values.get("enabled", 1))
        return cls(**values)

    @property
    def last(self) -> float:
        """The newest fire time handled (its creation time before the first)."""
        return self.last_fire_at if self.last_fire_at is not None else self.created_at

    def to_dict(self) -> dict[str, Any]:
        """The row as `fenta schedule list --json` shows it (vars decoded, enabled a bool)."""
        return asdict(self)


class ScheduleQueries(Sql):
    """Schedule rows."""

    def add_schedule(self, schedule: Schedule) -> bool:
        """Write a new schedule; False (nothing written) when one of that name exists."""
        row = schedule.to_dict()
        row["vars"] = json.dumps(schedule.vars, ensure_ascii=False)
        row["enabled"] = int(schedule.enabled)
        cur = self.conn.execute(
            f"INSERT INTO schedules ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
            " ON CONFLICT(id) DO NOTHING",
            list(row.values()),
        )
        return cur.rowcount > 0

    def schedules(self, *, enabled_only: bool = False) -> list[Schedule]:
        """Every schedule (or the enabled ones), by name."""
        where = "WHERE enabled = 1 " if enabled_only else ""
        return [Schedule.from_row(r) for r in self._all(f"SELECT * FROM schedules {where}ORDER BY id")]

    def schedule(self, name: str) -> Schedule | None:
        row = self._first("SELECT * FROM schedules WHERE id = ?", (name,))
        return Schedule.from_row(row) if row else None

    def pause_schedule(self, name: str, *, now: float) -> None:
        self.conn.execute("UPDATE schedules SET enabled = 0, updated_at = ? WHERE id = ?", (now, name))

    def resume_schedule(self, name: str, *, now: float) -> None:
        """Enable a paused schedule from `now` on (the paused time is not caught up)."""
        self.conn.execute(
            "UPDATE schedules SET enabled = 1, last_fire_at = ?, updated_at = ? WHERE id = ? AND enabled = 0",
            (now, now, name),
        )

    def delete_schedule(self, name: str) -> None:
        self.conn.execute("DELETE FROM schedules WHERE id = ?", (name,))

    def advance_schedule(self, name: str, *, last: float, to: float) -> bool:
        """Move an enabled schedule's last fire time from `last` to `to`; False when another process
        moved it first (or the schedule was paused): these fire times are not this caller's."""
        cur = self.conn.execute(
            "UPDATE schedules SET last_fire_at = ? WHERE id = ? AND enabled = 1"
            " AND COALESCE(last_fire_at, created_at) = ?",
            (to, name, last),
        )
        return cur.rowcount > 0

    def set_schedule_job(self, name: str, job_id: str) -> None:
        """The job a schedule queued last (its error cleared): write it with the job, in one transaction."""
        self.conn.execute(
            "UPDATE schedules SET last_job_id = ?, last_error = NULL WHERE id = ?", (job_id, name)
        )

    def set_schedule_error(self, name: str, error: str) -> None:
        """Why a schedule's last fire time queued nothing."""
        self.conn.execute("UPDATE schedules SET last_error = ? WHERE id = ?", (error, name))
