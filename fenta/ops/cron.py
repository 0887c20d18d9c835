"""Cron expressions with crontab(5)'s meaning, on APScheduler 3.x triggers.

fenta reads every field itself and hands APScheduler's `CronTrigger` only lists of numbers (weekdays as
names), so none of APScheduler's own cron dialect leaks through: its weekday 0 is Monday, it drops a step
after a month or weekday name (`jan-jun/2` would fire every month) and reads `jan-jun;x` as `jan-jun`, it
refuses a step longer than the field's range, and its extensions (`last`, `2nd fri`) are not crontab.

What crontab means, kept here:
- five fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week 0-7 or
  sun-sat (0 and 7 are Sunday); or @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly;
- a field is a comma-separated list of `*`, a value or a range `a-b`, each with an optional step `/n`
  (n at least 1; `a/n` steps from a to the field's last value); names are case-insensitive;
- a range runs forwards; in day of week one that ends on `sun` ends on Sunday 7 (`fri-sun`);
- when both day fields are restricted (neither starts with `*`), a day matching either runs (crontab's
  OR; APScheduler ANDs its fields, so that case is an `OrTrigger` of two `CronTrigger`s);
- times are wall-clock times in the schedule's time zone (UTC unless `--tz`); a time that does not
  exist when DST starts runs an hour later by the clock (02:30 -> 03:30), and a fixed time in the
  hour repeated when DST ends runs once (a schedule with a wildcard minute or hour runs in both).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ScheduleError

__all__ = ["Cron", "parse_cron", "zone"]

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) = sun
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: One item of a field's list: `*` or a value or a range, then an optional step.
_ITEM = re.compile(r"(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?", re.IGNORECASE)


@dataclass(frozen=True)
class _Field:
    name: str
    first: int
    last: int
    #: Names of the values from `first` on (crontab allows them in month and day of week only).
    names: tuple[str, ...] = ()
    hint: str = ""

    def value(self, text: str, expr: str, item: str) -> int:
        word = text.lower()
        if word in self.names:
            return self.first + self.names.index(word)
        if word.isdigit() and self.first <= int(word) <= self.last:
            return int(word)
        also = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        where = f"{self.name} '{item}'" + (f": '{text}'" if text != item else "")
        raise _bad(f"'{expr}': {where} is not {self.first}-{self.last}{self.hint}{also}")


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day of week", 0, 7, _DAYS, hint=" (0 and 7 are Sunday)"),
)
_WEEKDAY = _FIELDS[4]


def _bad(message: str) -> ScheduleError:
    return ScheduleError(message, field="--cron")


def _expand(field: _Field, text: str, expr: str) -> set[int]:
    """The values a crontab field selects, e.g. month `jan-jun/2` -> {1, 3, 5}.

    Raises:
        ScheduleError: an item is unreadable, out of range, runs backwards or has a step of 0 (one line
            naming the expression, the field and the item).
    """
    values: set[int] = set()
    for item in text.split(","):
        m = _ITEM.fullmatch(item)
        if not m:
            raise _bad(
                f"'{expr}': cannot read {field.name} '{item}' "
                "(use *, a value or a range a-b, each with an optional /step)"
            )
        span, step = m.group(1), m.group(2)
        if step is not None and int(step) == 0:
            raise _bad(f"'{expr}': {field.name} '{item}' has a step of 0 (a step is 1 or more)")
        if span == "*":
            low, high = field.first, field.last
        else:
            start, _, end = span.partition("-")
            low = field.value(start, expr, item)
            high = field.value(end, expr, item) if end else (field.last if step else low)
            if field is _WEEKDAY and end.lower() == "sun" and low > 0:
                high = 7  # `fri-sun`: Sunday as 7, the end of the week
            if low > high:
                named = end.isalpha()
                last, first = (field.names[-1], field.names[0]) if named else (field.last, field.first)
                two = f"{start}-{last},{first}-{end}"
                raise _bad(f"'{expr}': {field.name} range '{span}' runs backwards (write it as two: {two})")
        values.update(range(low, high + 1, int(step or 1)))
    return values


def _trigger_field(field: _Field, values: set[int]) -> str:
    """The values as a CronTrigger field: `*`, or a list of numbers (weekdays as names: APScheduler's
    day 0 is Monday)."""
    if field is _WEEKDAY:
        days = {v % 7 for v in values}
        return "*" if len(days) == 7 else ",".join(_DAYS[d] for d in sorted(days))
    if values == set(range(field.first, field.last + 1)):
        return "*"
    return ",".join(str(v) for v in sorted(values))


def zone(name: str | None) -> ZoneInfo:
    """The time zone called `name` (UTC when empty). Raises ScheduleError naming --tz."""
    name = (name or "UTC").strip()
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            f"unknown time zone '{name}' (use an IANA name such as UTC, Europe/Berlin or America/New_York)",
            field="--tz",
        ) from None


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
        while (
            nxt is not None
            and self.fixed_time
            and nxt.astimezone(self.tz).replace(tzinfo=None) == wall
            and nxt.timestamp() > prev.timestamp()
        ):
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
        raise _bad(
            f"'{expr}' has {len(parts) if body else 0} field(s); cron takes five: "
            "minute hour day-of-month month day-of-week (e.g. '0 9 * * *')"
        )
    fields = [_trigger_field(field, _expand(field, part, expr)) for field, part in zip(_FIELDS, parts)]
    minute, hour, dom, month, dow = fields
    common = {"minute": minute, "hour": hour, "month": month, "timezone": zi}
    if parts[2].startswith("*") or parts[4].startswith("*"):
        trigger: Any = CronTrigger(day=dom, day_of_week=dow, **common)
    else:  # both restricted: crontab runs on a day matching either
        trigger = OrTrigger([CronTrigger(day=dom, **common), CronTrigger(day_of_week=dow, **common)])
    cron = Cron(text, zi, trigger, fixed_time=not (parts[0].startswith("*") or parts[1].startswith("*")))
    if cron.next_after(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)) is None:
        raise _bad(f"'{expr}' never fires")
    return cron
