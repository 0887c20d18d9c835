"""run, resume: a job run in this process (submit plus the same attempts a worker makes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from ..config import Settings
from ..errors import CostLimitError
from ._app import app, console, emit_json, err_console, handle_errors
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


def _cost_lines(cost: dict[str, float]) -> list[str]:
    """The estimate per provider, in US dollars (KIE credits are converted at the price table's rate)."""
    total = round(sum(cost.values()), 4)
    lines = [f"estimated cost: ${total:.4f} (USD)"]
    width = max((len(p) for p in cost), default=0)
    lines += [f"  {provider.ljust(width)}  ${amount:.4f}" for provider, amount in sorted(cost.items())]
    return lines


def _posts(wf: Workflow) -> list[dict[str, Any]]:
    """What the workflow's publish nodes would post, and where (`Publish.*`; no network call)."""
    from ..nodes.publish import PublishNode

    settings = Settings.from_env()
    return [
        {"node": nid, **spec.node_class().plan_line(spec.parsed_params, spec.inputs, settings, wf.policy)}
        for nid, spec in wf.nodes.items()
        if issubclass(spec.node_class, PublishNode)
    ]


def _post_lines(posts: list[dict[str, Any]]) -> list[str]:
    from ..nodes.publish import describe

    return [f"  {p['node']}: {describe(p)}" for p in posts]


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


def _dry_run(wf: Workflow, as_json: bool) -> None:
    """Print the plan (steps, estimated cost per provider, what would be posted where); nothing runs."""
    from ..engine.keys import describe, key_needs
    from ..engine.results import plan

    p = plan(wf)
    keys = key_needs(wf)  # names and whether set, never values
    posts = _posts(wf)
    if as_json:
        emit_json(
            {
                "status": "planned",
                "name": wf.name,
                "order": p.order,
                "cost": p.cost,
                "currency": "USD",
                "total_cost": p.total_cost,
                "keys": [k.to_dict() for k in keys],
                "publish": posts,
            }
        )
        return
    console.print(
        f"[bold]{escape(wf.name)}[/]: {len(wf.nodes)} nodes, template {wf.template['name']}", highlight=False
    )
    for i, layer in enumerate(p.order, 1):
        console.print(
            f"  step {i}: " + ", ".join(f"{n} [dim]({wf.nodes[n].type})[/]" for n in layer), highlight=False
        )
    for line in _cost_lines(p.cost):
        console.print(line, highlight=False)
    if posts:
        console.print("would post:", highlight=False)
        for line in _post_lines(posts):
            console.print(line, highlight=False, markup=False)
    if keys:
        console.print(describe(keys), highlight=False, markup=False)


def _confirm_cost(wf: Workflow, yes: bool, max_cost: float | None, as_json: bool) -> None:
    """Ask on a terminal before a run that costs money or posts a video (`--yes` skips)."""
    from ..engine.results import plan

    p = plan(wf)
    estimate = p.total_cost
    posts = _posts(wf)
    if estimate <= 0 and not posts:
        return
    if max_cost is not None and estimate > max_cost:
        raise CostLimitError(
            f"estimated cost {estimate:.4f} exceeds --max-cost {max_cost:.4f}; nothing was run"
        )
    if yes or as_json or not console.is_terminal:
        return
    if estimate > 0:
        for line in _cost_lines(p.cost):
            err_console.print(line, highlight=False)
    if posts:
        err_console.print("this run posts:", highlight=False)
        for line in _post_lines(posts):
            err_console.print(line, highlight=False, markup=False)
    if not typer.confirm("Run it?", default=False, err=True):
        what = {(True, True): "the estimated cost and the posts were", (False, True): "the posts were"}.get(
            (estimate > 0, bool(posts)), "the estimated cost was"
        )
        err_console.print(f"not run: {what} declined (pass --yes to skip this question)", highlight=False)
        raise typer.Exit(1)


def check_encoder_choice(encoder: str | None) -> None:
    """--encoder: one of the names fenta knows (the job keeps it; each Render node uses it)."""
    from ..render.encoders import CHOICES

    if encoder is not None and encoder not in CHOICES:
        raise typer.BadParameter(
            f"unknown encoder '{encoder}': choose {', '.join(CHOICES)}", param_hint="--encoder"
        )


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
        _dry_run(wf, json)
        return
    settings = Settings.from_env()
    # Bad input (exit 2) before anything runs: an unwritable -o or FENTA_HOME; an unusable FENTA_FFMPEG
    # (not a failed job), whose notice, if any, comes before the display.
    prepare(out=out, name=name, settings=settings)
    ffmpeg_choice()
    check_keys(wf, settings)  # every missing key in one message (exit 2), before asking about the cost
    from ..nodes.publish import check_accounts

    check_accounts(wf, settings)  # a publish node without a usable account: exit 2, before anything runs
    _confirm_cost(wf, yes, max_cost, json)
    pusher = _start_sync(wf, settings, sync)
    pushed: list[Any] = []

    def ended(result: RunResult) -> None:
        """The job's last state goes to the hosted project before its webhooks (they carry its URL)."""
        pusher.stop()
        pushed.append(_push_sync(settings))

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
    extra = _finish_sync(settings, result.job_id, json, pushed[0] if pushed else None) if pusher else None
    _finish(result, json, extra)


def _start_sync(wf: Workflow, settings: Settings, asked: bool) -> Any:
    """With --sync, `sync: true` or FENTA_SYNC=1: mark the job for the hosted project (so any later fenta
    process pushes what this one could not) and push its progress while it runs."""
    if not (asked or settings.sync or wf.document.get("sync") is True):
        return None
    from ..ops.sync import Background
    from ..ops.sync.client import check_configured

    check_configured(settings)  # FENTA_API_KEY missing: exit 2 before anything runs
    wf.document["sync"] = True
    return Background(settings, log=lambda m: err_console.print(m, highlight=False, markup=False)).start()


def _push_sync(settings: Settings) -> Any:
    """Push what is left of the job (its final row, events and files; at most ~15 s): the push's report."""
    from ..ops.sync import after_run

    return after_run(settings)


def _finish_sync(settings: Settings, job_id: str, as_json: bool, report: Any) -> dict[str, Any]:
    """One line about the job's push (`report`: `_push_sync`'s, None when it failed or never ran)."""
    from ..engine.store import JobStore
    from ..ops.sync import signed_video_url

    store = JobStore(settings.db_path)
    try:
        url = signed_video_url(store, job_id)
    finally:
        store.close()
    error = report.error if report is not None else "the push failed"
    if not as_json:
        if error:
            err_console.print(
                f"[yellow]sync waits:[/] {escape(error)} (run `fenta sync` later)", highlight=False
            )
        else:
            err_console.print(
                f"synced to {escape(settings.urls['fenta'])}"
                + (f"  [dim]video[/] {escape(url)}" if url else ""),
                highlight=False,
            )
    return {"sync": {"synced": not error, "error": error, "video_url": url}}


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
