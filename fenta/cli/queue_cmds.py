"""submit, worker: put jobs on the queue, and run them unattended."""

from __future__ import annotations

import datetime as dt
import json as _json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from ..config import Settings
from ._app import app, console, emit_json, err_console, handle_errors
from ._trust import UNTRUSTED_HELP, policy_for

if TYPE_CHECKING:
    from ..engine.events import Event


@app.command()
@handle_errors()
def submit(
    file: Path = typer.Argument(..., help="Workflow file (.yaml, .yml or .json)."),
    var: list[str] | None = typer.Option(
        None,
        "--var",
        help="Override a variable: --var key=value, or key=@file.txt to use a file's text (repeatable).",
    ),
    out: Path = typer.Option(
        Path("renders"),
        "-o",
        "--out",
        help="Folder for the finished video and its artifacts, or a file name ending in .mp4.",
    ),
    name: str | None = typer.Option(
        None, "--name", help="Base name of the files (default: the workflow's name)."
    ),
    preview: bool = typer.Option(
        False, "--preview", help="Render a quick low-resolution draft (NAME.preview.mp4)."
    ),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help=(
            "H.264 encoder for every Render node: auto, x264, nvenc, qsv, vaapi or videotoolbox (tested "
            "on the worker's machine; one that fails there falls back to x264 with a notice)."
        ),
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace files of the same name an earlier job wrote (default: take the next free name).",
    ),
    priority: int = typer.Option(
        0, "--priority", help="Higher runs first; equal priorities run oldest first."
    ),
    retries: int | None = typer.Option(
        None,
        "--retries",
        min=0,
        max=10,
        help="Retries after a retryable failure (default: the workflow's retry.max_retries, else 3).",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before queueing a job that costs money."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", help="Refuse to queue the job when its estimate (USD) is higher."
    ),
    json: bool = typer.Option(False, "--json", help="Print {job_id, status} as JSON."),
    untrusted: bool = typer.Option(False, "--untrusted", help=UNTRUSTED_HELP),
) -> None:
    """Queue a workflow for a worker and print the job's id (run one with `fenta worker`)."""
    from .. import jobs
    from ..bounds import finite, whole
    from ..engine.keys import key_needs
    from ..engine.spec import load, parse_var_overrides
    from ._preflight import check_encoder_choice, confirm_cost

    priority = whole(priority, "--priority")
    max_cost = None if max_cost is None else finite(max_cost, "--max-cost", least=0)
    check_encoder_choice(encoder)
    policy = policy_for(untrusted)
    wf = load(file, vars=parse_var_overrides(var, policy=policy), policy=policy)
    settings = Settings.from_env()
    confirm_cost(wf, yes, max_cost, json)
    missing = [k.var for k in key_needs(wf, settings) if not k.set]
    job_id = jobs.submit(
        wf,
        out=out,
        name=name,
        priority=priority,
        preview=preview,
        settings=settings,
        overwrite=overwrite,
        retry=None if retries is None else {"max_retries": retries},
        encoder=encoder,
    )
    if json:
        emit_json({"job_id": job_id, "status": "queued", "priority": priority, "missing_keys": missing})
        return
    console.print(job_id, highlight=False)
    if missing:
        err_console.print(
            f"[yellow]note:[/] {', '.join(missing)} not set here; the worker that runs this job "
            f"needs {'it' if len(missing) == 1 else 'them'}",
            highlight=False,
        )


def _line(ev: Event) -> str | None:
    """One line per job state change, for a worker's log."""
    from ._batch_progress import file_path

    when = dt.datetime.now().strftime("%H:%M:%S")
    d = ev.data
    text = {
        "job.started": "started",
        "job.completed": f"completed  {file_path(d.get('videoUrl'))}".rstrip(),
        "job.failed": f"failed ({'retryable' if d.get('retryable') else 'not retryable'}): {d.get('error')}",
        "job.retrying": f"retry (attempt {d.get('attempt')}) in {d.get('delaySeconds', 0):.1f}s",
        "job.dead": "dead",
        "job.cancelled": "cancelled",
        "job.queued": "given back to the queue",
    }.get(ev.type)
    return f"{when}  {ev.job_id}  {text}" if text else None


