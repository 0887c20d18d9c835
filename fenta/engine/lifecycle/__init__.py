"""Job states and the one function that changes them: the rules of the job core.

    queued -> running -> completed
                      -> failed (a retry is due at next_attempt_at) -> running -> ...
                      -> dead (not retryable, or out of retries; `jobs retry` re-queues it)
                      -> cancelled
    queued / failed -> cancelled;  running -> queued (a stopping worker gives the job back)

Every state change goes through `transition`, inside a `BEGIN IMMEDIATE` transaction (`store.write()`),
and appends its events to the log in that same transaction (a transactional outbox). A running job
holds a lease (`fenta.engine.leases`): only the holder of the token ends the attempt, and a lease that
lapsed (its process died) is taken over by the next worker (`reap`). The rules live here (which state
may follow which, the retry budget, the events of each change); the SQL is the store's.

Its modules, bottom to top: `rules` (the states that may follow each state, `transition`, `queue_new`),
`endings` (an attempt failed, with the retry budget; completed, cancelled, given back, refused),
`recovery` (`reap`: the jobs of processes that died), `requests` (cancel, retry: asked from another
process), `claims` (reserve a job, start its attempt, keep its lease; `pending`).
"""

from __future__ import annotations

from ..store import NO_BATCH
from .claims import cancel_asked, heartbeat, pending, reserve, reserve_job, start
from .endings import call_off, cancelled, complete, fail, refuse, release
from .recovery import reap
from .requests import request_cancel, revive
from .rules import Admit, queue_new, transition

__all__ = [
    "NO_BATCH",
    "Admit",
    "transition",
    "queue_new",
    "reserve",
    "reserve_job",
    "start",
    "heartbeat",
    "cancel_asked",
    "call_off",
    "fail",
    "complete",
    "cancelled",
    "release",
    "refuse",
    "request_cancel",
    "revive",
    "reap",
    "pending",
]
