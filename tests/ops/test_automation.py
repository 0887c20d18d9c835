"""Schedules, workers, webhooks and quotas together, in the default suite: real jobs, a real receiver
on 127.0.0.1 verifying with `standardwebhooks`, and a fixed clock for the scheduler (no sleeping
for minutes). The same proofs in real time are in test_automation_slow.py (`pytest -m slow`)."""

from __future__ import annotations

import json
import math
import time

import pytest

from fenta.engine.events import read_events
from fenta.engine.store import JobStore
from fenta.ops import schedules as sch
from fenta.ops import webhooks as wh
from fenta.ops.scheduler import Scheduler
from fenta.ops.serving import Worker

from .receiver import Receiver

NOTE = """\
version: 1
name: scheduled-note
vars: {text: hello}
nodes:
  note:
    type: Input.Text
    params: {text: "${vars.text}"}
"""


@pytest.fixture
def note(write):
    return write("note.yaml", NOTE)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def minute_start() -> float:
    """The start of the current minute (+1 s): a fixed clock near real time, so signatures stay fresh."""
    return math.floor(time.time() / 60) * 60 + 1


def jobs_of(store, schedule: str) -> list[dict]:
    return [
        dict(r)
        for r in store.db.query(
            "SELECT id, status, error FROM jobs WHERE schedule_id = ? ORDER BY created_at", [schedule]
        )
    ]


def run_workers(settings) -> None:
    Worker(settings, until_empty=True, webhook_wait=0).run()


def test_a_schedule_every_minute_queues_a_job_that_runs_and_the_receiver_verifies_its_webhooks(
    store, settings, note
):
    t0 = minute_start()
    clock = Clock(t0 + 1)
    with Receiver() as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        sch.add_schedule(store, "every-minute", note, "* * * * *", now=t0)
        daemon = Scheduler(settings, workers=0, clock=clock, log=lambda m: None)
        assert daemon.catch_up() == []  # nothing missed
        clock.t = t0 + 30
        assert daemon.tick() == []  # not yet
        clock.t = t0 + 59.5  # the fire time (t0 - 1 + 60) has come
        ((name, fire_time, job_id),) = daemon.tick()
        assert name == "every-minute" and fire_time == t0 + 59 and job_id
        assert daemon.tick() == []  # once
        run_workers(settings)
        daemon.readers()  # usage + outbox + delivery, as the daemon's interval job does
        rx.wait_for(2)
    assert [j["status"] for j in jobs_of(store, "every-minute")] == ["completed"]
    started = rx.verified("job.started")
    done = rx.verified("job.completed")
    assert all(r.verified is not None for r in rx.requests), [r.error for r in rx.requests]
    assert len(started) == 1 and set(started[0]["data"]) == {"jobId", "workflowId", "timestamp"}
    assert started[0]["data"]["jobId"] == job_id and started[0]["data"]["workflowId"] == "scheduled-note"
    assert len(done) == 1 and set(done[0]["data"]) == {"jobId", "videoUrl", "duration", "cost"}
    assert sch.get_schedule(store, "every-minute")["last_job_id"] == job_id


@pytest.mark.parametrize("catchup,expected", [("latest", 1), ("all", 2), ("none", 0)])
def test_a_scheduler_down_for_two_minutes_catches_up_from_the_last_fire_time(
    store, settings, note, catchup, expected
):
    t0 = minute_start() - 1  # a fire time
    sch.add_schedule(store, "m", note, "* * * * *", catchup=catchup, now=t0)
    # the scheduler was killed right after t0 and comes back at t0 + 150: t0+60 and t0+120 were missed
    daemon = Scheduler(settings, workers=0, clock=Clock(t0 + 150), log=lambda m: None)
    fired = daemon.catch_up()
    assert len(fired) == expected and all(job for _, _, job in fired)
    if catchup == "latest":
        assert [t for _, t, _ in fired] == [t0 + 120]
    daemon.clock = Clock(t0 + 170)
    assert daemon.tick() == []  # caught up: nothing more until t0 + 180
    run_workers(settings)
    daemon.clock = Clock(t0 + 181)
    ((_, _, job),) = daemon.tick()
    assert job  # the next live fire runs whatever the catch-up rule
    assert len(jobs_of(store, "m")) == expected + 1


def test_two_processes_never_queue_one_fire_time_twice(store, settings, note):
    t0 = minute_start() - 1
    sch.add_schedule(store, "m", note, "* * * * *", now=t0)
    a = Scheduler(settings, workers=0, clock=Clock(t0 + 61), log=lambda m: None)
    a.started_at = t0
    other = JobStore(settings.db_path)
    try:
        first = a.tick()
        second = sch.fire_due(settings, other, now=t0 + 61)  # `fenta schedule run-due` at the same time
    finally:
        other.close()
    assert len(first) == 1 and second == []
    assert len(jobs_of(store, "m")) == 1


def test_a_live_fire_is_skipped_while_the_previous_job_is_still_queued(store, settings, note):
    t0 = minute_start() - 1
    sch.add_schedule(store, "m", note, "* * * * *", now=t0)
    daemon = Scheduler(settings, workers=0, clock=Clock(t0 + 1), log=lambda m: None)
    daemon.catch_up()
    daemon.clock = Clock(t0 + 61)
    ((_, _, job),) = daemon.tick()
    daemon.clock = Clock(t0 + 121)
    ((_, _, skipped),) = daemon.tick()
    assert job and skipped is None and len(jobs_of(store, "m")) == 1


