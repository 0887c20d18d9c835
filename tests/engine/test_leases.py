"""Leases and heartbeats: the heartbeat runs on a timer of its own, at most a third of the lease, so a
live worker's lease never lapses whatever the poll interval; settings that cannot work are refused."""

from __future__ import annotations

import os
import subprocess
import sys

import fenta
from fenta.config import Settings
from fenta.engine.events import read_events
from fenta.engine.leases import heartbeat_interval
from fenta.engine.store import JobStore
from tests.conftest import REPO

SLOW = "nodes:\n  a: {type: Test.Sleep, params: {seconds: 5, label: slow}}\n"
TWO = "nodes:\n  a: {type: Test.Sleep, params: {seconds: 0, label: a}}\n"


def test_the_heartbeat_is_at_most_a_third_of_the_lease(tmp_path):
    short = Settings.from_env({"FENTA_HOME": str(tmp_path), "FENTA_LEASE_SECONDS": "2"}, cwd=tmp_path)
    assert abs(short.heartbeat_seconds - 2 / 3) < 1e-9  # unset, it fits the lease
    assert heartbeat_interval(Settings(home=tmp_path, heartbeat_seconds=5, lease_seconds=9)) == 3
    assert heartbeat_interval(Settings(home=tmp_path, heartbeat_seconds=1, lease_seconds=9)) == 1


def test_a_live_workers_job_outlasts_a_poll_longer_than_its_lease(write, fenta_home, tmp_path):
    """POLL=3 > LEASE=2: the worker looks for jobs (and reaps lapsed leases) every 3 s, its own job's
    lease must be renewed in between, or the worker reaps its own live job as if it had died."""
    job_id = fenta.submit(fenta.load(write("slow.yaml", SLOW)), out=str(tmp_path / "out"))
    env = {k: v for k, v in os.environ.items() if k != "FENTA_HEARTBEAT_SECONDS"}
    env.update(FENTA_HOME=str(fenta_home), FENTA_POLL_SECONDS="3", FENTA_LEASE_SECONDS="2")
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); import tests.engine.conftest; "
        "from fenta.jobs import Worker; Worker(concurrency=2, until_empty=True).run()"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    store = JobStore(fenta_home / "fenta.db")
    try:
        job = store.get_job(job_id)
        types = [
            e.type
            for e in read_events(store, job_id=job_id)
            if e.type.startswith("job.") and e.type != "job.progress"
        ]
    finally:
        store.close()
    assert (job.status, job.attempt) == ("completed", 1), job.error
    assert types == ["job.queued", "job.started", "job.completed"]


def test_a_heartbeat_not_below_the_lease_is_refused_in_one_line_before_anything_runs(
    cli, write, fenta_home, monkeypatch
):
    monkeypatch.setenv("FENTA_HEARTBEAT_SECONDS", "5")
    monkeypatch.setenv("FENTA_LEASE_SECONDS", "2")
    wf = str(write("wf.yaml", TWO))
    for args in (["worker", "--until-empty"], ["run", wf, "-o", "out"]):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert (
            len(lines) == 1
            and "FENTA_HEARTBEAT_SECONDS (5)" in lines[0]
            and "FENTA_LEASE_SECONDS (2)" in lines[0]
        )
    assert not (fenta_home / "fenta.db").exists() or JobStore(fenta_home / "fenta.db").list_jobs() == []
