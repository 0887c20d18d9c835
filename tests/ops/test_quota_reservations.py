"""Quotas reserved in the transaction that claims the job: no concurrency beats a limit, on any path
(worker slots, a batch, the hosted worker, two `fenta run` processes started at the same instant), and a
reservation a job did not use is free again once the job ends."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

import fenta
import tests.engine.conftest  # noqa: F401  (Test.Sleep)
from fenta.config import Settings
from fenta.engine.store import JobStore
from fenta.ops import quotas as q
from tests.conftest import REPO
from tests.fakes.supabase import supabase_fake  # noqa: F401, F811  (a fixture)

SLEEP = "name: {name}\nnodes:\n  a: {{type: Test.Sleep, params: {{seconds: {seconds}, label: {name}}}}}\n"
REFUSED = "quota exceeded: jobs used 1 of 1 jobs today"


@pytest.fixture
def fast(monkeypatch, fenta_home):
    env = {"FENTA_POLL_SECONDS": "0.02", "FENTA_HEARTBEAT_SECONDS": "0.1", "FENTA_LEASE_SECONDS": "3"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return Settings.from_env()


@pytest.fixture
def one_a_day(cli):
    assert cli("quota", "set", "jobs", "1", "--per", "day").exit_code == 0


def _sleep(write, name: str, seconds: float = 0.3):
    return write(f"{name}.yaml", SLEEP.format(name=name, seconds=seconds))


def _jobs(home) -> dict[str, tuple[str, str | None]]:
    store = JobStore(home / "fenta.db")
    try:
        return {j.id: (j.status.value, j.error) for j in store.list_jobs(limit=100)}
    finally:
        store.close()


def _statuses(home) -> list[str]:
    return sorted(status for status, _ in _jobs(home).values())


def test_a_worker_running_two_at_once_runs_one_job_of_a_one_a_day_quota(
    cli, write, fast, fenta_home, one_a_day
):
    for name in ("a", "b"):
        fenta.submit(fenta.load(_sleep(write, name)), out="out")
    r = cli("worker", "--concurrency", "2", "--until-empty")
    assert r.exit_code == 0, r.output
    jobs = _jobs(fenta_home)
    assert _statuses(fenta_home) == ["completed", "dead"]
    [(_, error)] = [v for v in jobs.values() if v[0] == "dead"]
    assert error.startswith(REFUSED) and "nothing was run" in error and "\n" not in error


def test_a_batch_of_three_rows_runs_one_under_a_one_a_day_quota(write, fast, fenta_home, one_a_day, tmp_path):
    report = fenta.batch(_sleep(write, "row"), [{}, {}, {}], out=tmp_path / "out", concurrency=3)
    assert report["totals"]["passed"] == 1 and report["totals"]["failed"] == 2
    assert all(r["error"].startswith(REFUSED) for r in report["rows"] if r["status"] == "failed")


def _small_render() -> dict:
    return {
        "name": "small",
        "template": "square",
        "overrides": {"canvas": {"width": 64, "height": 64, "fps": 10}},
        "nodes": {
            "backdrop": {"type": "Input.Background", "params": {"style": "gradient", "count": 1}},
            "timeline": {
                "type": "Timeline",
                "params": {"duration": 1},
                "inputs": {"clips": "backdrop.clips"},
            },
            "render": {
                "type": "Render",
                "params": {"profile": "canvas", "preset": "ultrafast"},
                "inputs": {"timeline": "timeline.timeline"},
            },
        },
    }


def test_three_hosted_rows_render_one_under_a_one_a_day_quota(
    cli, supabase_fake, fast, fenta_home, one_a_day
):
    for _ in range(3):
        supabase_fake.queue_job(_small_render())
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    rows = supabase_fake.rows("jobs")
    assert sorted(row["status"] for row in rows) == ["completed", "failed", "failed"]
    for row in rows:
        if row["status"] == "failed":  # the quota's line, not retryable, no lease: nothing ran for it
            assert row["error"].startswith(REFUSED) and row["retryable"] is False
            assert row["lease_expires_at"] is None and row["video_path"] is None
    assert _statuses(fenta_home) == ["completed"]  # a refused row gets no local job
    assert "1 completed" in r.stderr and "failed before it ran: quota exceeded" in r.stderr


#: A node failing retryably while its flag file exists (for a `fenta run` waiting for its retry).
FLAKY = """
import os
from fenta.nodes.base import Node, Params, Ports, registry
class FlagParams(Params):
    flag: str
