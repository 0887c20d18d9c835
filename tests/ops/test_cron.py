"""Cron expressions mean what crontab(5) means, on APScheduler 3.x triggers: weekdays (0 and 7 are
Sunday, not APScheduler's Monday), names and steps, the day fields' OR, refusals naming the field, and
wall-clock times across DST."""

from __future__ import annotations

import datetime as dt

import pytest

from fenta.errors import ScheduleError
from fenta.ops.cron import parse_cron, zone

NOTE = "version: 1\nname: note\nnodes:\n  note: {type: Input.Text, params: {text: hi}}\n"

UTC = dt.timezone.utc
BERLIN = "Europe/Berlin"


def at(*args: int, tz: str = "UTC") -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(*args, tzinfo=ZoneInfo(tz))


def fires(expr: str, start: dt.datetime, n: int, tz: str = "UTC") -> list[dt.datetime]:
    cron = parse_cron(expr, tz)
    out, t = [], start
    for _ in range(n):
        t = cron.next_after(t)
        out.append(t)
    return out


# ------------------------------------------------------------------------------ crontab meaning

MONDAY = at(2024, 7, 1)  # a Monday, 00:00 UTC


@pytest.mark.parametrize(
    "dow,weekday_names",
    [
        ("0", {"Sun"}),
        ("7", {"Sun"}),
        ("1", {"Mon"}),
        ("6", {"Sat"}),
        ("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("5-7", {"Fri", "Sat", "Sun"}),
        ("0,6", {"Sat", "Sun"}),
        ("sun", {"Sun"}),
        ("MON-fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("*/2", {"Sun", "Tue", "Thu", "Sat"}),
        ("1-7/3", {"Mon", "Thu", "Sun"}),
        ("mon-fri/2", {"Mon", "Wed", "Fri"}),
    ],
)
def test_day_of_week_means_what_crontab_means(dow, weekday_names):
    got = fires(f"0 9 * * {dow}", MONDAY, 14)
    assert {t.strftime("%a") for t in got} == weekday_names
    assert all(t.hour == 9 and t.minute == 0 for t in got)


def test_sunday_is_0_and_7_not_apschedulers_monday():
    (sunday,) = fires("0 9 * * 0", MONDAY, 1)
    assert sunday == at(2024, 7, 7, 9)
    assert fires("0 9 * * 7", MONDAY, 1) == [sunday]


def test_when_both_day_fields_are_restricted_either_one_matches():
    # crontab: the 13th of the month OR any Friday (APScheduler alone would need both)
    got = fires("0 0 13 * 5", at(2024, 9, 1), 6)
    assert [t.strftime("%d %a") for t in got] == ["06 Fri", "13 Fri", "20 Fri", "27 Fri", "04 Fri", "11 Fri"]
    got = fires("0 0 13 * 1", at(2024, 9, 1), 3)
    assert [t.strftime("%m-%d %a") for t in got] == ["09-02 Mon", "09-09 Mon", "09-13 Fri"]


def test_macros_and_steps():
    assert fires("@daily", MONDAY, 2) == [at(2024, 7, 2), at(2024, 7, 3)]
    assert fires("@hourly", MONDAY, 1) == [at(2024, 7, 1, 1)]
    assert fires("@weekly", MONDAY, 1) == [at(2024, 7, 7)]
    assert fires("*/15 * * * *", MONDAY, 3) == [
        at(2024, 7, 1, 0, 15),
        at(2024, 7, 1, 0, 30),
        at(2024, 7, 1, 0, 45),
    ]
    assert fires("0 9 1 jan *", MONDAY, 1) == [at(2025, 1, 1, 9)]


@pytest.mark.parametrize(
    "expr,words",
    [
        ("0 9 * *", "five"),
        ("61 * * * *", "61"),
        ("0 9 * * 8", "0-7"),
        ("0 9 * * 5-1", "backwards"),
        ("0 9 * foo *", "foo"),
        ("@fortnightly", "macro"),
        ("0 0 31 2 *", "never fires"),
        ("", "five"),
    ],
)
def test_bad_cron_is_refused_naming_the_field(expr, words):
    with pytest.raises(ScheduleError) as e:
        parse_cron(expr)
    assert e.value.field == "--cron" and e.value.exit_code == 2 and words in str(e.value)


def test_unknown_time_zone_is_refused_naming_the_field():
    for tz in ["Mars/Olympus", "../../etc/passwd", "Europe/"]:
        with pytest.raises(ScheduleError) as e:
            parse_cron("0 9 * * *", tz)
        assert e.value.field == "--tz"


# ------------------------------------------------------------------------------ time zones and DST


def test_a_time_zone_keeps_the_wall_clock_time_across_dst():
    summer = fires("0 9 * * *", at(2024, 7, 1), 1, BERLIN)[0]
    winter = fires("0 9 * * *", at(2024, 12, 1), 1, BERLIN)[0]
    assert summer.astimezone(UTC).hour == 7 and winter.astimezone(UTC).hour == 8
    assert summer.astimezone(zone(BERLIN)).hour == winter.astimezone(zone(BERLIN)).hour == 9
    # UTC by default
    assert fires("0 9 * * *", at(2024, 7, 1), 1)[0] == at(2024, 7, 1, 9)


def test_a_fixed_time_in_the_repeated_hour_runs_once_when_dst_ends():
    got = [t.astimezone(UTC) for t in fires("30 2 * * *", at(2024, 10, 26, 12), 3, BERLIN)]
    assert got == [at(2024, 10, 27, 0, 30), at(2024, 10, 28, 1, 30), at(2024, 10, 29, 1, 30)]


def test_a_wildcard_hour_runs_in_both_copies_of_the_repeated_hour():
    got = [t.astimezone(UTC) for t in fires("0 * * * *", at(2024, 10, 26, 23), 4, BERLIN)]
    assert got == [at(2024, 10, 27, 0), at(2024, 10, 27, 1), at(2024, 10, 27, 2), at(2024, 10, 27, 3)]


def test_a_time_that_does_not_exist_when_dst_starts_runs_an_hour_later_by_the_clock():
    got = [t.astimezone(UTC) for t in fires("30 2 * * *", at(2024, 3, 30, 12), 2, BERLIN)]
    assert got == [at(2024, 3, 31, 1, 30), at(2024, 4, 1, 0, 30)]  # 03:30 CEST, then 02:30 CEST


# ------------------------------------------------------------------------------ names and steps


def fire_dates(expr: str, year: int) -> list[str]:
    """Every fire time of `expr` in `year` (UTC), as "MM-DD HH:MM"."""
    start, end = at(year - 1, 12, 31, 23, 59), at(year, 12, 31, 23, 59)
    return [t.strftime("%m-%d %H:%M") for t in parse_cron(expr).fire_times(start, end)]


@pytest.mark.parametrize("month", ["jan-jun/2", "JAN-Jun/2", "1-6/2", "mar-may/2,jan"])
def test_a_step_after_month_names_is_kept(month):
    # APScheduler alone drops the step after a month name: `jan-jun/2` would fire every month of the half
    assert fire_dates(f"0 9 1 {month} *", 2025) == ["01-01 09:00", "03-01 09:00", "05-01 09:00"]


def test_a_weekday_range_ending_on_sun_ends_on_sunday_7():
    assert {t.strftime("%a") for t in fires("0 9 * * fri-sun", MONDAY, 6)} == {"Fri", "Sat", "Sun"}
    week = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
    assert {t.strftime("%a") for t in fires("0 9 * * MON-Sun", MONDAY, 7)} == week


@pytest.mark.parametrize(
    "expr,where",
    [
        ("*/0 9 * * *", "minute '*/0'"),
        ("0 0-23/0 * * *", "hour '0-23/0'"),
        ("0 9 1/0 * *", "day of month '1/0'"),
        ("0 9 1 jan-dec/0 *", "month 'jan-dec/0'"),
        ("0 9 * * 1-5/0", "day of week '1-5/0'"),
    ],
)
def test_a_step_of_0_is_refused_naming_the_field(expr, where):
    with pytest.raises(ScheduleError) as e:
        parse_cron(expr)
    assert e.value.field == "--cron" and f"{where} has a step of 0" in str(e.value)


@pytest.mark.parametrize(
    "expr,words",
    [
        ("0 9 last * *", "day of month 'last' is not 1-31"),  # APScheduler's last day of the month
        ("0 9 lastly * *", "day of month 'lastly' is not 1-31"),
        (
            "0 9 1 jan-jun;x *",
            "cannot read month 'jan-jun;x'",
        ),  # APScheduler reads the start, ignores the rest
        ("0 9 1 nov-feb *", "month range 'nov-feb' runs backwards (write it as two: nov-dec,jan-feb)"),
        ("0 9 * * fri-mon", "day of week range 'fri-mon' runs backwards (write it as two: fri-sat,sun-mon)"),
    ],
)
def test_what_crontab_does_not_read_is_refused_naming_the_field(expr, words):
    with pytest.raises(ScheduleError) as e:
        parse_cron(expr)
    assert e.value.field == "--cron" and words in str(e.value)


def test_schedule_add_refuses_a_step_of_0_with_one_line_and_exit_2(cli, write):
    wf = write("note.yaml", NOTE)
    r = cli("schedule", "add", "half-year", str(wf), "--cron", "0 9 1 jan-dec/0 *")
    assert r.exit_code == 2
    said = "month 'jan-dec/0' has a step of 0 (a step is 1 or more)"
    assert r.output.strip() == f"error: field '--cron': '0 9 1 jan-dec/0 *': {said}"
    assert "no schedules" in cli("schedule", "list").output
