"""The store's part about the event log and its readers' cursors (tables `events`, `cursors`).

An event is appended in the same transaction as the change it reports (`Tx.append_events`), so the
log never says what did not happen, nor misses what did.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..clock import now_iso
from ..records import Event
from .base import Sql, dumps

__all__ = ["EventQueries"]


class EventQueries(Sql):
    """Appending to and reading the event log; readers' cursors."""

    def append_event(self, type: str, job_id: str | None, data: dict[str, Any]) -> Event:
        """Append one event (inside the caller's transaction, when there is one)."""
        at = now_iso()
        cur = self.conn.execute(
            "INSERT INTO events (job_id, type, data, created_at) VALUES (?, ?, ?, ?)",
            (job_id, type, dumps(data), at),
        )
        return Event(int(cur.lastrowid or 0), type, job_id, data, at)

    def append_events(self, job_id: str | None, events: Iterable[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Append (type, data) events of one job, in order."""
        return [self.append_event(type_, job_id, data) for type_, data in events]

    def read_events(
        self,
        *,
        since_id: int = 0,
        job_id: str | None = None,
        types: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[Event]:
        """Events with an id above `since_id`, oldest first: only `job_id`'s, only `types`, at most
        `limit`."""
        where: list[str] = ["id > ?"]
        args: list[Any] = [int(since_id)]
        if job_id is not None:
            where.append("job_id = ?")
            args.append(job_id)
        wanted = list(types or [])
        if wanted:
            where.append(f"type IN ({', '.join('?' for _ in wanted)})")
            args += wanted
        q = (
            f"SELECT id, job_id, type, data, created_at FROM events WHERE {' AND '.join(where)}"
            " ORDER BY id LIMIT ?"
        )
        return [
            Event(r[0], r[2], r[1], json.loads(r[3]), r[4]) for r in self.conn.execute(q, [*args, int(limit)])
        ]

    def raw_events(self, job_id: str, types: Iterable[str]) -> list[dict[str, Any]]:
        """A job's events of `types` as stored (id, type, data as JSON text, created_at), oldest first."""
        wanted = list(types)
        return self._all(
            "SELECT id, type, data, created_at FROM events WHERE job_id = ? AND type IN "
            f"({', '.join('?' for _ in wanted)})"
            " ORDER BY id",
            (job_id, *wanted),
        )

    def last_event_id(self, job_id: str | None = None) -> int:
        """The newest event's id (of one job's, when given; 0 when there is none)."""
        if job_id is None:
            return int(self._value("SELECT MAX(id) FROM events") or 0)
        return int(self._value("SELECT MAX(id) FROM events WHERE job_id = ?", (job_id,)) or 0)

    def event_counts(self, types: Iterable[str]) -> dict[str, int]:
        """type -> how many events of it the log holds, for each of `types`."""
        wanted = list(types)
        q = f"SELECT type, COUNT(*) FROM events WHERE type IN ({', '.join('?' * len(wanted))}) GROUP BY type"
        return {t: 0 for t in wanted} | {r[0]: int(r[1]) for r in self.conn.execute(q, wanted)}

    def cursor(self, name: str) -> int:
        """The last event id the reader `name` has handled (0 when it never ran)."""
        return int(self._value("SELECT event_id FROM cursors WHERE name = ?", (name,)) or 0)

    def set_cursor(self, name: str, event_id: int) -> None:
        """Record that the reader `name` has handled every event up to `event_id`."""
        self.conn.execute(
            "INSERT INTO cursors (name, event_id, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET event_id = excluded.event_id, updated_at = excluded.updated_at",
            (name, int(event_id), now_iso()),
        )
