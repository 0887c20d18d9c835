"""The job store: typed jobs, one transaction object, the claim's admission hook, and the SQL kept in
the store."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import fenta
from fenta.config import Settings
from fenta.engine import lifecycle as lc
from fenta.engine.events import read_events
from fenta.engine.queue import enqueue
from fenta.engine.records import STATES, Job, JobState
from fenta.engine.store import JobStore
from fenta.errors import QuotaError

WF = "nodes:\n  a: {type: Test.Sleep, params: {seconds: 0, label: a}}\n"
ENGINE = Path(fenta.__file__).parent / "engine"


@pytest.fixture
def settings(fenta_home):
    return Settings(home=fenta_home, lease_seconds=30)


@pytest.fixture
def store(settings):
    s = JobStore(settings.db_path)
    yield s
    s.close()


def _queue(store, settings, write, **kw) -> str:
    job_id, _ = enqueue(
        store, fenta.load(write("wf.yaml", WF)), settings=settings, out_dir=settings.home / "out", **kw
    )
    return job_id


def test_a_job_is_read_as_a_frozen_value_with_its_json_decoded(store, settings, write):
    job = store.get_job(_queue(store, settings, write, priority=2))
    assert isinstance(job, Job) and job.status is JobState.QUEUED and job.priority == 2
    assert job.document["nodes"]["a"]["type"] == "Test.Sleep" and job.options["preview"] is False
    assert job.retryable is None and job.cancel_requested is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.status = JobState.RUNNING  # type: ignore[misc]


def test_a_job_shown_to_users_keeps_the_rows_text_and_flags(store, settings, write):
    row = store.get_job(_queue(store, settings, write)).to_dict()
    assert row["status"] == "queued" and type(row["status"]) is str and row["cancel_requested"] == 0
    assert set(row) >= {"id", "document", "vars", "options", "lease_token", "next_attempt_at"}


def test_job_states_are_their_text_and_know_which_end_a_job():
    assert STATES == ("queued", "running", "failed", "completed", "dead", "cancelled")
    assert JobState.DEAD == "dead" and str(JobState.DEAD) == "dead" and f"{JobState.FAILED}" == "failed"
    assert [s.value for s in JobState if s.is_terminal] == ["completed", "dead", "cancelled"]
    assert fenta.jobs.STATES == STATES


def test_a_write_commits_everything_it_did_or_nothing(store, settings, write):
    job_id = _queue(store, settings, write)
    with pytest.raises(RuntimeError):
        with store.write() as tx:
            tx.update_job(job_id, priority=9)
            tx.append_events(job_id, [("job.progress", {"jobId": job_id, "progress": 0.5, "node": None})])
            raise RuntimeError("crash before the commit")
    assert store.get_job(job_id).priority == 0 and [e.type for e in read_events(store, job_id=job_id)] == [
        "job.queued"
    ]


def test_the_claim_runs_the_admission_hook_inside_its_transaction(store, settings, write):
    refused, admitted = _queue(store, settings, write), _queue(store, settings, write)
    seen = []

    def admit(tx, job):
        seen.append((job.id, tx.conn.in_transaction))
        tx.record_usage(
            provider="fenta", units="reserved", quantity=1, job_id=job.id
        )  # commits with the claim
        if job.id == refused:
            raise QuotaError("quota exceeded: jobs used 1 of 1 jobs today")

    job, lease, events = lc.reserve(store, settings, admit=admit)
    assert seen == [(refused, True), (admitted, True)]
    assert job.id == admitted and lease is not None and store.get_job(admitted).lease_token == lease.token
    assert store.get_job(refused).status == "dead" and [e.type for e in events] == ["job.failed", "job.dead"]
    # What the hook wrote commits with the claim; a refusal undoes what it wrote for that job.
    assert [r["job_id"] for r in store.usage_records(admitted)] == [admitted] and store.usage_records(
        refused
    ) == []


def test_a_claim_whose_admission_hook_breaks_takes_nothing(store, settings, write):
    job_id = _queue(store, settings, write)

    def admit(tx, job):
        tx.record_usage(provider="fenta", units="reserved", quantity=1, job_id=job.id)
        raise RuntimeError("the quota table is gone")

    with pytest.raises(RuntimeError):
        lc.reserve(store, settings, admit=admit)
    job = store.get_job(job_id)
    assert job.status == "queued" and job.lease_token is None and store.usage_records(job_id) == []


def test_nothing_in_the_engine_but_the_store_speaks_sql():
    sql = re.compile(
        r"\b(SELECT|INSERT|UPDATE|DELETE)\b [^\n]*\b(FROM|INTO|SET|jobs|events)\b|\.db\b\.|\bstore\.db\b"
    )
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        rel = path.relative_to(ENGINE).as_posix()
        if rel.startswith("store/") or rel == "tables.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if sql.search(line):
                found.append(f"fenta/engine/{rel}:{n}: {line.strip()}")
    assert not found, "SQL outside fenta/engine/store:\n" + "\n".join(found)
