"""Loading a workflow file (YAML or JSON, either shape) into a validated `Workflow`.

Validation collects every problem before raising, each with its file, line,
node id and field, so one run of `fenta validate` shows everything to fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import Problem, SpecError
from ..nodes.base import Node, registry

__all__ = ["Workflow", "NodeSpec", "load", "loads", "parse_var_overrides"]

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_VAR = re.compile(r"\$\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_ANY_REF = re.compile(r"\$\{([^}]*)\}")
_TOP_KEYS = {"version", "name", "template", "overrides", "vars", "nodes", "edges", "description"}


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
    def node_class(self) -> type[Node]:
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


# --------------------------------------------------------------------------- parsing


class _Lines:
    """Line numbers of YAML/JSON values by their key path."""

    def __init__(self) -> None:
        self.by_path: dict[tuple, int] = {}

    def get(self, *path: Any) -> int | None:
        while path:
            if path in self.by_path:
                return self.by_path[path]
            path = path[:-1]
        return None


def _construct(node: yaml.Node, path: tuple, lines: _Lines) -> Any:
    lines.by_path[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k, v in node.value:
            key = _construct(k, path, lines)
            if isinstance(key, (list, dict)):
                key = str(key)
            out[key] = _construct(v, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, path + (i,), lines) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _parse(text: str, file: str | None) -> tuple[Any, _Lines]:
    lines = _Lines()
    is_json = bool(file and file.lower().endswith(".json"))
    if is_json:
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError([Problem(f"invalid JSON: {e.msg} (column {e.colno})", file=file, line=e.lineno)])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        what = getattr(e, "problem", None) or str(e)
        raise SpecError(
            [Problem(f"invalid YAML: {what}", file=file, line=mark.line + 1 if mark else None)]
        ) from None
    if root is None:
        raise SpecError([Problem("the file is empty", file=file)])
    return _construct(root, (), lines), lines


def _graph_shape_to_nodes(doc: dict, file: str | None, problems: list[Problem]) -> dict:
    """Convert the web builder's {nodes: [...], edges: [...]} into the `inputs:` shape."""
    nodes: dict[str, dict] = {}
    for i, raw in enumerate(doc.get("nodes") or []):
        if not isinstance(raw, dict) or "id" not in raw:
            problems.append(Problem(f"nodes[{i}] needs an 'id'", file=file))
            continue
        data = raw.get("data") or {}
        params = data.get("params", {}) if isinstance(data, dict) else {}
        nodes[str(raw["id"])] = {"type": raw.get("type") or data.get("type"), "params": params, "inputs": {}}
    for i, e in enumerate(doc.get("edges") or []):
        if not isinstance(e, dict):
            problems.append(Problem(f"edges[{i}] must be an object", file=file))
            continue
        missing = [k for k in ("source", "sourceHandle", "target", "targetHandle") if not e.get(k)]
        if missing:
            problems.append(Problem(f"edges[{i}] is missing {', '.join(missing)}", file=file))
            continue
        target = nodes.get(str(e["target"]))
        if target is None:
            problems.append(Problem(f"edges[{i}] targets unknown node '{e['target']}'", file=file))
            continue
        target["inputs"].setdefault(e["targetHandle"], []).append(f"{e['source']}.{e['sourceHandle']}")
    return nodes


# --------------------------------------------------------------------------- variables


