"""The queue in one process: submit, Worker, retries with backoff in `fenta.run`, stop, admission,
cancel, progress events and the fenta.jobs SDK (test node types; the process proofs are in
tests/test_jobs_workers.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pydantic import Field

import fenta
from fenta.config import Settings
from fenta.engine.events import read_events
from fenta.engine.store import JobStore
from fenta.errors import NodeError, QuotaError, RateLimitError
from fenta.nodes.base import Node, Params, Ports, registry
from tests.conftest import REPO
from tests.engine.conftest import runs


class _FlakyParams(Params):
    label: str = "flaky"
    fail_times: int = Field(1, description="Fail (retryably) this many times, then succeed.")
    retry_after: float | None = None
    internal: bool = Field(False, description="Fail with a bug (an unexpected exception) instead.")


class _Out(Ports):
    text: str


class Flaky(Node):
    """Fails retryably the first `fail_times` runs (counted in FENTA_HOME/runs-<label>), then succeeds."""

    type = "Test.Flaky"
    Params = _FlakyParams
    Outputs = _Out

    async def run(self, ctx, params, inputs):
        counter = ctx.settings.home / f"runs-{params.label}"
        with open(counter, "a") as fh:
            fh.write("1")
        if len(counter.read_text()) <= params.fail_times:
            if params.internal:
                raise RuntimeError("a bug")
            if params.retry_after is not None:
                raise RateLimitError(
                    "rate limited (HTTP 429)", provider="fake", retry_after=params.retry_after
                )
            raise ctx.error("the service answered 503", cls=NodeError, retryable=True)
        return _Out(text=params.label)


registry.register(Flaky)


@pytest.fixture
def fast(monkeypatch, fenta_home):
    """Queue settings scaled down: polls, heartbeats and retry waits in hundredths of a second."""
    env = {
        "FENTA_POLL_SECONDS": "0.02",
        "FENTA_HEARTBEAT_SECONDS": "0.05",
        "FENTA_LEASE_SECONDS": "2",
        "FENTA_RETRY_BASE_SECONDS": "0.05",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return Settings.from_env()


def _store(home: Path) -> JobStore:
    return JobStore(home / "fenta.db")


def _types(home: Path, job_id: str) -> list[str]:
    s = _store(home)
    try:
        return [
            e.type for e in read_events(s, job_id=job_id) if not e.type.startswith(("node.", "job.progress"))
        ]
    finally:
        s.close()


PAIR = """
nodes:
  a: {type: Test.Sleep, params: {seconds: %s, label: a%s}}
  b: {type: Test.Sleep, params: {seconds: 0, label: b%s}, inputs: {after: a.text}}
