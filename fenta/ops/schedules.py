"""Cron schedules: a schedule only enqueues jobs; workers run them.

fenta's `schedules` table is the truth. Fire times come from APScheduler 3.x triggers with crontab's
meaning (`fenta.ops.cron`); the daemon (`fenta.ops.scheduler`) uses APScheduler's memory job store to
wake at fire times, never its SQLAlchemy store (it pickles jobs and deletes the ones it cannot unpickle).

After downtime, missed fire times are computed from the stored last fire time, never from
APScheduler's state: `latest` (default) runs once for all of them, `all` runs each, `none` skips them.
The daemon and `fenta schedule run-due` both go through `fire_due`, which alone decides what is queued:
a fire time due now (not a missed one run by catch-up) is skipped while the schedule's previous job is
still queued, running or waiting for a retry (`held_back_by`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..bounds import whole
from ..config import Settings
from ..engine.store.schedules import Schedule
from ..errors import FentaError, ScheduleError
from ..policy import TRUSTED, Policy
from .cron import Cron, parse_cron, zone

__all__ = [
    "CATCHUP",
    "Cron",
    "parse_cron",
    "zone",
    "due_fires",
    "Schedule",
    "add_schedule",
    "list_schedules",
    "get_schedule",
    "set_enabled",
    "remove_schedule",
    "next_fire",
    "enqueue",
    "fire_due",
    "held_back_by",
    "run_now",
]

CATCHUP = ("latest", "all", "none")
#: At most this many jobs for missed fire times of one schedule at once (`--catchup all`).
MAX_CATCHUP = 100

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _aware(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


def due_fires(
    cron: Cron,
    last: float,
    now: float,
    catchup: str = "latest",
    *,
    live_since: float | None = None,
    limit: int = MAX_CATCHUP,
) -> tuple[list[float], float | None]:
    """Which fire times to enqueue now, and the new last fire time.

    Fire times in (last, now] after `live_since` happened while a scheduler was watching: they are
    due (several at once coalesce into the newest). Those at or before `live_since` were missed
    (the scheduler was down): `latest` runs one job for the newest fire time, `all` one for each
    (at most `limit`, the newest), `none` none. With no `live_since` (`fenta schedule run-due`),
    the newest fire time is due and the older ones were missed.

    Returns:
        (epoch fire times to enqueue, oldest first; the newest fire time seen, or None if none).
    """
    if catchup not in CATCHUP:
        raise ScheduleError(f"unknown catch-up '{catchup}': choose latest, all or none", field="--catchup")
    times = _recent_fire_times(cron, last, now, want=limit + 1)
    if not times:
        return [], None
    live = [t for t in times if _is_live(t, times[-1], live_since)]
    missed = [t for t in times if not _is_live(t, times[-1], live_since)]
    if catchup == "latest":
        run = times[-1:]
    elif catchup == "all":
        run = (missed[-limit:] if missed else []) + live[-1:]
    else:
        run = live[-1:]
    return run, times[-1]


#: After a long downtime only the end of it is walked fire time by fire time (a minutely schedule
#: down for a year would be half a million steps): first its last two days, widened until enough
#: fire times are found (a sparse schedule costs few steps however wide the window).
_WINDOW = 2 * 86400.0


def _recent_fire_times(cron: Cron, last: float, now: float, want: int = MAX_CATCHUP + 1) -> list[float]:
    """Fire times in (last, now], oldest first: all of them, or at least the newest `want`."""
    window = _WINDOW
    while True:
        start = max(last, now - window)
        times = [t.timestamp() for t in cron.fire_times(_aware(start), _aware(now))]
        if len(times) >= want or start == last:
            return times
        window *= 4


# ---------------------------------------------------------------------------------------- the rows


def _decode(schedule: Schedule, now: float | None = None) -> dict[str, Any]:
    """A schedule as the SDK, the CLI and the API show it: its row, `name` and the next fire time."""
    row = {**schedule.to_dict(), "name": schedule.id}
    try:
        row["next_fire_at"] = next_fire(row, now=now) if schedule.enabled else None
    except FentaError:
        row["next_fire_at"] = None
    return row


def schedule_policy(schedule: Schedule) -> Policy:
    """The policy a schedule's workflow was added under (an API client's is untrusted), which every job
    it queues keeps; a schedule stored without one is the local user's."""
    value = schedule.policy
    if not value:
        return TRUSTED
    try:
        return Policy.from_stored(json.loads(value))
    except ValueError:
        return Policy(trusted=False)  # a damaged value never widens what the jobs may reach


def _check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ScheduleError(
            f"'{name}' is not a schedule name: use letters, digits, '.', '_' and '-' (at most 64, "
            "starting with a letter or digit)",
            field="NAME",
        )
    return name