def parse_var_overrides(pairs: list[str] | None) -> dict[str, str]:
    """Turn ['k=v', ...] (from --var) into a dict; raises SpecError on a malformed pair."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError([Problem(f"--var '{pair}' must look like key=value")])
        out[key.strip()] = value
    return out


def _interpolate(value: Any, vars: dict, on_missing) -> Any:
    if isinstance(value, str):
        whole = _VAR.fullmatch(value.strip())
        if whole:
            name = whole.group(1)
            if name not in vars:
                on_missing(name)
                return value
            return vars[name]

        def sub(m: re.Match) -> str:
            if m.group(1) not in vars:
                on_missing(m.group(1))
                return m.group(0)
            return str(vars[m.group(1)])

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, vars, on_missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, vars, on_missing) for v in value]
    return value


def _check_refs(value: Any, on_bad) -> None:
    """Only ${vars.NAME} may be interpolated: no environment, no keys."""
    if isinstance(value, str):
        for m in _ANY_REF.finditer(value):
            if not _VAR.fullmatch(m.group(0)):
                on_bad(m.group(0))
    elif isinstance(value, dict):
        for v in value.values():
            _check_refs(v, on_bad)
    elif isinstance(value, list):
        for v in value:
            _check_refs(v, on_bad)


# --------------------------------------------------------------------------- validation


def _pydantic_problems(err: ValidationError, *, file, line_of, node: str, prefix: str) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown param"
        elif e["type"] == "missing":
            msg = "required param is missing"
        elif "input" in e and not isinstance(e["input"], (dict, list)):
            msg = f"{msg} (got {e['input']!r})"
        out.append(Problem(msg, file=file, line=line_of(*e["loc"]), node=node, field=f"{prefix}{loc}"))
    return out


def _parse_ref(ref: Any) -> tuple[str, str] | None:
    if not isinstance(ref, str) or ref.count(".") != 1:
        return None
    src, port = ref.split(".")
    return (src, port) if src and port else None


def loads(
    text: str,
    *,
    file: str | None = None,
    vars: dict[str, Any] | None = None,
) -> Workflow:
    """Parse and validate workflow text. See `load`."""
    from ..render.templates import TemplateError, resolve_template

    problems: list[Problem] = []
    doc, lines = _parse(text, file)
    if not isinstance(doc, dict):
        raise SpecError([Problem("a workflow must be a mapping with a 'nodes' key", file=file, line=1)])

    for key in doc:
        if key not in _TOP_KEYS:
            problems.append(Problem(f"unknown top-level key '{key}'", file=file, line=lines.get(key)))
    version = doc.get("version", 1)
    if version != 1:
        problems.append(Problem(f"unsupported version {version!r} (expected 1)", file=file, line=lines.get("version"), field="version"))

    raw_nodes = doc.get("nodes")
    graph_shape = isinstance(raw_nodes, list) or "edges" in doc
    if graph_shape:
        raw_nodes = _graph_shape_to_nodes(doc, file, problems)

        def line_of_node(nid: str, *rest: Any) -> int | None:
            idx = next((i for i, n in enumerate(doc.get("nodes") or []) if isinstance(n, dict) and str(n.get("id")) == nid), None)
            return lines.get("nodes", idx, "data", *rest) if idx is not None else None
    else:

        def line_of_node(nid: str, *rest: Any) -> int | None:
            return lines.get("nodes", nid, *rest)

    if not isinstance(raw_nodes, dict) or not raw_nodes:
        problems.append(Problem("'nodes' must list at least one node", file=file, line=lines.get("nodes"), field="nodes"))
        raise SpecError(problems, file=file)

    declared_vars = doc.get("vars") or {}
    if not isinstance(declared_vars, dict):
        problems.append(Problem("'vars' must be a mapping", file=file, line=lines.get("vars"), field="vars"))
        declared_vars = {}
    merged_vars = {**declared_vars, **(vars or {})}

    # Template: resolved first, because nodes validate their params against it.
    template_name = doc.get("template")
    template: dict[str, Any] = {}
    try:
        template = resolve_template(template_name, doc.get("overrides") or {}, base_dir=Path(file).parent if file else None)
    except TemplateError as e:
        overrides = doc.get("overrides") if isinstance(doc.get("overrides"), dict) else {}
        for p in e.problems:
            path = tuple((p.field or "").split("."))
            if _has_path(overrides, path):
                # The bad value came from this workflow's overrides: point there.
                problems.append(Problem(p.message, file=file, line=lines.get("overrides", *path), field="overrides." + ".".join(path)))
            else:
                problems.append(Problem(p.message, file=p.file or file, line=p.line or lines.get("template"), field=p.field or "template"))

    nodes: dict[str, NodeSpec] = {}
    for nid, raw in raw_nodes.items():
        nid = str(nid)
        line = line_of_node(nid)
        if not _ID.match(nid):
            problems.append(Problem("node ids may use letters, digits, '_' and '-' only (no dots)", file=file, line=line, node=nid))
        if not isinstance(raw, dict):
            problems.append(Problem("a node must be a mapping with a 'type'", file=file, line=line, node=nid))
            continue
        for key in raw:
            if key not in ("type", "params", "inputs", "data", "id", "label", "position"):
                problems.append(Problem(f"unknown key '{key}' (expected type, params, inputs)", file=file, line=line_of_node(nid, key), node=nid, field=key))
        ntype = raw.get("type")
        if not ntype:
            problems.append(Problem("missing 'type'", file=file, line=line, node=nid, field="type"))
            continue
        cls = registry.get(str(ntype))
        if cls is None:
            hint = registry.suggest(str(ntype))
            more = f" (did you mean '{hint}'?)" if hint else " (see `fenta nodes`)"
            problems.append(Problem(f"unknown node type '{ntype}'{more}", file=file, line=line_of_node(nid, "type"), node=nid, field="type"))
            continue

        params = raw.get("params") or {}
        if not isinstance(params, dict):
            problems.append(Problem("'params' must be a mapping", file=file, line=line_of_node(nid, "params"), node=nid, field="params"))
            params = {}

        def missing_var(name: str, _nid=nid) -> None:
            problems.append(Problem(f"unknown variable '${{vars.{name}}}' (declare it under 'vars:' or pass --var {name}=...)", file=file, line=line_of_node(_nid, "params"), node=_nid, field="params"))

        def bad_ref(ref: str, _nid=nid) -> None:
            problems.append(Problem(f"'{ref}' cannot be interpolated: only ${{vars.NAME}} is allowed", file=file, line=line_of_node(_nid, "params"), node=_nid, field="params"))

        _check_refs(params, bad_ref)
        params = _interpolate(params, merged_vars, missing_var)
        parsed = None
        try:
            parsed = cls.Params.model_validate(params)
        except ValidationError as e:
            problems += _pydantic_problems(e, file=file, line_of=lambda *p, _n=nid: line_of_node(_n, "params", *p), node=nid, prefix="params.")
        if parsed is not None:
            for fld, msg in cls().validate_params(parsed, template):
                # `fld` is the full field path ("params.model", "template.subtitles.font").
                parts = fld.split(".")
                line = line_of_node(nid, *parts) if parts[0] == "params" else line_of_node(nid)
                problems.append(Problem(msg, file=file, line=line, node=nid, field=fld))

        inputs: dict[str, list[tuple[str, str]]] = {}
        raw_inputs = raw.get("inputs") or {}
        if not isinstance(raw_inputs, dict):
            problems.append(Problem("'inputs' must map port names to 'node.port'", file=file, line=line_of_node(nid, "inputs"), node=nid, field="inputs"))
            raw_inputs = {}
        for port, refs in raw_inputs.items():
            refs_list = refs if isinstance(refs, list) else [refs]
            parsed_refs = []
            for ref in refs_list:
                pr = _parse_ref(ref)
                if pr is None:
                    problems.append(Problem(f"input must look like 'node.port', got {ref!r}", file=file, line=line_of_node(nid, "inputs", port), node=nid, field=f"inputs.{port}"))
                else:
                    parsed_refs.append(pr)
            inputs[str(port)] = parsed_refs
        nodes[nid] = NodeSpec(id=nid, type=str(ntype), params=params, inputs=inputs, line=line, parsed_params=parsed)

    # Connections: known ports, known sources, matching types, required inputs present.
    for node in nodes.values():
        cls = node.node_class
        in_ports = cls.input_ports()
        for port, refs in node.inputs.items():
            where = dict(file=file, line=line_of_node(node.id, "inputs", port), node=node.id, field=f"inputs.{port}")
            if port not in in_ports:
                known = ", ".join(in_ports) or "none"
                problems.append(Problem(f"unknown input port '{port}' on {node.type} (its inputs: {known})", **where))
                continue
            want = in_ports[port]
            if len(refs) > 1 and not want.endswith("[]") and want not in ("clips", "words", "scenes", "artifacts"):
                problems.append(Problem(f"port '{port}' takes one connection, got {len(refs)}", **where))
            for src, src_port in refs:
                if src not in raw_nodes:
                    problems.append(Problem(f"input refers to unknown node '{src}'", **where))
                    continue
                if src not in nodes:
                    continue  # the source node has its own problem already
                out_ports = nodes[src].node_class.output_ports()
                if src_port not in out_ports:
                    known = ", ".join(out_ports) or "none"
                    problems.append(Problem(f"node '{src}' ({nodes[src].type}) has no output '{src_port}' (its outputs: {known})", **where))
                    continue
                have = out_ports[src_port]
                if not _compatible(have, want):
                    problems.append(Problem(f"type mismatch: '{src}.{src_port}' gives {have} but '{port}' takes {want}", **where))
        for port in sorted(cls.required_inputs() - set(node.inputs)):
            problems.append(Problem(f"required input '{port}' ({in_ports[port]}) is not connected", file=file, line=line_of_node(node.id), node=node.id, field=f"inputs.{port}"))

    from .graph import find_cycle

    cycle = find_cycle(nodes)
    if cycle:
        path = " -> ".join(cycle + [cycle[0]])
        problems.append(Problem(f"cycle: {path}", file=file, line=line_of_node(cycle[0]), node=cycle[0]))

    if problems:
        raise SpecError(problems, file=file)
    document = {
        "version": 1,
        "name": doc.get("name"),
        "template": template_name,
        "overrides": doc.get("overrides") or {},
        "vars": declared_vars,
        "nodes": {n.id: {"type": n.type, "params": raw_nodes[n.id].get("params") or {}, "inputs": {p: [f"{s}.{sp}" for s, sp in r] for p, r in n.inputs.items()}} for n in nodes.values()},
    }
    name = doc.get("name") or (Path(file).stem if file else "workflow")
    return Workflow(name=str(name), nodes=nodes, vars=merged_vars, template_name=template_name, template=template, file=file, document=document)


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


def load(path: str | Path, *, vars: dict[str, Any] | None = None) -> Workflow:
    """Load and validate a workflow file.

    Args:
        path: A `.yaml`, `.yml` or `.json` workflow.
        vars: Variables overriding the file's `vars:` defaults.

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
    wf = loads(text, file=shown, vars=vars)
    return wf


def from_document(document: dict[str, Any], *, file: str | None = None, vars: dict[str, Any] | None = None) -> Workflow:
    """Rebuild a workflow from its stored document (used by `resume`)."""
    return loads(json.dumps(document), file=file, vars=vars)
