"""Cron schedules: a schedule only enqueues jobs; workers run them.

fenta's `schedules` table is the truth. Fire times come from APScheduler 3.x triggers (`CronTrigger`,
and `OrTrigger` where crontab ORs the two day fields); the daemon (`fenta.ops.scheduler`) uses
APScheduler's memory job store to wake at fire times, never its SQLAlchemy store (it pickles jobs and
deletes the ones it cannot unpickle).

Cron means what crontab means:
- five fields: minute hour day-of-month month day-of-week, or @hourly/@daily/@weekly/@monthly/@yearly;
- day of week 0 and 7 are Sunday, 1 is Monday (APScheduler's own numbers make 0 Monday: mapped here);
- when both day fields are restricted, a day matching either runs (crontab's OR; APScheduler ANDs);
- times are wall-clock times in the schedule's time zone (UTC unless `--tz`); a time that does not
  exist when DST starts runs an hour later by the clock (02:30 -> 03:30), and a fixed time in the
  hour repeated when DST ends runs once (a schedule with a wildcard minute or hour runs in both).

After downtime, missed fire times are computed from the stored last fire time, never from
APScheduler's state: `latest` (default) runs once for all of them, `all` runs each, `none` skips them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..bounds import whole
from ..config import Settings
from ..errors import FentaError, ScheduleError

__all__ = [
    "CATCHUP",
    "Cron",
    "parse_cron",
    "zone",
    "due_fires",
    "ensure_tables",
    "add_schedule",
    "list_schedules",
    "get_schedule",
    "set_enabled",
    "remove_schedule",
    "next_fire",
    "enqueue",
    "fire_due",
    "run_now",
]

CATCHUP = ("latest", "all", "none")
#: At most this many jobs for missed fire times of one schedule at once (`--catchup all`).
MAX_CATCHUP = 100

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) = sun
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _bad(message: str) -> ScheduleError:
    return ScheduleError(message, field="--cron")


def _weekday_value(text: str, expr: str) -> int:
    t = text.lower()
    if t in _CRON_DAYS:
        return _CRON_DAYS.index(t)
    if t.isdigit() and 0 <= int(t) <= 7:
        return int(t)
    raise _bad(f"'{expr}': day of week '{text}' is not 0-7 (0 and 7 are Sunday) or sun-sat")


def _weekdays(field: str, expr: str) -> str:
    """A crontab day-of-week field as an APScheduler one (day names, so no numbering can be misread)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        m = re.fullmatch(r"(\*|[A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?(?:/(\d+))?", item)
        if not m:
            raise _bad(f"'{expr}': cannot read day of week '{item}'")
        first, last, step = m.group(1), m.group(2), m.group(3)
        if first == "*":
            if last:
                raise _bad(f"'{expr}': cannot read day of week '{item}'")
            lo, hi = 0, 6
        else:
            lo = _weekday_value(first, expr)
            hi = _weekday_value(last, expr) if last else (7 if step else lo)
        if step is not None and int(step) == 0:
            raise _bad(f"'{expr}': a step of 0 in day of week '{item}'")
        if lo > hi:
            raise _bad(f"'{expr}': day of week range '{item}' runs backwards (write it as two parts, e.g. 5-7,0-1)")
        days |= {d % 7 for d in range(lo, hi + 1, int(step or 1))}
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def zone(name: str | None) -> ZoneInfo:
    """The time zone called `name` (UTC when empty). Raises ScheduleError naming --tz."""
    name = (name or "UTC").strip()
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone '{name}' (use an IANA name such as UTC, Europe/Berlin or America/New_York)", field="--tz") from None


