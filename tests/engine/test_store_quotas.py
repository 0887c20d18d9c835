"""Quota reservations in the store (`fenta.engine.store.quotas`) and in the lifecycle: written with the
claim, dropped by the change that ends a job held by no process without completing it, kept while a
process holds the job or it completed (its use is recorded from the event log)."""

from __future__ import annotations

import pytest

import fenta
from fenta.config import Settings
from fenta.engine import lifecycle as lc
from fenta.engine.queue import enqueue
from fenta.engine.store import JobStore
from fenta.errors import QuotaError

WF = "nodes:\n  a: {type: Test.Sleep, params: {seconds: 0, label: a}}\n"
ONE = {"jobs": 1.0}


@pytest.fixture
def settings(fenta_home):
    return Settings(home=fenta_home, lease_seconds=30, retry_base_seconds=0.01)


@pytest.fixture
def store(settings):
    s = JobStore(settings.db_path)
    yield s
    s.close()


@pytest.fixture
def queue(store, settings, write):
    def make(**kw) -> str:
        wf = fenta.load(write("wf.yaml", WF))
        return enqueue(store, wf, settings=settings, out_dir=settings.home / "out", max_retries=1, **kw)[0]

    return make


def _claim(store, settings):
    """Claim the next job with a hook that reserves one job."""
    job, lease, _ = lc.reserve(store, settings, admit=lambda tx, j: tx.reserve_quota(j.id, ONE))
    return job, lease


def test_a_reservation_is_replaced_not_added_to_and_orphans_are_not_held(store, queue):
    job_id = queue()
    store.reserve_quota(job_id, {"jobs": 1, "cost_usd": 0.5})
    store.reserve_quota(job_id, ONE)  # claimed again after its claimer died
    assert store.quota_reservation(job_id) == ONE
    store.reserve_quota("no-such-job", ONE)
    assert [(j.id, amount) for j, amount in store.quota_holds("jobs")] == [(job_id, 1.0)]
    assert store.quota_holds("jobs", exclude=job_id) == []
    assert store.release_quota(job_id) == 1 and store.quota_reservation(job_id) == {}


def test_the_claim_writes_the_reservation_and_a_refusal_leaves_none(store, settings, queue):
    refused, admitted = queue(priority=1), queue()

    def admit(tx, job):
        tx.reserve_quota(job.id, ONE)
        if job.id == refused:
            raise QuotaError("quota exceeded: jobs used 1 of 1 jobs today")

    job, _, _ = lc.reserve(store, settings, admit=admit)
    assert job.id == admitted and store.quota_reservation(admitted) == ONE
    assert store.quota_reservation(refused) == {} and store.get_job(refused).status == "dead"


def test_enqueue_with_hold_reserves_in_its_transaction_and_a_refusal_queues_nothing(store, queue):
    held = queue(hold=True, admit=lambda tx, job: tx.reserve_quota(job.id, ONE))
    assert store.quota_reservation(held) == ONE

    def refuse(tx, job):
        tx.reserve_quota(job.id, ONE)
        raise QuotaError("over")

    with pytest.raises(QuotaError):
        queue(hold=True, admit=refuse)
    assert [j.id for j in store.list_jobs()] == [held] and len(store.quota_holds("jobs")) == 1


def test_starting_keeps_the_reservation_and_completing_leaves_it_for_the_usage_reader(store, settings, queue):
    job_id = queue()
    _, lease = _claim(store, settings)
    lc.start(store, lease)
    assert store.quota_reservation(job_id) == ONE
    lc.complete(store, lease, video=None, duration=1.0, cost=0.0)
    assert store.quota_reservation(job_id) == ONE  # fenta.ops.quotas.track turns it into use


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(
            lambda store, settings, lease: lc.fail(store, lease, settings, "boom", False), id="dead"
        ),
        pytest.param(
            lambda store, settings, lease: lc.fail(store, lease, settings, "503", True), id="retry-due"
        ),
        pytest.param(lambda store, settings, lease: lc.cancelled(store, lease), id="cancelled"),
        pytest.param(lambda store, settings, lease: lc.release(store, lease), id="given-back"),
    ],
)
def test_a_job_that_ends_held_by_no_process_frees_its_reservation(store, settings, queue, end):
    job_id = queue()
    _, lease = _claim(store, settings)
    lc.start(store, lease)
    end(store, settings, lease)
    assert store.quota_reservation(job_id) == {}


def test_a_failure_that_keeps_the_lease_keeps_the_reservation_until_the_wait_is_called_off(
    store, settings, queue
):
    job_id = queue()
    _, lease = _claim(store, settings)
    lc.start(store, lease)
    lc.fail(store, lease, settings, "503", True, keep_lease=True)  # fenta run waits here for its retry
    assert store.get_job(job_id).status == "failed" and store.quota_reservation(job_id) == ONE
    lc.call_off(store, lease, "interrupted")
    assert store.quota_reservation(job_id) == {}


def test_a_claim_given_back_before_it_started_frees_its_reservation(store, settings, queue):
    job_id = queue()
    _, lease = _claim(store, settings)
    lc.release(store, lease)
    assert store.get_job(job_id).lease_token is None and store.quota_reservation(job_id) == {}


def test_a_lapsed_lease_that_is_reaped_frees_its_reservation(store, settings, queue):
    job_id = queue()
    _, lease = _claim(store, settings)
    lc.start(store, lease)
    store.update_job(job_id, lease_until="2000-01-01T00:00:00.000Z")  # its process died
    with store.write() as tx:
        lc.reap(tx, settings)
    assert store.get_job(job_id).status == "failed" and store.quota_reservation(job_id) == {}
