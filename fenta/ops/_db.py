"""The tables and columns fenta.ops adds to fenta.db (additive: CREATE ... IF NOT EXISTS, ADD COLUMN).

The engine's store owns the schema it creates; each ops module declares what it adds and calls
`ensure(store, ...)` when it opens the database. Like the store, one process writes the change inside
BEGIN IMMEDIATE and the others find it done.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

_done: set[tuple[str, str]] = set()


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def ensure(store: Any, key: str, *, statements: Iterable[str] = (), names: Iterable[str] = (), columns: Iterable[tuple[str, str, str]] = ()) -> None:
    """Run `statements` (CREATE TABLE/INDEX IF NOT EXISTS) and add `columns` (table, column, declaration).

    `names` are the tables and indexes the statements create: when they and the columns exist
    already, nothing is written (the usual case). Done once per database file and `key` per process.
    """
    marker = (str(store.path), key)
    if marker in _done:
        return
    statements, names, columns = list(statements), set(names), list(columns)
    conn = store.db.conn

    def current() -> bool:
        return names <= _names(conn) and all(c in _columns(conn, t) for t, c, _ in columns)

    if not current():
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, column, decl in columns:  # before the statements: their indexes may use the columns
                if column not in _columns(conn, table):
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            for s in statements:
                conn.execute(s)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    _done.add(marker)
