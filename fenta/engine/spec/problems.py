"""Where a problem lies in a workflow document: the node and field a path points into, and its line.

A problem found reading the text (`fenta.documents.Issue`: a tag, a key written twice) and one found
by a pydantic model (a field's type, a param's range) both become a `Problem` naming the file, line,
node id and field, in either shape of the document (nodes as a mapping, or the web builder's list).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ...documents import Issue, field_path
from ...errors import Problem

__all__ = ["issue_problem", "pydantic_problems", "split_field"]


def issue_problem(issue: Issue, doc: Any, file: str | None) -> Problem:
    """Name the node and field a document path points into (either shape)."""
    path = issue.path
    message = issue.message
    if issue.first_line is not None and path[:-1] == ("nodes",):
        twice = f"node id '{path[-1]}' is used twice (first at line {issue.first_line})"
        message = f"{twice}; only one node can have it"
    node = fld = None
    if len(path) >= 2 and path[0] == "nodes":
        rest = path[2:]
        if isinstance(path[1], int):  # the builder's graph shape: nodes[i].data.params...
            raw = doc.get("nodes") if isinstance(doc, dict) else None
            item = raw[path[1]] if isinstance(raw, list) and path[1] < len(raw) else None
            if isinstance(item, dict) and isinstance(item.get("id"), (str, int)):
                node = str(item["id"])
            else:
                rest = path
            if rest[:1] == ("data",):
                rest = rest[1:]
        else:
            node = str(path[1])
        fld = field_path(rest)
    else:
        fld = field_path(path)
    return Problem(message, file=file, line=issue.line, node=node, field=fld)


def split_field(field: str) -> tuple[str | int, ...]:
    """ "params.paths[2]" -> ("params", "paths", 2): the key path of a field, for its line."""
    out: list[str | int] = []
    for part in field.split("."):
        name, *idx = re.split(r"\[(\d+)\]", part)
        if name:
            out.append(name)
        out += [int(i) for i in idx if i]
    return tuple(out)


def pydantic_problems(
    err: ValidationError,
    *,
    file: str | None,
    line_of: Callable[..., int | None],
    node: str | None,
    prefix: str,
) -> list[Problem]:
    """One problem per error of a pydantic model, in words for the workflow's author.

    Args:
        line_of: The line of a key path inside what the model checked.
        node: The node whose params were checked (None: the top level).
        prefix: What the model's field paths are under ("params.", or "" for the top level).
    """
    out = []
    for e in err.errors():
        loc = field_path(tuple(e["loc"])) or ""
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown param"
        elif e["type"] == "missing":
            msg = "required param is missing"
        elif e["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        else:
            msg = msg.replace("Input should be", "should be", 1)  # pydantic's word for the value
        if e["type"] not in ("extra_forbidden", "missing", "value_error") and "input" in e:
            got = e["input"]
            msg += (
                " (got a list)"
                if isinstance(got, list)
                else " (got a mapping)"
                if isinstance(got, dict)
                else f" (got {got!r})"
            )
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or None
        out.append(Problem(msg, file=file, line=line_of(*e["loc"]), node=node, field=field))
    return out
