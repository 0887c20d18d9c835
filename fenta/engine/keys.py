"""Which API keys a workflow needs, which of them are set, and one error listing every missing one.

Only key *names* and whether they are set ever leave this module: never a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import KEY_NAMES, Settings
from ..errors import MissingKeysError

if TYPE_CHECKING:
    from .workflow import Workflow

__all__ = ["KeyNeed", "MissingKeysError", "key_needs", "missing_keys", "check_keys"]


@dataclass
class KeyNeed:
    """One API key a workflow needs.

    Attributes:
        provider: The provider's name ("openrouter", "pexels", "kie").
        var: The environment variable holding the key ("OPENROUTER_API_KEY").
        nodes: The ids of the nodes that need it.
        set: Whether the key is set (environment or `.env`).
    """

    provider: str
    var: str
    nodes: list[str] = field(default_factory=list)
    set: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "var": self.var, "nodes": self.nodes, "set": self.set}


def key_needs(workflow: Workflow, settings: Settings | None = None) -> list[KeyNeed]:
    """Every key the workflow's nodes need with their params, in node order, each marked set or not."""
    settings = settings or Settings.from_env()
    needs: dict[str, KeyNeed] = {}
    for nid, spec in workflow.nodes.items():
        for provider in sorted(spec.node_class().required_keys(spec.parsed_params)):
            need = needs.setdefault(
                provider,
                KeyNeed(
                    provider,
                    KEY_NAMES.get(provider, f"{provider.upper()}_API_KEY"),
                    set=bool(settings.keys.get(provider)),
                ),
            )
            need.nodes.append(nid)
    return list(needs.values())


def missing_keys(workflow: Workflow, settings: Settings | None = None) -> list[KeyNeed]:
    """The keys the workflow needs that are not set."""
    return [k for k in key_needs(workflow, settings) if not k.set]


def check_keys(workflow: Workflow, settings: Settings | None = None) -> None:
    """Raise `MissingKeysError` naming every missing key at once; do nothing when all are set."""
    missing = missing_keys(workflow, settings)
    if missing:
        raise MissingKeysError(missing, file=workflow.file)


def describe(needs: list[KeyNeed]) -> str:
    """One line for people: "needs keys: OPENROUTER_API_KEY (set), KIE_API_KEY (missing)"; empty when none."""
    if not needs:
        return ""
    return "needs keys: " + ", ".join(f"{k.var} ({'set' if k.set else 'missing'})" for k in needs)
