"""Loading a workflow file (YAML or JSON, either shape) into a validated `Workflow`.

Validation collects every problem before raising, each with its file, line,
node id and field, so one run of `fenta validate` shows everything to fix.

Reading is strict (`fenta.documents.read_document`): YAML may hold plain values only (a
`!!python/...` or custom tag is a problem, not ignored), a key written twice in one mapping is a problem
(parsers keep the last one without a word), JSON goes to a JSON parser (tabs,
`\ud83d\udc1f` pairs), text holding half a surrogate pair is a problem, and a
variable passed in that the workflow neither declares nor uses is a problem.
Each node type adds its own static checks (`Node.validate`: files exist, voices
are known) on the params after `${vars.NAME}` is filled in.

A workflow is loaded under a trust policy (`fenta.policy`, docs/security.md): the local user's
(the default) or an untrusted one, for documents from someone else. Under the untrusted policy every
file a node names (`Node.local_paths`), a template given as a path and a template's logo must lie
inside FENTA_ALLOWED_DIRS; each other one is the node's (or the template's) one problem, found
before anything looks at the file. The loaded `Workflow` keeps its policy, and so does its job.
"""

from __future__ import annotations

import builtins
import difflib
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import Settings
from ..documents import Issue, Lines, field_path, read_document
from ..errors import Problem, SpecError
from ..nodes.base import CheckContext, Node, registry
from ..policy import TRUSTED, Policy
from ..template import TemplateError, resolve_template
from .graph import find_cycle
from .variables import check_refs, interpolate, parse_var_overrides, used_var_names

__all__ = ["Workflow", "NodeSpec", "load", "loads", "parse_var_overrides"]

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
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


class _Retry(BaseModel):
    """`retry:` - how a failed job is retried (at most 10 retries; the first wait 0.01 s to 1 h)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    max_retries: int | None = Field(None, ge=0, le=10)
    base_seconds: float | None = Field(None, gt=0, le=3600)


class _TopLevel(BaseModel):
    """Types of the top-level fields, strictly: a list is not a name, a number is not a template."""

    model_config = ConfigDict(strict=True, extra="ignore")

    name: str | None = None
    description: str | None = None
    template: str | None = None
    overrides: dict[str, Any] | None = None
    retry: _Retry | None = None
    sync: bool | None = None  # push the job to the hosted project (fenta.ops.sync)


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


# --------------------------------------------------------------------------- document paths


def _issue_problem(issue: Issue, doc: Any, file: str | None) -> Problem:
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


def _split_field(field: str) -> tuple[str | int, ...]:
    """ "params.paths[2]" -> ("params", "paths", 2): the key path of a field, for its line."""
    out: list[str | int] = []
    for part in field.split("."):
        name, *idx = re.split(r"\[(\d+)\]", part)
        if name:
            out.append(name)
        out += [int(i) for i in idx if i]
    return tuple(out)


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


# --------------------------------------------------------------------------- validation


def _pydantic_problems(
    err: ValidationError,
    *,
    file: str | None,
    line_of: Callable[..., int | None],
    node: str | None,
    prefix: str,
) -> list[Problem]:
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


def _parse_ref(ref: Any) -> tuple[str, str] | None:
    if not isinstance(ref, str) or ref.count(".") != 1:
        return None
    src, port = ref.split(".")
    return (src, port) if src and port else None


def _policy_of(trusted: bool, policy: Policy | None) -> Policy:
    """The policy `load` applies: `policy` when given, else the local user's or the untrusted one."""
    if policy is None:
        return TRUSTED if trusted else Policy.untrusted(Settings.from_env())
    if not trusted and policy.trusted:
        raise ValueError("trusted=False contradicts the trusted policy given: pass one or the other")
    return policy


