"""`fenta worker --hosted`: jobs the web app queued in the (fake) hosted project, rendered here for real.

Claims are conditional PATCHes (one winner when workers race), results and events go back to the row,
a workflow that does not validate is `failed` with the message, and a worker killed mid-job leaves a
row that the next worker takes over once its lease has expired.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from fenta.config import Settings
from fenta.engine.events import iso
from fenta.engine.store import JobStore
from fenta.ops.sync.client import Hosted
from fenta.ops.sync.worker import HostedWorker
from tests.fakes.supabase import supabase_fake  # noqa: F401

#: The web app's graph shape (nodes as a list, edges with handles), as the builder saves it.
GRAPH = {
    "name": "from-the-web",
    "template": "square",
    "overrides": {"canvas": {"width": 160, "height": 160, "fps": 10}},
    "vars": {"line": "a default line"},
    "nodes": [
        {"id": "script", "type": "Input.Text", "data": {"params": {"text": "${vars.line}"}}},
        {"id": "voice", "type": "Voice.TTS", "data": {"params": {"engine": "espeak"}}},
        {"id": "backdrop", "type": "Input.Background", "data": {"params": {"style": "gradient", "count": 1}}},
        {"id": "timeline", "type": "Timeline", "data": {"params": {}}},
        {"id": "render", "type": "Render", "data": {"params": {"profile": "canvas", "preset": "ultrafast"}}},
    ],
    "edges": [
        {"source": "script", "sourceHandle": "text", "target": "voice", "targetHandle": "text"},
        {"source": "backdrop", "sourceHandle": "clips", "target": "timeline", "targetHandle": "clips"},
        {"source": "voice", "sourceHandle": "audio", "target": "timeline", "targetHandle": "voice"},
        {"source": "timeline", "sourceHandle": "timeline", "target": "render", "targetHandle": "timeline"},
    ],
}


def _nested(seconds: float = 2, size: int = 160) -> dict:
    """The same kind of job in fenta's own shape (nodes by id)."""
    return {
        "name": "nested",
        "template": "square",
        "overrides": {"canvas": {"width": size, "height": size, "fps": 10}},
        "nodes": {
            "backdrop": {"type": "Input.Background", "params": {"style": "gradient", "count": 2}},
            "timeline": {
                "type": "Timeline",
                "params": {"duration": seconds},
                "inputs": {"clips": "backdrop.clips"},
            },
            "render": {
                "type": "Render",
                "params": {"profile": "canvas", "preset": "ultrafast"},
                "inputs": {"timeline": "timeline.timeline"},
            },
        },
    }


@pytest.fixture
def fast(monkeypatch):
    for k, v in {
        "FENTA_POLL_SECONDS": "0.02",
        "FENTA_HEARTBEAT_SECONDS": "0.1",
        "FENTA_LEASE_SECONDS": "3",
    }.items():
        monkeypatch.setenv(k, v)


def test_worker_hosted_renders_a_job_someone_else_queued(cli, supabase_fake, fenta_home, fast):
    remote = supabase_fake.queue_job(GRAPH, vars={"line": "Rendered for the web app."})
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    assert f"claimed hosted job {remote}" in r.stderr and "1 job(s), 1 completed" in r.stderr
    [row] = supabase_fake.rows("jobs")
    assert (
        row["id"] == remote and row["status"] == "completed" and row["progress"] == 1 and row["attempt"] == 1
    )
    assert row["claimed_by"].startswith(row["host"]) and row["lease_expires_at"] is None
    assert row["document"] == GRAPH and row["vars"] == {
        "line": "Rendered for the web app."
    }  # merges keep the web app's columns
    assert row["video_path"] == f"renders/{remote}/from-the-web.mp4"
    video, ctype = supabase_fake.object(row["video_path"])
    assert ctype == "video/mp4" and video[4:8] == b"ftyp"
    types = {e["type"] for e in supabase_fake.rows("job_events") if e["job_id"] == remote}
    assert {"job.started", "node.finished", "job.progress", "job.completed"} <= types
    # Rendered through the normal runner: a local job with the variables the row carried.
    store = JobStore(fenta_home / "fenta.db")
    try:
        [local] = store.list_jobs()
        assert (
            local.status == "completed"
            and store.get_job(local.id).vars["line"] == "Rendered for the web app."
        )
    finally:
        store.close()
    # The queued moment of the local job never reached the hosted row (no second claim is possible).
    assert not any(
        r.method == "POST" and r.path == "/rest/v1/jobs" and r.json()[0].get("status") == "queued"
        for r in supabase_fake.requests
    )


