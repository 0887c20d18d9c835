"""schedule add/list/show/pause/resume/remove/run/run-due, and the scheduler daemon."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from ..config import Settings
from ._app import DAY, MAX_WORKERS, app, console, emit_json, err_console, handle_errors

schedule_app = typer.Typer(
    help=(
        "Run workflows on a cron schedule: a schedule only queues jobs; `fenta scheduler` (or `fenta "
        "schedule run-due` from system cron) runs them."
    ),
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


def _store() -> Any:
    from ..engine.store import JobStore

    return JobStore(Settings.from_env().db_path)


def _when(ts: float | None, tz: str = "UTC") -> str:
    if not ts:
        return "-"
    from zoneinfo import ZoneInfo

    t = dt.datetime.fromtimestamp(ts, ZoneInfo(tz or "UTC"))
    return t.strftime("%Y-%m-%d %H:%M %Z")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "name",
        "workflow_file",
        "cron",
        "tz",
        "vars",
        "priority",
        "catchup",
        "out_dir",
        "enabled",
        "next_fire_at",
        "last_fire_at",
        "last_job_id",
        "last_error",
        "created_at",
    )
    out: dict[str, Any] = {k: row.get(k) for k in keys}
    from ..engine.events import iso

    for k in ("next_fire_at", "last_fire_at", "created_at"):
        out[k] = iso(out[k]) if out[k] else None
    return out


@schedule_app.command("add")
@handle_errors()
def schedule_add(
    name: str = typer.Argument(..., help="A name for the schedule (letters, digits, '.', '_', '-')."),
    workflow: Path = typer.Argument(
        ..., help="The workflow file to run (validated now; re-read at every fire time)."
    ),
    cron: str = typer.Option(
        ...,
        "--cron",
        help=(
            'When, as crontab writes it: minute hour day-of-month month day-of-week ("0 9 * * *" = '
            "09:00 daily; 0 and 7 are Sunday), or @hourly, @daily, @weekly, @monthly."
        ),
    ),
    tz: str = typer.Option(
        "UTC", "--tz", help="Time zone the cron times are in (IANA name, e.g. Europe/Berlin)."
    ),
    var: list[str] | None = typer.Option(
        None,
        "--var",
        help=(
            "Set a variable for every run: --var key=value, or key=@file.txt (the file is read now; "
            "repeatable)."
        ),
    ),
    priority: int = typer.Option(0, "--priority", help="Queue priority of its jobs (higher runs first)."),
    catchup: str = typer.Option(
        "latest",
        "--catchup",
        help="Fire times missed while no scheduler ran: latest (run once), all (run each), none (skip).",
    ),
    out: Path = typer.Option(
        Path("renders"), "-o", "--out", help="Folder for the videos (stored as an absolute path)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the schedule as JSON."),
) -> None:
    """Add a schedule: queue a job of WORKFLOW at every cron time."""
    from ..engine.spec import parse_var_overrides
    from ..ops.schedules import add_schedule

    store = _store()
    try:
        row = add_schedule(
            store,
            name,
            workflow,
            cron,
            tz=tz,
            vars=parse_var_overrides(var),
            priority=priority,
            catchup=catchup,
            out=out,
        )
    finally:
        store.close()
    if json:
        emit_json(_public(row))
        return
    console.print(
        f"added schedule {row['name']}: '{row['cron']}' ({row['tz']}), next "
        f"{_when(row['next_fire_at'], row['tz'])}",
        highlight=False,
        markup=False,
    )
    console.print(
        "jobs are queued while `fenta scheduler` runs (or by `fenta schedule run-due` from system cron)",
        highlight=False,
        markup=False,
    )


@schedule_app.command("list")
@handle_errors()
def schedule_list(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List schedules with their next fire time."""
    from ..ops.schedules import list_schedules

    store = _store()
    try:
        rows = list_schedules(store)
    finally:
        store.close()
    if json:
        emit_json([_public(r) for r in rows])
        return
    if not rows:
        console.print(
            'no schedules: add one with `fenta schedule add NAME WORKFLOW --cron "0 9 * * *"`',
            highlight=False,
            markup=False,
        )
        return
    from ._tables import table, whole

    t = table(
        whole("name"),
        whole("cron"),
        whole("tz"),
        "state",
        whole("next"),
        whole("last job"),
        whole("workflow"),
    )
    for r in rows:
        t.add_row(
            r["name"],
            r["cron"],
            r["tz"],
            "active" if r["enabled"] else "paused",
            _when(r["next_fire_at"], r["tz"]),
            r["last_job_id"] or "-",
            r["workflow_file"],
        )
    console.print(t)


