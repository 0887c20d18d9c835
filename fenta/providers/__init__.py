"""Clients of the services fenta calls (OpenRouter, Pexels, KIE.ai), and what they share.

Nodes use the names exported here and the provider modules (`openrouter`, `pexels`, `kie`); the
underscore modules (`_http`, `_retry`) are private to this package. Names load on first use, so
importing `fenta.providers` does not import httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ProviderClient": "_http",
    "client_for": "_http",
    "RetryPolicy": "_retry",
    "Retry": "_retry",
    "RETRY_STATUSES": "_retry",
    "NOT_PROCESSED_STATUSES": "_retry",
    "parse_retry_after": "_retry",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - names for type checkers only
    from ._http import ProviderClient, client_for
    from ._retry import NOT_PROCESSED_STATUSES, RETRY_STATUSES, Retry, RetryPolicy, parse_retry_after


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fenta.providers' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