def test_a_workflow_that_does_not_validate_goes_back_as_failed_with_the_message(cli, supabase_fake, fast):
    bad = {"nodes": {"render": {"type": "Render", "params": {"profile": "canvas", "preset": "glacial"}}}}
    remote = supabase_fake.queue_job(bad)
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    [row] = supabase_fake.rows("jobs")
    assert (
        row["id"] == remote
        and row["status"] == "failed"
        and row["retryable"] is False
        and row["lease_expires_at"] is None
    )
    assert f"hosted job {remote}" in row["error"] and "render" in row["error"] and "preset" in row["error"]


def test_line_numbers_of_fenta_own_json_text_stay_out_of_the_rows_error(cli, supabase_fake, fast):
    remote = supabase_fake.queue_job({"nodes": {"a": {"type": "Nope.Node"}}})
    cli("worker", "--hosted", "--until-empty")
    [row] = supabase_fake.rows("jobs")
    assert row["error"].startswith(
        f"hosted job {remote}, node 'a', field 'type': unknown node type 'Nope.Node'"
    )


def test_a_variable_the_workflow_does_not_have_fails_the_row_instead_of_being_dropped(
    cli, supabase_fake, fast
):
    remote = supabase_fake.queue_job(GRAPH, vars={"lien": "a typo"})
    cli("worker", "--hosted", "--until-empty")
    [row] = supabase_fake.rows("jobs")
    assert (
        row["id"] == remote
        and row["status"] == "failed"
        and row["error"].startswith(f"hosted job {remote}")
        and "variable 'lien'" in row["error"]
        and "did you mean 'line'" in row["error"]
    )


def test_a_job_needing_a_key_not_set_here_is_given_back_once_for_a_worker_that_has_it(
    cli, supabase_fake, monkeypatch, fast
):
    monkeypatch.delenv("PEXELS_API_KEY", raising=False)
    stock = {
        "nodes": {
            "stock": {"type": "Input.Stock", "params": {"query": "octopus"}},
            "timeline": {"type": "Timeline", "params": {"duration": 2}, "inputs": {"clips": "stock.clips"}},
            "render": {
                "type": "Render",
                "params": {"profile": "canvas"},
                "inputs": {"timeline": "timeline.timeline"},
            },
        }
    }
    needs_key = supabase_fake.queue_job(stock, id="a-needs-pexels")
    other = supabase_fake.queue_job(_nested(seconds=1), id="b-plain")
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    said = [line for line in r.stderr.splitlines() if needs_key in line and "PEXELS_API_KEY" in line]
    assert said == [
        f"hosted job {needs_key} needs PEXELS_API_KEY, not set here:"
        " given back to the hosted queue for a worker that has it"
    ]
    assert "2 job(s), 1 completed, 1 given back" in r.stderr
    rows = {row["id"]: row for row in supabase_fake.rows("jobs")}
    back = rows[needs_key]
    assert back["status"] == "queued" and back["claimed_by"] is None and back["lease_expires_at"] is None
    assert back["attempt"] == 0 and back["error"] is None and back["started_at"] is None
    assert rows[other]["status"] == "completed"
    claims = [
        q
        for q in supabase_fake.requests
        if q.method == "PATCH" and q.q("id") == f"eq.{needs_key}" and q.q("status") == "eq.queued"
    ]
    assert len(claims) == 1  # not claimed again by this worker in this run


def test_concurrency_with_hosted_is_refused_in_one_line(cli, supabase_fake, fast):
    supabase_fake.queue_job(_nested(seconds=1))
    r = cli("worker", "--hosted", "--until-empty", "--concurrency", "2")
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        "error: --concurrency does not apply to --hosted: a hosted worker renders one job at a time; "
        "start more workers (here or on other machines) to render several at once"
    )
    assert supabase_fake.rows("jobs")[0]["status"] == "queued"


