"""run, resume: a job run in this process (submit plus the same attempts a worker makes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from ..config import Settings
from ._app import app, console, emit_json, err_console, handle_errors
from ._preflight import check_encoder_choice, confirm_cost, print_plan
from ._run_sync import finish_sync, push_sync, start_sync
from ._trust import UNTRUSTED_HELP, policy_for

if TYPE_CHECKING:
    from ..engine.results import RunResult
    from ..engine.spec import Workflow
    from ._progress import RunDisplay


def _summary(result: RunResult) -> None:
    if result.status == "completed":
        console.print(
            f"[bold green]✓ done[/] in {result.seconds:.1f}s  [dim]job[/] {result.job_id}", highlight=False
        )
        # One line per file, never in a table: paths stay whole and copyable at any width.
        width = max((len(k) for k in result.artifacts), default=0)
        for kind, path in result.artifacts.items():
            console.print(f"  [dim]{kind.ljust(width)}[/]  {escape(path)}", highlight=False)
        if result.cost:
            console.print(f"cost: ${result.cost:.4f}", highlight=False)
    elif result.status == "cancelled":
        err_console.print(f"[bold red]✗ cancelled[/] [dim]job[/] {result.job_id}", highlight=False)
    else:
        tries = f" after {result.attempt} attempts" if result.attempt > 1 else ""
        err_console.print(f"[bold red]✗ failed[/]{tries} [dim]job[/] {result.job_id}", highlight=False)
        err_console.print(result.error or "unknown error", highlight=False, markup=False)
        if result.exit_code == 2:  # bad input: running it again as it is cannot help
            err_console.print(f"[dim]fix it, then:[/] fenta resume {result.job_id} --reload", highlight=False)
        else:
            err_console.print(
                f"[dim]continue with:[/] fenta resume {result.job_id}  [dim](here) or[/] fenta jobs "
                f"retry {result.job_id}  [dim](a worker)[/]",
                highlight=False,
            )


def _finish(result: RunResult, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        emit_json({**result.to_dict(), **(extra or {})})
    else:
        _summary(result)
    if result.status != "completed":
        raise typer.Exit(result.exit_code if result.status == "failed" else 1)


def _run_job(
    start: Callable[[RunDisplay], Coroutine[Any, Any, RunResult]], types: dict[str, str] | None, as_json: bool
) -> RunResult:
    """Run a job under the progress display; a Ctrl-C carries the job's id to the error handler."""
    from ._progress import RunDisplay

    display = RunDisplay(err_console, types, enabled=not as_json)
    try:
        with display:
            return asyncio.run(start(display))
    except KeyboardInterrupt as e:
        e.job_id = display.job_id  # type: ignore[attr-defined]
        raise


def _republish(wf: Workflow) -> None:
    """--republish: a fresh `republish` value on every publish node (kept with the job, so a resume
    continues this post rather than finding the old one)."""
    import uuid

    from ..nodes.publish import PublishNode

    token = uuid.uuid4().hex[:12]
    for nid, spec in wf.nodes.items():
        if issubclass(spec.node_class, PublishNode) and spec.parsed_params is not None:
            spec.parsed_params = spec.parsed_params.model_copy(update={"republish": token})
            nodes = wf.document.get("nodes")
            if isinstance(nodes, dict) and isinstance(nodes.get(nid), dict):
                nodes[nid].setdefault("params", {})["republish"] = token
            elif isinstance(nodes, list):  # the web builder's shape: {id, type, data: {params}}
                for raw in nodes:
                    if isinstance(raw, dict) and str(raw.get("id")) == nid:
                        raw.setdefault("data", {}).setdefault("params", {})["republish"] = token