class FlagOut(Ports):
    text: str
class FailWhileFlagged(Node):
    type = "Test.FailWhileFlagged"
    Params = FlagParams
    Outputs = FlagOut
    async def run(self, ctx, params, inputs):
        if os.path.exists(params.flag):
            raise ctx.error("the service answered 503", retryable=True)
        return FlagOut(text="ok")
registry.register(FailWhileFlagged)
"""


def _fenta_run(args: list[str], *, ready=None, barrier=None) -> subprocess.Popen:
    """A real `fenta run` process (with the test node types). With `ready` and `barrier`: it imports what
    the command loads, says it is ready, then waits for the barrier, so two start the command itself at
    the same instant."""
    code = (
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "import tests.engine.conftest\n"
        f"{FLAKY}\n"
        "import fenta.cli.run_cmds, fenta.cli._progress, fenta.engine.runner, fenta.engine.keys\n"
        "import fenta.ops.quotas, fenta.ops.readers, fenta.ops.runs, fenta.media.ffmpeg\n"
        "from fenta.cli import main\n"
    )
    if ready is not None:
        code += (
            f"open({str(ready)!r}, 'w').close()\n"
            f"while not os.path.exists({str(barrier)!r}):\n"
            "    time.sleep(0.001)\n"
        )
    code += f"sys.argv = ['fenta', 'run', *{args!r}]\nmain()\n"
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_two_fenta_runs_started_together_run_one_job_and_the_other_exits_2(
    write, fast, fenta_home, one_a_day, tmp_path
):
    wf = _sleep(write, "race", seconds=1)
    barrier = tmp_path / "go"
    ready = [tmp_path / "ready-1", tmp_path / "ready-2"]
    procs = [_fenta_run([str(wf), "-o", str(tmp_path / "out")], ready=r, barrier=barrier) for r in ready]
    try:
        _until(lambda: all(r.exists() for r in ready), timeout=60)
        barrier.touch()  # both go at once
        outcomes = [(p.wait(60), *p.communicate()) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert sorted(code for code, _, _ in outcomes) == [0, 2], outcomes
    [(_, _, err)] = [o for o in outcomes if o[0] == 2]
    assert _one_line(err).startswith(f"error: {REFUSED}")
    assert _statuses(fenta_home) == ["completed"]  # the refused run queued nothing


def test_a_fenta_run_waiting_for_its_retry_keeps_its_quota_from_another_fenta_run(
    cli, write, fast, fenta_home, one_a_day, tmp_path, monkeypatch
):
    monkeypatch.setenv("FENTA_RETRY_BASE_SECONDS", "3")  # the first process waits 3-6 s for its retry
    flag = write("503", "")
    flaky = write(
        "flaky.yaml", f"name: flaky\nnodes:\n  a: {{type: Test.FailWhileFlagged, params: {{flag: {flag}}}}}\n"
    )
    first = _fenta_run([str(flaky), "-o", str(tmp_path / "out"), "--retries", "1"])
    try:
        store = JobStore(fenta_home / "fenta.db")
        try:
            _until(
                lambda: any(j.status == "failed" and j.next_attempt_at for j in store.list_jobs()), timeout=60
            )
        finally:
            store.close()
        r = cli("run", str(_sleep(write, "second", seconds=0)))  # while the first holds its job, waiting
        assert r.exit_code == 2 and _one_line(r.stderr).startswith(f"error: {REFUSED}")
        flag.unlink()  # the first one's retry succeeds
        assert first.wait(60) == 0, first.communicate()
    finally:
        first.kill()
    assert _statuses(fenta_home) == ["completed"]


def test_fenta_resume_reserves_too_and_a_refused_job_keeps_its_state(cli, write, fast, fenta_home, one_a_day):
    flag = write("fail-now", "")
    wf = write(
        "wf.yaml", SLEEP.format(name="f", seconds=0).replace("label: f", f"label: f, fail_flag: {flag}")
    )
    failed = json.loads(cli("run", str(wf), "--json", "--retries", "0").stdout)
    assert failed["state"] == "dead"
    assert cli("run", str(_sleep(write, "done", seconds=0))).exit_code == 0  # the day's one job
    flag.unlink()
    r = cli("resume", failed["job_id"])
    assert r.exit_code == 2 and r.stderr.strip().startswith(f"error: {REFUSED}")
    assert _jobs(fenta_home)[failed["job_id"]][0] == "dead"


def _in_thread(worker) -> threading.Thread:
    t = threading.Thread(target=worker.run, daemon=True)
    t.start()
    return t


def _until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_job_that_fails_frees_what_it_reserved_and_the_next_job_runs(write, fast, fenta_home, one_a_day):
    flag = write("fail-now", "")
    bad = write(
        "bad.yaml",
        SLEEP.format(name="bad", seconds=0).replace("label: bad", f"label: bad, fail_flag: {flag}"),
    )
    failing = fenta.submit(fenta.load(bad), out="out", priority=1, retry={"max_retries": 0})
    good = fenta.submit(fenta.load(_sleep(write, "good", seconds=0)), out="out")
    results = fenta.jobs.Worker(fast, until_empty=True).run()
    assert [(r.job_id, r.state) for r in results] == [(failing, "dead"), (good, "completed")]
    store = JobStore(fenta_home / "fenta.db")
    try:
        assert store.quota_reservation(failing) == {} and store.quota_reservation(good) == {}
        assert q.status(store)[0]["used"] == 1 and q.status(store)[0]["reserved"] == 0
    finally:
        store.close()


def test_a_cancelled_job_frees_what_it_reserved_and_the_next_job_runs(write, fast, fenta_home, one_a_day):
    long = fenta.submit(fenta.load(_sleep(write, "long", seconds=30)), out="out", priority=1)
    worker = fenta.jobs.Worker(fast)
    t = _in_thread(worker)
    store = JobStore(fenta_home / "fenta.db")
    try:
        _until(
            lambda: store.quota_reservation(long) == {"jobs": 1.0} and store.get_job(long).status == "running"
        )
        later = fenta.submit(fenta.load(_sleep(write, "later", seconds=0)), out="out")
        time.sleep(0.3)  # the worker has one slot: the later job waits, it is not refused
        assert store.get_job(later).status == "queued"
        fenta.jobs.cancel(long, wait=5)
        assert store.quota_reservation(long) == {}
        _until(lambda: store.get_job(later).status == "completed")
    finally:
        worker.stop()
        t.join(20)
        store.close()


def test_a_worker_on_a_dask_cluster_runs_one_job_of_a_one_a_day_quota(
    cli, fenta_home, one_a_day, monkeypatch
):
    for k, v in {
        "FENTA_POLL_SECONDS": "0.05",
        "FENTA_HEARTBEAT_SECONDS": "0.2",
        "FENTA_LEASE_SECONDS": "10",
    }.items():
        monkeypatch.setenv(k, v)
    for name in ("d1", "d2"):
        fenta.submit(fenta.loads(json.dumps({**_small_render(), "name": name})), out="out")
    r = cli("worker", "--cluster", "local:2", "--until-empty")  # the client claims: two render slots
    assert r.exit_code == 0, r.output
    assert _statuses(fenta_home) == ["completed", "dead"]
    assert [e for s, e in _jobs(fenta_home).values() if s == "dead"][0].startswith(REFUSED)