def test_a_hosted_jobs_completed_webhook_carries_the_signed_url_of_its_row(
    cli, supabase_fake, fenta_home, fast
):
    from fenta.ops import webhooks

    from .receiver import Receiver

    store = JobStore(fenta_home / "fenta.db")
    try:
        with Receiver() as rx:
            rx.secret = webhooks.add_endpoint(store, rx.url, events=["job.completed"]).secret
            remote = supabase_fake.queue_job(GRAPH)
            assert cli("worker", "--hosted", "--until-empty").exit_code == 0
            rx.wait_for(1)
            [data] = [b["data"] for b in rx.verified("job.completed")]
    finally:
        store.close()
    assert data["videoUrl"].startswith(
        f"{supabase_fake.url}/storage/v1/object/sign/renders/{remote}/from-the-web.mp4?token="
    )


def test_until_empty_with_the_project_unreachable_fails_in_one_line_instead_of_reporting_an_empty_queue(
    cli, supabase_fake, fast
):
    supabase_fake.offline = True
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 1
    [error] = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert "GET /rest/v1/jobs: cannot reach 127.0.0.1" in error and "hosted worker stopped" not in r.stderr


def test_the_worker_says_where_a_finished_jobs_files_went(cli, supabase_fake, fast):
    remote = supabase_fake.queue_job(GRAPH)
    r = cli("worker", "--hosted", "--until-empty")
    assert (
        f"hosted job {remote} completed, pushed: renders/{remote}/" in r.stderr
        and "from-the-web.mp4" in r.stderr
    )


def _mapped_local_job(home, remote: str, claim: str, status: str = "running") -> JobStore:
    """A local job mapped to a hosted row under `claim`, as a hosted worker leaves it when it is killed."""
    store = JobStore(home / "fenta.db")
    store.create_job(
        job_id="local-1", name="nested", workflow_hash="h", file=None, document={}, vars={}, out_dir=str(home)
    )
    store.update_job("local-1", status=status, progress=0.9)
    from fenta.ops.sync import state

    state.mark_job(store, "local-1", remote_id=remote, hosted=True, claim=claim)
    return store


def test_a_stale_local_copy_never_overwrites_a_row_another_worker_took_over(supabase_fake, fenta_home):
    from fenta.ops import sync

    remote = supabase_fake.queue_job(_nested(), status="completed", claimed_by="vm:new-owner", progress=1)
    store = _mapped_local_job(fenta_home, remote, claim="vm:dead-worker")
    try:
        report = sync.push(Settings.from_env())
        assert report.jobs[0].skipped == "the hosted job was cancelled there or taken over by another worker"
        [row] = supabase_fake.rows("jobs")
        assert (
            row["status"] == "completed" and row["progress"] == 1 and supabase_fake.rows("job_events") == []
        )
        assert (
            sync.state.released(store, "local-1") and sync.push(Settings.from_env()).jobs == []
        )  # and never again
    finally:
        store.close()


def test_a_stale_local_copy_uploads_no_files_over_the_new_owners(supabase_fake, fenta_home):
    from fenta.ops import sync

    remote = supabase_fake.queue_job(_nested(), status="running", claimed_by="vm:new-owner")
    store = _mapped_local_job(fenta_home, remote, claim="vm:dead-worker", status="completed")
    try:
        video = fenta_home / "nested.mp4"
        video.write_bytes(b"stale")
        store.add_artifact("local-1", "video", str(video), duration=1.0)
        report = sync.push(Settings.from_env())
        assert report.jobs[0].skipped and report.jobs[0].files == []
        assert supabase_fake.buckets["renders"] == {} and supabase_fake.rows("jobs")[0]["status"] == "running"
    finally:
        store.close()


def test_a_row_the_web_app_cancelled_keeps_cancelled_whatever_the_local_job_says(supabase_fake, fenta_home):
    from fenta.ops import sync

    remote = supabase_fake.queue_job(_nested(), status="cancelled", claimed_by="vm:me")
    store = _mapped_local_job(fenta_home, remote, claim="vm:me")
    try:
        sync.push(Settings.from_env())
        assert supabase_fake.rows("jobs")[0]["status"] == "cancelled"
    finally:
        store.close()


def test_ctrl_c_while_idle_says_nothing_is_rendering(supabase_fake):
    said: list[str] = []
    w = HostedWorker(Settings.from_env(), log=said.append)
    w._on_signal()
    assert said == ["stopping (no job is rendering)"] and w._stopping


