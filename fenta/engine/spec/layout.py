"""The layout of a workflow document: its top-level keys, and its nodes in either of two shapes.

The top level allows `_TOP_KEYS`, `version: 1` and the types of `TopLevel`. Nodes are written as a
mapping of id -> {type, params, inputs} (the `inputs:` shape), or as the web builder's lists
{nodes: [{id, type, data: {params}}], edges: [{source, sourceHandle, target, targetHandle}]} (the
graph shape): `node_entries` brings either to the first, and `NodeLines` finds the line of a key
inside a node in the shape it was written in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...documents import Lines
from ...errors import Problem
from .problems import pydantic_problems

__all__ = ["TopLevel", "NodeLines", "top_level_problems", "node_entries"]

_TOP_KEYS = {
    "version",
    "name",
    "template",
    "overrides",
    "vars",
    "nodes",
    "edges",
    "description",
    "retry",
    "sync",
}


class _Retry(BaseModel):  # its name is its key in `fenta schema`'s `$defs`: keep it
    """`retry:` - how a failed job is retried (at most 10 retries; the first wait 0.01 s to 1 h)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    max_retries: int | None = Field(None, ge=0, le=10)
    base_seconds: float | None = Field(None, gt=0, le=3600)


class TopLevel(BaseModel):
    """Types of the top-level fields, strictly: a list is not a name, a number is not a template."""

    model_config = ConfigDict(strict=True, extra="ignore")

    name: str | None = None
    description: str | None = None
    template: str | None = None
    overrides: dict[str, Any] | None = None
    retry: _Retry | None = None
    sync: bool | None = None  # push the job to the hosted project (fenta.ops.sync)


def top_level_problems(doc: dict[str, Any], file: str | None, lines: Lines) -> list[Problem]:
    """Unknown top-level keys, a version other than 1, and top-level fields of the wrong type."""
    problems = []
    for key in doc:
        if key not in _TOP_KEYS:
            problems.append(Problem(f"unknown top-level key '{key}'", file=file, line=lines.get(key)))
    version = doc.get("version", 1)
    if version != 1:
        problems.append(
            Problem(
                f"unsupported version {version!r} (expected 1)",
                file=file,
                line=lines.get("version"),
                field="version",
            )
        )
    try:
        TopLevel.model_validate(doc)
    except ValidationError as e:
        problems += pydantic_problems(e, file=file, line_of=lines.get, node=None, prefix="")
    return problems


@dataclass(frozen=True)
class NodeLines:
    """The line of a key path inside a node (`lines("voice", "params", "speed")`), in either shape."""

    doc: dict[str, Any]
    lines: Lines
    graph_shape: bool

    def __call__(self, nid: str, *rest: Any) -> int | None:
        if not self.graph_shape:
            return self.lines.get("nodes", nid, *rest)
        idx = next(
            (
                i
                for i, n in enumerate(self.doc.get("nodes") or [])
                if isinstance(n, dict) and str(n.get("id")) == nid
            ),
            None,
        )
        return self.lines.get("nodes", idx, "data", *rest) if idx is not None else None


def node_entries(
    doc: dict[str, Any], file: str | None, lines: Lines, problems: list[Problem]
) -> tuple[Any, NodeLines]:
    """The document's nodes in the `inputs:` shape (as written: not yet checked to be a mapping), and
    where their lines are; problems converting the graph shape are added to `problems`."""
    graph_shape = isinstance(doc.get("nodes"), list) or "edges" in doc
    raw_nodes = _graph_shape_to_nodes(doc, file, lines, problems) if graph_shape else doc.get("nodes")
    return raw_nodes, NodeLines(doc, lines, graph_shape)


def _graph_shape_to_nodes(
    doc: dict[str, Any], file: str | None, lines: Lines, problems: list[Problem]
) -> dict[str, dict[str, Any]]:
    """Convert the web builder's {nodes: [...], edges: [...]} into the `inputs:` shape."""
    nodes: dict[str, dict[str, Any]] = {}
    first: dict[str, int] = {}
    raw_nodes = doc.get("nodes") or []
    if not isinstance(raw_nodes, list):
        problems.append(
            Problem(
                "with 'edges', 'nodes' must be a list of {id, type, data}",
                file=file,
                line=lines.get("nodes"),
                field="nodes",
            )
        )
        raw_nodes = []
    for i, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict) or "id" not in raw:
            problems.append(
                Problem(
                    f"nodes[{i}] needs an 'id'", file=file, line=lines.get("nodes", i), field=f"nodes[{i}]"
                )
            )
            continue
        nid = str(raw["id"])
        if nid in first:
            problems.append(
                Problem(
                    f"node id '{nid}' is used twice (nodes[{first[nid]}] and nodes[{i}]); only one node can "
                    "have it",
                    file=file,
                    line=lines.get("nodes", i, "id"),
                    node=nid,
                    field="id",
                )
            )
            continue
        first[nid] = i
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            problems.append(
                Problem(
                    "'data' must be a mapping holding 'params'",
                    file=file,
                    line=lines.get("nodes", i, "data"),
                    node=nid,
                    field="data",
                )
            )
            data = {}
        nodes[nid] = {
            "type": raw.get("type") or data.get("type"),
            "params": data.get("params", {}),
            "inputs": {},
        }
    edges = doc.get("edges") or []
    if not isinstance(edges, list):
        problems.append(
            Problem(
                "'edges' must be a list of {source, sourceHandle, target, targetHandle}",
                file=file,
                line=lines.get("edges"),
                field="edges",
            )
        )
        edges = []
    for i, e in enumerate(edges):
        where: dict[str, Any] = dict(file=file, line=lines.get("edges", i), field=f"edges[{i}]")
        if not isinstance(e, dict):
            problems.append(Problem(f"edges[{i}] must be an object", **where))
            continue
        missing = [k for k in ("source", "sourceHandle", "target", "targetHandle") if not e.get(k)]
        if missing:
            problems.append(Problem(f"edges[{i}] is missing {', '.join(missing)}", **where))
            continue
        target = nodes.get(str(e["target"]))
        if target is None:
            problems.append(Problem(f"edges[{i}] targets unknown node '{e['target']}'", **where))
            continue
        target["inputs"].setdefault(e["targetHandle"], []).append(f"{e['source']}.{e['sourceHandle']}")
    return nodes