@dataclass
class Cron:
    """A parsed cron expression in a time zone, with crontab's meaning."""

    expr: str
    tz: ZoneInfo
    trigger: Any
    #: Neither minute nor hour is a wildcard: a repeated wall-clock time (DST ends) runs once.
    fixed_time: bool

    def next_after(self, when: dt.datetime) -> dt.datetime | None:
        """The first fire time strictly after `when` (aware), skipping a fixed time's DST repeat."""
        prev = when.astimezone(self.tz)
        wall = prev.replace(tzinfo=None)
        nxt = self.trigger.get_next_fire_time(prev, prev)
        # (aware datetimes in one zone compare by wall time, fold ignored: compare instants as timestamps)
        while nxt is not None and self.fixed_time and nxt.astimezone(self.tz).replace(tzinfo=None) == wall and nxt.timestamp() > prev.timestamp():
            nxt = self.trigger.get_next_fire_time(nxt, nxt)
        return None if nxt is None else nxt.astimezone(self.tz)

    def fire_times(self, after: dt.datetime, until: dt.datetime, limit: int = 100_000) -> list[dt.datetime]:
        """Fire times in (after, until], oldest first (at most `limit`, the newest kept)."""
        out: list[dt.datetime] = []
        t = self.next_after(after)
        while t is not None and t.timestamp() <= until.timestamp():
            out.append(t)
            if len(out) > limit:
                out.pop(0)
            t = self.next_after(t)
        return out


def parse_cron(expr: str, tz: str | None = "UTC") -> Cron:
    """Parse a crontab expression (five fields or an @macro) into APScheduler triggers.

    Raises:
        ScheduleError: the expression (naming --cron) or the time zone (naming --tz) is invalid.
    """
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    zi = zone(tz)
    text = " ".join((expr or "").split())
    body = _MACROS.get(text.lower(), text)
    if body.startswith("@"):
        raise _bad(f"'{expr}': unknown macro (use {', '.join(sorted(set(_MACROS)))})")
    parts = body.split(" ")
    if len(parts) != 5:
        raise _bad(f"'{expr}' has {len(parts) if body else 0} field(s); cron takes five: minute hour day-of-month month day-of-week (e.g. '0 9 * * *')")
    minute, hour, dom, month, dow = parts
    dow_aps = _weekdays(dow, expr)
    try:
        common = {"minute": minute, "hour": hour, "month": month.lower(), "timezone": zi}
        if dom.startswith("*") or dow.startswith("*"):
            trigger = CronTrigger(day=dom, day_of_week=dow_aps, **common)
        else:  # both restricted: crontab runs on a day matching either
            trigger = OrTrigger([CronTrigger(day=dom, **common), CronTrigger(day_of_week=dow_aps, **common)])
    except ValueError as e:
        raise _bad(f"'{expr}': {e}") from None
    cron = Cron(text, zi, trigger, fixed_time=not (minute.startswith("*") or hour.startswith("*")))
    far = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    if cron.next_after(far) is None:
        raise _bad(f"'{expr}' never fires")
    return cron


