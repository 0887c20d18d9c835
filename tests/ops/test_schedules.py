"""Cron schedules: catch-up from the stored last fire time with a fixed clock, and the `fenta schedule`
commands (what cron expressions mean: test_cron.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fenta.config import Settings
from fenta.engine.store import JobStore
from fenta.ops import schedules as sch

UTC = dt.timezone.utc
BERLIN = "Europe/Berlin"

WORKFLOW = """\
version: 1
name: scheduled-note
vars: {text: hello}
nodes:
  note:
    type: Input.Text
    params: {text: "${vars.text}"}
"""


def at(*args: int, tz: str = "UTC") -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(*args, tzinfo=ZoneInfo(tz))


# ------------------------------------------------------------------------------ catch-up with a fixed clock

T0 = at(2024, 1, 1, 10).timestamp()  # the last fire time: 10:00:00


def test_catch_up_after_two_missed_minutes():
    cron = sch.parse_cron("* * * * *")
    restart = T0 + 150  # 10:02:30: 10:01 and 10:02 were missed
    assert sch.due_fires(cron, T0, restart, "latest", live_since=restart) == ([T0 + 120], T0 + 120)
    assert sch.due_fires(cron, T0, restart, "all", live_since=restart) == ([T0 + 60, T0 + 120], T0 + 120)
    assert sch.due_fires(cron, T0, restart, "none", live_since=restart) == ([], T0 + 120)


def test_live_fire_times_run_and_several_at_once_coalesce():
    cron = sch.parse_cron("* * * * *")
    started = T0 + 1
    assert sch.due_fires(cron, T0, T0 + 61, "none", live_since=started) == ([T0 + 60], T0 + 60)
    # a machine that slept through three minutes while the scheduler ran: one job (coalesced)
    assert sch.due_fires(cron, T0, T0 + 200, "all", live_since=started) == ([T0 + 180], T0 + 180)
    # nothing due yet
    assert sch.due_fires(cron, T0, T0 + 59, "latest", live_since=started) == ([], None)


def test_run_due_without_a_scheduler_runs_the_newest_and_catches_up_the_rest():
    cron = sch.parse_cron("*/10 * * * *")
    assert sch.due_fires(cron, T0, T0 + 1830, "latest") == ([T0 + 1800], T0 + 1800)
    assert sch.due_fires(cron, T0, T0 + 1830, "all") == ([T0 + 600, T0 + 1200, T0 + 1800], T0 + 1800)
    assert sch.due_fires(cron, T0, T0 + 1830, "none") == ([T0 + 1800], T0 + 1800)


def test_a_long_downtime_is_computed_quickly_and_all_is_capped():
    import time

    cron = sch.parse_cron("* * * * *")
    t = time.perf_counter()
    run, newest = sch.due_fires(cron, T0 - 365 * 86400, T0, "all", live_since=T0)
    assert time.perf_counter() - t < 2
    assert len(run) == sch.MAX_CATCHUP and newest == T0
    yearly = sch.parse_cron("0 0 1 1 *")
    assert sch.due_fires(yearly, T0 - 5 * 365 * 86400, T0, "latest", live_since=T0) == (
        [at(2024, 1, 1).timestamp()],
        at(2024, 1, 1).timestamp(),
    )


def test_catch_up_uses_the_schedules_time_zone():
    cron = sch.parse_cron("0 9 * * *", BERLIN)
    last = at(2024, 7, 1, 9, tz=BERLIN).timestamp()
    now = at(2024, 7, 4, 12, tz=BERLIN).timestamp()
    run, newest = sch.due_fires(cron, last, now, "all", live_since=now)
    assert [dt.datetime.fromtimestamp(t, UTC).strftime("%d %H:%M") for t in run] == [
        "02 07:00",
        "03 07:00",
        "04 07:00",
    ]


# ------------------------------------------------------------------------------ the table and the CLI


@pytest.fixture
def wf(write):
    return write("note.yaml", WORKFLOW)


def test_cli_add_list_show_pause_resume_remove(cli, wf, tmp_path):
    r = cli(
        "schedule",
        "add",
        "daily-note",
        str(wf),
        "--cron",
        "0 9 * * 1-5",
        "--tz",
        BERLIN,
        "--var",
        "text=morning",
        "--priority",
        "3",
        "--catchup",
        "all",
        "--json",
    )
    assert r.exit_code == 0, r.output
    added = json.loads(r.output)
    assert added["name"] == "daily-note" and added["tz"] == BERLIN and added["vars"] == {"text": "morning"}
    assert added["workflow_file"] == str(wf.resolve()) and added["out_dir"] == str(
        (tmp_path / "renders").resolve()
    )
    nxt = dt.datetime.fromisoformat(added["next_fire_at"].replace("Z", "+00:00")).astimezone(sch.zone(BERLIN))
    assert (nxt.hour, nxt.minute) == (9, 0) and nxt.isoweekday() <= 5

    (listed,) = json.loads(cli("schedule", "list", "--json").output)
    assert (
        listed["name"] == "daily-note"
        and listed["enabled"] is True
        and listed["next_fire_at"] == added["next_fire_at"]
    )
    r = cli("schedule", "list")
    assert "daily-note" in r.output and "0 9 * * 1-5" in r.output and "active" in r.output
    r = cli("schedule", "show", "daily-note")
    assert "Europe/Berlin" in r.output and "text=morning" in r.output and "all" in r.output

    assert cli("schedule", "pause", "daily-note").exit_code == 0
    (listed,) = json.loads(cli("schedule", "list", "--json").output)
    assert listed["enabled"] is False and listed["next_fire_at"] is None
    assert "paused" in cli("schedule", "list").output
    r = cli("schedule", "resume", "daily-note")
    assert r.exit_code == 0 and "next" in r.output
    assert cli("schedule", "remove", "daily-note").exit_code == 0
    assert json.loads(cli("schedule", "list", "--json").output) == []
    r = cli("schedule", "show", "daily-note")
    assert r.exit_code == 2 and "no schedule named 'daily-note'" in r.output


@pytest.mark.parametrize(
    "args,field",
    [
        (["--cron", "0 25 * * *"], "--cron"),
        (["--cron", "0 9 * * *", "--tz", "Nowhere/City"], "--tz"),
        (["--cron", "0 9 * * *", "--catchup", "some"], "--catchup"),
    ],
)
def test_cli_add_refuses_bad_input_naming_the_field(cli, wf, args, field):
    r = cli("schedule", "add", "x", str(wf), *args)
    assert r.exit_code == 2 and f"field '{field}'" in r.output, r.output
    assert json.loads(cli("schedule", "list", "--json").output) == []


def test_cli_add_refuses_a_missing_or_invalid_workflow_and_a_taken_name(cli, wf, write):
    r = cli("schedule", "add", "x", "missing.yaml", "--cron", "0 9 * * *")
    assert r.exit_code == 2 and "field 'WORKFLOW'" in r.output and "missing.yaml" in r.output
    bad = write("bad.yaml", "version: 1\nname: bad\nnodes:\n  a: {type: Nope.Node}\n")
    r = cli("schedule", "add", "x", str(bad), "--cron", "0 9 * * *")
    assert r.exit_code == 2 and "Nope.Node" in r.output
    assert cli("schedule", "add", "x", str(wf), "--cron", "0 9 * * *").exit_code == 0
    r = cli("schedule", "add", "x", str(wf), "--cron", "0 9 * * *")
    assert r.exit_code == 2 and "exists already" in r.output
    r = cli("schedule", "add", "no spaces", str(wf), "--cron", "0 9 * * *")
    assert r.exit_code == 2 and "field 'NAME'" in r.output


def test_resuming_does_not_catch_up_the_paused_time(wf):
    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        sch.add_schedule(store, "m", wf, "* * * * *", now=T0)
        sch.set_enabled(store, "m", False, now=T0 + 10)
        assert sch.fire_due(settings, store, now=T0 + 300) == []  # paused: nothing
        sch.set_enabled(store, "m", True, now=T0 + 600)
        assert sch.get_schedule(store, "m")["last_fire_at"] == T0 + 600
        assert sch.next_fire(sch.get_schedule(store, "m"), now=T0 + 600) == T0 + 660
    finally:
        store.close()


#: Runs the fenta CLI in a child process that SIGKILLs itself right after the transaction that wrote
#: the first job row commits: the first SQL statement run after that COMMIT, on any connection, never
#: runs (and when none comes, the process is killed as it would exit).
KILL_AFTER_THE_JOB_COMMITS = """
import os, signal, sys

