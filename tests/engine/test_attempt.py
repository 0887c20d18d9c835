"""One attempt protocol: the attempt alone starts, keeps, stops and ends a job; an executor only runs
the work and answers with an `Outcome`; one `classify` reads every failure."""

from __future__ import annotations

import asyncio

import pytest

import fenta
from fenta.config import Settings
from fenta.engine import lifecycle as lc
from fenta.engine.attempt import Control, run_attempt
from fenta.engine.events import Bus, read_events
from fenta.engine.queue import enqueue
from fenta.engine.store import JobStore
from fenta.engine.work import Failure, Outcome, Work, classify
from fenta.errors import FentaError, JobError, MissingKeysError, PathError, RateLimitError

WF = "nodes:\n  a: {type: Test.Sleep, params: {seconds: 0, label: a}}\n"


@pytest.fixture
def settings(fenta_home):
    return Settings(home=fenta_home, lease_seconds=5, heartbeat_seconds=0.1, poll_seconds=0.02, max_retries=3)


@pytest.fixture
def store(settings):
    s = JobStore(settings.db_path)
    yield s
    s.close()


class Elsewhere:
    """An executor whose work "runs elsewhere": it answers with what it recorded there, and, when the
    attempt cancels it, with what it recorded until then."""

    name, slots = "elsewhere", None

    def __init__(self, outcome: Outcome | None = None, *, hang: bool = False) -> None:
        self.outcome, self.hang = outcome, hang
        self.seen: list[Work] = []

    async def run(self, work: Work) -> Outcome:
        self.seen.append(work)
        try:
            if self.hang:
                await asyncio.sleep(60)
            assert self.outcome is not None
            return self.outcome
        except asyncio.CancelledError:
            return Outcome(False, stopped=True, records={"usage": [_usage(work.job.id)]})


def _usage(job_id: str) -> dict:
    return {
        "provider": "kie",
        "units": "credits",
        "quantity": 4,
        "cost": 0.02,
        "node_id": "a",
        "created_at": 1.0,
    }


def _reserved(store, settings, write):
    job_id, _ = enqueue(
        store, fenta.load(write("wf.yaml", WF)), settings=settings, out_dir=settings.home / "out"
    )
    job, lease, _ = lc.reserve(store, settings)
    assert job is not None and job.id == job_id
    return job_id, lease


async def _attempt(store, settings, lease, executor, **kw):
    bus = Bus(None).start()
    try:
        return await run_attempt(store, lease, executor, settings=settings, bus=bus, **kw)
    finally:
        await bus.close()


def test_the_attempt_starts_the_job_and_ends_it_from_the_executors_answer(store, settings, write):
    job_id, lease = _reserved(store, settings, write)
    answer = Outcome(False, "HTTP 503 from the provider", retryable=True, records={"usage": [_usage(job_id)]})
    executor = Elsewhere(answer)
    result = asyncio.run(_attempt(store, settings, lease, executor))
    (work,) = executor.seen
    assert work.job.status == "running" and work.job.attempt == 1  # started before the executor ran
    assert (result.status, result.state, result.attempt) == ("failed", "failed", 1) and result.next_attempt_at
    assert [e.type for e in read_events(store, job_id=job_id)] == [
        "job.queued",
        "job.started",
        "job.failed",
        "job.retrying",
    ]
    assert [(u["provider"], u["cost"]) for u in store.usage_records(job_id)] == [
        ("kie", 0.02)
    ]  # written here, by the attempt


def test_a_completed_outcome_completes_the_job_with_the_cost_recorded_elsewhere(store, settings, write):
    job_id, lease = _reserved(store, settings, write)
    result = asyncio.run(
        _attempt(store, settings, lease, Elsewhere(Outcome(True, records={"usage": [_usage(job_id)]})))
    )
    assert (result.status, result.cost) == ("completed", 0.02)
    assert store.get_job(job_id).status == "completed" and store.get_job(job_id).cost == 0.02


def test_a_cancel_request_stops_the_work_and_keeps_what_it_recorded(store, settings, write):
    job_id, lease = _reserved(store, settings, write)

    async def go():
        task = asyncio.ensure_future(_attempt(store, settings, lease, Elsewhere(hang=True)))
        await asyncio.sleep(0.2)
        lc.request_cancel(store, job_id)
        return await asyncio.wait_for(task, 10)

    result = asyncio.run(go())
    assert (result.status, result.state) == ("cancelled", "cancelled")
    assert len(store.usage_records(job_id)) == 1  # the paid work done before the cancel is not lost


def test_a_worker_stopping_at_once_gives_the_job_back_uncounted(store, settings, write):
    job_id, lease = _reserved(store, settings, write)
    control = Control()

    async def go():
        task = asyncio.ensure_future(_attempt(store, settings, lease, Elsewhere(hang=True), control=control))
        await asyncio.sleep(0.2)
        control.stop(now=True)
        return await asyncio.wait_for(task, 10)

    result = asyncio.run(go())
    job = store.get_job(job_id)
    assert (result.status, job.status, job.attempt, job.lease_token) == ("stopped", "queued", 0, None)


def test_an_attempt_cancelled_itself_leaves_the_job_waiting_for_a_person(store, settings, write):
    job_id, lease = _reserved(store, settings, write)

    async def go():
        task = asyncio.ensure_future(_attempt(store, settings, lease, Elsewhere(hang=True)))
        await asyncio.sleep(0.2)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())
    job = store.get_job(job_id)
    assert (job.status, job.error, job.next_attempt_at) == ("failed", "interrupted", None)
    assert len(store.usage_records(job_id)) == 1


def test_a_give_back_outcome_requeues_the_job(store, settings, write):
    job_id, lease = _reserved(store, settings, write)
    result = asyncio.run(_attempt(store, settings, lease, Elsewhere(Outcome(False, give_back=True))))
    assert result.status == "stopped" and store.get_job(job_id).status == "queued"


def test_an_executor_that_raises_fails_the_attempt_retryably(store, settings, write):
    job_id, lease = _reserved(store, settings, write)

    class Broken(Elsewhere):
        async def run(self, work):
            raise KeyError("a bug")

    result = asyncio.run(_attempt(store, settings, lease, Broken()))
    assert result.state == "failed" and result.error.startswith("internal error: KeyError")


def test_only_a_started_job_reaches_the_executor(store, settings, write):
    job_id, lease = _reserved(store, settings, write)
    lc.release(store, lease)
    executor = Elsewhere(Outcome(True))
    with pytest.raises(JobError, match="taken by another process"):
        asyncio.run(_attempt(store, settings, lease, executor))
    assert executor.seen == []


def test_classify_reads_what_a_fenta_error_says_and_calls_anything_else_internal():
    limited = RateLimitError("HTTP 429 from kie.ai", provider="kie", retry_after=30)
    assert classify(limited) == Failure("HTTP 429 from kie.ai", True, 30.0, 1)
    assert classify(PathError("cannot write to out")) == Failure("cannot write to out", False, None, 2)
    assert classify(MissingKeysError([])).exit_code == 2
    assert classify(ValueError("x")) == Failure("internal error: ValueError: x", True, None, 1)
    assert (
        classify(ValueError("x"), where=" on the Dask worker").error
        == "internal error on the Dask worker: ValueError: x"
    )
    assert classify(FentaError("a")) == Failure("a", False, None, 1)
