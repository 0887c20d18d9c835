"""The queue's commands in-process: submit, worker, jobs (list, show, events, retry, cancel, watch),
run --retries."""

from __future__ import annotations

import json

import pytest

import tests.engine.conftest  # noqa: F401  (registers Test.Sleep)
import tests.test_jobs_queue  # noqa: F401  (registers Test.Flaky)
from tests.engine.conftest import runs

PAIR = """
nodes:
  a: {type: Test.Sleep, params: {seconds: 0, label: a}}
  b: {type: Test.Sleep, params: {seconds: 0.05, label: b}, inputs: {after: a.text}}
"""
FLAKY = "nodes:\n  f: {type: Test.Flaky, params: {fail_times: 1}}\n"


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    for k, v in {
        "FENTA_POLL_SECONDS": "0.02",
        "FENTA_HEARTBEAT_SECONDS": "0.05",
        "FENTA_RETRY_BASE_SECONDS": "0.05",
    }.items():
        monkeypatch.setenv(k, v)


def _submit(cli, write, text=PAIR, *args) -> str:
    r = cli("submit", str(write("wf.yaml", text)), "-o", "out", "--json", *args)
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["status"] == "queued"
    return body["job_id"]


def test_submit_prints_the_whole_id_and_worker_runs_it(cli, write, fenta_home):
    r = cli("submit", str(write("wf.yaml", PAIR)), "-o", "out", "--priority", "2")
    job_id = r.stdout.strip()
    assert r.exit_code == 0 and len(job_id) == len("20260101-000000-abcdef")
    jobs = json.loads(cli("jobs", "--json").stdout)
    assert [(j["id"], j["status"], j["priority"]) for j in jobs] == [(job_id, "queued", 2)]
    w = cli("worker", "--until-empty")
    assert w.exit_code == 0 and f"{job_id}  started" in w.stdout and f"{job_id}  completed" in w.stdout
    assert runs(fenta_home, "a") == 1


def test_worker_json_streams_the_events_it_causes(cli, write):
    job_id = _submit(cli, write)
    out = cli("worker", "--until-empty", "--json").stdout
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types[0] == "job.started" and types[-1] == "job.completed" and "node.finished" in types
    assert all(json.loads(line)["jobId"] == job_id for line in out.splitlines())


def test_jobs_show_has_stage_timings_and_attempts(cli, write):
    job_id = _submit(cli, write, FLAKY, "--retries", "1")
    cli("worker", "--until-empty")
    shown = cli("jobs", "show", job_id)
    assert (
        "nodes (stage timings)" in shown.stdout and "attempts" in shown.stdout and "completed" in shown.stdout
    )
    info = json.loads(cli("jobs", "show", job_id, "--json").stdout)
    assert [a["outcome"] for a in info["attempts"]] == ["failed", "completed"] and info["job"]["attempt"] == 2
    (node,) = info["nodes"]
    assert (
        node["node"] == "f"
        and node["runs"] == 2
        and node["seconds"] is not None
        and node["offset"] is not None
    )
    assert "document" not in info["job"] and "lease_token" not in info["job"]


def test_jobs_events_lists_one_jobs_log(cli, write):
    job_id = _submit(cli, write)
    cli("worker", "--until-empty")
    evs = json.loads(cli("jobs", "events", job_id, "--json").stdout)
    assert [e["type"] for e in evs][:2] == ["job.queued", "job.started"] and evs[-1][
        "type"
    ] == "job.completed"
    assert all(e["jobId"] == job_id for e in evs) and [e["id"] for e in evs] == sorted(e["id"] for e in evs)
    plain = cli("jobs", "events", job_id).stdout
    assert "job.completed" in plain and job_id in plain


def test_dead_jobs_are_listed_and_retry_requeues_them(cli, write):
    job_id = _submit(cli, write, FLAKY, "--retries", "0")
    cli("worker", "--until-empty")
    dead = json.loads(cli("jobs", "--status", "dead", "--json").stdout)
    assert [j["id"] for j in dead] == [job_id] and dead[0]["retryable"] == 1
    r = cli("jobs", "retry", job_id[:-2])  # a unique prefix is enough
    assert r.exit_code == 0 and f"{job_id} queued again" in r.stdout
    assert "completed" in cli("worker", "--until-empty").stdout
    again = cli("jobs", "retry", job_id)
    assert again.exit_code == 2 and "completed" in again.stderr


