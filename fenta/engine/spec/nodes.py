"""Checking one node of a workflow: its id, keys, type, params and inputs, into a `NodeSpec`.

The params are checked after `${vars.NAME}` is filled in: by the node type's pydantic model, then,
under the untrusted policy, every file the node names (`Node.local_paths`) must be one the policy
allows (each other one is the node's one problem, found before anything looks at the file), and
only then by the node type's own static checks (`Node.validate`: files exist, voices are known).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from ...errors import Problem
from ...nodes.base import CheckContext, Node, registry
from ...policy import Policy
from ..variables import check_refs, interpolate
from ..workflow import NodeSpec
from .layout import NodeLines
from .problems import pydantic_problems, split_field

__all__ = ["check_node"]

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

#: The keys a node may have: its own, and those the web builder's graph shape writes beside them.
_NODE_KEYS = ("type", "params", "inputs", "data", "id", "label", "position")


def check_node(
    nid: str,
    raw: Any,
    *,
    file: str | None,
    line_of: NodeLines,
    vars: dict[str, Any],
    template: dict[str, Any],
    policy: Policy,
    problems: list[Problem],
) -> NodeSpec | None:
    """The node `nid` as written (`raw`) made a `NodeSpec`, its problems added to `problems`.

    Args:
        vars: The workflow's variables, those passed in over its defaults.
        template: The resolved template the params are checked against.
        policy: The trust policy the files the node names are checked under.

    Returns:
        The node (its params as checked so far, even when they had problems), or None when it has no
        known type to check it by.
    """
    line = line_of(nid)
    if not _ID.match(nid):
        problems.append(
            Problem(
                "node ids may use letters, digits, '_' and '-' only (no dots)",
                file=file,
                line=line,
                node=nid,
            )
        )
    if not isinstance(raw, dict):
        problems.append(Problem("a node must be a mapping with a 'type'", file=file, line=line, node=nid))
        return None
    for key in raw:
        if key not in _NODE_KEYS:
            problems.append(
                Problem(
                    f"unknown key '{key}' (expected type, params, inputs)",
                    file=file,
                    line=line_of(nid, key),
                    node=nid,
                    field=key,
                )
            )
    ntype = raw.get("type")
    if not ntype:
        problems.append(Problem("missing 'type'", file=file, line=line, node=nid, field="type"))
        return None
    cls = registry.get(str(ntype))
    if cls is None:
        suggestion = registry.suggest(str(ntype))
        more = f" (did you mean '{suggestion}'?)" if suggestion else " (see `fenta nodes`)"
        problems.append(
            Problem(
                f"unknown node type '{ntype}'{more}",
                file=file,
                line=line_of(nid, "type"),
                node=nid,
                field="type",
            )
        )
        return None
    params, parsed = _check_params(
        nid,
        raw,
        cls,
        file=file,
        line_of=line_of,
        vars=vars,
        template=template,
        policy=policy,
        problems=problems,
    )
    inputs = _check_inputs(nid, raw, file=file, line_of=line_of, problems=problems)
    return NodeSpec(id=nid, type=str(ntype), params=params, inputs=inputs, line=line, parsed_params=parsed)


def _check_params(
    nid: str,
    raw: dict[str, Any],
    cls: type[Node],
    *,
    file: str | None,
    line_of: NodeLines,
    vars: dict[str, Any],
    template: dict[str, Any],
    policy: Policy,
    problems: list[Problem],
) -> tuple[dict[str, Any], BaseModel | None]:
    """(the params with the variables filled in, the node type's model of them or None if refused)."""
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        problems.append(
            Problem(
                "'params' must be a mapping",
                file=file,
                line=line_of(nid, "params"),
                node=nid,
                field="params",
            )
        )
        params = {}

    def missing_var(name: str) -> None:
        problems.append(
            Problem(
                f"unknown variable '${{vars.{name}}}' (declare it under 'vars:' or pass --var {name}=...)",
                file=file,
                line=line_of(nid, "params"),
                node=nid,
                field="params",
            )
        )

    def bad_ref(ref: str) -> None:
        problems.append(
            Problem(
                f"'{ref}' cannot be interpolated: only ${{vars.NAME}} is allowed",
                file=file,
                line=line_of(nid, "params"),
                node=nid,
                field="params",
            )
        )

    check_refs(params, bad_ref)
    params = interpolate(params, vars, missing_var)
    try:
        parsed: BaseModel = cls.Params.model_validate(params)
    except ValidationError as e:
        problems += pydantic_problems(
            e,
            file=file,
            line_of=lambda *p: line_of(nid, "params", *p),
            node=nid,
            prefix="params.",
        )
        return params, None
    checker, check = cls(), CheckContext(template=template, workflow_file=file, policy=policy)
    # Files the policy refuses are the node's only problems: its own checks would look at them.
    off_limits = [
        (f, why)
        for f, value in checker.local_paths(parsed)
        if (why := policy.file_problem(check.path(value))) is not None
    ]
    for fld, msg in off_limits or checker.validate(parsed, check):
        # `fld` is the full field path ("params.paths[2]", "template.subtitles.font").
        parts = split_field(fld)
        line = line_of(nid, *parts) if parts[0] == "params" else line_of(nid)
        problems.append(Problem(msg, file=file, line=line, node=nid, field=fld))
    return params, parsed


def _check_inputs(
    nid: str, raw: dict[str, Any], *, file: str | None, line_of: NodeLines, problems: list[Problem]
) -> dict[str, list[tuple[str, str]]]:
    """port -> [(source node, source port)] as written ('node.port' each; checked against the graph
    later, in `connections`)."""
    inputs: dict[str, list[tuple[str, str]]] = {}
    raw_inputs = raw.get("inputs") or {}
    if not isinstance(raw_inputs, dict):
        problems.append(
            Problem(
                "'inputs' must map port names to 'node.port'",
                file=file,
                line=line_of(nid, "inputs"),
                node=nid,
                field="inputs",
            )
        )
        raw_inputs = {}
    for port, refs in raw_inputs.items():
        refs_list = refs if isinstance(refs, list) else [refs]
        parsed_refs = []
        for ref in refs_list:
            pr = _parse_ref(ref)
            if pr is None:
                problems.append(
                    Problem(
                        f"input must look like 'node.port', got {ref!r}",
                        file=file,
                        line=line_of(nid, "inputs", port),
                        node=nid,
                        field=f"inputs.{port}",
                    )
                )
            else:
                parsed_refs.append(pr)
        inputs[str(port)] = parsed_refs
    return inputs


def _parse_ref(ref: Any) -> tuple[str, str] | None:
    if not isinstance(ref, str) or ref.count(".") != 1:
        return None
    src, port = ref.split(".")
    return (src, port) if src and port else None
