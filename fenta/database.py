"""Opening `fenta.db`: one SQLite file that several processes and threads share.

    db = open_database(path, "the job store", ensure=create_tables)

Every part that keeps rows in `fenta.db` (the job store, the asset library) opens it here, with the
same settings: WAL (readers never wait for the writer), a 30 s busy timeout (writers queue instead
of failing with "database is locked"), autocommit (callers open `BEGIN IMMEDIATE` themselves for
read-then-write), foreign keys on.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import sqlite_utils

from .errors import PathError

__all__ = ["open_database", "add_schema", "PREFIX_MATCH", "prefix_pattern"]

#: A SQL condition for "the column starts with this text": `f"id {PREFIX_MATCH}"` with the parameter
#: `prefix_pattern(prefix)`. The backslash escapes LIKE's wildcards, so an id prefix given by a user
#: (`fenta jobs show 2026_%`) matches literally and never stands for every id.
PREFIX_MATCH = "LIKE ? ESCAPE '\\'"


def prefix_pattern(prefix: str) -> str:
    """The LIKE pattern (for `PREFIX_MATCH`) of the strings starting with `prefix`, its `%`, `_` and
    backslashes taken literally."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _wal(conn: sqlite3.Connection, wait: float = 30.0) -> None:
    """Put the file in WAL mode (kept in the file: later opens find it so). Switching needs the file
    to itself, and SQLite answers "database is locked" at once instead of waiting like other
    statements: two processes creating fenta.db together hit that, so wait here."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def open_database(
    path: Path, what: str, *, ensure: Callable[[sqlite3.Connection], None] | None = None
) -> sqlite_utils.Database:
    """Open (creating its folder and file when missing) the SQLite database at `path`.

    Args:
        what: What it is to the user, for the error ("the job store").
        ensure: Creates the caller's tables and indexes when missing (called on the new connection).

    Raises:
        PathError: the folder or the file cannot be created, opened or written (`FENTA_HOME`).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            _wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if ensure is not None:
                ensure(conn)
        except BaseException:
            conn.close()
            raise
    except (OSError, sqlite3.Error) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise PathError(
            f"cannot open {what} {path}: {reason} (set FENTA_HOME to a folder you can write)"
        ) from None
    return sqlite_utils.Database(conn)


def _names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def add_schema(
    conn: sqlite3.Connection,
    *,
    statements: Iterable[str] = (),
    names: Iterable[str] = (),
    columns: Iterable[tuple[str, str, str]] = (),
) -> None:
    """Run `statements` (CREATE TABLE/INDEX IF NOT EXISTS) and add `columns` (table, column, declaration).

    `names` are the tables and indexes the statements create: when they and the columns exist
    already, nothing is written (the usual case). Otherwise one process makes the change inside
    BEGIN IMMEDIATE and the others, waiting on it, find it done.
    """
    statements, names, columns = list(statements), set(names), list(columns)
    if names <= _names(conn) and all(c in _columns(conn, t) for t, c, _ in columns):
        return
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
