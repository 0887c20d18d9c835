"""batch: one workflow, one video per row of a table; status and resume of a batch (over fenta.ops.batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ._app import _Group, app, console, emit_json, err_console, handle_errors
from ._trust import UNTRUSTED_HELP

_DEFAULT = "run"


class _BatchGroup(_Group):
    """`fenta batch WORKFLOW ROWS ...` is `fenta batch run WORKFLOW ROWS ...`: anything that is not a
    subcommand (or --help) goes to `run`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [_DEFAULT, *args]
        return super().parse_args(ctx, args)


batch_app = typer.Typer(
    cls=_BatchGroup,
    help=(
        "Run a workflow once per row of a table (CSV, JSONL or a JSON array): one video per row, a report CI "
        "understands, exit 0 when every row passed, 1 when any failed, 2 for a bad table. "
        "`fenta batch WORKFLOW ROWS` is short for `fenta batch run WORKFLOW ROWS`."
    ),
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")


def _finish(report: dict[str, Any], as_json: bool, files: tuple[tuple[str, Path | None], ...] = ()) -> None:
    """The rows that failed, where the reports went, the closing `N passed, N failed`, the exit code."""
    from ..ops.batch_report import closing_line

    if as_json:
        emit_json(report)
    else:
        for r in report["rows"]:
            if r["status"] == "failed":
                where = (
                    f" (node '{r['failed_node']}')"
                    if r["failed_node"] and f"node '{r['failed_node']}'" not in (r["error"] or "")
                    else ""
                )
                err_console.print(
                    f"[red]✗[/] row {r['index']} {r['name']}{where}: {r['error']}  [dim]job {r['job_id']}[/]",
                    highlight=False,
                )
        for label, path in files:
            if path:
                err_console.print(f"[dim]{label}:[/] {path}", highlight=False)
        if report["status"] == "stopped":
            err_console.print(
                f"[yellow]stopped[/]: continue with `fenta batch resume {report['batch_id']}`",
                highlight=False,
            )
    line = closing_line(report)
    (err_console if as_json else console).print(line, highlight=False, markup=False)
    t = report["totals"]
    if report["status"] == "stopped":
        raise typer.Exit(130)
    if t["passed"] != t["rows"]:
        raise typer.Exit(1)


def _run(start, as_json: bool) -> dict[str, Any]:
    """Run a batch under the live view (plain lines off a terminal, none with --json)."""
    from ._batch_progress import BatchDisplay

    display = BatchDisplay(err_console, enabled=not as_json)
    try:
        return start(display)
    finally:
        display.close()


def _warn(line: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)


def _checks() -> None:
    from ..media.ffmpeg import ffmpeg_choice

    ffmpeg_choice()  # an unusable FENTA_FFMPEG is bad input (exit 2) before anything is queued


_CONCURRENCY = (
    "Rows run at once (default: one per CPU core plus one, so one row's voice and file work overlap the "
    "others' encodes; with --cluster, the workers' render slots)."
)
_UNTRUSTED = f"{UNTRUSTED_HELP} `fenta batch resume` keeps it."
_CLUSTER = (
    "Run the rows on Dask: local (a LocalCluster here), local:N (N workers), or tcp://HOST:8786 (a "
    "scheduler; FENTA_DASK_ADDRESS, then DASK_SCHEDULER_ADDRESS, when not given). Needs Dask: the dask "
    "extra of fenta."
)


@batch_app.command("run")
@handle_errors()
def run(
    workflow: Path = typer.Argument(..., help="Workflow file (.yaml, .yml or .json)."),
    rows: Path = typer.Argument(
        ...,
        help=(
            "The rows: a CSV file whose header names the variables, a JSONL file, or a JSON array of "
            "objects. Columns `name` (output file name) and `priority` (higher first) set the row's own "
            "settings."
        ),
    ),
    out: Path = typer.Option(
        Path("renders"),
        "-o",
        "--out",
        help="Folder for the videos: NAME.mp4 per row (the row's name, else row-0001, row-0002...).",
    ),
    concurrency: int | None = typer.Option(None, "--concurrency", "-c", min=1, max=256, help=_CONCURRENCY),
    fail_fast: bool = typer.Option(
        False,
        "--fail-fast",
        help=(
            "Stop at the first failed row; rows not finished are not run (default: a failing row does "
            "not stop the others)."
        ),
    ),
    cluster: str | None = typer.Option(None, "--cluster", help=_CLUSTER),
    report: Path | None = typer.Option(
        None,
        "--report",
        help=(
            "Write the report as JSON: totals, and per row its index, job id, status, video, duration, "
            "cost, seconds, attempts, error and failed node."
        ),
    ),
    junit: Path | None = typer.Option(
        None,
        "--junit",
        help=(
            "Write the report as JUnit XML: one testcase per row, <failure> for a failed node (render, "
            "voice, bad media, provider), <error> for infrastructure or a crash."
        ),
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace files of the same name (default: a taken name becomes NAME-2)."
    ),
    preview: bool = typer.Option(
        False, "--preview", help="Render quick low-resolution drafts (NAME.preview.mp4)."
    ),
    retries: int | None = typer.Option(
        None,
        "--retries",
        min=0,
        max=10,
        help=(
            "Retries of a row after a retryable failure, through the queue (default: the workflow's "
            "retry.max_retries, else 3)."
        ),
    ),
    json: bool = typer.Option(
        False,
        "--json",
        help="Print the report as JSON instead of the live view (the closing line goes to stderr).",
    ),
    untrusted: bool = typer.Option(False, "--untrusted", help=_UNTRUSTED),
) -> None:
    """Run WORKFLOW once per row of ROWS, several rows at once, and report each row.

    Every row is checked before anything runs: an unknown variable, a bad value or a missing file
    exits 2 naming the row and field. The batch's id is printed first; `fenta batch resume ID`
    continues a batch that was killed or stopped. The last line printed is `N passed, N failed`.
    """
    from ..ops import batch as batches

    _checks()
    report_ = _run(
        lambda display: batches.batch(
            workflow,
            rows,
            out=out,
            concurrency=concurrency,
            fail_fast=fail_fast,
            cluster=cluster,
            report=report,
            junit=junit,
            overwrite=overwrite,
            preview=preview,
            retries=retries,
            on_event=display,
            on_start=display.start,
            on_warning=_warn,
            trusted=not untrusted,
        ),
        json,
    )
    _finish(report_, json, (("report", report), ("junit", junit)))


@batch_app.command("resume")
@handle_errors()
def resume(
    batch_id: str = typer.Argument(..., help="The batch to continue (a unique prefix is enough)."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-c", min=1, max=256, help="Rows run at once (default: the batch's own)."
    ),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help="Run the rest on Dask (local, local:N or tcp://HOST:8786; default: where the batch ran).",
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write the JSON report here (default: where the batch wrote it)."
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Write the JUnit XML report here (default: where the batch wrote it)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of the live view."),
) -> None:
    """Continue a batch that was killed, stopped or has failed rows; rows that passed are not run again.

    The other rows continue from their last finished node, with the batch's options unless given here.
    """
    from ..ops import batch as batches

    _checks()
    report_ = _run(
        lambda display: batches.resume(
            batch_id,
            concurrency=concurrency,
            cluster=cluster,
            report=report,
            junit=junit,
            on_event=display,
            on_start=display.start,
            on_warning=_warn,
        ),
        json,
    )
    _finish(report_, json, (("report", report), ("junit", junit)))


def _status_table(report: dict[str, Any]) -> None:
    from ._tables import table, whole

    t = report["totals"]
    console.print(
        f"batch {report['batch_id']} ({report['status']}): {report['workflow']} x "
        f"{report['manifest']} -> {report['out_dir']}",
        highlight=False,
        markup=False,
    )
    rows = [
        [
            str(r["index"]),
            r["name"],
            r["status"],
            r["job_id"] or "",
            f"{r['seconds']:.1f}s" if r["seconds"] is not None else "",
            str(r["attempts"]),
            r["video"] or r["error"] or (f"at {r['node']}" if r.get("node") else ""),
        ]
        for r in report["rows"]
    ]
    t_ = table("row", whole("name"), "status", whole("job"), "time", "tries", "video / error")
    for r in rows:
        t_.add_row(*r)
    console.print(t_)
    console.print(
        f"{t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped, {t['pending']} not "
        f"finished; cost ${t['cost']:.4f}",
        highlight=False,
    )


@batch_app.command("status")
@handle_errors()
def status(
    batch_id: str | None = typer.Argument(
        None, help="The batch (a unique prefix is enough; default: the newest)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the report as JSON (what --report writes)."),
) -> None:
    """Show a batch's rows and totals as they stand (also while it runs in another process)."""
    from ..ops import batch as batches

    report = batches.status(batch_id)
    if json:
        emit_json(report)
    else:
        _status_table(report)