"""


def test_a_worker_runs_submitted_jobs_by_priority_and_each_once(write, fast, fenta_home):
    ids = [
        fenta.submit(fenta.load(write(f"wf{i}.yaml", PAIR % (0, i, i))), out="out", priority=p)
        for i, p in enumerate([0, 5, 1])
    ]
    results = fenta.jobs.Worker(fast, until_empty=True).run()
    assert [r.job_id for r in results] == [ids[1], ids[2], ids[0]]
    assert all(r.status == r.state == "completed" and r.attempt == 1 for r in results)
    for i, job_id in enumerate(ids):
        assert runs(fenta_home, f"a{i}") == 1 and _types(fenta_home, job_id) == [
            "job.queued",
            "job.started",
            "job.completed",
        ]
    assert [r["status"] for r in fenta.jobs.list()] == ["completed"] * 3


def test_fenta_run_retries_here_and_the_wait_is_in_the_events(write, fast, fenta_home):
    wf = fenta.load(write("wf.yaml", "nodes:\n  f: {type: Test.Flaky, params: {fail_times: 2}}\n"))
    seen = []
    result = fenta.run(wf, retries=3, on_event=seen.append)
    assert result.status == "completed" and result.attempt == 3
    assert _types(fenta_home, result.job_id) == [
        "job.queued",
        "job.started",
        "job.failed",
        "job.retrying",
        "job.started",
        "job.failed",
        "job.retrying",
        "job.started",
        "job.completed",
    ]
    waits = [e.data["delaySeconds"] for e in seen if e.type == "job.retrying"]
    assert 0.05 <= waits[0] <= 0.1 and 0.1 <= waits[1] <= 0.2
    assert any(e.type == "job.waiting" and e.id == 0 for e in seen)  # the countdown, live only
    info = fenta.jobs.get(result.job_id)
    assert [a["outcome"] for a in info["attempts"]] == ["failed", "failed", "completed"]
    assert info["attempts"][0]["wait_seconds"] == waits[0]


def test_fenta_run_without_retries_leaves_a_dead_job_that_jobs_retry_revives(write, fast, fenta_home):
    wf = fenta.load(write("wf.yaml", "nodes:\n  f: {type: Test.Flaky, params: {fail_times: 1}}\n"))
    result = fenta.run(wf)
    assert (result.status, result.state, result.retryable) == ("failed", "dead", True)
    assert fenta.jobs.retry(result.job_id)["status"] == "queued"
    (again,) = fenta.jobs.Worker(fast, until_empty=True).run()
    assert again.status == "completed" and again.attempt == 2


def test_a_workflows_retry_section_sets_the_budget_and_the_wait(write, fast, fenta_home):
    wf = fenta.load(
        write(
            "wf.yaml",
            "retry: {max_retries: 1, base_seconds: 0.02}\n"
            "nodes:\n  f: {type: Test.Flaky, params: {fail_times: 5}}\n",
        )
    )
    job_id = fenta.submit(wf, out="out")
    results = fenta.jobs.Worker(fast, until_empty=True).run()
    assert [r.state for r in results] == ["failed", "dead"]
    s = _store(fenta_home)
    (retrying,) = read_events(s, job_id=job_id, types=["job.retrying"])
    s.close()
    assert 0.02 <= retrying.data["delaySeconds"] <= 0.04


def test_retry_after_from_the_service_is_honoured(write, fast, fenta_home):
    wf = fenta.load(
        write("wf.yaml", "nodes:\n  f: {type: Test.Flaky, params: {fail_times: 1, retry_after: 0.4}}\n")
    )
    t0 = time.monotonic()
    result = fenta.run(wf, retries=1)
    assert result.status == "completed" and time.monotonic() - t0 >= 0.4
    s = _store(fenta_home)
    (retrying,) = read_events(s, job_id=result.job_id, types=["job.retrying"])
    s.close()
    assert retrying.data["delaySeconds"] == 0.4


def test_a_non_retryable_failure_is_dead_after_one_attempt(write, fast, fenta_home, tmp_path):
    flag = tmp_path / "fail"
    flag.touch()
    job_id = fenta.submit(
        fenta.load(
            write(
                "wf.yaml", f"nodes:\n  a: {{type: Test.Sleep, params: {{seconds: 0, fail_flag: '{flag}'}}}}\n"
            )
        ),
        out="out",
    )
    (result,) = fenta.jobs.Worker(fast, until_empty=True).run()
    assert (result.state, result.attempt, result.retryable) == ("dead", 1, False)
    assert _types(fenta_home, job_id)[-2:] == ["job.failed", "job.dead"]
    assert [r["id"] for r in fenta.jobs.list(status="dead")] == [job_id]


def _in_thread(worker) -> threading.Thread:
    t = threading.Thread(target=worker.run, daemon=True)
    t.start()
    return t


def _until(cond, timeout=20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_stop_lets_the_running_node_finish_gives_the_job_back_and_a_new_worker_resumes_it(
    write, fast, fenta_home
):
    job_id = fenta.submit(fenta.load(write("wf.yaml", PAIR % (0.5, "", ""))), out="out")
    w = fenta.jobs.Worker(fast)
    t = _in_thread(w)
    _until(lambda: runs(fenta_home, "a") == 1)
    w.stop()
    t.join(10)
    assert not t.is_alive() and [r.status for r in w.results] == ["stopped"]
    job = fenta.jobs.get(job_id)
    assert job["job"]["status"] == "queued" and job["job"]["lease_pid"] is None and job["job"]["attempt"] == 0
    assert {n["node"]: n["status"] for n in job["nodes"]} == {
        "a": "completed"
    }  # finished, checkpointed; b never started
    (result,) = fenta.jobs.Worker(fast, until_empty=True).run()
    assert (
        result.status == "completed"
        and result.nodes == {"a": "cached", "b": "completed"}
        and runs(fenta_home, "a") == 1
    )


def test_stop_now_cancels_the_running_node_and_gives_the_job_back(write, fast, fenta_home):
    job_id = fenta.submit(fenta.load(write("wf.yaml", PAIR % (30, "", ""))), out="out")
    w = fenta.jobs.Worker(fast)
    t = _in_thread(w)
    _until(lambda: runs(fenta_home, "a") == 1)
    w.stop(now=True)
    t.join(10)
    assert not t.is_alive() and fenta.jobs.get(job_id)["job"]["status"] == "queued"


def test_cancel_stops_a_running_job_quickly(write, fast, fenta_home):
    job_id = fenta.submit(fenta.load(write("wf.yaml", PAIR % (30, "", ""))), out="out")
    w = fenta.jobs.Worker(fast)
    t = _in_thread(w)
    _until(lambda: runs(fenta_home, "a") == 1)
    t0 = time.monotonic()
    row = fenta.jobs.cancel(job_id, wait=5)
    assert row["status"] == "cancelled" and time.monotonic() - t0 < 2
    w.stop()
    t.join(10)
    assert [r.status for r in w.results] == ["cancelled"] and _types(fenta_home, job_id)[
        -1
    ] == "job.cancelled"
    with pytest.raises(fenta.JobError, match="already cancelled"):
        fenta.jobs.cancel(job_id)


def test_admission_refusing_a_job_makes_it_dead_without_running_it(write, fast, fenta_home):
    job_id = fenta.submit(fenta.load(write("wf.yaml", PAIR % (0, "", ""))), out="out")
    seen = []

    def admission(job):
        seen.append((job["id"], job["workflow_name"], type(job["document"])))
        raise QuotaError("quota 'jobs' reached: 2 of 2 per day", resource="jobs", used=2, limit=2)

    fenta.jobs.Worker(fast, until_empty=True, admission=admission).run()
    assert seen == [(job_id, "wf", dict)]
    row = fenta.jobs.get(job_id)["job"]
    assert row["status"] == "dead" and "quota" in row["error"] and runs(fenta_home, "a") == 0
    assert _types(fenta_home, job_id) == ["job.queued", "job.failed", "job.dead"]


def test_job_progress_is_at_most_one_event_a_second(write, fast, fenta_home):
    after = [""] + [f", inputs: {{after: n{i - 1}.text}}" for i in range(1, 12)]
    nodes = "".join(
        f"  n{i}: {{type: Test.Sleep, params: {{seconds: 0.1, label: n{i}}}{after[i]}}}\n" for i in range(12)
    )
    result = fenta.run(fenta.load(write("wf.yaml", "nodes:\n" + nodes)))
    s = _store(fenta_home)
    evs = read_events(s, job_id=result.job_id, types=["job.progress"])
    s.close()
    assert 1 <= len(evs) <= result.seconds + 1
    assert set(evs[0].data) == {"jobId", "progress", "node"}


def test_watch_follows_the_log_in_order_until_nothing_is_left(write, fast, fenta_home):
    ids = [fenta.submit(fenta.load(write(f"wf{i}.yaml", PAIR % (0, i, i))), out="out") for i in range(2)]
    t = _in_thread(fenta.jobs.Worker(fast, until_empty=True))
    got = [
        (e.job_id, e.type)
        for e in fenta.jobs.watch(since_id=0, until_empty=True)
        if e.type.startswith("job.") and e.type != "job.progress"
    ]
    t.join(10)
    for job_id in ids:
        assert [ty for j, ty in got if j == job_id] == ["job.queued", "job.started", "job.completed"]
    assert [e.type for e in fenta.jobs.events(ids[0])][:3] == ["job.queued", "job.started", "node.started"]


def test_watch_until_empty_does_not_stop_when_a_worker_takes_the_last_job_between_its_reads(
    write, fast, fenta_home, monkeypatch
):
    """`until_empty` asks what runs, then what waits: a worker taking the last queued job in between must
    not look like an empty queue (both answers are read from one snapshot of fenta.db)."""
    from fenta.engine import lifecycle

    fenta.submit(fenta.load(write("wf.yaml", PAIR % (0, 1, 1))), out="out")
    worker: dict[str, object] = {}
    waiting = fenta.jobs.pending

    def complete() -> None:
        s = _store(fenta_home)
        lifecycle.complete(s, worker["lease"], video=None, duration=None, cost=0.0)
        s.close()

    def a_worker_takes_the_job_first(store, **kw):
        if not worker:  # after watch found nothing running, before it counts what waits
            s = _store(fenta_home)
            _, worker["lease"], _ = lifecycle.reserve(s, fast)
            lifecycle.start(s, worker["lease"])
            s.close()
            worker["done"] = threading.Timer(1.0, complete)
            worker["done"].start()
        return waiting(store, **kw)

    monkeypatch.setattr(fenta.jobs, "pending", a_worker_takes_the_job_first)
    seen = [e.type for e in fenta.jobs.watch(since_id=0, until_empty=True) if e.type.startswith("job.")]
    worker["done"].join()
    assert seen == ["job.queued", "job.started", "job.completed"]  # it followed the job to its end


def test_watch_until_empty_waits_for_a_job_a_worker_claimed_and_has_not_started_yet(write, fast, fenta_home):
    """Between its claim and `job.started` a worker's job is queued with a live lease: not idle."""
    from fenta.engine import lifecycle

    fenta.submit(fenta.load(write("wf.yaml", PAIR % (0, 1, 1))), out="out")
    s = _store(fenta_home)
    _, lease, _ = lifecycle.reserve(s, fast)
    s.close()

    def start_and_complete() -> None:
        s = _store(fenta_home)
        lifecycle.start(s, lease)
        lifecycle.complete(s, lease, video=None, duration=None, cost=0.0)
        s.close()

    worker = threading.Timer(1.0, start_and_complete)
    worker.start()
    seen = [e.type for e in fenta.jobs.watch(since_id=0, until_empty=True) if e.type.startswith("job.")]
    worker.join()
    assert seen == ["job.queued", "job.started", "job.completed"]


