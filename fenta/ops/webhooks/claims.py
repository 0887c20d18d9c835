"""Claims on outbox rows: which process is sending a delivery, for as long as it is sending it.

A process claims one due delivery at a time: a fresh claim token and a lease (`FENTA_LEASE_SECONDS`).
While the request is in flight, `keep_lease` renews the lease every third of it from a thread of its
own, so a slow receiver never lets the row look abandoned; a process that dies stops renewing and the
row is taken over once the lease lapses. Every write that ends the attempt names the token (the store's
`finish_delivery` and the like): a process whose claim was taken over (it stalled past its lease)
changes nothing, and the outcome of the process that took over stands.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...engine.store import JobStore
from ...engine.store.webhooks import DeliveryClaim
from ...errors import PathError

__all__ = ["DeliveryClaim", "claim_due", "keep_lease"]


def claim_due(
    store: Any,
    now: float,
    *,
    lease: float,
    job_id: str | None = None,
    ids: Iterable[int] | None = None,
    exclude: Iterable[int] = (),
    limit: int = 1,
) -> list[DeliveryClaim]:
    """Claim up to `limit` due deliveries (pending, due, not leased, endpoint enabled), oldest due first.

    Each comes with its endpoint's url, secret and trust, and `claim`: the token the writes that end
    this attempt must name.
    """
    with store.write() as tx:
        return tx.claim_deliveries(now, lease=lease, job_id=job_id, ids=ids, exclude=exclude, limit=limit)


@contextmanager
def keep_lease(
    db_path: Path, claim: DeliveryClaim, *, lease: float, now: Callable[[], float]
) -> Iterator[None]:
    """Renew the claimed delivery's lease every third of `lease` until the block ends (while the claim
    still holds).

    The thread opens a store of its own (a connection is one thread's at a time), and only once a
    renewal is due: the sending thread is blocked in the request, and most requests end before the
    first renewal.
    """
    stop = threading.Event()

    def renew() -> None:
        store: JobStore | None = None
        try:
            while not stop.wait(lease / 3):
                if store is None:
                    store = JobStore(db_path)
                store.renew_delivery_lease(claim, now() + lease)
        except (sqlite3.Error, PathError):
            pass  # the lease lapses: another process may take the row over (this outcome is then dropped)
        finally:
            if store is not None:
                store.close()

    thread = threading.Thread(target=renew, name=f"webhook-lease-{claim.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
