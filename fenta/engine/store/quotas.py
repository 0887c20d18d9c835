"""The store's part about quotas: the limits, what claimed jobs hold of them, and the warnings already
sent (tables `quota_limits`, `quota_reservations`, `quota_warnings`).

What counts against a limit, the periods and the estimates are the rules of `fenta.ops.quotas`; these
are its statements. A reservation is written in the transaction that claims its job (the claim's
admission hook), and removed in the one that ends the job without using it (`fenta.engine.lifecycle`)
or in the one that records what the job used (`fenta.ops.quotas.track`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..records import Job
from .base import Sql

__all__ = ["QuotaQueries"]


class QuotaQueries(Sql):
    """Quota limits, reservations and warnings."""

    # ------------------------------------------------------------------ limits

    def quota_limits(self) -> dict[str, tuple[str, float]]:
        """resource -> (period, limit)."""
        rows = self.conn.execute("SELECT resource, period, max_value FROM quota_limits ORDER BY resource")
        return {r[0]: (r[1], float(r[2])) for r in rows}

    def set_quota_limit(self, resource: str, period: str, limit: float) -> None:
        """Set (or replace) a resource's limit per period."""
        self.conn.execute(
            "INSERT OR REPLACE INTO quota_limits (resource, period, max_value) VALUES (?, ?, ?)",
            (resource, period, limit),
        )

    def remove_quota_limit(self, resource: str) -> bool:
        """Remove a resource's limit; False when it had none."""
        return self.conn.execute("DELETE FROM quota_limits WHERE resource = ?", (resource,)).rowcount > 0

    # ------------------------------------------------------------------ reservations

    def reserve_quota(self, job_id: str, amounts: Mapping[str, float]) -> None:
        """What a job about to run holds of each resource (replacing what it held before: a job claimed
        again after its claimer died holds one reservation, not two)."""
        self.release_quota(job_id)
        now = time.time()
        self.conn.executemany(
            "INSERT INTO quota_reservations (job_id, resource, amount, created_at) VALUES (?, ?, ?, ?)",
            [(job_id, resource, float(amount), now) for resource, amount in amounts.items()],
        )

    def release_quota(self, job_id: str) -> int:
        """Drop what a job held; the rows dropped."""
        return self.conn.execute("DELETE FROM quota_reservations WHERE job_id = ?", (job_id,)).rowcount

    def quota_reservation(self, job_id: str) -> dict[str, float]:
        """resource -> what one job holds now (empty: nothing)."""
        rows = self.conn.execute(
            "SELECT resource, amount FROM quota_reservations WHERE job_id = ? ORDER BY resource", (job_id,)
        )
        return {r[0]: float(r[1]) for r in rows}

    def quota_holds(self, resource: str, *, exclude: str | None = None) -> list[tuple[Job, float]]:
        """(job, amount) of every reservation of `resource` whose job still exists, but `exclude`'s.
        Whether one still holds (its job's lease is live, or it completed and its use is not recorded
        yet) is the rules' question."""
        rows = self._all(
            "SELECT j.*, r.amount AS reserved_amount FROM quota_reservations r JOIN jobs j ON j.id = r.job_id"
            " WHERE r.resource = ? AND r.job_id != ? ORDER BY r.created_at",
            (resource, exclude or ""),
        )
        return [(Job.from_row(r), float(r["reserved_amount"])) for r in rows]

    # ------------------------------------------------------------------ warnings

    def quota_warned(self, resource: str, period_start: float) -> set[int]:
        """The thresholds (percent) already warned about for a resource in the period starting then."""
        rows = self.conn.execute(
            "SELECT threshold FROM quota_warnings WHERE resource = ? AND period_start = ?",
            (resource, period_start),
        )
        return {int(r[0]) for r in rows}

    def record_quota_warning(
        self, resource: str, period_start: float, threshold: int, event_id: int, created_at: float
    ) -> None:
        """Remember that a threshold was warned about (by event `event_id`) in that period."""
        self.conn.execute(
            "INSERT OR IGNORE INTO quota_warnings (resource, period_start, threshold, event_id, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (resource, period_start, threshold, event_id, created_at),
        )