def loads(
    text: str,
    *,
    file: str | None = None,
    vars: dict[str, Any] | None = None,
    trusted: bool = True,
    policy: Policy | None = None,
) -> Workflow:
    """Parse and validate workflow text. See `load`."""
    policy = _policy_of(trusted, policy)
    problems: list[Problem] = []
    doc, lines, issues = read_document(text, file)
    if not isinstance(doc, dict):
        raise SpecError([Problem("a workflow must be a mapping with a 'nodes' key", file=file, line=1)])
    problems += [_issue_problem(i, doc, file) for i in issues]
    parse_problems = len(problems)

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
        _TopLevel.model_validate(doc)
    except ValidationError as e:
        problems += _pydantic_problems(e, file=file, line_of=lines.get, node=None, prefix="")

    raw_nodes = doc.get("nodes")
    graph_shape = isinstance(raw_nodes, list) or "edges" in doc
    if graph_shape:
        raw_nodes = _graph_shape_to_nodes(doc, file, lines, problems)

        def line_of_node(nid: str, *rest: Any) -> int | None:
            idx = next(
                (
                    i
                    for i, n in enumerate(doc.get("nodes") or [])
                    if isinstance(n, dict) and str(n.get("id")) == nid
                ),
                None,
            )
            return lines.get("nodes", idx, "data", *rest) if idx is not None else None
    else:

        def line_of_node(nid: str, *rest: Any) -> int | None:
            return lines.get("nodes", nid, *rest)

    if not isinstance(raw_nodes, dict) or not raw_nodes:
        if not any(p.field == "nodes" for p in problems):
            problems.append(
                Problem(
                    "'nodes' must list at least one node", file=file, line=lines.get("nodes"), field="nodes"
                )
            )
        raise SpecError(problems, file=file)

    declared_vars = doc.get("vars") or {}
    if not isinstance(declared_vars, dict):
        problems.append(Problem("'vars' must be a mapping", file=file, line=lines.get("vars"), field="vars"))
        declared_vars = {}
    merged_vars = {**declared_vars, **(vars or {})}
    if vars:
        # A name the workflow neither declares nor uses would change nothing: the
        # video would go out with the default script. Say so instead.
        known = set(declared_vars) | used_var_names(doc.get("nodes"))
        listed = ", ".join(sorted(known)) or "none"
        for name in vars:
            if name in known:
                continue
            close = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(
                Problem(
                    f"variable '{name}' is not declared under 'vars:' or used by this workflow, so setting "
                    f"it would change nothing ({hint}its variables: {listed})",
                    file=file,
                    line=lines.get("vars"),
                    field=f"vars.{name}",
                )
            )

    # Template: resolved first, because nodes validate their params against it.
    template_name = doc.get("template") if isinstance(doc.get("template"), str) else None
    template: dict[str, Any] = {}
    try:
        overrides_in = doc.get("overrides") if isinstance(doc.get("overrides"), dict) else {}
        base_dir = Path(file).parent if file else None
        template = resolve_template(template_name, overrides_in, base_dir=base_dir, policy=policy)
    except TemplateError as e:
        overrides = doc.get("overrides") if isinstance(doc.get("overrides"), dict) else {}
        for p in e.problems:
            path = tuple((p.field or "").split("."))
            if p.line is None and _has_path(overrides, path):
                # The bad value came from this workflow's overrides: point there (a problem with a
                # line was found reading the template file itself: a key written twice, a tag).
                problems.append(
                    Problem(
                        p.message,
                        file=file,
                        line=lines.get("overrides", *path),
                        field="overrides." + ".".join(path),
                    )
                )
            else:
                problems.append(
                    Problem(
                        p.message,
                        file=p.file or file,
                        line=p.line or lines.get("template"),
                        field=p.field or "template",
                    )
                )

    nodes: dict[str, NodeSpec] = {}
    for nid, raw in raw_nodes.items():
        nid = str(nid)
        line = line_of_node(nid)
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
            continue
        for key in raw:
            if key not in ("type", "params", "inputs", "data", "id", "label", "position"):
                problems.append(
                    Problem(
                        f"unknown key '{key}' (expected type, params, inputs)",
                        file=file,
                        line=line_of_node(nid, key),
                        node=nid,
                        field=key,
                    )
                )
        ntype = raw.get("type")
        if not ntype:
            problems.append(Problem("missing 'type'", file=file, line=line, node=nid, field="type"))
            continue
        cls = registry.get(str(ntype))
        if cls is None:
            suggestion = registry.suggest(str(ntype))
            more = f" (did you mean '{suggestion}'?)" if suggestion else " (see `fenta nodes`)"
            problems.append(
                Problem(
                    f"unknown node type '{ntype}'{more}",
                    file=file,
                    line=line_of_node(nid, "type"),
                    node=nid,
                    field="type",
                )
            )
            continue

        params = raw.get("params") or {}
        if not isinstance(params, dict):
            problems.append(
                Problem(
                    "'params' must be a mapping",
                    file=file,
                    line=line_of_node(nid, "params"),
                    node=nid,
                    field="params",
                )
            )
            params = {}

        def missing_var(name: str, _nid: str = nid) -> None:
            problems.append(
                Problem(
                    f"unknown variable '${{vars.{name}}}' (declare it under 'vars:' or pass --var "
                    f"{name}=...)",
                    file=file,
                    line=line_of_node(_nid, "params"),
                    node=_nid,
                    field="params",
                )
            )

        def bad_ref(ref: str, _nid: str = nid) -> None:
            problems.append(
                Problem(
                    f"'{ref}' cannot be interpolated: only ${{vars.NAME}} is allowed",
                    file=file,
                    line=line_of_node(_nid, "params"),
                    node=_nid,
                    field="params",
                )
            )

        check_refs(params, bad_ref)
        params = interpolate(params, merged_vars, missing_var)
        parsed = None
        try:
            parsed = cls.Params.model_validate(params)
        except ValidationError as e:
            problems += _pydantic_problems(
                e,
                file=file,
                line_of=lambda *p, _n=nid: line_of_node(_n, "params", *p),
                node=nid,
                prefix="params.",
            )
        if parsed is not None:
            checker, check = cls(), CheckContext(template=template, workflow_file=file, policy=policy)
            # Files the policy refuses are the node's only problems: its own checks would look at them.
            off_limits = [
                (f, why)
                for f, value in checker.local_paths(parsed)
                if (why := policy.file_problem(check.path(value))) is not None
            ]
            for fld, msg in off_limits or checker.validate(parsed, check):
                # `fld` is the full field path ("params.paths[2]", "template.subtitles.font").
                parts = _split_field(fld)
                line = line_of_node(nid, *parts) if parts[0] == "params" else line_of_node(nid)
                problems.append(Problem(msg, file=file, line=line, node=nid, field=fld))

        inputs: dict[str, list[tuple[str, str]]] = {}
        raw_inputs = raw.get("inputs") or {}
        if not isinstance(raw_inputs, dict):
            problems.append(
                Problem(
                    "'inputs' must map port names to 'node.port'",
                    file=file,
                    line=line_of_node(nid, "inputs"),
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
                            line=line_of_node(nid, "inputs", port),
                            node=nid,
                            field=f"inputs.{port}",
                        )
                    )
                else:
                    parsed_refs.append(pr)
            inputs[str(port)] = parsed_refs
        nodes[nid] = NodeSpec(
            id=nid, type=str(ntype), params=params, inputs=inputs, line=line, parsed_params=parsed
        )

    # Connections: known ports, known sources, matching types, required inputs present.
    for node in nodes.values():
        cls = node.node_class
        in_ports = cls.input_ports()
        for port, refs in node.inputs.items():
            where: dict[str, Any] = dict(
                file=file, line=line_of_node(node.id, "inputs", port), node=node.id, field=f"inputs.{port}"
            )
            if port not in in_ports:
                names = ", ".join(in_ports) or "none"
                problems.append(
                    Problem(f"unknown input port '{port}' on {node.type} (its inputs: {names})", **where)
                )
                continue
            want = in_ports[port]
            if (
                len(refs) > 1
                and not want.endswith("[]")
                and want not in ("clips", "words", "scenes", "artifacts")
            ):
                problems.append(Problem(f"port '{port}' takes one connection, got {len(refs)}", **where))
            for src, src_port in refs:
                if src not in raw_nodes:
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
                    line=line_of_node(node.id),
                    node=node.id,
                    field=f"inputs.{port}",
                )
            )

    cycle = find_cycle(nodes)
    if cycle:
        loop = " -> ".join(cycle + [cycle[0]])
        problems.append(Problem(f"cycle: {loop}", file=file, line=line_of_node(cycle[0]), node=cycle[0]))

    if problems:
        # A value already refused while parsing (a tag, a broken escape) needs no second complaint about
        # its type.
        refused = {(p.node, p.field) for p in problems[:parse_problems] if p.field}
        problems = problems[:parse_problems] + [
            p for p in problems[parse_problems:] if (p.node, p.field) not in refused
        ]
        raise SpecError(problems, file=file)
    document = {
        "version": 1,
        "name": doc.get("name"),
        "template": template_name,
        "overrides": doc.get("overrides") or {},
        "vars": declared_vars,
        "nodes": {
            n.id: {
                "type": n.type,
                "params": raw_nodes[n.id].get("params") or {},
                "inputs": {p: [f"{s}.{sp}" for s, sp in r] for p, r in n.inputs.items()},
            }
            for n in nodes.values()
        },
    }
    retry = (
        {k: v for k, v in doc["retry"].items() if v is not None}
        if isinstance(doc.get("retry"), dict)
        else None
    )
    if retry:
        document["retry"] = retry
    if doc.get("sync") is True:
        document["sync"] = True
    name = doc.get("name") or (Path(file).stem if file and not file.startswith("<") else "workflow")
    return Workflow(
        name=str(name),
        nodes=nodes,
        vars=merged_vars,
        template_name=template_name,
        template=template,
        file=file,
        document=document,
        retry=retry,
        policy=policy,
    )


