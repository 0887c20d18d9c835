"""Every SQL statement about `fenta serve`'s own tables in fenta.db (access tokens, idempotency keys,
asset uploads), in one class. What it reads of jobs, events, node runs, the webhook outbox and usage
records (a page of jobs, the figures `/metrics` reports) it asks the job store, `ServeStore.jobs`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from ..config import Settings
from ..database import add_schema

__all__ = ["ServeStore", "TERMINAL"]

#: Job states that never change again by themselves.
TERMINAL = ("completed", "dead", "cancelled")

_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,                 -- viewer | editor | admin | owner
        scopes TEXT,                        -- JSON list; NULL: every permission of the role
        token_hash TEXT NOT NULL UNIQUE,    -- SHA-256 (hex) of the whole token; the token is never kept
        prefix TEXT NOT NULL,               -- its first characters, to recognise it in lists and logs
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        last_used_at REAL,                  -- written at most once per THROTTLE seconds
        revoked_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS api_idempotency (
        token_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,          -- SHA-256 of the request body as canonical JSON
        state TEXT NOT NULL,                -- in_flight | done
        status INTEGER,
        response TEXT,                      -- JSON body replayed to a repeat
        job_id TEXT,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (token_id, key)
    )""",
    """CREATE TABLE IF NOT EXISTS api_uploads (
        id TEXT PRIMARY KEY,
        token_id TEXT NOT NULL,
        secret_hash TEXT NOT NULL,          -- SHA-256 of the upload URL's one-time secret
        filename TEXT NOT NULL,
        size INTEGER NOT NULL,              -- bytes announced at init
        tags TEXT NOT NULL DEFAULT '[]',
        state TEXT NOT NULL,                -- pending | receiving | uploaded | completed
        received INTEGER,
        asset_id TEXT,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )""",
]
_NAMES = ["api_tokens", "api_idempotency", "api_uploads"]
_ensured: set[str] = set()
_ensure_lock = threading.Lock()


class ServeStore:
    """fenta.db as `fenta serve` uses it (one SQLite connection; one instance per thread): its own tables
    here, the rest through `jobs`, the `JobStore` on the same connection.

    Raises:
        PathError: FENTA_HOME cannot be opened or written.
    """

    def __init__(self, settings: Settings) -> None:
        from ..engine.store import JobStore

        self.jobs = JobStore(settings.db_path)
        self.conn = self.jobs.conn
        key = str(settings.db_path)
        if key not in _ensured:
            with _ensure_lock:
                add_schema(self.conn, statements=_STATEMENTS, names=_NAMES)
                _ensured.add(key)

    def close(self) -> None:
        self.jobs.close()

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, list(args))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    # ------------------------------------------------------------------ access tokens

    def add_token(self, row: dict[str, Any]) -> None:
        self.conn.execute(
            f"INSERT INTO api_tokens ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM api_tokens WHERE token_hash = ?", [token_hash])
        return rows[0] if rows else None

    def tokens(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM api_tokens ORDER BY created_at, id")

    def find_tokens(self, ref: str) -> list[dict[str, Any]]:
        """Tokens whose id is `ref`, or whose prefix (what `tokens list` shows) starts with it."""
        return self._rows(
            "SELECT * FROM api_tokens WHERE id = ? OR substr(prefix, 1, length(?)) = ?", [ref, ref, ref]
        )

    def revoke_token(self, token_id: str, now: float) -> bool:
        """Revoke a token; False when it was revoked already."""
        cur = self.conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, token_id)
        )
        return cur.rowcount > 0

    def touch_token(self, token_id: str, now: float, throttle: float) -> None:
        """Record a use, unless one was recorded less than `throttle` seconds ago (SQLite has one writer)."""
        self.conn.execute(
            "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < "
            "?)",
            (now, token_id, now - throttle),
        )

    def usable_tokens(self, now: float) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL AND expires_at > ?", (now,)
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ idempotency keys

    def claim_key(
        self, token_id: str, key: str, fingerprint: str, now: float, ttl: float
    ) -> tuple[str, dict[str, Any] | None]:
        """Claim an Idempotency-Key for one request, in one transaction.

        Returns:
            ("new", None) when this request is the first (an in-flight row now holds the key);
            ("replay" | "in_flight" | "mismatch", the stored row) otherwise.
        """
        with self.jobs.write() as conn:
            conn.execute("DELETE FROM api_idempotency WHERE expires_at < ?", (now,))
            cur = conn.execute(
                "SELECT * FROM api_idempotency WHERE token_id = ? AND key = ?", (token_id, key)
            )
            found = cur.fetchone()
            if found is not None:
                row = dict(zip([d[0] for d in cur.description], found))
                if row["fingerprint"] != fingerprint:
                    return "mismatch", row
                return ("in_flight" if row["state"] == "in_flight" else "replay"), row
            conn.execute(
                "INSERT INTO api_idempotency (token_id, key, fingerprint, state, created_at, expires_at) "
                "VALUES (?, ?, ?, 'in_flight', ?, ?)",
                (token_id, key, fingerprint, now, now + ttl),
            )
            return "new", None

    def finish_key(
        self, token_id: str, key: str, status: int, response: dict[str, Any], job_id: str | None
    ) -> None:
        self.conn.execute(
            "UPDATE api_idempotency SET state = 'done', status = ?, response = ?, job_id = ? WHERE token_id "
            "= ? AND key = ?",
            (status, json.dumps(response, default=str), job_id, token_id, key),
        )

    def release_key(self, token_id: str, key: str) -> None:
        """Forget an in-flight claim whose request failed unexpectedly (the client may try again)."""
        self.conn.execute(
            "DELETE FROM api_idempotency WHERE token_id = ? AND key = ? AND state = 'in_flight'",
            (token_id, key),
        )

    # ------------------------------------------------------------------ asset uploads

    def add_upload(self, row: dict[str, Any]) -> None:
        self.conn.execute(
            f"INSERT INTO api_uploads ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )

    def upload(self, upload_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM api_uploads WHERE id = ?", [upload_id])
        return rows[0] if rows else None

    def move_upload(self, upload_id: str, frm: str, to: str, **fields: Any) -> bool:
        """Compare-and-set an upload's state (so a one-time URL is used once); False when it was not `frm`."""
        sets = ", ".join(["state = ?", *(f"{k} = ?" for k in fields)])
        cur = self.conn.execute(
            f"UPDATE api_uploads SET {sets} WHERE id = ? AND state = ?",
            [to, *fields.values(), upload_id, frm],
        )
        return cur.rowcount > 0