@schedule_app.command("show")
@handle_errors()
def schedule_show(
    name: str = typer.Argument(..., help="The schedule's name."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show one schedule: its cron, time zone, variables, next and last fire, last job and error."""
    from ..ops.schedules import get_schedule

    store = _store()
    try:
        r = get_schedule(store, name)
    finally:
        store.close()
    if json:
        emit_json(_public(r))
        return
    lines = [
        ("name", r["name"]),
        ("state", "active" if r["enabled"] else "paused"),
        ("cron", r["cron"]),
        ("tz", r["tz"]),
        ("catchup", r["catchup"]),
        ("priority", str(r["priority"])),
        ("workflow", r["workflow_file"]),
        ("out", r["out_dir"] or "-"),
        ("vars", ", ".join(f"{k}={v}" for k, v in (r["vars"] or {}).items()) or "-"),
        ("next", _when(r["next_fire_at"], r["tz"])),
        ("last fire", _when(r["last_fire_at"], r["tz"])),
        ("last job", r["last_job_id"] or "-"),
    ]
    if r.get("last_error"):
        lines.append(("last error", r["last_error"]))
    for k, v in lines:
        console.print(f"{k:<10} {v}", highlight=False, markup=False)


@schedule_app.command("pause")
@handle_errors()
def schedule_pause(name: str = typer.Argument(..., help="The schedule's name.")) -> None:
    """Pause a schedule (a running scheduler notices within its poll interval)."""
    from ..ops.schedules import set_enabled

    store = _store()
    try:
        set_enabled(store, name, False)
    finally:
        store.close()
    console.print(f"paused schedule {name}", highlight=False, markup=False)


@schedule_app.command("resume")
@handle_errors()
def schedule_resume(name: str = typer.Argument(..., help="The schedule's name.")) -> None:
    """Resume a paused schedule from now on (fire times while it was paused are not caught up)."""
    from ..ops.schedules import set_enabled

    store = _store()
    try:
        r = set_enabled(store, name, True)
    finally:
        store.close()
    console.print(
        f"resumed schedule {name}, next {_when(r['next_fire_at'], r['tz'])}", highlight=False, markup=False
    )


@schedule_app.command("remove")
@handle_errors()
def schedule_remove(name: str = typer.Argument(..., help="The schedule's name.")) -> None:
    """Remove a schedule (the jobs it queued stay)."""
    from ..ops.schedules import remove_schedule

    store = _store()
    try:
        remove_schedule(store, name)
    finally:
        store.close()
    console.print(f"removed schedule {name}", highlight=False, markup=False)


@schedule_app.command("run")
@handle_errors()
def schedule_run(
    name: str = typer.Argument(..., help="The schedule's name."),
    json: bool = typer.Option(False, "--json", help="Print the job id as JSON."),
) -> None:
    """Queue one job of a schedule now (its cron timing is unchanged); a worker or the scheduler runs it."""
    from ..ops.schedules import run_now

    settings = Settings.from_env()
    store = _store()
    try:
        job_id = run_now(settings, store, name)
    finally:
        store.close()
    if json:
        emit_json({"schedule": name, "job_id": job_id, "status": "queued"})
        return
    console.print(f"queued job {job_id} (schedule {name})", highlight=False, markup=False)


@schedule_app.command("run-due")
@handle_errors()
def schedule_run_due(
    workers: int = typer.Option(1, "--workers", help="How many jobs run at once (1 to 64)."),
    wait: float = typer.Option(
        10.0,
        "--wait",
        help="Seconds to wait for webhook deliveries before exiting (the rest stay pending; at most a day).",
    ),
    json: bool = typer.Option(False, "--json", help="Print what was queued and run as JSON."),
) -> None:
    """Queue whatever is due (catch-up rules apply), run the queue until it is empty, send webhooks, exit.

    For system cron or a CI cron instead of `fenta scheduler`; exits 1 when a job it ran failed.
    """
    from ..bounds import finite, whole
    from ..engine.store import JobStore
    from ..ops.schedules import fire_due
    from ..ops.serving import Worker

    workers = whole(workers, "--workers", least=1, most=MAX_WORKERS)
    wait = finite(wait, "--wait", least=0, most=DAY)
    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        fired = fire_due(
            settings,
            store,
            log=None if json else (lambda m: err_console.print(m, highlight=False, markup=False)),
        )
    finally:
        store.close()
    queued = [job for _, _, job in fired if job]
    # fenta.ops.serving: quota reservations at each claim, the readers beside it, and its jobs'
    # webhooks at the end (waiting at most --wait seconds).
    say = None if json else (lambda m: err_console.print(m, highlight=False, markup=False))
    Worker(settings, concurrency=workers, until_empty=True, webhook_wait=wait, log=say).run()
    store = JobStore(settings.db_path)
    try:
        states = {j: job.status.value if (job := store.get_job(j)) else None for j in queued}
    finally:
        store.close()
    if json:
        emit_json(
            {"queued": [{"schedule": s, "fire_time": t, "job_id": j} for s, t, j in fired], "jobs": states}
        )
    else:
        if not fired:
            console.print("nothing was due", highlight=False, markup=False)
        for j, st in states.items():
            console.print(f"job {j}: {st}", highlight=False, markup=False)
    if any(st not in ("completed",) for st in states.values()):
        raise typer.Exit(1)


@app.command("scheduler")
@handle_errors(json_flag=None)
def scheduler(
    workers: int = typer.Option(
        1,
        "--workers",
        help="How many jobs run at once in this process (0 to 64; 0: only queue them, for `fenta worker` "
        "elsewhere).",
    ),
    log_format: str | None = typer.Option(
        None,
        "--log-format",
        help="text or json: json writes one JSON object per line on stderr (time, level, message, job_id, "
        "schedule); default FENTA_LOG_FORMAT, else text.",
    ),
) -> None:
    """Run the scheduler in the foreground: queue scheduled jobs at their fire times, run them, send webhooks.

    One per FENTA_HOME (a second one exits 2 naming the first); stop it with Ctrl-C or SIGTERM.
    """
    from ..bounds import whole
    from ..ops.scheduler import Scheduler
    from ..serve.logs import setup_logging

    workers = whole(workers, "--workers", least=0, most=MAX_WORKERS)
    settings = Settings.from_env()
    lines = setup_logging(log_format or settings.log_format)  # JSON lines on stderr, or None: plain lines
    say = lines.line if lines is not None else lambda m: err_console.print(m, highlight=False, markup=False)
    Scheduler(settings, workers=workers, log=say).run()
