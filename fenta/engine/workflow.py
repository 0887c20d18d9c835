"""A loaded workflow: `Workflow` and its nodes (`NodeSpec`), the model every later step reads.

`fenta.engine.spec` makes one from a file or text, checked; the graph, the plan, the job and the
nodes' execution read it. Nothing here reads or checks a document.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ..nodes.base import Node, registry
from ..policy import TRUSTED, Policy

__all__ = ["NodeSpec", "Workflow"]


@dataclass
class NodeSpec:
    """One node as written, after variables are filled in and params validated."""

    id: str
    type: str
    params: dict[str, Any]
    inputs: dict[str, list[tuple[str, str]]]
    line: int | None = None
    parsed_params: BaseModel | None = None

    @property
    def node_class(self) -> builtins.type[Node]:  # builtins: `type` here is the field above
        cls = registry.get(self.type)
        assert cls is not None
        return cls


@dataclass
class Workflow:
    """A loaded and validated workflow, ready to plan and run."""

    name: str
    nodes: dict[str, NodeSpec]
    vars: dict[str, Any]
    template_name: str | None
    template: dict[str, Any]
    file: str | None = None
    document: dict[str, Any] = field(default_factory=dict)
    #: `retry: {max_retries, base_seconds}` as written (None when the workflow has none).
    retry: dict[str, Any] | None = None
    #: The trust policy it was validated under; its job keeps it, and every node runs under it.
    policy: Policy = TRUSTED

    @property
    def hash(self) -> str:
        """Content hash of the resolved workflow (document plus variables)."""
        blob = json.dumps({"doc": self.document, "vars": self.vars}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def edges(self) -> list[tuple[str, str, str, str]]:
        """(source, source_port, target, target_port) for every connection."""
        out = []
        for node in self.nodes.values():
            for port, refs in node.inputs.items():
                for src, src_port in refs:
                    out.append((src, src_port, node.id, port))
        return out
