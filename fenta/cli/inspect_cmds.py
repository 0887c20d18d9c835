"""validate, schema, nodes, graph."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ._app import app, console, emit_json, handle_errors

VarOpt = typer.Option(None, "--var", help="Override a variable: --var key=value (repeatable).")


@app.command()
@handle_errors()
def validate(
    file: Path = typer.Argument(..., help="Workflow file (.yaml, .yml or .json)."),
    var: Optional[List[str]] = VarOpt,
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check a workflow and report every problem at once (exit 2 when invalid)."""
    from ..engine.spec import load, parse_var_overrides

    wf = load(file, vars=parse_var_overrides(var))
    if json:
        emit_json({"status": "ok", "file": str(file), "name": wf.name, "nodes": list(wf.nodes), "hash": wf.hash})
    else:
        console.print(f"[green]✓[/] {file}: valid ({len(wf.nodes)} nodes, template {wf.template['name']})", highlight=False)


@app.command()
@handle_errors(None)
def schema() -> None:
    """Print the JSON Schema of the workflow format (for editor completion)."""
    from ..engine.schema import workflow_schema

    emit_json(workflow_schema())


@app.command()
@handle_errors()
def nodes(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List node types with their params and ports."""
    from ..nodes.base import registry

    rows = []
    for name in registry.names():
        cls = registry.get(name)
        assert cls is not None
        params = {n: (f.description or "") for n, f in cls.Params.model_fields.items()}
        rows.append({"type": name, "version": cls.version, "description": cls.description, "params": params, "inputs": cls.input_ports(), "outputs": cls.output_ports()})
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


@app.command()
@handle_errors(None)
def graph(
    file: Path = typer.Argument(..., help="Workflow file."),
    mermaid: bool = typer.Option(False, "--mermaid", help="Print Mermaid flowchart text instead."),
    var: Optional[List[str]] = VarOpt,
) -> None:
    """Draw the workflow graph in the terminal."""
    from ..engine.graph import to_mermaid, to_text
    from ..engine.spec import load, parse_var_overrides

    wf = load(file, vars=parse_var_overrides(var))
    if mermaid:
        typer.echo(to_mermaid(wf))
    else:
        console.print(to_text(wf), highlight=False, markup=False)