def test_columns_that_are_not_json_objects_fail_their_rows_and_the_worker_goes_on(cli, supabase_fake, fast):
    text = supabase_fake.queue_job("just text", id="a-text")
    listed = supabase_fake.queue_job({"nodes": {}}, vars=[1, 2], id="b-list")
    number = supabase_fake.queue_job('{"nodes": 5}', id="c-json-text")
    good = supabase_fake.queue_job(_nested(seconds=1), id="d-good")
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    rows = {row["id"]: row for row in supabase_fake.rows("jobs")}
    assert (
        rows[text]["status"] == "failed"
        and rows[text]["error"] == f"hosted job {text}: column 'document' holds text that is not JSON"
    )
    assert (
        rows[listed]["status"] == "failed" and "column 'vars' is not a JSON object" in rows[listed]["error"]
    )
    assert rows[number]["status"] == "failed" and rows[number]["error"].startswith(f"hosted job {number}")
    assert rows[good]["status"] == "completed" and "4 job(s), 1 completed" in r.stderr


def test_with_json_stdout_is_the_events_and_stderr_says_what_happened_to_each_row(cli, supabase_fake, fast):
    remote = supabase_fake.queue_job(GRAPH)
    bad = supabase_fake.queue_job({"nodes": {"a": {"type": "Nope.Node"}}}, id="z-bad")
    r = cli("worker", "--hosted", "--until-empty", "--json")
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events and {e["type"] for e in events} >= {"job.started", "job.completed"}
    assert f"claimed hosted job {remote}" in r.stderr and f"hosted job {bad} failed before it ran" in r.stderr


def test_rows_without_a_workflow_are_left_alone(cli, supabase_fake, fast):
    supabase_fake.queue_job(None, id="pushed-by-another-fenta")
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0 and "0 job(s)" in r.stderr
    assert supabase_fake.rows("jobs")[0]["status"] == "queued"


def test_concurrent_claims_of_one_queued_job_have_one_winner(supabase_fake, fast):
    remote = supabase_fake.queue_job(_nested())
    settings = Settings.from_env()
    workers = [HostedWorker(settings) for _ in range(8)]

    async def race():
        async with Hosted(settings) as api:
            return await asyncio.gather(*(w.claim(api, {"id": remote, "status": "queued"}) for w in workers))

    won = [row for row in asyncio.run(race()) if row is not None]
    assert len(won) == 1 and supabase_fake.rows("jobs")[0]["claimed_by"] == won[0]["claimed_by"]


def test_two_workers_racing_for_one_queued_job_render_it_once(supabase_fake, fast, tmp_path):
    remote = supabase_fake.queue_job(_nested())
    results: dict[str, list] = {}

    def work(name: str) -> None:
        settings = Settings.from_env({**os.environ, "FENTA_HOME": str(tmp_path / name)})
        results[name] = HostedWorker(settings, until_empty=True).run()

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done = [r for rs in results.values() for r in rs]
    assert [(r.remote_id, r.status) for r in done] == [(remote, "completed")]
    claims = [r for r in supabase_fake.requests if r.method == "PATCH" and r.q("status") == "eq.queued"]
    assert len(claims) >= 1 and supabase_fake.rows("jobs")[0]["status"] == "completed"
    rendered = [p for p in tmp_path.glob("*/hosted/*/nested.mp4")]
    assert len(rendered) == 1


def _local_status(home) -> str | None:
    if not (home / "fenta.db").exists():
        return None
    store = JobStore(home / "fenta.db")
    try:
        jobs = store.list_jobs()
        return jobs[0].status.value if jobs else None
    finally:
        store.close()


async def _look(worker: HostedWorker):
    """What a worker would claim now (claimed for real: only where nothing is claimable)."""
    async with Hosted(worker.settings) as api:
        return await worker.claim_next(api)


