"""quota, quota set, quota remove: local limits per UTC day or month, reserved as every job is taken."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer

from ..config import Settings
from ._app import app, console, emit_json, handle_errors

quota_app = typer.Typer(
    help="Show use against the quota limits for the current period, or set and remove limits.",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(quota_app, name="quota")


def _store() -> Any:
    from ..engine.store import JobStore

    return JobStore(Settings.from_env().db_path)


def _num(x: float) -> str:
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


@quota_app.callback()
@handle_errors()
def quota_show(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show each limited resource's use against its limit this period (jobs, render_minutes, kie_credits,
    cost_usd, youtube_uploads, tiktok_posts, instagram_posts)."""
    if ctx.invoked_subcommand:
        return
    from ..ops.quotas import status, track

    settings = Settings.from_env()
    store = _store()
    try:
        track(store, settings)  # usage of jobs that finished since a reader last looked
        rows = status(store)
    finally:
        store.close()
    if json:
        from ..engine.events import iso

        emit_json(
            [{**r, "period_start": iso(r["period_start"]), "resets_at": iso(r["resets_at"])} for r in rows]
        )
        return
    if not rows:
        console.print(
            "no quota limits: set one with `fenta quota set jobs 100 --per month`",
            highlight=False,
            markup=False,
        )
        return
    from ._tables import table, whole

    # held: what jobs running now reserved on top of `used` (it becomes use when they complete).
    t = table(
        whole("resource"),
        whole("used", justify="right"),
        whole("held", justify="right"),
        whole("limit", justify="right"),
        whole("%", justify="right"),
        "per",
        whole("resets"),
    )
    for r in rows:
        resets = dt.datetime.fromtimestamp(r["resets_at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        t.add_row(
            r["resource"],
            _num(r["used"]),
            _num(r["reserved"]),
            f"{_num(r['limit'])} {r['unit']}",
            f"{r['percentage']:g}",
            r["period"],
            resets,
        )
    console.print(t)


# A negative LIMIT (`quota set jobs -1`) is read as the argument it is, and refused by set_limit in one
# line, instead of click taking it for an unknown option.
@quota_app.command("set", context_settings={"ignore_unknown_options": True})
@handle_errors()
def quota_set(
    resource: str = typer.Argument(
        ...,
        help="jobs, render_minutes, kie_credits, cost_usd, youtube_uploads, tiktok_posts or instagram_posts.",
    ),
    limit: float = typer.Argument(
        ..., help="The most the resource may use per period (jobs: finished videos; cost_usd: US dollars)."
    ),
    per: str = typer.Option("month", "--per", help="The period the limit is for: day or month (UTC)."),
) -> None:
    """Set a limit: a job that would go over it is refused before anything runs (exit 2)."""
    from ..ops.quotas import RESOURCES, set_limit

    store = _store()
    try:
        set_limit(store, resource, limit, per)
    finally:
        store.close()
    console.print(
        f"quota set: {resource} at most {_num(limit)} {RESOURCES[resource]} per {per}",
        highlight=False,
        markup=False,
    )


@quota_app.command("remove")
@handle_errors()
def quota_remove(resource: str = typer.Argument(..., help="The resource whose limit to remove.")) -> None:
    """Remove a resource's limit (its usage records stay)."""
    from ..ops.quotas import remove_limit

    store = _store()
    try:
        removed = remove_limit(store, resource)
    finally:
        store.close()
    console.print(
        f"quota removed: {resource}" if removed else f"{resource} had no limit", highlight=False, markup=False
    )