def test_jobs_status_must_be_a_state(cli):
    r = cli("jobs", "--status", "finished")
    assert r.exit_code == 2 and "unknown state 'finished'" in r.stderr


def test_cancel_a_queued_job_and_watch_the_log(cli, write):
    job_id = _submit(cli, write)
    r = cli("jobs", "cancel", job_id)
    assert r.exit_code == 0 and f"{job_id} cancelled" in r.stdout
    lines = cli("jobs", "watch", "--json", "--since", "0", "--until-empty").stdout.splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["job.queued", "job.cancelled"]
    plain = cli("jobs", "watch", "--since", "0", "--until-empty", "--job", job_id).stdout
    assert "job.cancelled" in plain


def test_run_retries_here_and_says_so(cli, write):
    r = cli("run", str(write("wf.yaml", FLAKY)), "-o", "out", "--retries", "2")
    assert r.exit_code == 0, r.output
    assert "retrying in" in r.stderr and "(attempt 2)" in r.stderr


def test_run_with_retries_0_fails_at_once_and_names_both_ways_on(cli, write):
    r = cli("run", str(write("wf.yaml", FLAKY)), "-o", "out", "--retries", "0", "--json")
    body = json.loads(r.stdout)
    assert r.exit_code == 1 and (body["status"], body["state"], body["attempt"], body["retryable"]) == (
        "failed",
        "dead",
        1,
        True,
    )
    plain = cli(
        "run",
        str(write("wf2.yaml", FLAKY.replace("fail_times: 1", "fail_times: 1, label: other"))),
        "-o",
        "out",
        "--retries",
        "0",
    )
    assert "fenta resume" in plain.stderr and "fenta jobs retry" in plain.stderr


def _batch_row(write, *, live: bool) -> str:
    """A queued job of batch b-1, whose batch process is this one (live) or one that has exited."""
    import subprocess

    import fenta
    from fenta.config import Settings
    from fenta.engine.store import JobStore
    from fenta.ops import batch_store

    fenta.submit(fenta.load(write("wf.yaml", PAIR)), out="out", batch_id="b-1")
    store = JobStore(Settings.from_env().db_path)
    try:
        batch_store.create_batch(
            store,
            batch_id="b-1",
            workflow_file="wf.yaml",
            manifest="rows.csv",
            out_dir="out",
            options={},
            rows=[],
        )
        if not live:
            gone = subprocess.Popen(["true"])
            gone.wait()
            store.db.conn.execute("UPDATE batches SET pid = ? WHERE id = 'b-1'", [gone.pid])
    finally:
        store.close()
    return "b-1"


def test_jobs_watch_until_empty_does_not_wait_for_the_rows_of_a_killed_batch(cli, write):
    _batch_row(write, live=False)
    r = cli("jobs", "watch", "--since", "0", "--until-empty", "--json")
    assert r.exit_code == 0
    assert [json.loads(line)["type"] for line in r.stdout.splitlines()] == ["job.queued"]


def test_a_live_batchs_queued_row_keeps_jobs_watch_waiting(write):
    import threading

    import fenta.jobs

    _batch_row(write, live=True)
    seen: list[str] = []

    def follow():
        for ev in fenta.jobs.watch(since_id=0, until_empty=True):
            seen.append(ev.type)

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    t.join(0.5)
    waited = t.is_alive()

    from fenta.config import Settings
    from fenta.engine.store import JobStore
    from fenta.ops import batch_store

    store = JobStore(Settings.from_env().db_path)
    try:
        batch_store.finish(store, "b-1", "stopped")  # its process gone for good: watch stops
    finally:
        store.close()
    t.join(5)
    assert waited and seen == ["job.queued"] and not t.is_alive()
