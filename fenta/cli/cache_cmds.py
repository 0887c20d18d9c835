"""cache, cache prune."""

from __future__ import annotations

import datetime as dt

import typer
from rich.markup import escape

from ..config import Settings
from ._app import app, console, emit_json, handle_errors

cache_app = typer.Typer(
    help="Show the cache's size, or prune it by age or size.",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(cache_app, name="cache")

_AREAS = {
    "blobs": "node results",
    "tts": "speech chunks",
    "tmp": "scratch folders",
    "previews": "template previews (FENTA_HOME/previews)",
    "other": "notes such as the FFmpeg check",
}


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


@cache_app.callback()
@handle_errors()
def cache_show(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show where the cache is, how big it is (template previews included), and when its entries were last
    used."""
    if ctx.invoked_subcommand:
        return
    from ..engine.cache import human_size
    from ..ops.caches import cache_usage

    u = cache_usage(Settings.from_env())
    if json:
        emit_json(u.to_dict())
        return
    console.print(f"[bold]cache[/]  {escape(u.folder)}", highlight=False)
    console.print(f"  size     {human_size(u.bytes)} in {u.files} files", highlight=False)
    console.print(
        f"  entries  {u.entries} node results, last used {_when(u.oldest_use)} .. {_when(u.newest_use)}",
        highlight=False,
    )
    for area, info in sorted(u.areas.items()):
        console.print(
            f"  [dim]{area:<8}[/] {human_size(info['bytes']):>10}  {info['files']} files  "
            f"[dim]{_AREAS.get(area, '')}[/]",
            highlight=False,
        )
    if u.running_jobs:
        console.print(f"  in use by running job(s): {', '.join(u.running_jobs)}", highlight=False)
    console.print(
        "[dim]prune with: fenta cache prune --older-than 30d | --max-size 2G [--dry-run][/]", highlight=False
    )


@cache_app.command("prune")
@handle_errors()
def cache_prune(
    older_than: str | None = typer.Option(
        None, "--older-than", help="Remove entries last used longer ago than this (30d, 12h, 90m, 2w)."
    ),
    max_size: str | None = typer.Option(
        None,
        "--max-size",
        help="Then remove the least recently used entries until the cache is at most this big (500M, 2G).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Remove old cache entries and the files only they use (template previews' too).

    To meet --max-size, previews go first (they are rebuilt offline in seconds). Never touches
    what a running job or preview uses. A removed entry only means its node runs again
    (in a new run and in `fenta resume`).
    """
    from ..engine.cache import human_size, parse_age, parse_size
    from ..ops.caches import prune_caches

    if older_than is None and max_size is None:
        raise typer.BadParameter(
            "give --older-than AGE (like 30d) and/or --max-size SIZE (like 2G)",
            param_hint="--older-than / --max-size",
        )
    try:
        age = parse_age(older_than) if older_than is not None else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--older-than") from None
    try:
        size = parse_size(max_size) if max_size is not None else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--max-size") from None
    r = prune_caches(Settings.from_env(), older_than=age, max_size=size, dry_run=dry_run)
    if json:
        emit_json(r.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    holds = "would hold" if dry_run else "now holds"
    console.print(
        f"{verb} {r.entries} entries and {r.files} files ({human_size(r.bytes)}); "
        f"the cache {holds} {human_size(r.kept_bytes)}",
        highlight=False,
    )
    if r.running_jobs:
        console.print(f"kept what running job(s) use: {', '.join(r.running_jobs)}", highlight=False)
