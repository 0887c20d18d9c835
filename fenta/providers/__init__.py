"""Clients of the services fenta calls (OpenRouter, Pexels, KIE.ai), and what they share.

Nodes use the names exported here and the provider modules (`openrouter`, `pexels`, `kie`); the
underscore module `_http` is private to this package. The retry policy the clients follow is
`fenta.retry`'s (every retry in fenta lives there). Names load on first use, so importing
`fenta.providers` does not import httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ProviderClient": "_http",
    "client_for": "_http",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - names for type checkers only
    # `X as X`: re-exported (the names are loaded lazily by __getattr__ below).
    from ._http import ProviderClient as ProviderClient
    from ._http import client_for as client_for


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
