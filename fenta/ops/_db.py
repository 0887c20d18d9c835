"""The tables and columns fenta.ops adds to fenta.db (additive: CREATE ... IF NOT EXISTS, ADD COLUMN).

Only `fenta.ops.quotas` still uses it (quota warnings), until its SQL moves into the store: every other
table of fenta.ops is the store's (`fenta.engine.store`: schedules, webhooks, batches, sync), created
when a store opens. Like the store, one process writes the change inside BEGIN IMMEDIATE and the others
find it done.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..database import add_schema

_done: set[tuple[str, str]] = set()


def ensure(store: Any, key: str, *, statements: Iterable[str] = (), names: Iterable[str] = (), columns: Iterable[tuple[str, str, str]] = ()) -> None:
    """`fenta.database.add_schema` on the store's connection, once per database file and `key` per process."""
    marker = (str(store.path), key)
    if marker in _done:
        return
    add_schema(store.db.conn, statements=statements, names=names, columns=columns)
    _done.add(marker)