@app.command()
@handle_errors()
def worker(
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        "-c",
        min=1,
        max=64,
        help="Jobs to run at once (default 1; with --cluster, the workers' render slots).",
    ),
    until_empty: bool = typer.Option(
        False,
        "--until-empty",
        help="Exit once nothing is queued, no retry is pending and this worker runs nothing (for CI).",
    ),
    json: bool = typer.Option(
        False,
        "--json",
        help="Print every event of the jobs this worker runs as one JSON object per line (NDJSON).",
    ),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help=(
            "Run the jobs on Dask workers, as `fenta batch --cluster` does: local (a LocalCluster "
            "here), local:N, or tcp://HOST:8786 (a scheduler). Only when given: a worker does not read "
            "FENTA_DASK_ADDRESS. Needs the dask extra."
        ),
    ),
    hosted: bool = typer.Option(
        False,
        "--hosted",
        help=(
            "Render the jobs the web app queued in the hosted project (FENTA_API_URL, FENTA_API_KEY) "
            "instead of the local queue: claim one at a time, render it here, push its progress, events "
            "and video, mark it completed or failed."
        ),
    ),
    log_format: str | None = typer.Option(
        None,
        "--log-format",
        help="text or json: json writes one JSON object per line on stderr (time, level, message, job_id, "
        "node, duration); default FENTA_LOG_FORMAT, else text.",
    ),
) -> None:
    """Run queued jobs (highest priority, then oldest) until stopped.

    Several workers may share one FENTA_HOME: a job is never run by two at once, and a job whose
    worker was killed is taken over and resumed from its checkpoints. SIGTERM or Ctrl-C stops the
    worker cleanly (running nodes finish, the jobs go back to the queue, exit 0); a second Ctrl-C
    cancels the running nodes. Jobs of a batch are left to `fenta batch resume BATCH_ID`.
    """
    from ..media.ffmpeg import ffmpeg_choice
    from ..serve.logs import setup_logging

    ffmpeg_choice()  # an unusable FENTA_FFMPEG is bad input (exit 2) before any job is taken
    settings = Settings.from_env()
    lines = setup_logging(log_format or settings.log_format)  # JSON lines on stderr, or None: the lines below

    def on_event(ev: Event) -> None:
        if json:
            if ev.id:  # the log's events only (live-only progress stays out of the stream)
                sys.stdout.write(_json.dumps(ev.to_dict(), ensure_ascii=False, default=str) + "\n")
                sys.stdout.flush()
        if lines is not None:
            lines.event(ev)
        if json or lines is not None:
            return
        line = _line(ev)
        if line:
            console.print(line, highlight=False, markup=False)

    if hosted:
        if cluster:
            from ..errors import ClusterError

            raise ClusterError(
                "--cluster and --hosted cannot be used together: a hosted worker renders one job at "
                "a time here"
            )
        if concurrency is not None and concurrency > 1:
            from ..errors import SyncError

            refused = SyncError(
                "--concurrency does not apply to --hosted: a hosted worker renders one job at a "
                "time; start more workers (here or on other machines) to render several at once"
            )
            refused.exit_code = 2  # bad input: nothing was claimed
            raise refused
        _hosted_worker(settings, until_empty, on_event, json)
        return
    from ..engine.executors import LocalExecutor, make_executor
    from ..ops.batch import waiting
    from ..ops.serving import Worker

    plain = lambda m: err_console.print(m, highlight=False, markup=False)  # noqa: E731
    say = lines.line if lines is not None else plain
    with make_executor(cluster, settings, on_warning=_warn) if cluster else LocalExecutor() as executor:
        n = concurrency or executor.slots or 1
        # fenta.ops.serving: quota reservations at each claim, the readers (usage, quota warnings,
        # webhooks, hosted sync) beside it, the last jobs' webhooks when it stops: what the SDK's runs.
        w = Worker(
            settings, concurrency=n, until_empty=until_empty, on_event=on_event, executor=executor, log=say
        )
        if not json and lines is None:
            where = f" on {executor.name}" if cluster else ""
            until = ", until the queue is empty" if until_empty else ""
            err_console.print(
                f"worker {settings.home} (pid {os.getpid()}, {n} at a time{where}){until}; Ctrl-C stops it",
                highlight=False,
            )
            for batch_id, rows in waiting(settings).items():
                err_console.print(
                    f"[dim]note:[/] {rows} row(s) of batch {batch_id} wait in the queue; a worker "
                    f"leaves them to `fenta batch resume {batch_id}`",
                    highlight=False,
                )
        results = w.run()
    if not json:
        done = sum(1 for r in results if r.status == "completed")
        say(f"worker stopped: {len(results)} attempt(s), {done} completed")


def _warn(line: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)


def _hosted_worker(settings: Settings, until_empty: bool, on_event, as_json: bool) -> None:
    """`fenta worker --hosted`: render the hosted project's queued jobs here."""
    from ..ops.serving import serve_hosted
    from ..ops.sync.client import check_configured

    check_configured(settings)  # no project configured: exit 2 before announcing a worker for it
    # Claims, rows failed before they ran and rows given back go to stderr, with --json too (stdout is the
    # NDJSON of the jobs' events, which name the local job).
    log = lambda m: err_console.print(m, highlight=False, markup=False)  # noqa: E731
    if not as_json:
        until = ", until no hosted job is queued" if until_empty else ""
        err_console.print(
            f"hosted worker for {settings.urls['fenta']} (pid {os.getpid()}){until}; Ctrl-C stops it",
            highlight=False,
        )
    # fenta.ops.serving: each row's local job reserves its quota where it is queued (a row over a limit
    # ends failed with the reason); usage, quota warnings and webhooks while it runs and after it.
    results = serve_hosted(settings, until_empty=until_empty, on_event=on_event, log=log)
    if not as_json:
        done = sum(1 for r in results if r.status == "completed")
        back = sum(1 for r in results if r.status == "queued")
        err_console.print(
            f"hosted worker stopped: {len(results)} job(s), {done} completed"
            + (f", {back} given back" if back else ""),
            highlight=False,
        )
