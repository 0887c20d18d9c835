"""The store's part about the figures `fenta serve`'s /metrics reports at scrape time: jobs by state,
the oldest queued job, run times of jobs and nodes as histogram buckets, webhook deliveries by status
and what providers cost. Reads only."""

from __future__ import annotations

from typing import Any

from .base import Sql

__all__ = ["FigureQueries"]


def _histogram(rows: Any, labels: int) -> list[dict[str, Any]]:
    """Rows of (labels..., one count per bucket..., count, sum) as histogram points."""
    return [
        {
            "labels": tuple(r[:labels]),
            "buckets": [int(v or 0) for v in r[labels:-2]],
            "count": int(r[-2]),
            "sum": float(r[-1] or 0),
        }
        for r in rows
    ]


class FigureQueries(Sql):
    """Counts and sums over jobs, node runs, the outbox and usage records."""

    def job_states(self) -> dict[str, int]:
        """state -> jobs in it (states no job is in are missing)."""
        return {
            r[0]: int(r[1]) for r in self.conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        }

    def oldest_queued(self) -> float | None:
        """When the oldest queued job was created (None: nothing is queued)."""
        value = self._value("SELECT MIN(created_at) FROM jobs WHERE status = 'queued'")
        return float(value) if value is not None else None

    def job_durations(self, buckets: tuple[float, ...]) -> list[dict[str, Any]]:
        """Per outcome: how many finished jobs took at most each bucket's seconds, the count and the sum."""
        le = ", ".join(f"SUM(finished_at - started_at <= {float(b)!r})" for b in buckets)
        q = (
            f"SELECT status, {le}, COUNT(*), SUM(finished_at - started_at) FROM jobs "
            "WHERE status IN ('completed', 'dead', 'cancelled') AND started_at IS NOT NULL AND finished_at "
            "IS NOT NULL GROUP BY status"
        )
        return _histogram(self.conn.execute(q), 1)

    def node_durations(self, buckets: tuple[float, ...]) -> list[dict[str, Any]]:
        """The same per node type and outcome, from every node run that finished."""
        le = ", ".join(f"SUM(seconds <= {float(b)!r})" for b in buckets)
        q = (
            f"SELECT node_type, status, {le}, COUNT(*), SUM(seconds) FROM node_runs "
            "WHERE seconds IS NOT NULL GROUP BY node_type, status"
        )
        return _histogram(self.conn.execute(q), 2)

    def delivery_states(self) -> dict[str, int]:
        """status -> webhook deliveries in it."""
        rows = self.conn.execute("SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

    def provider_usage(self) -> list[tuple[str, int, float]]:
        """(provider, calls, cost in USD) over every usage record of a provider (not fenta's own rows)."""
        q = (
            "SELECT provider, COUNT(*), COALESCE(SUM(cost), 0) FROM usage_records "
            "WHERE provider != 'fenta' GROUP BY provider"
        )
        return [(r[0], int(r[1]), float(r[2])) for r in self.conn.execute(q)]
