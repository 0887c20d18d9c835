"""jobs, jobs show, events, watch, retry, cancel: thin commands over `fenta.jobs`."""

from __future__ import annotations

import datetime as dt
import json as _json
import sys
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from ._app import DAY, app, console, emit_json, err_console, handle_errors

if TYPE_CHECKING:
    from ..engine.events import Event

jobs_app = typer.Typer(
    help="List recent jobs, or show, follow, retry or cancel them.",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(jobs_app, name="jobs")

_COLOUR = {
    "completed": "green",
    "failed": "red",
    "running": "yellow",
    "queued": "blue",
    "dead": "magenta",
    "cancelled": "dim",
}


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _clock(iso: str | None) -> str:
    """An event's ISO time as local HH:MM:SS."""
    from ..engine.events import parse_iso

    ts = parse_iso(iso)
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "-"


def _short(text: str | None, n: int = 40) -> str:
    text = text or ""
    return text if len(text) <= n else text[: n - 1] + "…"


@jobs_app.callback()
@handle_errors()
def jobs_list(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", help="How many jobs to show."),
    status: str = typer.Option(
        None,
        "--status",
        help=(
            "Only jobs in this state: queued, running, failed (a retry is due), completed, dead (no "
            "retry left) or cancelled."
        ),
    ),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List recent jobs."""
    if ctx.invoked_subcommand:
        return
    from .. import jobs
    from ..bounds import whole as whole_number

    rows = jobs.list(status=status, limit=whole_number(limit, "--limit", least=1))
    if json:
        emit_json(rows)
        return
    if not rows:
        console.print(
            f"no {status} jobs" if status else "no jobs yet: try `fenta run examples/quickstart.yaml`",
            highlight=False,
        )
        return
    from rich.text import Text

    from ._tables import table, whole

    # Ids are never cut or wrapped (they are what people copy); the error is shortened here and
    # shown whole by `fenta jobs show`.
    t = table(whole("id"), "workflow", "status", "attempt", "progress", "created", "error")
    for r in rows:
        colour = _COLOUR.get(r["status"], "white")
        t.add_row(
            r["id"],
            r["workflow_name"],
            Text(r["status"], style=colour),
            str(r["attempt"] or 0),
            f"{(r['progress'] or 0) * 100:.0f}%",
            _when(r["created_at"]),
            _short(r["error"]),
        )
    console.print(t)


@jobs_app.command("show")
@handle_errors()
def jobs_show(
    job_id: str = typer.Argument(..., help="Job id (a unique prefix is enough)."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a job's nodes with their timings, its attempts, artifacts, posts and error."""
    from .. import jobs

    info = jobs.get(job_id)
    if json:
        emit_json(info)
        return
    job = info["job"]
    colour = _COLOUR.get(job["status"], "white")
    console.print(
        f"[bold]{job['id']}[/]  {escape(job['workflow_name'])}  [{colour}]{job['status']}[/]  "
        f"attempt {job['attempt']}  priority {job.get('priority') or 0}",
        highlight=False,
    )
    console.print(
        f"created {_when(job['created_at'])}  started {_when(job['started_at'])}  finished "
        f"{_when(job['finished_at'])}  cost {job['cost']:.4f}",
        highlight=False,
    )
    if job["status"] == "failed" and job.get("next_attempt_at"):
        console.print(f"next attempt at {_clock(job['next_attempt_at'])}", highlight=False)
    from ._tables import table

    t = table(
        "node", "type", "status", "runs", "starts at", "seconds", "error", title="nodes (stage timings)"
    )
    for r in info["nodes"]:
        offset = f"+{r['offset']:.2f}s" if r["offset"] is not None else "-"
        t.add_row(
            r["node"],
            r["type"],
            r["status"],
            str(r["runs"] or 0),
            offset,
            f"{r['seconds'] or 0:.2f}",
            _short(r["error"], 80),
        )
    console.print(t)
    if info["attempts"]:
        t = table("attempt", "started", "ended", "outcome", "then waited", "error", title="attempts")
        for a in info["attempts"]:
            wait = f"{a['wait_seconds']:.1f}s" if a["wait_seconds"] is not None else ""
            t.add_row(
                str(a["attempt"]),
                _clock(a["started_at"]),
                _clock(a["ended_at"]),
                a["outcome"],
                wait,
                _short(a["error"], 60),
            )
        console.print(t)
    if job.get("workflow_file"):
        console.print(f"[dim]workflow[/]  {escape(job['workflow_file'])}", highlight=False)
    for a in info["artifacts"]:
        console.print(f"[dim]{a['kind']}[/]  {escape(a['path'])}", highlight=False)
    for post in info.get("published") or []:
        url, post_id = escape(str(post["url"])), escape(str(post["postId"]))
        console.print(f"[dim]posted to {post['platform']}[/]  {url}  [dim]({post_id})[/]", highlight=False)
    if job["error"]:
        console.print(f"[red]error:[/] {escape(job['error'])}", highlight=False, markup=True)


def _event_line(ev: Event) -> str:
    data = {k: v for k, v in ev.data.items() if k != "jobId"}
    body = "  ".join(f"{k}={v}" for k, v in data.items())
    return f"{ev.id:>6}  {_clock(ev.created_at)}  {ev.job_id or '-'}  {ev.type:<14} {body}"


@jobs_app.command("events")
@handle_errors()
def jobs_events(
    job_id: str = typer.Argument(..., help="Job id (a unique prefix is enough)."),
    json: bool = typer.Option(False, "--json", help="Print the events as a JSON list."),
) -> None:
    """List one job's events (state changes, node starts and ends, retries), oldest first."""
    from .. import jobs

    evs = jobs.events(job_id)
    if json:
        emit_json([e.to_dict() for e in evs])
        return
    for ev in evs:
        console.print(_event_line(ev), highlight=False, markup=False)


@jobs_app.command("retry")
@handle_errors()
def jobs_retry(
    job_id: str = typer.Argument(..., help="Job id (a unique prefix is enough)."),
    json: bool = typer.Option(False, "--json", help="Print {job_id, status} as JSON."),
) -> None:
    """Put a dead, failed or cancelled job back on the queue with a fresh retry budget (a worker runs it)."""
    from .. import jobs

    row = jobs.retry(job_id)
    if json:
        emit_json({"job_id": row["id"], "status": row["status"]})
        return
    if row.get("batch_id"):  # plain workers leave a batch's jobs to the batch
        console.print(
            f"{row['id']} queued again (row of batch {row['batch_id']}: run it with `fenta batch "
            f"resume {row['batch_id']}`, or here with `fenta resume {row['id']}`)",
            highlight=False,
        )
        return
    console.print(
        f"{row['id']} queued again (run it with `fenta worker`, or here with `fenta resume {row['id']}`)",
        highlight=False,
    )


@jobs_app.command("cancel")
@handle_errors()
def jobs_cancel(
    job_id: str = typer.Argument(..., help="Job id (a unique prefix is enough)."),
    wait: float = typer.Option(
        5.0,
        "--wait",
        help="Seconds to wait for a running job to stop (it stops within about a second; at most a day).",
    ),
    json: bool = typer.Option(False, "--json", help="Print {job_id, status} as JSON."),
) -> None:
    """Cancel a queued, waiting or running job; a running one (in any process) stops, its FFmpeg is killed and
    its partial outputs removed."""
    from .. import jobs
    from ..bounds import finite

    wait = finite(wait, "--wait", least=0, most=DAY)
    row = jobs.cancel(job_id, wait=wait)
    if json:
        emit_json({"job_id": row["id"], "status": row["status"]})
    elif row["status"] == "cancelled":
        console.print(f"{row['id']} cancelled", highlight=False)
    else:
        err_console.print(
            f"{row['id']} was asked to stop and is still {row['status']} after {wait:g}s", highlight=False
        )
    if row["status"] != "cancelled":
        raise typer.Exit(1)


def _watch_table(rows: list[dict[str, Any]]) -> Any:
    from rich.text import Text

    from ._tables import table, whole

    t = table(
        whole("id"),
        "workflow",
        "status",
        "progress",
        "node",
        "attempt",
        "elapsed",
        title="jobs (Ctrl-C to stop watching)",
    )
    now = time.time()
    for r in rows:
        colour = _COLOUR.get(r["status"], "white")
        status = r["status"]
        if status == "failed" and r.get("next_attempt_at"):
            status = f"retry at {_clock(r['next_attempt_at'])}"
        start = r["started_at"]
        end = r["finished_at"] if r["status"] not in ("running",) else None
        elapsed = f"{(end or now) - start:.0f}s" if start else "-"
        t.add_row(
            r["id"],
            r["workflow_name"],
            Text(status, style=colour),
            f"{(r['progress'] or 0) * 100:.0f}%",
            r["current_node"] or "",
            str(r["attempt"] or 0),
            elapsed,
        )
    return t


@jobs_app.command("watch")
@handle_errors()
def jobs_watch(
    json: bool = typer.Option(
        False, "--json", help="Stream the events as NDJSON (one JSON object per line) instead of a table."
    ),
    since: int | None = typer.Option(
        None, "--since", help="Start after this event id (0: the whole log; default: from now on)."
    ),
    job: str | None = typer.Option(None, "--job", help="Only this job's events (a unique prefix is enough)."),
    until_empty: bool = typer.Option(
        False, "--until-empty", help="Exit once nothing is queued, running or waiting for a retry."
    ),
) -> None:
    """Follow the jobs live: a table of queued, running and recently finished jobs (progress, node,
    attempt, elapsed), or with --json the event log as NDJSON. Reads the event log, so it shows
    workers in other terminals."""
    from .. import jobs
    from ..bounds import whole

    since = None if since is None else whole(since, "--since", least=0)
    job_id = jobs.get(job)["job"]["id"] if job else None
    stream = jobs.watch(since_id=since, job_id=job_id, until_empty=until_empty)
    try:
        if json or not console.is_terminal:
            for ev in stream:
                if json:
                    sys.stdout.write(_json.dumps(ev.to_dict(), ensure_ascii=False, default=str) + "\n")
                    sys.stdout.flush()
                else:
                    console.print(_event_line(ev), highlight=False, markup=False)
            return
        _live(stream)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _live(stream: Any) -> None:
    """Redraw the table on every event (and each second, for the elapsed times)."""
    import threading

    from rich.live import Live

    from .. import jobs

    changed = threading.Event()
    finished = threading.Event()

    def pump() -> None:
        for _ in stream:
            changed.set()
        finished.set()
        changed.set()

    threading.Thread(target=pump, daemon=True).start()
    with Live(_watch_table(jobs.active()), console=console, auto_refresh=False) as live:
        while not finished.is_set():
            changed.wait(1.0)
            changed.clear()
            live.update(_watch_table(jobs.active()), refresh=True)
