"""Job states: the one transition function, leases, retries with backoff, dead letters, cancel, revive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import fenta
from fenta.config import Settings
from fenta.engine import lifecycle as lc
from fenta.engine.events import iso, read_events
from fenta.engine.leases import Lease, lease_is_live
from fenta.engine.queue import enqueue
from fenta.engine.store import JobStore
from fenta.errors import JobError

WF = "nodes:\n  a: {type: Test.Sleep, params: {seconds: 0, label: a}}\n"


@pytest.fixture
def settings(fenta_home):
    return Settings(home=fenta_home, retry_base_seconds=10, max_retries=3, lease_seconds=30)


@pytest.fixture
def store(settings):
    s = JobStore(settings.db_path)
    yield s
    s.close()


def _queue(store, settings, write, *, priority=0, max_retries=None, retry_base=None, name="wf.yaml") -> str:
    job_id, _ = enqueue(
        store,
        fenta.load(write(name, WF)),
        settings=settings,
        out_dir=settings.home / "out",
        priority=priority,
        max_retries=max_retries,
        retry_base=retry_base,
    )
    time.sleep(0.002)  # distinct created_at
    return job_id


def _types(store, job_id):
    return [e.type for e in read_events(store, job_id=job_id)]


def _running(store, settings):
    row, lease, _ = lc.reserve(store, settings)
    lc.start(store, lease)
    return row.id, lease


def test_the_queue_settings_and_their_defaults(tmp_path):
    default = Settings.from_env({"FENTA_HOME": str(tmp_path)}, cwd=tmp_path)
    assert (
        default.max_retries,
        default.retry_base_seconds,
        default.lease_seconds,
        default.heartbeat_seconds,
        default.poll_seconds,
    ) == (3, 10.0, 30.0, 5.0, 0.5)
    env = {
        "FENTA_HOME": str(tmp_path),
        "FENTA_MAX_RETRIES": "1",
        "FENTA_RETRY_BASE_SECONDS": "0.5",
        "FENTA_LEASE_SECONDS": "9",
        "FENTA_HEARTBEAT_SECONDS": "2",
        "FENTA_POLL_SECONDS": "junk",
    }
    s = Settings.from_env(env, cwd=tmp_path)
    assert (s.max_retries, s.retry_base_seconds, s.lease_seconds, s.heartbeat_seconds, s.poll_seconds) == (
        1,
        0.5,
        9.0,
        2.0,
        0.5,
    )


def test_submit_writes_the_row_and_job_queued_together(store, settings, write):
    job_id = _queue(store, settings, write, priority=4)
    row = store.get_job(job_id)
    assert (row.status, row.attempt, row.priority, row.lease_token) == ("queued", 0, 4, None)
    (ev,) = read_events(store, job_id=job_id)
    assert ev.type == "job.queued" and ev.data == {"jobId": job_id, "workflowId": "wf", "priority": 4}


def test_workers_take_the_highest_priority_then_the_oldest(store, settings, write):
    older_low, high = _queue(store, settings, write), _queue(store, settings, write, priority=5)
    late_low = _queue(store, settings, write)
    order = []
    for _ in range(3):
        row, lease, _ = lc.reserve(store, settings)
        order.append(row.id)
    assert order == [high, older_low, late_low]
    assert lc.reserve(store, settings)[0] is None  # all three are leased now


def test_start_emits_job_started_with_exactly_the_hosted_keys(store, settings, write):
    job_id = _queue(store, settings, write)
    row, lease, _ = lc.reserve(store, settings)
    job, events = lc.start(store, lease)
    assert job.status == "running" and job.attempt == 1
    (ev,) = events
    assert (
        ev.type == "job.started"
        and set(ev.data) == {"jobId", "workflowId", "timestamp"}
        and ev.data["workflowId"] == "wf"
    )
    assert read_events(store, job_id=job_id)[-1].id == ev.id


def test_a_retryable_failure_is_due_again_later_and_counts_down_the_budget(store, settings, write):
    job_id = _queue(store, settings, write)
    for attempt in (1, 2, 3):
        _, lease = _running(store, settings)
        before = time.time()
        row, events = lc.fail(store, lease, settings, "HTTP 503", True)
        assert row.status == "failed" and row.lease_token is None
        assert [e.type for e in events] == ["job.failed", "job.retrying"]
        assert events[0].data == {"jobId": job_id, "error": "HTTP 503", "retryable": True}
        wait = events[1].data["delaySeconds"]
        low = 10 * 2 ** (attempt - 1)
        assert low <= wait <= 2 * low and events[1].data["attempt"] == attempt + 1
        due = store.get_job(job_id).next_attempt_at
        assert iso(before + wait - 1) < due
        assert lc.reserve(store, settings)[0] is None  # not due yet
        store.db.conn.execute(
            "UPDATE jobs SET next_attempt_at = ? WHERE id = ?", (iso(time.time() - 1), job_id)
        )
    _, lease = _running(store, settings)
    row, events = lc.fail(store, lease, settings, "HTTP 503", True)
    assert row.status == "dead" and [e.type for e in events] == ["job.failed", "job.dead"]
    assert "gave up after 4 attempts" in events[1].data["error"]
    assert store.get_job(job_id).attempt == 4


def test_a_non_retryable_failure_is_dead_at_once_and_retry_revives_it_with_a_fresh_budget(
    store, settings, write
):
    job_id = _queue(store, settings, write)
    _, lease = _running(store, settings)
    row, events = lc.fail(store, lease, settings, "HTTP 401: check KEY", False)
    assert row.status == "dead" and [e.data for e in events] == [
        {"jobId": job_id, "error": "HTTP 401: check KEY", "retryable": False},
        {"jobId": job_id, "error": "HTTP 401: check KEY"},
    ]
    assert [r["id"] for r in fenta.jobs.list(status="dead")] == [job_id]
    row, events = lc.revive(store, job_id)
    assert row.status == "queued" and row.retry_from == 1 and [e.type for e in events] == ["job.queued"]
    _, lease = _running(store, settings)
    row, events = lc.fail(store, lease, settings, "HTTP 503", True)
    assert row.status == "failed"  # a fresh budget: the first retry of this round
    with pytest.raises(JobError, match="only a dead, failed or cancelled"):
        lc.revive(store, _queue(store, settings, write))


def test_the_jobs_own_budget_and_base_win(store, settings, write):
    job_id = _queue(store, settings, write, max_retries=0)
    running_id, lease = _running(store, settings)
    row, _ = lc.fail(store, lease, settings, "timeout", True)
    assert (running_id, row.id, row.status) == (job_id, job_id, "dead")  # its 0 retries, not the settings' 3
    _queue(store, settings, write, retry_base=0.5)
    _, lease = _running(store, settings)
    _, events = lc.fail(store, lease, settings, "timeout", True)
    assert 0.5 <= events[1].data["delaySeconds"] <= 1.0  # its 0.5 s base, not the settings' 10 s


def test_a_state_change_and_its_events_commit_together_or_not_at_all(store, settings, write):
    job_id = _queue(store, settings, write)
    row = store.get_job(job_id)
    with pytest.raises(JobError, match="cannot become completed"):
        with store.write() as conn:
            lc.transition(conn, row, "completed", [("job.completed", {"jobId": job_id})])
    assert store.get_job(job_id).status == "queued" and _types(store, job_id) == ["job.queued"]
    with pytest.raises(RuntimeError):
        with store.write() as conn:
            lc.transition(conn, row, "cancelled", [("job.cancelled", {"jobId": job_id})])
            raise RuntimeError("crash before commit")
    assert store.get_job(job_id).status == "queued" and _types(store, job_id) == ["job.queued"]


def test_only_the_lease_holder_ends_an_attempt(store, settings, write):
    job_id = _queue(store, settings, write)
    _, lease = _running(store, settings)
    stranger = Lease.new(job_id)
    assert lc.complete(store, stranger, video=None, duration=None, cost=0) == (None, [])
    assert lc.heartbeat(store, stranger, settings) == (False, False)
    assert lc.heartbeat(store, lease, settings) == (True, False)
    assert lc.complete(store, lease, video=None, duration=None, cost=0)[0].status == "completed"


def test_a_lapsed_lease_is_reaped_as_a_retryable_failure(store, settings, write):
    job_id = _queue(store, settings, write)
    _, lease = _running(store, settings)
    store.db.conn.execute("UPDATE jobs SET lease_until = ? WHERE id = ?", (iso(time.time() - 1), job_id))
    row, new_lease, events = lc.reserve(store, settings)
    assert row is None and [e.type for e in events] == ["job.failed", "job.retrying"]
    assert "lease lapsed" in events[0].data["error"] and events[0].data["retryable"] is True
    assert lc.complete(store, lease, video=None, duration=None, cost=0) == (
        None,
        [],
    )  # the old holder lost it


def test_a_dead_process_on_this_host_loses_its_lease_at_once(store, settings, write):
    job_id = _queue(store, settings, write)
    _, lease = _running(store, settings)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.db.conn.execute("UPDATE jobs SET lease_pid = ? WHERE id = ?", (gone.pid, job_id))
    assert not lease_is_live(store.get_job(job_id))
    store.db.conn.execute("UPDATE jobs SET lease_pid = ? WHERE id = ?", (os.getpid(), job_id))
    assert lease_is_live(store.get_job(job_id))


def test_cancel_queued_at_once_running_by_request_lapsed_at_once(store, settings, write):
    queued = _queue(store, settings, write)
    row, events = lc.request_cancel(store, queued)
    assert row.status == "cancelled" and [e.data for e in events] == [{"jobId": queued}]
    _queue(store, settings, write)
    running, lease = _running(store, settings)
    row, events = lc.request_cancel(store, running)
    assert row.status == "running" and row.cancel_requested is True and events == []
    assert lc.heartbeat(store, lease, settings) == (True, True)
    assert lc.cancelled(store, lease)[0].status == "cancelled"
    with pytest.raises(JobError, match="already cancelled"):
        lc.request_cancel(store, running)
    orphan = _queue(store, settings, write)
    _, lease = _running(store, settings)
    store.db.conn.execute("UPDATE jobs SET lease_until = ? WHERE id = ?", (iso(time.time() - 1), orphan))
    assert lc.request_cancel(store, orphan)[0].status == "cancelled"


def test_release_gives_the_job_back_without_counting_the_attempt(store, settings, write):
    job_id = _queue(store, settings, write)
    _, lease = _running(store, settings)
    row, events = lc.release(store, lease)
    assert row.id == job_id and lc.reserve(store, settings)[0].id == job_id  # and it can be taken again
    assert (row.status, row.attempt, row.lease_token) == ("queued", 0, None) and [e.type for e in events] == [
        "job.queued"
    ]


def test_pending_counts_what_a_worker_still_has_to_do(store, settings, write):
    assert lc.pending(store) == 0
    job_id = _queue(store, settings, write)
    assert lc.pending(store) == 1
    _, lease = _running(store, settings)
    assert lc.pending(store) == 0  # running under a live lease: someone else's
    lc.fail(store, lease, settings, "503", True)
    assert lc.pending(store) == 1  # a retry is due later
    store.db.conn.execute("UPDATE jobs SET status = 'failed', next_attempt_at = NULL WHERE id = ?", (job_id,))
    assert lc.pending(store) == 0  # interrupted by a person: waits for `fenta resume` / `jobs retry`


def test_a_refused_job_is_dead_without_starting(store, settings, write):
    job_id = _queue(store, settings, write)
    _, lease, _ = lc.reserve(store, settings)
    row, events = lc.refuse(store, lease, "quota: jobs 2 of 2 per day used")
    assert row.status == "dead" and row.attempt == 0 and "job.started" not in _types(store, job_id)
    assert events[-1].type == "job.dead" and events[-1].data["error"].startswith("quota")


def test_an_old_job_row_json_is_still_readable(store, settings, write):
    job_id = _queue(store, settings, write)
    assert (
        json.loads(store.db.conn.execute("SELECT options FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])[
            "name"
        ]
        is None
    )
