"""run, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List, Optional

import typer

from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import CostLimitError
from ._app import app, console, emit_json, err_console, handle_errors

if TYPE_CHECKING:
    from ..engine.runner import RunResult
    from ..engine.spec import Workflow


def _summary(result: RunResult) -> None:
    if result.status == "completed":
        console.print(f"[bold green]✓ done[/] in {result.seconds:.1f}s  [dim]job {result.job_id}[/]", highlight=False)
        from rich.table import Table
        table = Table(show_header=False, box=None, padding=(0, 2))
        for kind, path in result.artifacts.items():
            table.add_row(f"[dim]{kind}[/]", path)
        console.print(table)
        if result.cost:
            console.print(f"cost: {result.cost:.4f}")
    else:
        err_console.print(f"[bold red]✗ failed[/] [dim]job {result.job_id}[/]", highlight=False)
        err_console.print(result.error or "unknown error", highlight=False, markup=False)
        err_console.print(f"[dim]continue with:[/] fenta resume {result.job_id}", highlight=False)


def _finish(result: RunResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
    else:
        _summary(result)
    if result.status != "completed":
        raise typer.Exit(1)


def _confirm_cost(wf: Workflow, yes: bool, max_cost: Optional[float], as_json: bool) -> None:
    from ..engine.runner import plan

    estimate = plan(wf).total_cost
    if estimate <= 0:
        return
    if max_cost is not None and estimate > max_cost:
        raise CostLimitError(f"estimated cost {estimate:.4f} exceeds --max-cost {max_cost:.4f}; nothing was run")
    if yes or as_json or not console.is_terminal:
        return
    if not typer.confirm(f"This run is estimated to cost {estimate:.4f}. Continue?", default=False):
        raise typer.Exit(1)


@app.command()
@handle_errors()
def run(
    file: Path = typer.Argument(..., help="Workflow file (.yaml, .yml or .json)."),
    var: Optional[List[str]] = typer.Option(None, "--var", help="Override a variable: --var key=value (repeatable)."),
    out: Path = typer.Option(Path("renders"), "-o", "--out", help="Folder for the finished video and its artifacts."),
    refresh: Optional[List[str]] = typer.Option(None, "--refresh", help="Run this node again even if cached (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate, plan and estimate the cost; call nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before a run that costs money."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Refuse to run when the estimate is higher."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON (for CI)."),
    preview: bool = typer.Option(False, "--preview", help="Render a quick low-resolution draft (360p, fastest preset); cached apart from the full render."),
) -> None:
    """Run a workflow and write the video, subtitles and thumbnail to --out."""
    from ..engine.runner import plan, run_async
    from ..engine.spec import load, parse_var_overrides
    from ..media.ffmpeg import ffmpeg_choice

    wf = load(file, vars=parse_var_overrides(var))
    if preview:
        # A run-level option read by Render nodes through their params, so it joins their cache key.
        for spec in wf.nodes.values():
            if spec.type == "Render" and spec.parsed_params is not None and "preview" in type(spec.parsed_params).model_fields:
                spec.parsed_params = spec.parsed_params.model_copy(update={"preview": True})
    if dry_run:
        p = plan(wf)
        if json:
            emit_json({"status": "planned", "name": wf.name, "order": p.order, "cost": p.cost, "total_cost": p.total_cost})
        else:
            console.print(f"[bold]{wf.name}[/]: {len(wf.nodes)} nodes, template {wf.template['name']}", highlight=False)
            for i, layer in enumerate(p.order, 1):
                console.print(f"  step {i}: " + ", ".join(f"{n} [dim]({wf.nodes[n].type})[/]" for n in layer), highlight=False)
            console.print(f"estimated cost: {p.total_cost:.4f}" + (f"  {p.cost}" if p.cost else ""), highlight=False)
        return
    ffmpeg_choice()  # an unusable FENTA_FFMPEG is bad input (exit 2), not a failed job; any notice comes before the display
    _confirm_cost(wf, yes, max_cost, json)
    types = {n: s.type for n, s in wf.nodes.items()}
    from ._progress import RunDisplay

    with RunDisplay(err_console, types, enabled=not json) as display:
        result = asyncio.run(run_async(wf, out=out, refresh=refresh, on_event=display, max_cost=max_cost, settings=Settings.from_env()))
    _finish(result, json)


@app.command()
@handle_errors()
def resume(
    job_id: str = typer.Argument(..., help="The job to continue (a unique prefix is enough)."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Continue a failed or killed job from its last finished node."""
    from ..engine.runner import resume_async
    from ..engine.store import JobStore
    from ..media.ffmpeg import ffmpeg_choice

    ffmpeg_choice()  # an unusable FENTA_FFMPEG is bad input (exit 2), not a failed job
    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    job = store.get_job(job_id)
    store.close()
    types = {}
    if job:
        types = {n: v["type"] for n, v in job["document"]["nodes"].items()}
    from ._progress import RunDisplay

    with RunDisplay(err_console, types, enabled=not json) as display:
        result = asyncio.run(resume_async(job_id, on_event=display, settings=settings))
    _finish(result, json)
