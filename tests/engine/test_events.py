"""The event log and reader cursors (fenta.engine.events), and the schema upgrade that adds them."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from fenta.engine.events import (
    Event,
    append_event,
    follow,
    get_cursor,
    iso,
    last_event_id,
    parse_iso,
    read_events,
    set_cursor,
)
from fenta.engine.store import JobStore


@pytest.fixture
def store(fenta_home):
    s = JobStore(fenta_home / "fenta.db")
    yield s
    s.close()


def test_an_event_commits_with_its_transaction_or_not_at_all(store):
    with store.write() as conn:
        first = append_event(conn, "job.cancelled", "j1", {"jobId": "j1"})
    with pytest.raises(RuntimeError):
        with store.write() as conn:
            append_event(conn, "job.cancelled", "j2", {"jobId": "j2"})
            raise RuntimeError("the state change failed")
    assert [(e.id, e.job_id, e.type, e.data) for e in read_events(store)] == [
        (first, "j1", "job.cancelled", {"jobId": "j1"})
    ]


def test_read_events_filters_by_id_job_and_type(store):
    with store.write() as conn:
        ids = [
            append_event(conn, t, j, {"jobId": j})
            for t, j in [
                ("job.queued", "a"),
                ("job.queued", "b"),
                ("job.started", "a"),
                ("quota.warning", None),
            ]
        ]
    assert [e.id for e in read_events(store, since_id=ids[0])] == ids[1:]
    assert [e.type for e in read_events(store, job_id="a")] == ["job.queued", "job.started"]
    assert [e.job_id for e in read_events(store, types=["job.queued"])] == ["a", "b"]
    assert len(read_events(store, limit=2)) == 2 and last_event_id(store) == ids[-1]
    ev = read_events(store, types=["job.started"])[0]
    assert (
        isinstance(ev, Event)
        and ev.kind == "job.started"
        and ev.created_at.endswith("Z")
        and parse_iso(ev.created_at)
    )


def test_cursors_remember_each_readers_position(store):
    assert get_cursor(store, "webhooks") == 0
    set_cursor(store, "webhooks", 5)
    set_cursor(store, "sync", 2)
    set_cursor(store, "webhooks", 7)
    assert (get_cursor(store, "webhooks"), get_cursor(store, "sync")) == (7, 2)


def test_follow_yields_what_is_appended_until_told_to_stop(store):
    with store.write() as conn:
        append_event(conn, "job.queued", "a", {})
    seen = [e.type for e in follow(store, poll_seconds=0.01, until=lambda: True)]
    assert seen == ["job.queued"]


def test_iso_times_sort_as_text_and_read_back():
    assert iso(0) == "1970-01-01T00:00:00.000Z" and parse_iso(iso(1.5)) == 1.5
    assert iso(9.999) < iso(10.0) and parse_iso("junk") is None


def test_an_older_database_gains_the_queue_columns_and_the_log(fenta_home):
    fenta_home.mkdir(parents=True, exist_ok=True)
    db = fenta_home / "fenta.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, workflow_name TEXT NOT NULL, workflow_hash TEXT NOT NULL,"
        " workflow_file TEXT, document TEXT NOT NULL, vars TEXT NOT NULL, out_dir TEXT NOT NULL,"
        " status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1, progress REAL NOT NULL DEFAULT 0,"
        " current_node TEXT, error TEXT, retryable INTEGER, cost REAL NOT NULL DEFAULT 0,"
        " lease_pid INTEGER, lease_until REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL);"
        "INSERT INTO jobs (id, workflow_name, workflow_hash, document, vars, out_dir, status, created_at)"
        " VALUES ('old', 'w', 'h', '{}', '{}', '/tmp', 'completed', 1);"
    )
    conn.commit()
    conn.close()
    store = JobStore(db)
    job = store.get_job("old")
    assert (
        job.status == "completed"
        and job.priority == 0
        and job.cancel_requested is False
        and job.options == {}
    )
    assert read_events(store) == []
    store.close()


def test_many_processes_opening_a_new_database_at_once_all_succeed(fenta_home, tmp_path):
    code = f"from fenta.engine.store import JobStore; JobStore({str(fenta_home / 'fenta.db')!r}).close()"
    import sys

    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
