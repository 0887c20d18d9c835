"""The workflow as a networkx graph: cycles, order, and drawings for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from .workflow import NodeSpec, Workflow

__all__ = ["build_graph", "find_cycle", "layers", "to_mermaid", "to_text"]


def _graph(nodes: dict[str, NodeSpec]) -> nx.DiGraph:
    g = nx.DiGraph()
    for n in nodes.values():
        g.add_node(n.id, type=n.type)
    for n in nodes.values():
        for port, refs in n.inputs.items():
            for src, src_port in refs:
                if src in nodes:
                    g.add_edge(src, n.id)
                    g.edges[src, n.id].setdefault("ports", []).append((src_port, port))
    return g


def build_graph(workflow: Workflow) -> nx.DiGraph:
    """A DiGraph with an edge source -> target per connection (ports on the edge)."""
    return _graph(workflow.nodes)


def find_cycle(nodes: dict[str, NodeSpec]) -> list[str] | None:
    """The node ids along one cycle, or None when the graph is acyclic."""
    try:
        edges = nx.find_cycle(_graph(nodes))
    except nx.NetworkXNoCycle:
        return None
    return [u for u, _ in edges]


def layers(workflow: Workflow) -> list[list[str]]:
    """Nodes grouped by depth: every node's inputs come from earlier layers."""
    return [sorted(layer) for layer in nx.topological_generations(build_graph(workflow))]


def to_mermaid(workflow: Workflow) -> str:
    """Mermaid flowchart text for the workflow."""
    g = build_graph(workflow)
    lines = ["flowchart LR"]
    for nid in g.nodes:
        lines.append(f'    {nid}["{nid}<br/><small>{g.nodes[nid]["type"]}</small>"]')
    for u, v, data in g.edges(data=True):
        for src_port, port in data["ports"]:
            lines.append(f"    {u} -->|{src_port} → {port}| {v}")
    return "\n".join(lines)


def to_text(workflow: Workflow) -> str:
    """A plain-text drawing: one line per node in run order, with what feeds it."""
    g = build_graph(workflow)
    out = []
    for depth, layer in enumerate(layers(workflow)):
        for nid in layer:
            feeds = [f"{u}.{sp}→{p}" for u in g.predecessors(nid) for sp, p in g.edges[u, nid]["ports"]]
            arrow = "  ← " + ", ".join(feeds) if feeds else ""
            out.append(f"{'  ' * depth}{'└─ ' if depth else ''}{nid} ({g.nodes[nid]['type']}){arrow}")
    return "\n".join(out)