def _aware(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


def due_fires(cron: Cron, last: float, now: float, catchup: str = "latest", *, live_since: float | None = None, limit: int = MAX_CATCHUP) -> tuple[list[float], float | None]:
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
    if live_since is None:
        live, missed = times[-1:], times[:-1]
    else:
        live = [t for t in times if t > live_since]
        missed = [t for t in times if t <= live_since]
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


# ---------------------------------------------------------------------------------------- the table

_COLUMNS = [
    ("schedules", "tz", "TEXT NOT NULL DEFAULT 'UTC'"),
    ("schedules", "priority", "INTEGER NOT NULL DEFAULT 0"),
    ("schedules", "catchup", "TEXT NOT NULL DEFAULT 'latest'"),
    ("schedules", "out_dir", "TEXT"),
    ("schedules", "last_fire_at", "REAL"),   # the newest fire time handled (run or skipped)
    ("schedules", "last_job_id", "TEXT"),
    ("schedules", "last_error", "TEXT"),
    ("schedules", "updated_at", "REAL"),
]


def ensure_tables(store: Any) -> None:
    """Add fenta.ops's columns to the engine's `schedules` table when missing."""
    from ._db import ensure

    ensure(store, "schedules", columns=_COLUMNS)


def _decode(row: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    row = dict(row)
    row["vars"] = json.loads(row["vars"]) if isinstance(row.get("vars"), str) else (row.get("vars") or {})
    row["name"] = row["id"]
    row["enabled"] = bool(row["enabled"])
    try:
        row["next_fire_at"] = next_fire(row, now=now) if row["enabled"] else None
    except FentaError:
        row["next_fire_at"] = None
    return row


def _check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ScheduleError(f"'{name}' is not a schedule name: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)", field="NAME")
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
) -> dict[str, Any]:
    """Add a schedule. The workflow is loaded (with `vars`) and validated now; its path is stored
    absolute, and so is the output folder.

    Raises:
        ScheduleError: bad name (or taken), cron, time zone, catch-up or priority, each naming its field.
        PathError: `out` names a file (`clip.mp4`) whose name is not a plain file name.
        SpecError: the workflow is missing or invalid.
    """
    from ..engine.outputs import check_output
    from ..engine.spec import load

    ensure_tables(store)
    _check_name(name)
    parse_cron(cron, tz)
    if catchup not in CATCHUP:
        raise ScheduleError(f"unknown catch-up '{catchup}': choose latest, all or none", field="--catchup")
    priority = whole(priority, "--priority", error=ScheduleError)
    check_output(out)  # `-o clip.mp4`: its name is checked now, not at every fire time
    path = Path(workflow).expanduser()
    if not path.is_file():
        raise ScheduleError(f"workflow file '{workflow}' not found", field="WORKFLOW")
    load(path, vars=vars or {})  # SpecError (exit 2) names the file, node and field
    now = time.time() if now is None else now
    row = {
        "id": name, "workflow_file": str(path.resolve()), "cron": " ".join(cron.split()), "vars": json.dumps(vars or {}, ensure_ascii=False),
        "enabled": 1, "created_at": now, "tz": str(zone(tz)), "priority": priority, "catchup": catchup,
        "out_dir": str(Path(out).expanduser().resolve()), "last_fire_at": now, "updated_at": now,
    }
    with store.write() as conn:
        if conn.execute("SELECT 1 FROM schedules WHERE id = ?", (name,)).fetchone():
            raise ScheduleError(f"a schedule named '{name}' exists already (`fenta schedule remove {name}` first)", field="NAME")
        conn.execute(f"INSERT INTO schedules ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return get_schedule(store, name, now=now)


def list_schedules(store: Any, *, now: float | None = None) -> list[dict[str, Any]]:
    ensure_tables(store)
    return [_decode(r, now) for r in store.db.query("SELECT * FROM schedules ORDER BY id")]


def get_schedule(store: Any, name: str, *, now: float | None = None) -> dict[str, Any]:
    """The schedule called `name`. Raises ScheduleError when there is none."""
    ensure_tables(store)
    rows = list(store.db.query("SELECT * FROM schedules WHERE id = ?", [name]))
    if not rows:
        raise ScheduleError(f"no schedule named '{name}' (see `fenta schedule list`)", field="NAME")
    return _decode(rows[0], now)


def set_enabled(store: Any, name: str, enabled: bool, *, now: float | None = None) -> dict[str, Any]:
    """Pause or resume a schedule. Resuming does not catch up the paused time: it starts from now."""
    get_schedule(store, name)
    now = time.time() if now is None else now
    if enabled:
        store.db.conn.execute("UPDATE schedules SET enabled = 1, last_fire_at = ?, updated_at = ? WHERE id = ? AND enabled = 0", (now, now, name))
    else:
        store.db.conn.execute("UPDATE schedules SET enabled = 0, updated_at = ? WHERE id = ?", (now, name))
    return get_schedule(store, name, now=now)


def remove_schedule(store: Any, name: str) -> None:
    """Remove a schedule (its jobs stay)."""
    get_schedule(store, name)
    store.db.conn.execute("DELETE FROM schedules WHERE id = ?", (name,))


def next_fire(schedule: dict[str, Any], *, now: float | None = None) -> float | None:
    """The next fire time after now (epoch seconds), or None."""
    now = time.time() if now is None else now
    cron = parse_cron(schedule["cron"], schedule.get("tz") or "UTC")
    t = cron.next_after(_aware(max(now, schedule.get("last_fire_at") or 0)))
    return t.timestamp() if t else None


# ---------------------------------------------------------------------------------------- firing


def enqueue(settings: Settings, store: Any, schedule: dict[str, Any], *, fire_time: float | None = None) -> str:
    """Queue one job of a schedule now (loading its workflow afresh); returns the job id.

    Raises:
        SpecError: the workflow is missing or became invalid.
    """
    from ..engine.queue import submit
    from ..engine.spec import load

    wf = load(schedule["workflow_file"], vars=schedule.get("vars") or {})
    job_id = submit(wf, out=schedule.get("out_dir") or "renders", priority=int(schedule.get("priority") or 0), settings=settings, schedule_id=schedule["id"])
    store.db.conn.execute("UPDATE schedules SET last_job_id = ?, last_error = NULL WHERE id = ?", (job_id, schedule["id"]))
    return job_id


def _busy(store: Any, schedule: dict[str, Any]) -> str | None:
    """The schedule's previous job when it is still queued, running or waiting for a retry."""
    if not schedule.get("last_job_id"):
        return None
    row = store.db.conn.execute("SELECT status FROM jobs WHERE id = ?", (schedule["last_job_id"],)).fetchone()
    return schedule["last_job_id"] if row and row[0] in ("queued", "running", "failed") else None


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
    scheduler and `fenta schedule run-due`) never enqueue the same fire time twice. A live fire
    whose previous job is still queued or running is skipped (one instance at a time).

    Returns:
        (schedule name, fire time, job id or None when skipped or it failed) for each fire handled.
    """
    ensure_tables(store)
    now = time.time() if now is None else now
    say = log or (lambda _m: None)
    handled: list[tuple[str, float, str | None]] = []
    rows = [dict(r) for r in store.db.query("SELECT * FROM schedules WHERE enabled = 1 ORDER BY id")]
    for row in rows:
        if names is not None and row["id"] not in names:
            continue
        last = row["last_fire_at"] if row["last_fire_at"] is not None else row["created_at"]
        try:
            cron = parse_cron(row["cron"], row["tz"])
        except ScheduleError as e:
            say(f"schedule {row['id']}: {e}")
            continue
        run, newest = due_fires(cron, last, now, row["catchup"] or "latest", live_since=live_since)
        if newest is None:
            continue
        claimed = store.db.conn.execute(
            "UPDATE schedules SET last_fire_at = ? WHERE id = ? AND enabled = 1 AND COALESCE(last_fire_at, created_at) = ?", (newest, row["id"], last)
        ).rowcount
        if not claimed:
            continue  # another process handled these fire times
        row["vars"] = json.loads(row["vars"]) if isinstance(row["vars"], str) else row["vars"]
        missed = [t for t in _recent_fire_times(cron, last, newest) if (live_since is None and t != newest) or (live_since is not None and t <= live_since)]
        if missed and row["catchup"] != "all":
            what = "one job for the newest" if row["catchup"] == "latest" else "none run"
            say(f"schedule {row['id']}: missed {len(missed)}{'+' if now - last > _WINDOW else ''} fire time(s) while no scheduler ran (catch-up '{row['catchup']}': {what})")
        for t in run:
            live = live_since is not None and t > live_since
            busy = _busy(store, row) if live else None
            if busy:
                say(f"schedule {row['id']}: {_iso(t)} skipped, job {busy} is still running")
                handled.append((row["id"], t, None))
                continue
            try:
                job_id = enqueue(settings, store, row, fire_time=t)
            except FentaError as e:
                store.db.conn.execute("UPDATE schedules SET last_error = ? WHERE id = ?", (settings.redact(str(e)), row["id"]))
                say(f"schedule {row['id']}: {_iso(t)} not queued: {settings.redact(str(e))}")
                handled.append((row["id"], t, None))
                continue
            row["last_job_id"] = job_id
            caught_up = (t <= live_since) if live_since is not None else (t != newest)
            say(f"schedule {row['id']}: {_iso(t)} queued job {job_id}" + (" (catch-up)" if caught_up else ""))
            handled.append((row["id"], t, job_id))
    return handled


def _iso(t: float) -> str:
    return _aware(t).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_now(settings: Settings, store: Any, name: str) -> str:
    """`fenta schedule run NAME`: queue one job of the schedule now (paused or not); its timing is unchanged."""
    schedule = get_schedule(store, name)
    return enqueue(settings, store, schedule)
