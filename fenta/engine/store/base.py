"""What every part of the job store shares: the connection, and rows read as dicts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = ["Sql", "dumps"]


def dumps(value: Any) -> str:
    """JSON as the store keeps it (non-ASCII as is; what JSON lacks, such as a Path, as text)."""
    return json.dumps(value, default=str, ensure_ascii=False)


class Sql:
    """The statements of one part of the store, run on `conn`.

    `JobStore` runs them in autocommit (each statement commits), `Tx` inside its `BEGIN IMMEDIATE`:
    both share one connection, so a statement called inside a transaction is part of it.
    """

    conn: sqlite3.Connection

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, values)) for values in cur.fetchall()]

    def _first(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self._all(sql, args)
        return rows[0] if rows else None

    def _value(self, sql: str, args: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row else None