from fenta.cli import main
from fenta.engine import store as job_store

state = {"job_written": False, "committed": False}


def watch(sql):
    if state["committed"]:
        os.kill(os.getpid(), signal.SIGKILL)
    if sql.lstrip().upper().startswith("INSERT INTO JOBS"):
        state["job_written"] = True
    elif state["job_written"] and sql.strip().upper() == "COMMIT":
        state["committed"] = True


opened = job_store.JobStore.__init__


def open_and_watch(self, *args, **kwargs):
    opened(self, *args, **kwargs)
    self.db.conn.set_trace_callback(watch)


job_store.JobStore.__init__ = open_and_watch
sys.argv = ["fenta", *sys.argv[1:]]
try:
    main()
finally:
    if state["committed"]:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_schedule_killed_right_after_its_job_is_written_still_holds_back_its_next_fire_time(wf, write):
    import subprocess
    import sys

    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        sch.add_schedule(store, "m", wf, "* * * * *", now=T0)  # long ago: a fire time is due now
    finally:
        store.close()
    driver = write("kill_after_the_job.py", KILL_AFTER_THE_JOB_COMMITS)
    killed = subprocess.run(
        [sys.executable, str(driver), "schedule", "run", "m"], capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -9, killed.stderr
    store = JobStore(settings.db_path)
    try:
        (job,) = store.list_jobs()
        assert sch.get_schedule(store, "m")["last_job_id"] == job.id  # written with the job
        (handled,) = sch.fire_due(settings, store)
        assert handled[2] is None and [j.id for j in store.list_jobs()] == [job.id]  # held back: one job
    finally:
        store.close()