def test_a_running_row_whose_lease_expired_is_taken_over_and_rendered(cli, supabase_fake, fast):
    """What a killed worker leaves behind (the real kill is the slow test below)."""
    remote = supabase_fake.queue_job(
        _nested(),
        status="running",
        claimed_by="gone-host:0123",
        attempt=1,
        lease_expires_at=iso(time.time() + 30),
    )

    assert asyncio.run(_look(HostedWorker(Settings.from_env()))) is None  # its lease still holds
    with supabase_fake.db_lock:
        supabase_fake.tables["jobs"][remote]["lease_expires_at"] = iso(time.time() - 1)  # ...until it lapses
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0 and "(its lease had lapsed)" in r.stderr and "1 completed" in r.stderr
    row = supabase_fake.rows("jobs")[0]
    assert (
        row["id"] == remote
        and row["status"] == "completed"
        and row["claimed_by"] != "gone-host:0123"
        and row["attempt"] == 2
    )


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_the_row_reclaimable_after_its_lease(
    cli, supabase_fake, fenta_home, fast, tmp_path, monkeypatch
):
    monkeypatch.setenv("FENTA_LEASE_SECONDS", "3")
    remote = supabase_fake.queue_job(_nested(seconds=6, size=240))
    killed = tmp_path / "killed"
    env = {**os.environ, "FENTA_HOME": str(killed)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "worker", "--hosted"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while _local_status(killed) != "running":  # claimed there, and its local job has started
            assert time.monotonic() < deadline and proc.poll() is None, (
                proc.stderr.read().decode() if proc.poll() is not None else "never started"
            )
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _local_status(killed) == "running"  # killed mid-job
    row = supabase_fake.rows("jobs")[0]
    first = row["claimed_by"]
    assert row["status"] == "running" and supabase_fake.object(f"renders/{remote}/nested.mp4") is None
    assert (
        asyncio.run(_look(HostedWorker(Settings.from_env()))) is None
    )  # the lease is still live: nothing to claim yet
    while supabase_fake.rows("jobs")[0]["lease_expires_at"] > iso(time.time()):
        time.sleep(0.05)
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    assert "(its lease had lapsed)" in r.stderr and "1 completed" in r.stderr
    row = supabase_fake.rows("jobs")[0]
    assert row["status"] == "completed" and row["claimed_by"] != first and row["attempt"] == 2
    assert supabase_fake.object(f"renders/{remote}/nested.mp4") is not None


def test_a_plain_worker_leaves_alone_the_local_copy_a_killed_hosted_worker_left(
    cli, supabase_fake, fenta_home, fast
):
    remote = supabase_fake.queue_job(_nested(seconds=6, size=240))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "worker", "--hosted"],
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while _local_status(fenta_home) != "running":  # claimed, and its local job has started
            assert time.monotonic() < deadline and proc.poll() is None, (
                proc.stderr.read().decode() if proc.poll() is not None else "never started"
            )
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    r = cli("worker", "--until-empty")  # same FENTA_HOME: the row belongs to the next hosted worker
    assert r.exit_code == 0, r.output
    assert _local_status(fenta_home) == "running" and not list((fenta_home / "hosted" / remote).glob("*.mp4"))
    assert (
        supabase_fake.rows("jobs")[0]["status"] == "running"
    )  # reclaimable by a hosted worker once its lease lapses
    watch = subprocess.run(
        [sys.executable, "-m", "fenta", "jobs", "watch", "--until-empty"],
        env={**os.environ},
        capture_output=True,
        timeout=30,
    )
    assert watch.returncode == 0  # nothing a plain worker would run is left: it does not wait for the orphan


def test_the_next_hosted_worker_ends_a_killed_ones_local_copy_without_touching_its_row(
    supabase_fake, fenta_home, fast
):
    from fenta.engine.leases import HOST
    from fenta.ops import sync

    remote = supabase_fake.queue_job(
        _nested(), status="running", claimed_by="vm:dead-worker", lease_expires_at=iso(time.time() + 60)
    )
    store = _mapped_local_job(fenta_home, remote, claim="vm:dead-worker")
    try:
        store.update_job(
            "local-1",
            owner="hosted",
            lease_pid=2**22 + 1,
            lease_host=HOST,
            lease_token="t",
            lease_until=iso(time.time() + 60),
        )  # its process is gone
        queued = supabase_fake.queue_job(_nested(seconds=1))
        assert [r.status for r in HostedWorker(Settings.from_env(), until_empty=True).run()] == ["completed"]
        job = store.get_job("local-1")
        assert job.status == "dead" and "left to its owner (hosted)" in job.error
        assert "local-1" not in [j.job_id for j in sync.push(Settings.from_env()).jobs]  # never pushed again
        rows = {row["id"]: row for row in supabase_fake.rows("jobs")}
        assert rows[queued]["status"] == "completed"
        assert (
            rows[remote]["status"] == "running" and rows[remote]["claimed_by"] == "vm:dead-worker"
        )  # the next claim's, once its lease lapses
        assert not [e for e in supabase_fake.rows("job_events") if e["job_id"] == remote]
    finally:
        store.close()


