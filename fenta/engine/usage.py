"""Provider spend: recording calls, summarising them by day, and small per-provider state.

Every provider call is a row in `usage_records` (provider, model, units, quantity, cost, job, node).
`provider_state` keeps the last values a provider reported about itself (e.g. Pexels'
`X-Ratelimit-Remaining`) so `fenta doctor` can show them without a network call.
Neither table ever holds a key.

Nodes record through `ctx.usage` (a `UsageLog` the runner gives each node's context), so they never
import the engine.
"""

from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["UsageLog", "summarize", "set_provider_state", "provider_state", "ensure_tables"]

_EXTRA_SCHEMA = """
CREATE TABLE IF NOT EXISTS provider_state (
    provider TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (provider, key)
);
"""


def ensure_tables(store: Any) -> None:
    """Create this module's tables when missing (idempotent, additive)."""
    store.db.conn.executescript(_EXTRA_SCHEMA)


class UsageLog:
    """What one node records about its provider calls (`ctx.usage`); a no-op without a store.

    Args:
        store: The job store (`JobStore`), or None.
        job_id: The job the node runs in.
        node_id: The node.
    """

    def __init__(self, store: Any, job_id: str | None = None, node_id: str | None = None) -> None:
        self.store = store
        self.job_id = job_id
        self.node_id = node_id

    def record(self, provider: str, *, model: str | None = None, units: str, quantity: float, cost: float | None = None) -> None:
        """Record one provider call (or what it used: tokens, bytes, credits) for this node."""
        if self.store is None:
            return
        self.store.record_usage(provider=provider, model=model, units=units, quantity=quantity, cost=cost, job_id=self.job_id, node_id=self.node_id)

    def tokens(self, provider: str = "openrouter") -> Callable[[Any], None]:
        """A callback for `OpenRouterClient.chat(on_usage=...)` that records tokens and cost."""

        def on_usage(u: Any) -> None:
            self.record(provider, model=u.model, units="tokens", quantity=u.total_tokens, cost=u.cost)

        return on_usage

    def provider_state(self, provider: str, values: dict[str, Any]) -> None:
        """Remember the latest values a provider reported about itself (e.g. its remaining rate limit)."""
        if self.store is not None and values:
            set_provider_state(self.store, provider, values)


def summarize(store: Any, days: int = 30, now: float | None = None) -> list[dict[str, Any]]:
    """Usage per UTC day, provider and unit over the last `days` days, newest first."""
    since = (now or time.time()) - days * 86400
    q = """
        SELECT date(created_at, 'unixepoch') AS day, provider, COALESCE(units, '') AS units,
               COUNT(*) AS calls, SUM(COALESCE(quantity, 0)) AS quantity, SUM(COALESCE(cost, 0)) AS cost
        FROM usage_records WHERE created_at >= ?
        GROUP BY day, provider, units ORDER BY day DESC, provider, units
    """
    return [dict(r) for r in store.db.query(q, [since])]


def set_provider_state(store: Any, provider: str, values: dict[str, Any]) -> None:
    """Remember the latest values a provider reported (e.g. its remaining rate limit)."""
    ensure_tables(store)
    now = time.time()
    for k, v in values.items():
        if v is None:
            continue
        store.db.conn.execute(
            "INSERT OR REPLACE INTO provider_state (provider, key, value, updated_at) VALUES (?, ?, ?, ?)",
            (provider, k, str(v), now),
        )


def provider_state(store: Any, provider: str | None = None) -> dict[str, dict[str, Any]]:
    """provider -> {key: value, 'updated_at': t} for what `set_provider_state` stored."""
    ensure_tables(store)
    args: list[Any] = []
    where = ""
    if provider:
        where, args = "WHERE provider = ?", [provider]
    out: dict[str, dict[str, Any]] = {}
    for r in store.db.query(f"SELECT provider, key, value, updated_at FROM provider_state {where}", args):
        d = out.setdefault(r["provider"], {})
        d[r["key"]] = r["value"]
        d["updated_at"] = max(d.get("updated_at", 0), r["updated_at"])
    return out
