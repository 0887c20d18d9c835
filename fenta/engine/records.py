"""The values the job store reads and writes: a job's state, the job itself, an event of the log.

A job row is decoded here once (its workflow document, vars and options from JSON, its state as a
`JobState`), into a frozen `Job`; every layer above reads jobs as `Job` values, and `Job.to_dict()`
is the row as `fenta.jobs` shows it to users.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

__all__ = ["JobState", "STATES", "Job", "Event"]


class JobState(str, Enum):
    """Where a job stands (see `fenta.engine.lifecycle` for the changes allowed between them).

    A `str` (so it compares with and serialises as its text: `JobState.QUEUED == "queued"`), not an
    `enum.StrEnum`, which Python 3.10 lacks.
    """

    QUEUED = "queued"
    RUNNING = "running"
    FAILED = "failed"  # a retry is due at `next_attempt_at`, or (without one) it waits for a person
    COMPLETED = "completed"
    DEAD = "dead"  # not retryable, or out of retries: `fenta jobs retry` re-queues it
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended (nothing runs it again unless a person asks)."""
        return self in (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)


#: Every state's text, in the order of `JobState`.
STATES: tuple[str, ...] = tuple(s.value for s in JobState)

_JSON_FIELDS = ("document", "vars", "options")


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value) if value else {}
    return dict(value) if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Job:
    """One row of the `jobs` table, decoded (see `fenta.engine.tables` for what each column means)."""

    id: str
    workflow_name: str
    workflow_hash: str
    workflow_file: str | None
    document: dict[str, Any]
    vars: dict[str, Any]
    out_dir: str
    status: JobState
    attempt: int = 0
    progress: float = 0.0
    current_node: str | None = None
    error: str | None = None
    retryable: bool | None = None
    cost: float = 0.0
    lease_pid: int | None = None
    lease_until: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    max_retries: int | None = None
    retry_base: float | None = None
    retry_from: int = 0
    next_attempt_at: str | None = None
    lease_host: str | None = None
    lease_heartbeat: str | None = None
    lease_token: str | None = None
    cancel_requested: bool = False
    schedule_id: str | None = None
    batch_id: str | None = None
    owner: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """A job from its row (columns this version does not know are left out)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in known}
        for name in _JSON_FIELDS:
            values[name] = _json(values.get(name))
        values["status"] = JobState(values["status"])
        retryable = values.get("retryable")
        values["retryable"] = None if retryable is None else bool(retryable)
        values["cancel_requested"] = bool(values.get("cancel_requested"))
        # A file from before leases were ISO text kept a number here: read as no lease.
        values["lease_until"] = _text(values.get("lease_until"))
        for name, default in (
            ("attempt", 0),
            ("retry_from", 0),
            ("priority", 0),
            ("progress", 0.0),
            ("cost", 0.0),
        ):
            if values.get(name) is None:
                values[name] = default
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The row as users see it (`fenta jobs show --json`): the state as text, flags as 0 / 1."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["status"] = self.status.value
        out["retryable"] = None if self.retryable is None else int(self.retryable)
        out["cancel_requested"] = int(self.cancel_requested)
        return out


@dataclass
class Event:
    """One row of the event log (or, with `id` 0, a live-only notice such as a node's progress).

    Attributes:
        id: The row id, increasing; 0 for events that are never written to the log.
        type: `job.started`, `node.finished`, ... (see `fenta.engine.events.TYPES`).
        job_id: The job it is about (None for `quota.warning`).
        data: The payload (JSON object).
        created_at: ISO 8601 UTC, milliseconds, 'Z'.
    """

    id: int
    type: str
    job_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    @property
    def kind(self) -> str:
        """The event type (older name)."""
        return self.type

    @property
    def node(self) -> str | None:
        """The node id it is about, if any."""
        node = self.data.get("node")
        return node if isinstance(node, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "jobId": self.job_id,
            "data": self.data,
            "createdAt": self.created_at,
        }