@app.command()
@handle_errors()
def run(
    file: Path = typer.Argument(..., help="Workflow file (.yaml, .yml or .json)."),
    var: list[str] | None = typer.Option(
        None,
        "--var",
        help=(
            "Override a variable: --var key=value, or key=@file.txt to use a file's text (@@ for a "
            "literal @; repeatable)."
        ),
    ),
    out: Path = typer.Option(
        Path("renders"),
        "-o",
        "--out",
        help=(
            "Folder for the finished video and its artifacts, or a file name ending in .mp4 "
            "(renders/clip.mp4)."
        ),
    ),
    name: str | None = typer.Option(
        None, "--name", help="Base name of the files (default: the workflow's name)."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help=(
            "Replace files of the same name an earlier job wrote (default: take the next free name, "
            "NAME-2.mp4)."
        ),
    ),
    refresh: list[str] | None = typer.Option(
        None, "--refresh", help="Run this node again even if cached (repeatable)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate, plan and estimate the cost; call nothing."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask before a run that costs money or posts a video."
    ),
    max_cost: float | None = typer.Option(
        None, "--max-cost", help="Refuse to run when the estimate (USD) is higher."
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON (for CI)."),
    preview: bool = typer.Option(
        False,
        "--preview",
        help=(
            "Render a quick low-resolution draft (360p, fastest preset) as NAME.preview.mp4; cached "
            "apart from the full render."
        ),
    ),
    retries: int | None = typer.Option(
        None,
        "--retries",
        min=0,
        max=10,
        help=(
            "Retries after a retryable failure (network, timeout, 5xx, FFmpeg crash), waiting here with "
            "a countdown: 10-20 s, 20-40 s, 40-80 s (FENTA_RETRY_BASE_SECONDS). Default: the workflow's "
            "retry.max_retries, else 3; 0 turns them off."
        ),
    ),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help=(
            "H.264 encoder for every Render node: auto, x264, nvenc, qsv, vaapi or videotoolbox (one "
            "that fails here falls back to x264 with a notice; default: the node's, x264)."
        ),
    ),
    sync: bool = typer.Option(
        False,
        "--sync",
        help=(
            "Push the job, its progress and the finished video to the hosted project (FENTA_API_URL, "
            "FENTA_API_KEY); the same as sync: true in the workflow or FENTA_SYNC=1. Offline, the run "
            "still succeeds and the push waits for `fenta sync`."
        ),
    ),
    untrusted: bool = typer.Option(False, "--untrusted", help=UNTRUSTED_HELP),
    republish: bool = typer.Option(
        False,
        "--republish",
        help=(
            "Post the video again to accounts that already have it (Publish.* nodes; without it a video goes "
            "to an account once)."
        ),
    ),
) -> None:
    """Run a workflow and write the video, subtitles and thumbnail to --out.

    Files are named after the workflow (or -o NAME.mp4 / --name) and never replace another
    job's files: a taken name becomes NAME-2, NAME-3... and the real paths are printed.
    """
    from ..engine.keys import check_keys
    from ..engine.results import prepare
    from ..engine.spec import load, parse_var_overrides
    from ..media.ffmpeg import ffmpeg_choice
    from ..ops.runs import run_async

    if max_cost is not None:
        from ..bounds import finite

        max_cost = finite(max_cost, "--max-cost", least=0)  # nan would let any estimate through
    policy = policy_for(untrusted)
    wf = load(file, vars=parse_var_overrides(var, policy=policy), policy=policy)
    check_encoder_choice(encoder)
    if republish:
        _republish(wf)
    if dry_run:
        print_plan(wf, json)
        return
    settings = Settings.from_env()
    # Bad input (exit 2) before anything runs: an unwritable -o or FENTA_HOME; an unusable FENTA_FFMPEG
    # (not a failed job), whose notice, if any, comes before the display.
    prepare(out=out, name=name, settings=settings)
    ffmpeg_choice()
    check_keys(wf, settings)  # every missing key in one message (exit 2), before asking about the cost
    from ..nodes.publish import check_accounts

    check_accounts(wf, settings)  # a publish node without a usable account: exit 2, before anything runs
    confirm_cost(wf, yes, max_cost, json)
    pusher = start_sync(wf, settings, sync)
    pushed: list[Any] = []

    def ended(result: RunResult) -> None:
        """The job's last state goes to the hosted project before its webhooks (they carry its URL)."""
        pusher.stop()
        pushed.append(push_sync(settings))

    try:
        # fenta.ops.runs: the quota reservation in the transaction that queues the job (over a limit:
        # exit 2, one line, before anything runs); afterwards usage, quota warnings and this job's
        # webhooks (waiting at most 10 s; never failing the run).
        result = _run_job(
            lambda display: run_async(
                wf,
                out=out,
                name=name,
                preview=preview,
                overwrite=overwrite,
                refresh=refresh,
                on_event=display,
                max_cost=max_cost,
                settings=settings,
                retries=retries,
                encoder=encoder,
                ended=ended if pusher is not None else None,
            ),
            {n: s.type for n, s in wf.nodes.items()},
            json,
        )
    finally:
        if pusher is not None:
            pusher.stop()
    extra = finish_sync(settings, result.job_id, json, pushed[0] if pushed else None) if pusher else None
    _finish(result, json, extra)


@app.command()
@handle_errors()
def resume(
    job_id: str = typer.Argument(..., help="The job to continue (a unique prefix is enough)."),
    reload: bool = typer.Option(
        False,
        "--reload",
        help=(
            "Read the workflow file again (after fixing it); finished nodes whose inputs and params did "
            "not change are kept."
        ),
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    retries: int | None = typer.Option(
        None,
        "--retries",
        min=0,
        max=10,
        help=(
            "Retries here after a retryable failure, counted afresh (default: the job's own budget; 0 "
            "turns them off)."
        ),
    ),
) -> None:
    """Continue a failed, dead, cancelled or killed job here, from its last finished node (same folder, names
    and --preview)."""
    from ..media.ffmpeg import ffmpeg_choice
    from ..ops.runs import resume_async

    ffmpeg_choice()  # an unusable FENTA_FFMPEG is bad input (exit 2), not a failed job
    settings = Settings.from_env()
    # fenta.ops.runs: the quota reservation where the job is leased here; afterwards usage, quota
    # warnings and this job's webhooks (waiting at most 10 s), as for `fenta run`.
    result = _run_job(
        lambda display: resume_async(
            job_id, reload=reload, on_event=display, settings=settings, retries=retries
        ),
        None,
        json,
    )
    _finish(result, json)
