"""jobs, jobs show."""

from __future__ import annotations

import datetime as dt

import typer
from rich.markup import escape

from ..config import Settings
from ..errors import JobError
from ._app import app, console, emit_json, handle_errors

jobs_app = typer.Typer(help="List recent jobs, or show one.", no_args_is_help=False, invoke_without_command=True)
app.add_typer(jobs_app, name="jobs")


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


_COLOUR = {"completed": "green", "failed": "red", "running": "yellow", "queued": "blue", "dead": "magenta"}


@jobs_app.callback()
@handle_errors()
def jobs_list(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", help="How many jobs to show."),
    status: str = typer.Option(None, "--status", help="Only jobs in this state (queued, running, completed, failed, dead)."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List recent jobs."""
    if ctx.invoked_subcommand:
        return
    from ..engine.store import JobStore

    store = JobStore(Settings.from_env().db_path)
    rows = store.list_jobs(limit, status)
    store.close()
    if json:
        emit_json(rows)
        return
    if not rows:
        console.print("no jobs yet: try `fenta run examples/quickstart.yaml`")
        return
    from rich.table import Column, Table
    from rich.text import Text

    # Ids are never cut or wrapped (they are what people copy); the error is shortened here and
    # shown whole by `fenta jobs show`.
    table = Table(Column("id", no_wrap=True, overflow="fold"), "workflow", "status", Column("progress", justify="right"), "created", "error")
    for r in rows:
        colour = _COLOUR.get(r["status"], "white")
        error = r["error"] or ""
        table.add_row(r["id"], Text(r["workflow_name"]), f"[{colour}]{r['status']}[/]", f"{r['progress'] * 100:.0f}%", _when(r["created_at"]), Text(error if len(error) <= 40 else error[:39] + "…"))
    console.print(table)


@jobs_app.command("show")
@handle_errors()
def jobs_show(
    job_id: str = typer.Argument(..., help="Job id (a unique prefix is enough)."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a job's nodes, timings, artifacts and error."""
    from ..engine.store import JobStore

    store = JobStore(Settings.from_env().db_path)
    try:
        job = store.get_job(job_id)
        if job is None:
            raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
        runs = store.node_runs(job["id"])
        arts = store.artifacts(job["id"])
    finally:
        store.close()
    if json:
        job = {k: v for k, v in job.items() if k != "document"}
        emit_json({"job": job, "nodes": runs, "artifacts": arts})
        return
    colour = _COLOUR.get(job["status"], "white")
    console.print(f"[bold]{job['id']}[/]  {escape(job['workflow_name'])}  [{colour}]{job['status']}[/]  attempt {job['attempt']}", highlight=False)
    console.print(f"created {_when(job['created_at'])}  finished {_when(job['finished_at'])}  cost {job['cost']:.4f}", highlight=False)
    from rich.table import Table
    table = Table(title="nodes")
    for col in ("node", "type", "status", "seconds", "error"):
        table.add_column(col)
    for r in runs:
        table.add_row(r["node_id"], r["node_type"], r["status"], f"{r['seconds'] or 0:.2f}", (r["error"] or "")[:80])
    console.print(table)
    if job.get("workflow_file"):
        console.print(f"[dim]workflow[/]  {escape(job['workflow_file'])}", highlight=False)
    for a in arts:
        console.print(f"[dim]{a['kind']}[/]  {escape(a['path'])}", highlight=False)
    if job["error"]:
        console.print(f"[red]error:[/] {escape(job['error'])}", highlight=False, markup=True)
