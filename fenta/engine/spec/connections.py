"""Checking how a workflow's nodes connect: every input names a known node's output of a type the port
takes, a port taking one connection gets one, every required input is connected, and no cycle."""

from __future__ import annotations

from typing import Any

from ...errors import Problem
from ..graph import find_cycle
from ..workflow import NodeSpec
from .layout import NodeLines

__all__ = ["connection_problems"]

#: Port types that take any number of connections although their names have no `[]`.
_MANY = ("clips", "words", "scenes", "artifacts")


def connection_problems(
    nodes: dict[str, NodeSpec], written: Any, *, file: str | None, line_of: NodeLines
) -> list[Problem]:
    """The problems of the connections between `nodes` (those that passed their own checks).

    Args:
        written: Every node entry as written, those with problems of their own too: an input from one
            of those is its node's problem, not the connection's.
    """
    problems = []
    for node in nodes.values():
        cls = node.node_class
        in_ports = cls.input_ports()
        for port, refs in node.inputs.items():
            where: dict[str, Any] = dict(
                file=file, line=line_of(node.id, "inputs", port), node=node.id, field=f"inputs.{port}"
            )
            if port not in in_ports:
                names = ", ".join(in_ports) or "none"
                problems.append(
                    Problem(f"unknown input port '{port}' on {node.type} (its inputs: {names})", **where)
                )
                continue
            want = in_ports[port]
            if len(refs) > 1 and not want.endswith("[]") and want not in _MANY:
                problems.append(Problem(f"port '{port}' takes one connection, got {len(refs)}", **where))
            for src, src_port in refs:
                if src not in written:
                    problems.append(Problem(f"input refers to unknown node '{src}'", **where))
                    continue
                if src not in nodes:
                    continue  # the source node has its own problem already
                out_ports = nodes[src].node_class.output_ports()
                if src_port not in out_ports:
                    names = ", ".join(out_ports) or "none"
                    problems.append(
                        Problem(
                            f"node '{src}' ({nodes[src].type}) has no output '{src_port}' (its outputs: "
                            f"{names})",
                            **where,
                        )
                    )
                    continue
                have = out_ports[src_port]
                if not _compatible(have, want):
                    problems.append(
                        Problem(
                            f"type mismatch: '{src}.{src_port}' gives {have} but '{port}' takes {want}",
                            **where,
                        )
                    )
        for port in sorted(cls.required_inputs() - set(node.inputs)):
            problems.append(
                Problem(
                    f"required input '{port}' ({in_ports[port]}) is not connected",
                    file=file,
                    line=line_of(node.id),
                    node=node.id,
                    field=f"inputs.{port}",
                )
            )

    cycle = find_cycle(nodes)
    if cycle:
        loop = " -> ".join(cycle + [cycle[0]])
        problems.append(Problem(f"cycle: {loop}", file=file, line=line_of(cycle[0]), node=cycle[0]))
    return problems


def _compatible(have: str, want: str) -> bool:
    if have == want:
        return True
    # A single value may feed a list port of the same kind (text -> text[]).
    return want.endswith("[]") and want[:-2] == have