def test_schedules_added_paused_and_removed_elsewhere_are_picked_up(store, settings, note):
    t0 = minute_start() - 1
    daemon = Scheduler(settings, workers=0, clock=Clock(t0 + 1), log=lambda m: None)
    daemon.catch_up()
    sch.add_schedule(store, "late", note, "* * * * *", now=t0 + 2)  # from another terminal
    daemon.clock = Clock(t0 + 61)
    assert [n for n, _, _ in daemon.tick()] == ["late"]
    sch.set_enabled(store, "late", False, now=t0 + 62)
    daemon.clock = Clock(t0 + 121)
    assert daemon.tick() == []
    sch.set_enabled(store, "late", True, now=t0 + 122)
    sch.remove_schedule(store, "late")
    daemon.clock = Clock(t0 + 181)
    assert daemon.tick() == []


def test_schedule_run_queues_one_job_now_and_run_due_runs_it(cli, store, note):
    assert (
        cli(
            "schedule", "add", "m", str(note), "--cron", "0 0 1 1 *", "--var", "text=queued by hand"
        ).exit_code
        == 0
    )
    r = cli("schedule", "run", "m", "--json")
    assert r.exit_code == 0, r.output
    job_id = json.loads(r.output)["job_id"]
    assert store.get_job(job_id).status == "queued"
    r = cli("schedule", "run-due", "--json", "--wait", "0")
    assert r.exit_code == 0, r.output
    assert store.get_job(job_id).status == "completed"  # the worker ran the whole queue
    assert json.loads(r.output)["queued"] == []  # nothing was due by the cron


def test_fenta_quota_jobs_2_per_day_then_three_runs_the_third_refused(cli, store, note):
    assert cli("quota", "set", "jobs", "2", "--per", "day").exit_code == 0
    first, second, third = (cli("run", str(note), "--json") for _ in range(3))
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert third.exit_code == 2
    out = json.loads(third.output)
    assert "quota exceeded: jobs used 2 of 2 jobs today" in out["error"]
    assert [j.status for j in store.list_jobs()] == ["completed", "completed"]  # the third never became a job
    warnings = [e.data for e in read_events(store, types=["quota.warning"])]
    assert warnings == [{"orgId": "local", "resource": "jobs", "percentage": 100}]
    plain = cli("run", str(note))
    assert plain.exit_code == 2 and plain.output.count("\n") <= 2 and "nothing was run" in plain.output


def test_a_queued_job_over_the_quota_becomes_dead_with_the_reason(cli, store, settings, note):
    assert cli("quota", "set", "jobs", "1", "--per", "month").exit_code == 0
    ids = [json.loads(cli("submit", str(note), "--json").output)["job_id"] for _ in range(2)]
    run_workers(settings)
    states = {j: store.get_job(j) for j in ids}
    assert sorted(s.status for s in states.values()) == ["completed", "dead"]
    dead = next(s for s in states.values() if s.status == "dead")
    assert "quota exceeded: jobs used 1 of 1 jobs this month" in dead.error
    assert [e.data["error"] for e in read_events(store, job_id=dead.id, types=["job.dead"])] == [dead.error]
    assert not [e for e in read_events(store, job_id=dead.id, types=["job.started"])]  # nothing ran


def test_a_down_receiver_never_fails_or_holds_up_fenta_run(cli, store, note, monkeypatch):
    monkeypatch.setenv("FENTA_WEBHOOK_RETRY_SCALE", "100")  # the next attempt is far away: run exits at once
    ep = wh.add_endpoint(store, "http://127.0.0.1:9/nobody-listens")
    t = time.time()
    r = cli("run", str(note), "--json")
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "completed", r.output
    assert time.time() - t < 8
    rows = wh.deliveries(store)
    assert {row["type"] for row in rows} == {"job.started", "job.completed"}
    assert all(
        row["status"] == "pending" and row["attempts"] == 1 and row["endpoint_id"] == ep.id for row in rows
    )


def test_fenta_run_sends_its_own_webhooks_before_it_exits(cli, store, note):
    with Receiver() as rx:
        ep = wh.add_endpoint(store, rx.url, events=["job.started", "job.completed"])
        rx.secret = ep.secret
        r = cli("run", str(note), "--json")
        assert r.exit_code == 0
        job_id = json.loads(r.output)["job_id"]
        assert [v["type"] for v in rx.verified()] == ["job.started", "job.completed"]
    assert {v["data"]["jobId"] for v in rx.verified()} == {job_id}


def test_run_due_passes_skip_a_fire_while_the_previous_job_is_still_queued(store, settings, note):
    t0 = minute_start() - 1
    sch.add_schedule(store, "m", note, "* * * * *", now=t0)
    # `fenta schedule run-due` from system cron, every minute, with no worker taking the job
    ((_, _, job),) = sch.fire_due(settings, store, now=t0 + 61)
    assert sch.fire_due(settings, store, now=t0 + 121) == [("m", t0 + 120, None)]
    assert sch.fire_due(settings, store, now=t0 + 181) == [("m", t0 + 180, None)]
    assert job and [j["id"] for j in jobs_of(store, "m")] == [job]