def add_schedule(
    store: Any,
    name: str,
    workflow: str | Path,
    cron: str,
    *,
    tz: str | None = "UTC",
    vars: dict[str, Any] | None = None,
    priority: int = 0,
    catchup: str = "latest",
    out: str | Path = "renders",
    now: float | None = None,
    policy: Policy = TRUSTED,
) -> dict[str, Any]:
    """Add a schedule. The workflow is loaded (with `vars`) and validated now; its path is stored
    absolute, and so is the output folder. `policy`: who added it (the local user, or an API client:
    untrusted); every job the schedule queues is loaded under it.

    Raises:
        ScheduleError: bad name (or taken), cron, time zone, catch-up or priority, each naming its field.
        PathError: `out` names a file (`clip.mp4`) whose name is not a plain file name.
        SpecError: the workflow is missing or invalid.
    """
    from ..engine.outputs import check_output
    from ..engine.spec import load

    _check_name(name)
    parse_cron(cron, tz)
    if catchup not in CATCHUP:
        raise ScheduleError(f"unknown catch-up '{catchup}': choose latest, all or none", field="--catchup")
    priority = whole(priority, "--priority", error=ScheduleError)
    check_output(out)  # `-o clip.mp4`: its name is checked now, not at every fire time
    path = Path(workflow).expanduser()
    if not path.is_file():
        raise ScheduleError(f"workflow file '{workflow}' not found", field="WORKFLOW")
    load(path, vars=vars or {}, policy=policy)  # SpecError (exit 2) names the file, node and field
    now = time.time() if now is None else now
    schedule = Schedule(
        id=name,
        workflow_file=str(path.resolve()),
        cron=" ".join(cron.split()),
        vars=dict(vars or {}),
        enabled=True,
        created_at=now,
        tz=str(zone(tz)),
        priority=priority,
        catchup=catchup,
        out_dir=str(Path(out).expanduser().resolve()),
        last_fire_at=now,
        updated_at=now,
        policy=None if policy.trusted else json.dumps(policy.to_stored()),
    )
    if not store.add_schedule(schedule):
        raise ScheduleError(
            f"a schedule named '{name}' exists already (`fenta schedule remove {name}` first)", field="NAME"
        )
    return get_schedule(store, name, now=now)


def list_schedules(store: Any, *, now: float | None = None) -> list[dict[str, Any]]:
    return [_decode(s, now) for s in store.schedules()]


def _schedule(store: Any, name: str) -> Schedule:
    found: Schedule | None = store.schedule(name)
    if found is None:
        raise ScheduleError(f"no schedule named '{name}' (see `fenta schedule list`)", field="NAME")
    return found


def get_schedule(store: Any, name: str, *, now: float | None = None) -> dict[str, Any]:
    """The schedule called `name`. Raises ScheduleError when there is none."""
    return _decode(_schedule(store, name), now)


def set_enabled(store: Any, name: str, enabled: bool, *, now: float | None = None) -> dict[str, Any]:
    """Pause or resume a schedule. Resuming does not catch up the paused time: it starts from now."""
    _schedule(store, name)
    now = time.time() if now is None else now
    if enabled:
        store.resume_schedule(name, now=now)
    else:
        store.pause_schedule(name, now=now)
    return get_schedule(store, name, now=now)


def remove_schedule(store: Any, name: str) -> None:
    """Remove a schedule (its jobs stay)."""
    _schedule(store, name)
    store.delete_schedule(name)


def next_fire(schedule: dict[str, Any], *, now: float | None = None) -> float | None:
    """The next fire time after now (epoch seconds), or None."""
    now = time.time() if now is None else now
    cron = parse_cron(schedule["cron"], schedule.get("tz") or "UTC")
    t = cron.next_after(_aware(max(now, schedule.get("last_fire_at") or 0)))
    return t.timestamp() if t else None


# ---------------------------------------------------------------------------------------- firing


def enqueue(settings: Settings, store: Any, schedule: Schedule, *, fire_time: float | None = None) -> str:
    """Queue one job of a schedule now (loading its workflow afresh); returns the job id.

    The job and the schedule's `last_job_id` are written in one transaction: a process killed in
    between would leave a queued job the busy rule (`held_back_by`) does not know about.

    Raises:
        SpecError: the workflow is missing or became invalid.
        PathError: the output folder cannot be used.
    """
    from ..engine.queue import enqueue as enqueue_job
    from ..engine.queue import retry_policy
    from ..engine.results import prepare
    from ..engine.spec import load

    wf = load(schedule.workflow_file, vars=schedule.vars, policy=schedule_policy(schedule))
    out_dir, base = prepare(out=schedule.out_dir or "renders", name=None, settings=settings)
    max_retries, base_seconds = retry_policy(wf, None, settings)
    with store.write() as tx:
        job_id, _ = enqueue_job(
            store,
            wf,
            settings=settings,
            out_dir=out_dir,
            name=base,
            priority=int(schedule.priority or 0),
            max_retries=max_retries,
            retry_base=base_seconds,
            schedule_id=schedule.id,
            tx=tx,
        )
        tx.set_schedule_job(schedule.id, job_id)
    return str(job_id)


