"""Leases: a process's hold on a running job (pid, host, token, heartbeat, until).

Only the holder of a lease's token ends its job's attempt. A lease lapses `lease_seconds` after its
last heartbeat, or at once when its process (on this host) is gone; the next worker then takes the
job over (`lifecycle.reap`).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import JobError
from .clock import iso, parse_iso
from .records import Job

__all__ = ["HOST", "Lease", "pid_alive", "lease_is_live", "heartbeat_interval", "check_lease_timing"]

#: This machine's name, as leases record it.
HOST = socket.gethostname()


@dataclass(frozen=True)
class Lease:
    """A process's hold on one job: only the holder of `token` may end its attempt."""

    job_id: str
    token: str
    pid: int
    host: str

    @classmethod
    def new(cls, job_id: str) -> Lease:
        return cls(job_id, uuid.uuid4().hex, os.getpid(), HOST)

    def fields(self, settings: Settings) -> dict[str, Any]:
        """The job row's lease columns for a lease taken or renewed now."""
        now = time.time()
        return {
            "lease_pid": self.pid,
            "lease_host": self.host,
            "lease_token": self.token,
            "lease_heartbeat": iso(now),
            "lease_until": iso(now + settings.lease_seconds),
        }


def heartbeat_interval(settings: Settings) -> float:
    """Seconds between two renewals of a lease: `heartbeat_seconds`, at most a third of the lease, so
    a renewal that is late or fails once still lands before the lease lapses."""
    return min(settings.heartbeat_seconds, settings.lease_seconds / 3)


def check_lease_timing(settings: Settings) -> None:
    """Refuse settings under which a live process's lease would lapse between two heartbeats.

    Raises:
        JobError: FENTA_HEARTBEAT_SECONDS is not below FENTA_LEASE_SECONDS (exit 2).
    """
    if settings.heartbeat_seconds >= settings.lease_seconds:
        raise JobError(
            f"FENTA_HEARTBEAT_SECONDS ({settings.heartbeat_seconds:g}) must be below FENTA_LEASE_SECONDS "
            f"({settings.lease_seconds:g}): a running job's lease would lapse between two heartbeats"
        )


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id runs on this machine (one we may not signal counts as running)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_is_live(job: Job, now: float | None = None) -> bool:
    """Whether a job's lease is held by a live process (not expired; on this host, its pid exists)."""
    if not job.lease_token:
        return False
    until = parse_iso(job.lease_until)
    if until is None or until < (now if now is not None else time.time()):
        return False
    return not (job.lease_host == HOST and not pid_alive(job.lease_pid))