def _has_path(tree: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return bool(path)


def _compatible(have: str, want: str) -> bool:
    if have == want:
        return True
    # A single value may feed a list port of the same kind (text -> text[]).
    return want.endswith("[]") and want[:-2] == have


def load(
    path: str | Path,
    *,
    vars: dict[str, Any] | None = None,
    trusted: bool = True,
    policy: Policy | None = None,
) -> Workflow:
    """Load and validate a workflow file.

    Args:
        path: A `.yaml`, `.yml` or `.json` workflow (text starting with `{` or `[` is
            read as JSON whatever the name, and as YAML flow style if it is not JSON).
        vars: Variables overriding the file's `vars:` defaults; each must be declared
            under `vars:` or used as `${vars.NAME}` by the workflow.
        trusted: False for a workflow (or variables) from someone else: it is validated under the
            untrusted policy (`fenta.Policy.untrusted`, docs/security.md): every local file it names,
            its template file and logo included, must lie inside FENTA_ALLOWED_DIRS. Its job, its
            retries and resumes keep that policy.
        policy: A `fenta.Policy` to apply instead (e.g. untrusted with folders of your own); it wins
            over `trusted`, except that `trusted=False` with a trusted policy is a ValueError.

    Raises:
        SpecError: listing every problem found, each with file, line, node and field.
    """
    p = Path(path)
    shown = str(path)
    if not p.is_file():
        raise SpecError([Problem("file not found", file=shown)])
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError([Problem("not a UTF-8 text file", file=shown)]) from None
    wf = loads(text, file=shown, vars=vars, trusted=trusted, policy=policy)
    return wf


def from_document(
    document: dict[str, Any],
    *,
    file: str | None = None,
    vars: dict[str, Any] | None = None,
    policy: Policy,
) -> Workflow:
    """Rebuild a workflow from its stored document (used by `resume`), under the policy stored with
    its job (`Policy.from_stored(options.get("policy"))`: a caller must say which, never assume).

    Jobs stored before unknown variables became an error may carry names the
    workflow never used; they changed nothing then and are dropped here.
    """
    if vars:
        known = set(document.get("vars") or {}) | used_var_names(document.get("nodes"))
        vars = {k: v for k, v in vars.items() if k in known}
    return loads(json.dumps(document), file=file, vars=vars, policy=policy)