def test_a_killed_fenta_run_is_taken_over_by_a_worker_from_its_checkpoints(write, fast, fenta_home):
    wf = write(
        "wf.yaml",
        "nodes:\n  a: {type: Test.Sleep, params: {seconds: 0, label: a}}\n"
        "  b: {type: Test.Sleep, params: {seconds: 1, label: b}, inputs: {after: a.text}}\n",
    )
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); import tests.engine.conftest, fenta;"
        f" fenta.run(fenta.load({str(wf)!r}), out='out', retries=2)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        _until(lambda: runs(fenta_home, "b") == 1, timeout=60)
    finally:
        proc.kill()
        proc.wait()
    (job,) = fenta.jobs.list()
    assert job["status"] == "running"  # as the killed process left it
    (result,) = fenta.jobs.Worker(fast, until_empty=True).run()
    assert (result.job_id, result.status, result.attempt) == (job["id"], "completed", 2)
    assert result.nodes == {"a": "cached", "b": "completed"} and runs(fenta_home, "a") == 1
    assert _types(fenta_home, job["id"]) == [
        "job.queued",
        "job.started",
        "job.failed",
        "job.retrying",
        "job.started",
        "job.completed",
    ]
    assert "lease lapsed" in fenta.jobs.get(job["id"])["attempts"][0]["error"]
