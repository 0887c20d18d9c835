"""Claims on outbox rows: which process is sending a delivery, for as long as it is sending it.

A process claims one due delivery at a time: a fresh claim token and a lease (`FENTA_LEASE_SECONDS`).
While the request is in flight, `keep_lease` renews the lease every third of it from a thread of its
own, so a slow receiver never lets the row look abandoned; a process that dies stops renewing and the
row is taken over once the lease lapses. Every write that ends the attempt names the token
(`UPDATE ... WHERE id = ? AND claim_token = ?`): a process whose claim was taken over (it stalled past
its lease) changes nothing, and the outcome of the process that took over stands.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

__all__ = ["claim_due", "keep_lease"]


def claim_due(
    store: Any,
    now: float,
    *,
    lease: float,
    job_id: str | None = None,
    ids: Iterable[int] | None = None,
    exclude: Iterable[int] = (),
    limit: int = 1,
) -> list[dict[str, Any]]:
    """Claim up to `limit` due deliveries (pending, due, not leased, endpoint enabled), oldest due first.

    Each row comes with its endpoint's url, secret and trust, and `claim`: the token the writes that
    end this attempt must name.
    """
    where = [
        "d.status = 'pending'",
        "d.next_at <= ?",
        "(d.lease_until IS NULL OR d.lease_until < ?)",
        "e.enabled = 1",
    ]
    args: list[Any] = [now, now]
    exclude = list(exclude)
    if exclude:
        where.append(f"d.id NOT IN ({','.join('?' * len(exclude))})")
        args += exclude
    if job_id is not None:
        where.append("d.job_id = ?")
        args.append(job_id)
    if ids is not None:
        ids = list(ids)
        where.append(f"d.id IN ({','.join('?' * len(ids))})" if ids else "0")
        args += ids
    q = (
        "SELECT d.id, d.event_id, d.event, d.body, d.attempts, d.endpoint_id, d.job_id, "
        "e.url, e.secret, e.enabled, e.trusted "
        "FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
        f"WHERE {' AND '.join(where)} ORDER BY d.next_at, d.id LIMIT ?"
    )
    with store.write() as conn:
        cur = conn.execute(q, [*args, limit])
        names = [c[0] for c in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
        for r in rows:
            r["claim"] = uuid.uuid4().hex
            conn.execute(
                "UPDATE webhook_deliveries SET lease_until = ?, claim_token = ? WHERE id = ?",
                (now + lease, r["claim"], r["id"]),
            )
    return rows


@contextmanager
def keep_lease(
    db_path: Path, row: dict[str, Any], *, lease: float, now: Callable[[], float]
) -> Iterator[None]:
    """Renew `row`'s lease every third of `lease` until the block ends (while its claim still holds).

    The thread opens its own connection, and only once a renewal is due: the sending thread is
    blocked in the request, and most requests end before the first renewal.
    """
    stop = threading.Event()

    def renew() -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not stop.wait(lease / 3):
                if conn is None:
                    conn = sqlite3.connect(str(db_path), timeout=30, isolation_level=None)
                conn.execute(
                    "UPDATE webhook_deliveries SET lease_until = ? WHERE id = ? AND claim_token = ?",
                    (now() + lease, row["id"], row["claim"]),
                )
        except sqlite3.Error:
            pass  # the lease lapses: another process may take the row over (this outcome is then dropped)
        finally:
            if conn is not None:
                conn.close()

    thread = threading.Thread(target=renew, name=f"webhook-lease-{row['id']}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
