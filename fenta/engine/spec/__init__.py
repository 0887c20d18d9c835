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

The checks, in the order a document meets them: `layout` (the top-level keys, and the nodes in either
shape brought to one), then the variables and the template (here), `nodes` (each node: its id, type,
params and inputs), `connections` (ports, their types, cycles); `problems` says where in the document
each problem lies. What comes out is a `fenta.engine.workflow.Workflow`.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from ...config import Settings
from ...documents import Lines, read_document
from ...errors import Problem, SpecError
from ...policy import TRUSTED, Policy
from ...template import TemplateError, resolve_template
from ..variables import parse_var_overrides, used_var_names
from ..workflow import NodeSpec, Workflow
from .connections import connection_problems
from .layout import node_entries, top_level_problems
from .nodes import check_node
from .problems import issue_problem

# Workflow and NodeSpec live in `fenta.engine.workflow`; they are named here too, as what `load` gives.
__all__ = ["Workflow", "NodeSpec", "load", "loads", "from_document", "parse_var_overrides"]


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
    problems += [issue_problem(i, doc, file) for i in issues]
    parse_problems = len(problems)
    problems += top_level_problems(doc, file, lines)

    written, line_of = node_entries(doc, file, lines, problems)
    if not isinstance(written, dict) or not written:
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
        problems += _unused_var_problems(vars, declared_vars, doc, file, lines)

    # Template: resolved first, because nodes validate their params against it.
    template_name = doc.get("template") if isinstance(doc.get("template"), str) else None
    template = _resolve_template(template_name, doc, file, lines, policy, problems)

    nodes: dict[str, NodeSpec] = {}
    for nid, raw in written.items():
        node = check_node(
            str(nid),
            raw,
            file=file,
            line_of=line_of,
            vars=merged_vars,
            template=template,
            policy=policy,
            problems=problems,
        )
        if node is not None:
            nodes[node.id] = node
    problems += connection_problems(nodes, written, file=file, line_of=line_of)

    if problems:
        # A value already refused while parsing (a tag, a broken escape) needs no second complaint about
        # its type.
        refused = {(p.node, p.field) for p in problems[:parse_problems] if p.field}
        problems = problems[:parse_problems] + [
            p for p in problems[parse_problems:] if (p.node, p.field) not in refused
        ]
        raise SpecError(problems, file=file)
    retry = (
        {k: v for k, v in doc["retry"].items() if v is not None}
        if isinstance(doc.get("retry"), dict)
        else None
    )
    name = doc.get("name") or (Path(file).stem if file and not file.startswith("<") else "workflow")
    return Workflow(
        name=str(name),
        nodes=nodes,
        vars=merged_vars,
        template_name=template_name,
        template=template,
        file=file,
        document=_document(doc, template_name, declared_vars, nodes, written, retry),
        retry=retry,
        policy=policy,
    )


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


def _policy_of(trusted: bool, policy: Policy | None) -> Policy:
    """The policy `load` applies: `policy` when given, else the local user's or the untrusted one."""
    if policy is None:
        return TRUSTED if trusted else Policy.untrusted(Settings.from_env())
    if not trusted and policy.trusted:
        raise ValueError("trusted=False contradicts the trusted policy given: pass one or the other")
    return policy


def _unused_var_problems(
    vars: dict[str, Any], declared: dict[str, Any], doc: dict[str, Any], file: str | None, lines: Lines
) -> list[Problem]:
    """A variable passed in that the workflow neither declares nor uses would change nothing: the video
    would go out with the default script. Say so instead."""
    known = set(declared) | used_var_names(doc.get("nodes"))
    listed = ", ".join(sorted(known)) or "none"
    problems = []
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
    return problems


def _resolve_template(
    template_name: str | None,
    doc: dict[str, Any],
    file: str | None,
    lines: Lines,
    policy: Policy,
    problems: list[Problem],
) -> dict[str, Any]:
    """The template with the workflow's `overrides:` applied ({} when it has problems: they are added to
    `problems`, pointing into the overrides when the bad value came from there)."""
    try:
        overrides_in = doc.get("overrides") if isinstance(doc.get("overrides"), dict) else {}
        base_dir = Path(file).parent if file else None
        return resolve_template(template_name, overrides_in, base_dir=base_dir, policy=policy)
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
        return {}


def _has_path(tree: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return bool(path)


def _document(
    doc: dict[str, Any],
    template_name: str | None,
    declared_vars: dict[str, Any],
    nodes: dict[str, NodeSpec],
    written: dict[Any, Any],
    retry: dict[str, Any] | None,
) -> dict[str, Any]:
    """The workflow as its job stores it (`Workflow.document`): one shape (`inputs:`), the params as
    written (variables not filled in), only the keys that say something; `from_document` reads it."""
    document = {
        "version": 1,
        "name": doc.get("name"),
        "template": template_name,
        "overrides": doc.get("overrides") or {},
        "vars": declared_vars,
        "nodes": {
            n.id: {
                "type": n.type,
                "params": written[n.id].get("params") or {},
                "inputs": {p: [f"{s}.{sp}" for s, sp in r] for p, r in n.inputs.items()},
            }
            for n in nodes.values()
        },
    }
    if retry:
        document["retry"] = retry
    if doc.get("sync") is True:
        document["sync"] = True
    return document
