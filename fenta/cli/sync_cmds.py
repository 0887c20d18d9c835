"""sync, sync status, sync sql: push jobs to the hosted project, see what waits, print the hosted schema."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from ..config import Settings
from ._app import app, console, emit_json, err_console, handle_errors

sync_app = typer.Typer(
    help=(
        "Push jobs, progress and renders to the hosted project (FENTA_API_URL, FENTA_API_KEY); see what "
        "is pending; print the SQL to set it up."
    ),
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(sync_app, name="sync")


@sync_app.callback()
@handle_errors()
def sync_push(
    ctx: typer.Context,
    job: str | None = typer.Option(
        None, "--job", help="Push only this job (a unique prefix is enough), even if it was pushed already."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Say which jobs, events, usage records and files would be pushed; send nothing.",
    ),
    json: bool = typer.Option(False, "--json", help="Print what was pushed as JSON."),
) -> None:
    """Push whatever is pending: job rows, their events and usage, and finished renders
    (renders/{job_id}/{file}); then send the job.completed webhooks that waited for those videos."""
    if ctx.invoked_subcommand:
        return
    from ..ops.sync import push

    settings = Settings.from_env()
    report = push(settings, job_id=job, dry_run=dry_run)
    if not dry_run and any(j.error is None and j.skipped is None for j in report.jobs):
        from ..ops.readers import after_job

        after_job(settings, None, wait=0.0)  # webhooks that waited for these videos go out now
    if json:
        emit_json(report.to_dict())
    else:
        if not report.jobs:
            console.print("nothing to push", highlight=False)
        for j in report.jobs:
            if j.error:
                line = f"[red]✗[/] {j.job_id}  {escape(j.error)}"
            elif j.skipped:
                line = f"[dim]-[/] {j.job_id}  {escape(j.skipped)}"
            else:
                verb = "would push" if report.dry_run else "pushed"
                files = f", files {', '.join(j.files)}" if j.files else ""
                hosted = f" (hosted {escape(j.remote_id)})" if j.remote_id != j.job_id else ""
                line = (
                    f"[green]✓[/] {j.job_id}{hosted}  {verb} {j.status} row, {j.events} event(s), "
                    f"{j.usage} usage record(s){escape(files)}"
                )
            console.print(line, highlight=False)
    if report.error:
        if not json:
            when = (
                "once the hosted project answers"
                if report.retryable
                else "once what the line above says is fixed"
            )
            err_console.print(
                f"the push waits: run `fenta sync` again {when} (`fenta sync status` shows what is left)",
                highlight=False,
            )
        raise typer.Exit(1)


@sync_app.command("status")
@handle_errors()
def sync_status(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show what is waiting to be pushed, when the last push happened and the last error."""
    from ..ops.sync import status

    s = status(Settings.from_env())
    if json:
        emit_json(s)
        return
    if s["configured"]:
        console.print(f"[bold]hosted[/]     {escape(s['url'])}", highlight=False)
    else:  # no project yet: the built-in default URL would only mislead
        console.print(
            f"[bold]hosted[/]     not configured [yellow]({escape(s['problem'])})[/]", highlight=False
        )
    every = "; every job is pushed (FENTA_SYNC=1)" if s["sync_all"] else ""
    console.print(
        f"[bold]pending[/]    {len(s['pending'])} job(s); {s['synced']} pushed and up to date{every}",
        highlight=False,
    )
    for p in s["pending"]:
        err = f"  [red]{escape(p['last_error'])}[/]" if p["last_error"] else ""
        console.print(
            f"  {p['job_id']}  {p['status']}{' (hosted ' + p['remote_id'] + ')' if p['hosted'] else ''}{err}",
            highlight=False,
        )
    console.print(f"[bold]last push[/]  {s['last_push_at'] or 'never'}", highlight=False)
    if s["last_error"]:
        since = (
            "  [dim](a push has succeeded since)[/]"
            if s["last_push_at"] and s["last_push_at"] > s["last_error_at"]
            else ""
        )
        console.print(
            f"[bold]last error[/] {s['last_error_at']}  {escape(s['last_error'])}{since}", highlight=False
        )


@sync_app.command("sql")
def sync_sql() -> None:
    """Print the SQL that sets up the hosted project once: tables jobs, job_events, usage_records, the renders
    bucket, Realtime and row-level security."""
    from ..ops.sync import SCHEMA_SQL

    sys.stdout.write(SCHEMA_SQL)
