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
from collections.abc import Callable
from typing import Any

from .store import JobStore

__all__ = ["UsageLog", "summarize", "set_provider_state", "provider_state"]


class UsageLog:
    """What one node records about its provider calls (`ctx.usage`); a no-op without a store.

    Args:
        store: The job store, or None.
        job_id: The job the node runs in.
        node_id: The node.
    """

    def __init__(self, store: JobStore | None, job_id: str | None = None, node_id: str | None = None) -> None:
        self.store = store
        self.job_id = job_id
        self.node_id = node_id

    def record(
        self,
        provider: str,
        *,
        model: str | None = None,
        units: str,
        quantity: float,
        cost: float | None = None,
    ) -> None:
        """Record one provider call (or what it used: tokens, bytes, credits) for this node."""
        if self.store is None:
            return
        self.store.record_usage(
            provider=provider,
            model=model,
            units=units,
            quantity=quantity,
            cost=cost,
            job_id=self.job_id,
            node_id=self.node_id,
        )

    def tokens(self, provider: str = "openrouter") -> Callable[[Any], None]:
        """A callback for `OpenRouterClient.chat(on_usage=...)` that records tokens and cost."""

        def on_usage(u: Any) -> None:
            self.record(provider, model=u.model, units="tokens", quantity=u.total_tokens, cost=u.cost)

        return on_usage

    def provider_state(self, provider: str, values: dict[str, Any]) -> None:
        """Remember the latest values a provider reported about itself (e.g. its remaining rate limit)."""
        if self.store is not None and values:
            self.store.set_provider_state(provider, values)


def summarize(store: JobStore, days: int = 30, now: float | None = None) -> list[dict[str, Any]]:
    """Usage per UTC day, provider and unit over the last `days` days, newest first."""
    return store.usage_by_day(since=(now or time.time()) - days * 86400)


def set_provider_state(store: JobStore, provider: str, values: dict[str, Any]) -> None:
    """Remember the latest values a provider reported (e.g. its remaining rate limit)."""
    store.set_provider_state(provider, values)


def provider_state(store: JobStore, provider: str | None = None) -> dict[str, dict[str, Any]]:
    """provider -> {key: value, 'updated_at': t} for what `set_provider_state` stored."""
    return store.provider_state(provider)
