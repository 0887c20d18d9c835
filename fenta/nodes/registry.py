"""The node registry: node types by name, the built-ins plus plugins from the `fenta.nodes`
entry-point group, loaded on the first lookup.
"""

from __future__ import annotations

import difflib
import re
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from ..errors import FentaError

if TYPE_CHECKING:
    from .base import Node

__all__ = ["Registry", "registry", "register"]

_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)?$")


class Registry:
    """Node types by name; built-ins plus plugins from the `fenta.nodes` entry-point group."""

    def __init__(self) -> None:
        self._types: dict[str, type[Node]] = {}
        self._loaded = False
        # The first lookups may come from several threads at once (a server's request threads): the
        # others wait for the one loading, instead of seeing a half-filled registry.
        self._lock = threading.RLock()

    def register(self, cls: type[Node]) -> type[Node]:
        name = getattr(cls, "type", None)
        if not name or not _TYPE_NAME.match(name):
            raise FentaError(f"node class {cls.__name__} needs a type named like 'Category.Name' (or 'Name')")
        self._types[name] = cls
        return cls

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:  # another thread loaded it while this one waited
                return
            from . import _builtin  # noqa: F401  (registers the built-in nodes)

            for ep in entry_points(group="fenta.nodes"):
                obj = ep.load()
                for cls in obj if isinstance(obj, (list, tuple)) else [obj]:
                    self.register(cls)
            self._loaded = True

    def get(self, name: str) -> type[Node] | None:
        self._load()
        return self._types.get(name)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._types)

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        return close[0] if close else None


registry = Registry()


def register(cls: type[Node]) -> type[Node]:
    """Register a node class (usable as a class decorator)."""
    return registry.register(cls)