def _is_live(fire_time: float, newest: float, live_since: float | None) -> bool:
    """Whether a fire time is due now rather than missed: it came while a scheduler was watching (after
    `live_since`); with nobody watching (`fenta schedule run-due`), the newest fire time is the due one."""
    return fire_time > live_since if live_since is not None else fire_time == newest


#: A schedule's previous job in one of these states holds back its next fire time (one at a time).
_UNFINISHED = {"queued": "queued", "running": "running", "failed": "waiting for a retry"}


def held_back_by(
    store: Any, schedule: Schedule, fire_time: float, *, newest: float, live_since: float | None
) -> tuple[str, str] | None:
    """The busy rule, the same for the daemon and `fenta schedule run-due`: a fire time due now is not
    queued while the schedule's previous job is still queued, running or waiting for a retry. Missed
    fire times that catch-up runs (`--catchup all`) are queued whatever the previous job does.

    Returns:
        (the previous job's id, its state in words) when it holds the fire time back, else None.
    """
    job_id = schedule.last_job_id
    if not job_id or not _is_live(fire_time, newest, live_since):
        return None
    job = store.job(job_id)
    state = job.status.value if job is not None else None
    return (job_id, _UNFINISHED[state]) if state in _UNFINISHED else None


def fire_due(
    settings: Settings,
    store: Any,
    *,
    now: float | None = None,
    live_since: float | None = None,
    names: list[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[tuple[str, float, str | None]]:
    """Enqueue what is due for every enabled schedule (or those in `names`), per `due_fires`.

    Each schedule's last fire time moves forward with a compare-and-set, so two processes (a
    scheduler and `fenta schedule run-due`) never enqueue the same fire time twice. A fire time due
    now whose previous job is still queued or running is skipped (`held_back_by`: one at a time).

    Returns:
        (schedule name, fire time, job id or None when skipped or it failed) for each fire handled.
    """
    now = time.time() if now is None else now
    say = log or (lambda _m: None)
    handled: list[tuple[str, float, str | None]] = []
    for row in store.schedules(enabled_only=True):
        if names is not None and row.id not in names:
            continue
        last = row.last
        try:
            cron = parse_cron(row.cron, row.tz)
        except ScheduleError as e:
            say(f"schedule {row.id}: {e}")
            continue
        run, newest = due_fires(cron, last, now, row.catchup or "latest", live_since=live_since)
        if newest is None:
            continue
        if not store.advance_schedule(row.id, last=last, to=newest):
            continue  # another process handled these fire times
        missed = [t for t in _recent_fire_times(cron, last, newest) if not _is_live(t, newest, live_since)]
        if missed and row.catchup != "all":
            what = "one job for the newest" if row.catchup == "latest" else "none run"
            more = "+" if now - last > _WINDOW else ""
            say(
                f"schedule {row.id}: missed {len(missed)}{more} fire time(s) while no scheduler ran"
                f" (catch-up '{row.catchup}': {what})"
            )
        # `row` keeps the job from before this pass: catch-up jobs queued now do not hold back the due one
        for t in run:
            busy = held_back_by(store, row, t, newest=newest, live_since=live_since)
            if busy:
                job_id, state = busy
                say(f"schedule {row.id}: {_iso(t)} skipped: its previous job {job_id} is still {state}")
                handled.append((row.id, t, None))
                continue
            try:
                job_id = enqueue(settings, store, row, fire_time=t)
            except FentaError as e:
                store.set_schedule_error(row.id, settings.redact(str(e)))
                say(f"schedule {row.id}: {_iso(t)} not queued: {settings.redact(str(e))}")
                handled.append((row.id, t, None))
                continue
            caught_up = not _is_live(t, newest, live_since)
            say(f"schedule {row.id}: {_iso(t)} queued job {job_id}" + (" (catch-up)" if caught_up else ""))
            handled.append((row.id, t, job_id))
    return handled


def _iso(t: float) -> str:
    return _aware(t).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_now(settings: Settings, store: Any, name: str) -> str:
    """`fenta schedule run NAME`: queue one job of the schedule now (paused or not); its timing is
    unchanged."""
    return enqueue(settings, store, _schedule(store, name))