def test_worker_hosted_with_a_wrong_key_stops_with_one_line(cli, supabase_fake, monkeypatch, fast):
    monkeypatch.setenv("FENTA_API_KEY", "sb_secret_WRONG")
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 1
    assert (
        "gateway refused the request: HTTP 401 Invalid API key" in r.output
        and "sb_secret_WRONG" not in r.output
    )
    assert json.dumps(supabase_fake.rows("jobs")) == "[]"


def test_a_job_cancelled_on_the_web_app_while_it_renders_stops_here_and_stays_cancelled(
    supabase_fake, fast, monkeypatch
):
    monkeypatch.setenv(
        "FENTA_LEASE_SECONDS", "0.6"
    )  # the lease is renewed (and the row looked at) every 0.2 s
    remote = supabase_fake.queue_job(_nested(seconds=30, size=480))
    worker = HostedWorker(Settings.from_env(), until_empty=True)
    thread = threading.Thread(target=worker.run)
    thread.start()
    deadline = time.monotonic() + 20
    while supabase_fake.rows("jobs")[0]["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with supabase_fake.db_lock:  # what the "owners cancel" policy lets a user do
        supabase_fake.tables["jobs"][remote]["status"] = "cancelled"
    thread.join(30)
    assert [(r.remote_id, r.status) for r in worker.results] == [(remote, "cancelled")]
    time.sleep(0.3)
    row = supabase_fake.rows("jobs")[0]
    assert row["status"] == "cancelled" and supabase_fake.object(f"renders/{remote}/nested.mp4") is None


def _start(worker: HostedWorker, remote: str, fake) -> threading.Thread:
    """Run the worker in a thread; return once it is rendering `remote`."""
    thread = threading.Thread(target=worker.run)
    thread.start()
    deadline = time.monotonic() + 20
    while (
        fake.rows("jobs") and next(r for r in fake.rows("jobs") if r["id"] == remote)["status"] != "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return thread


def test_stop_finishes_the_job_rendering_and_takes_no_other(supabase_fake, fast):
    first = supabase_fake.queue_job(_nested(seconds=6, size=240), created_at="2026-01-01T00:00:00.000Z")
    second = supabase_fake.queue_job(_nested(), created_at="2026-01-01T00:00:01.000Z")
    worker = HostedWorker(Settings.from_env())  # not --until-empty: only stop() ends it
    thread = _start(worker, first, supabase_fake)
    worker.stop()
    thread.join(30)
    assert not thread.is_alive() and [(r.remote_id, r.status) for r in worker.results] == [
        (first, "completed")
    ]
    statuses = {r["id"]: r["status"] for r in supabase_fake.rows("jobs")}
    assert statuses == {first: "completed", second: "queued"}


def test_stop_now_hands_the_job_back_to_the_hosted_queue(supabase_fake, fast):
    remote = supabase_fake.queue_job(_nested(seconds=30, size=480))
    worker = HostedWorker(Settings.from_env())
    thread = _start(worker, remote, supabase_fake)
    worker.stop(now=True)
    thread.join(30)
    assert [(r.remote_id, r.status) for r in worker.results] == [(remote, "queued")]
    time.sleep(0.2)  # nothing of the stopped render reaches the row afterwards
    row = supabase_fake.rows("jobs")[0]
    assert row["status"] == "queued" and row["claimed_by"] is None and row["lease_expires_at"] is None
    assert supabase_fake.object(f"renders/{remote}/nested.mp4") is None


@pytest.mark.slow
def test_ctrl_c_twice_hands_the_job_back_and_the_worker_exits_0(supabase_fake, fast, tmp_path):
    remote = supabase_fake.queue_job(_nested(seconds=60, size=480))
    env = {**os.environ, "FENTA_HOME": str(tmp_path / "w")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "worker", "--hosted"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while _local_status(tmp_path / "w") != "running":
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopping after the job rendering now" in err and "given back to the hosted queue" in err
    [row] = supabase_fake.rows("jobs")
    assert row["id"] == remote and row["status"] == "queued" and row["claimed_by"] is None
    assert supabase_fake.object(f"renders/{remote}/nested.mp4") is None  # no half-rendered upload
