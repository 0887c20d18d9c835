"""validate, schema, nodes, graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ._app import app, console, emit_json, err_console, handle_errors
from ._trust import UNTRUSTED_HELP, policy_for

VarOpt = typer.Option(
    None,
    "--var",
    help=(
        "Override a variable: --var key=value, or key=@file.txt to use a file's text (@@ for a literal "
        "@; repeatable)."
    ),
)


def _validate_one(file: str, vars: dict, settings, policy) -> dict:
    """Load one workflow ('-': stdin); a dict with its status, problems or summary, and the keys it needs."""
    import sys

    from ..engine.keys import key_needs
    from ..engine.spec import load, loads
    from ..errors import SpecError

    try:
        if file == "-":
            wf = loads(sys.stdin.read(), file="<stdin>", vars=vars, policy=policy)
        else:
            wf = load(file, vars=vars, policy=policy)
    except SpecError as e:
        return {
            "file": "<stdin>" if file == "-" else file,
            "status": "error",
            "problems": [p.__dict__ for p in e.problems],
            "_error": e,
        }
    return {
        "file": wf.file,
        "status": "ok",
        "name": wf.name,
        "nodes": list(wf.nodes),
        "template": wf.template.get("name"),
        "hash": wf.hash,
        "keys": [k.to_dict() for k in key_needs(wf, settings)],
    }


@app.command()
@handle_errors()
def validate(
    files: list[str] = typer.Argument(
        ..., help="Workflow files (.yaml, .yml or .json); '-' reads one from stdin."
    ),
    var: list[str] | None = VarOpt,
    strict: bool = typer.Option(
        False, "--strict", help="Also fail (exit 2) when an API key the workflows need is not set."
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON: one entry per file."),
    untrusted: bool = typer.Option(False, "--untrusted", help=UNTRUSTED_HELP),
) -> None:
    """Check workflows and report every problem in every file at once (exit 2 when any is invalid).

    Also lists the API keys each workflow needs and whether they are set (never their
    values); a missing key is not a bad workflow, so it fails only with --strict.
    """
    from ..config import Settings
    from ..engine.keys import KeyNeed, describe
    from ..engine.spec import parse_var_overrides
    from ._app import print_error

    policy = policy_for(untrusted)
    vars = parse_var_overrides(var, policy=policy)
    settings = Settings.from_env()
    results = [_validate_one(f, vars, settings, policy) for f in files]
    invalid = [r for r in results if r["status"] == "error"]
    missing = sorted({k["var"] for r in results for k in r.get("keys", []) if not k["set"]})
    failed = bool(invalid) or (strict and bool(missing))
    if json:
        out = [{k: v for k, v in r.items() if k != "_error"} for r in results]
        payload: dict = {
            "status": "error" if failed else "ok",
            "files": out,
            "problems": [p for r in out for p in r.get("problems", [])],
            "missing_keys": missing,
        }
        if failed:
            payload["exit_code"] = 2
        if len(out) == 1:  # one file: its fields at the top too, as before several files were taken
            payload = {**out[0], **payload}
        emit_json(payload)
    else:
        for r in results:
            if r["status"] == "error":
                print_error(r["_error"])
                continue
            console.print(
                f"[green]✓[/] {escape(r['file'])}: valid ({len(r['nodes'])} nodes, template "
                f"{escape(str(r['template']))})",
                highlight=False,
            )
            line = describe([KeyNeed(k["provider"], k["var"], k["nodes"], k["set"]) for k in r["keys"]])
            if line:
                console.print(f"  {line}", highlight=False, markup=False)
        if strict and missing:
            err_console.print(
                f"[bold red]error:[/] --strict: {', '.join(missing)} not set (export each, or put "
                "it in a .env file)",
                highlight=False,
            )
    if failed:
        raise typer.Exit(2)


@app.command()
@handle_errors(None)
def schema() -> None:
    """Print the JSON Schema of the workflow format (for editor completion)."""
    from ..engine.schema import workflow_schema

    emit_json(workflow_schema())


def _type_text(annotation: Any) -> str:
    """A param's type as a workflow author reads it: "auto | espeak", "int", "list[str]", "str | null"."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if annotation is type(None):
        return "null"
    if origin is not None:
        inner = ", ".join(_type_text(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS = (
    ("ge", ">="),
    ("gt", ">"),
    ("le", "<="),
    ("lt", "<"),
    ("min_length", "length >="),
    ("max_length", "length <="),
)


def _param_rows(cls: Any) -> dict[str, dict[str, Any]]:
    from pydantic_core import PydanticUndefined

    rows = {}
    for name, f in cls.Params.model_fields.items():
        bounds = [
            f"{word} {getattr(m, attr)}"
            for m in f.metadata
            for attr, word in _BOUNDS
            if getattr(m, attr, None) is not None
        ]
        if f.is_required():
            default: Any = None
        elif f.default_factory is not None:
            default = f.default_factory()  # type: ignore[call-arg]
        else:
            default = None if f.default is PydanticUndefined else f.default
        rows[name] = {
            "type": _type_text(f.annotation) + (f" ({', '.join(bounds)})" if bounds else ""),
            "required": f.is_required(),
            "default": default,
            "description": f.description or "",
        }
    return rows


def _shown(value: Any) -> str:
    import json as _json

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return _json.dumps(value, default=str)


def _default_keys(cls: Any) -> list[str]:
    """Key variables the type needs with its default params (a param may change that: see
    `fenta validate`)."""
    from ..config import KEY_NAMES

    try:
        providers = cls().required_keys(cls.Params.model_construct())
    except Exception:  # it reads a required param, which has no default to show
        providers = set()
    return sorted(KEY_NAMES.get(p, f"{p.upper()}_API_KEY") for p in providers)


def _node_detail(name: str) -> dict[str, Any]:
    from ..nodes.base import registry

    cls = registry.get(name)
    assert cls is not None
    required = cls.required_inputs()
    return {
        "type": name,
        "version": cls.version,
        "description": cls.description,
        "params": _param_rows(cls),
        "inputs": {p: {"type": t, "required": p in required} for p, t in cls.input_ports().items()},
        "outputs": cls.output_ports(),
        "keys": _default_keys(cls),
    }


def _print_node(d: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(
        f"[bold]{escape(d['type'])}[/] [dim](version {escape(str(d['version']))})[/]", highlight=False
    )
    if d["description"]:
        console.print(d["description"], highlight=False, markup=False)
    table = Table(title="params", title_justify="left", show_lines=False)
    for col in ("name", "type", "default", "description"):
        table.add_column(col, overflow="fold")
    for pname, p in d["params"].items():
        table.add_row(
            pname,
            p["type"],
            "[bold]required[/]" if p["required"] else escape(_shown(p["default"])),
            escape(p["description"]),
        )
    if d["params"]:
        console.print(table)
    else:
        console.print("params: none", highlight=False)
    ins = (
        ", ".join(
            f"{p}: {v['type']}" + ("" if v["required"] else " (optional)") for p, v in d["inputs"].items()
        )
        or "none"
    )
    console.print(f"inputs: {ins}", highlight=False, markup=False)
    outs = ", ".join(f"{p}: {t}" for p, t in d["outputs"].items()) or "none"
    console.print(f"outputs: {outs}", highlight=False, markup=False)
    console.print(f"keys: {', '.join(d['keys']) or 'none'}", highlight=False, markup=False)


@app.command()
@handle_errors()
def nodes(
    node_type: str | None = typer.Argument(
        None,
        metavar="[TYPE]",
        help="One node type to show in full: every param with its type and default, ports, keys.",
    ),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List node types with their params and ports, or show one type in full."""
    from ..errors import Problem, SpecError
    from ..nodes.base import registry

    if node_type is not None:
        if registry.get(node_type) is None:
            hint = registry.suggest(node_type) or next(
                (n for n in registry.names() if n.lower() == node_type.lower()), None
            )
            more = f"did you mean '{hint}'?" if hint else "see `fenta nodes` for the list"
            raise SpecError([Problem(f"unknown node type '{node_type}' ({more})")])
        detail = _node_detail(node_type)
        if json:
            emit_json(detail)
        else:
            _print_node(detail)
        return
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        cls = registry.get(name)
        assert cls is not None
        params = {n: (f.description or "") for n, f in cls.Params.model_fields.items()}
        rows.append(
            {
                "type": name,
                "version": cls.version,
                "description": cls.description,
                "params": params,
                "inputs": cls.input_ports(),
                "outputs": cls.output_ports(),
            }
        )
    if json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(title="Node types", show_lines=True)
    for col in ("type", "params", "inputs", "outputs"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            f"[bold]{r['type']}[/]\n[dim]{r['description']}[/]",
            "\n".join(r["params"]) or "-",
            "\n".join(f"{k}: {v}" for k, v in r["inputs"].items()) or "-",
            "\n".join(f"{k}: {v}" for k, v in r["outputs"].items()) or "-",
        )
    console.print(table)
    console.print("[dim]fenta nodes TYPE shows one type's params with types and defaults[/]", highlight=False)


@app.command()
@handle_errors(None)
def graph(
    file: Path = typer.Argument(..., help="Workflow file."),
    mermaid: bool = typer.Option(False, "--mermaid", help="Print Mermaid flowchart text instead."),
    var: list[str] | None = VarOpt,
) -> None:
    """Draw the workflow graph in the terminal."""
    from ..engine.graph import to_mermaid, to_text
    from ..engine.spec import load, parse_var_overrides

    wf = load(file, vars=parse_var_overrides(var))
    if mermaid:
        typer.echo(to_mermaid(wf))
    else:
        console.print(to_text(wf), highlight=False, markup=False)
