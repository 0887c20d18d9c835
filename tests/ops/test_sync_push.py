"""Push: real tiny renders (espeak voice, generated backdrop), real SQLite, the fake Supabase over HTTP.

`fenta run --sync` leaves the job row, its events and its MP4 in the hosted project; offline, the run
still succeeds and the next `fenta sync` catches up; pushing twice adds nothing; keys go nowhere.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from fenta.config import Settings
from fenta.engine.events import read_events
from fenta.engine.store import JobStore
from fenta.ops import sync, webhooks
from fenta.ops.sync.push_job import PROGRESS_SECONDS
from tests.fakes.supabase import UNAVAILABLE, supabase_fake  # noqa: F401

from .receiver import Receiver

TINY = """
version: 1
name: {name}
template: square
overrides: {{canvas: {{width: 160, height: 160, fps: 10}}}}
{extra}
nodes:
  script: {{type: Input.Text, params: {{text: "Hello from the hosted sync test."}}}}
  voice: {{type: Voice.TTS, params: {{engine: espeak}}, inputs: {{text: script.text}}}}
  backdrop: {{type: Input.Background, params: {{style: gradient, count: 1}}}}
  timeline: {{type: Timeline, inputs: {{clips: backdrop.clips, voice: voice.audio}}}}
  render:
    type: Render
    params: {{profile: canvas, preset: ultrafast}}
    inputs: {{timeline: timeline.timeline}}
"""


@pytest.fixture
def workflow(write):
    def make(name: str = "tiny", extra: str = "") -> str:
        return str(write(f"{name}.yaml", TINY.format(name=name, extra=extra)))

    return make


def _run(cli, *args: str) -> dict:
    r = cli("run", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _local_events(home, job_id: str) -> int:
    store = JobStore(home / "fenta.db")
    try:
        return len(read_events(store, job_id=job_id, limit=100000))
    finally:
        store.close()


def test_run_sync_leaves_the_row_its_events_and_the_mp4_in_the_hosted_project(
    cli, workflow, supabase_fake, fenta_home, tmp_path
):
    out = _run(cli, workflow(), "--sync")
    job_id = out["job_id"]
    assert out["sync"]["synced"] is True and out["sync"]["error"] is None
    [row] = supabase_fake.rows("jobs")
    assert row["id"] == job_id and row["status"] == "completed" and row["progress"] == 1
    assert (
        row["workflow_name"] == "tiny" and row["document"] is None
    )  # a local job is never claimable by a hosted worker
    assert (
        row["video_path"] == f"renders/{job_id}/tiny.mp4"
        and row["thumbnail_path"] == f"renders/{job_id}/tiny.jpg"
    )
    assert (
        set(row["stage_timings"]) == {"script", "voice", "backdrop", "timeline", "render"}
        and row["duration"] > 0
    )
    video, ctype = supabase_fake.object(f"renders/{job_id}/tiny.mp4")
    assert ctype == "video/mp4" and video == (tmp_path / "renders" / "tiny.mp4").read_bytes()
    assert supabase_fake.object(f"renders/{job_id}/tiny.jpg")[1] == "image/jpeg"
    assert (
        supabase_fake.object(f"renders/{job_id}/tiny.timeline.json") is None
    )  # the video, subtitles and thumbnail only
    events = supabase_fake.rows("job_events")
    types = [e["type"] for e in sorted(events, key=lambda e: int(e["id"].rsplit(":", 1)[1]))]
    assert (
        types[0] == "job.queued"
        and "job.started" in types
        and "job.progress" in types
        and types[-1] == "job.completed"
    )
    assert len(events) == _local_events(fenta_home, job_id) and {e["job_id"] for e in events} == {job_id}
    completed = next(e for e in events if e["type"] == "job.completed")
    assert (
        completed["data"]["videoUrl"] == out["sync"]["video_url"]
        and httpx.get(completed["data"]["videoUrl"]).content == video
    )
    upserts = [r for r in supabase_fake.requests if r.method == "POST" and r.path.startswith("/rest/v1/")]
    assert all(
        r.q("on_conflict") == "id" and r.headers["prefer"] == "resolution=merge-duplicates,return=minimal"
        for r in upserts
    )
    assert all(isinstance(r.json(), list) for r in upserts)  # arrays: one request per table and batch


def test_pushing_twice_adds_nothing(cli, workflow, supabase_fake):
    job_id = _run(cli, workflow(), "--sync")["job_id"]
    before = (
        supabase_fake.rows("jobs"),
        len(supabase_fake.rows("job_events")),
        dict(supabase_fake.buckets["renders"]),
    )
    r = cli("sync", "--job", job_id[:12])
    assert r.exit_code == 0, r.output
    assert "pushed completed row" in r.stdout
    assert [j["id"] for j in supabase_fake.rows("jobs")] == [j["id"] for j in before[0]]
    assert len(supabase_fake.rows("job_events")) == before[1]
    assert supabase_fake.buckets["renders"].keys() == before[2].keys()
    assert cli("sync").stdout.strip() == "nothing to push"


def test_usage_recorded_after_the_job_finished_still_reaches_the_hosted_project(
    cli, workflow, supabase_fake, fenta_home
):
    # The job's own usage rows (provider fenta: jobs, render_minutes) are written by the usage reader after
    # job.completed, with no event of their own: the push must still notice and send them.
    job_id = _run(cli, workflow(), "--sync")["job_id"]
    store = JobStore(fenta_home / "fenta.db")
    try:
        local = {
            (u["provider"], u["units"])
            for u in store.db.query("SELECT * FROM usage_records WHERE job_id = ?", [job_id])
        }
    finally:
        store.close()
    assert ("fenta", "jobs") in local
    assert {(u["provider"], u["units"]) for u in supabase_fake.rows("usage_records")} == local
    assert json.loads(cli("sync", "status", "--json").stdout)["pending"] == []


def test_a_job_prefix_matching_several_jobs_says_so(cli, workflow, supabase_fake):
    first, second = (_run(cli, workflow())["job_id"] for _ in range(2))
    common = next(first[:i] for i in range(len(first), 0, -1) if second.startswith(first[:i]))
    r = cli("sync", "--job", common)
    assert (
        r.exit_code == 2 and f"'{common}' is the start of several job ids" in r.stderr and first in r.stderr
    )


def test_offline_the_run_succeeds_and_the_next_sync_catches_up(
    cli, workflow, supabase_fake, fenta_home, tmp_path
):
    supabase_fake.offline = True
    r = cli("run", workflow(), "--sync")
    assert r.exit_code == 0, r.output
    assert "sync waits:" in r.stderr and "cannot reach 127.0.0.1" in r.stderr
    assert (tmp_path / "renders" / "tiny.mp4").is_file() and supabase_fake.rows("jobs") == []
    status = json.loads(cli("sync", "status", "--json").stdout)
    [pending] = status["pending"]
    assert (
        pending["status"] == "completed"
        and "cannot reach" in pending["last_error"]
        and "cannot reach" in status["last_error"]
    )
    r = cli("sync")
    assert r.exit_code == 1 and "cannot reach" in r.stdout  # still offline: says so, loses nothing

    supabase_fake.offline = False
    r = cli("sync")
    assert r.exit_code == 0, r.output
    [row] = supabase_fake.rows("jobs")
    assert row["status"] == "completed" and supabase_fake.object(f"renders/{row['id']}/tiny.mp4") is not None
    assert len(supabase_fake.rows("job_events")) == _local_events(fenta_home, row["id"])
    status = json.loads(cli("sync", "status", "--json").stdout)
    assert status["pending"] == [] and status["synced"] == 1 and status["last_push_at"]


def test_a_503_during_the_push_is_retried_and_the_job_lands(cli, workflow, supabase_fake):
    supabase_fake.fail_next(UNAVAILABLE, times=2, path_contains="/rest/v1/jobs")
    out = _run(cli, workflow(), "--sync")
    assert out["sync"]["synced"] is True
    assert supabase_fake.rows("jobs")[0]["status"] == "completed"


def test_sync_true_in_the_workflow_or_fenta_sync_1_turns_it_on_and_nothing_else_does(
    cli, workflow, supabase_fake, monkeypatch
):
    _run(cli, workflow("plain"))
    assert supabase_fake.rows("jobs") == []  # a key alone pushes nothing
    _run(cli, workflow("declared", "sync: true"))
    monkeypatch.setenv("FENTA_SYNC", "1")
    _run(cli, workflow("everything"))
    assert sorted(r["workflow_name"] for r in supabase_fake.rows("jobs")) == ["declared", "everything"]


def test_dry_run_says_what_would_go_sends_nothing_and_needs_no_key(cli, workflow, supabase_fake, monkeypatch):
    supabase_fake.offline = True
    job_id = _run(cli, workflow(), "--sync")["job_id"]
    supabase_fake.offline = False
    supabase_fake.requests.clear()
    monkeypatch.delenv("FENTA_API_KEY")
    r = cli("sync", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    [plan] = json.loads(r.stdout)["jobs"]
    assert (
        plan["job_id"] == job_id and plan["events"] > 5 and sorted(plan["files"]) == ["tiny.jpg", "tiny.mp4"]
    )
    assert supabase_fake.requests == []
    r = cli("sync")  # a real push does need the key
    assert r.exit_code == 2 and "FENTA_API_KEY" in r.output


def test_a_wrong_key_is_one_line_naming_the_gateway_and_the_key_never_shows(
    cli, workflow, supabase_fake, monkeypatch
):
    monkeypatch.setenv("FENTA_API_KEY", "sb_secret_WRONG_key_0000")
    r = cli("run", workflow(), "--sync")
    assert r.exit_code == 0, r.output  # the run itself succeeded
    assert "gateway refused the request: HTTP 401 Invalid API key" in r.stderr
    r = cli("sync")
    assert r.exit_code == 1
    assert "sb_secret_WRONG_key_0000" not in r.output and "gateway refused" in r.output


def test_a_refused_user_token_names_fenta_api_token_and_the_push_says_to_fix_it(
    cli, workflow, supabase_fake, monkeypatch
):
    job_id = _run(cli, workflow())["job_id"]
    monkeypatch.setenv("FENTA_API_TOKEN", "not-a-jwt")
    r = cli("sync", "--job", job_id)
    assert r.exit_code == 1
    assert (
        "InvalidJWT" in r.stdout and "check FENTA_API_TOKEN" in r.stdout and "not-a-jwt" not in r.output
    )  # Storage first: files go before rows
    assert "once what the line above says is fixed" in r.stderr
    assert json.loads(cli("sync", "--job", job_id, "--json").stdout)["retryable"] is False


def test_status_says_when_a_push_succeeded_after_the_last_error(cli, workflow, supabase_fake):
    supabase_fake.offline = True
    cli("run", workflow(), "--sync")
    assert "succeeded since" not in cli("sync", "status").stdout
    supabase_fake.offline = False
    cli("sync")
    assert (
        "last error" in cli("sync", "status").stdout
        and "(a push has succeeded since)" in cli("sync", "status").stdout
    )


def test_run_sync_without_a_key_is_bad_input_and_runs_nothing(cli, workflow, fenta_home, monkeypatch):
    monkeypatch.delenv("FENTA_API_KEY", raising=False)
    r = cli("run", workflow(), "--sync")
    assert r.exit_code == 2 and "FENTA_API_KEY" in r.output
    assert not (fenta_home / "fenta.db").exists() or JobStore(fenta_home / "fenta.db").list_jobs() == []


def test_the_key_never_goes_to_a_default_host_when_fenta_api_url_is_not_set(
    cli, workflow, fenta_home, monkeypatch
):
    monkeypatch.setenv("FENTA_API_KEY", "sb_secret_for_my_project")
    monkeypatch.delenv("FENTA_API_URL", raising=False)
    r = cli("run", workflow(), "--sync")
    assert r.exit_code == 2 and "set FENTA_API_URL (https://<project-ref>.supabase.co)" in r.stderr
    status = cli("sync", "status").stdout
    assert (
        "(hosted sync needs the project's URL: set FENTA_API_URL" in status and "api.fenta.app" not in status
    )
    worker = cli("worker", "--hosted", "--until-empty")
    assert (
        worker.exit_code == 2
        and "hosted worker for" not in worker.stderr
        and "set FENTA_API_URL" in worker.stderr
    )
    monkeypatch.setenv("FENTA_API_URL", "")
    assert "set FENTA_API_URL (https://<project-ref>.supabase.co)" in cli("run", workflow(), "--sync").stderr
    quiet = cli("run", workflow())
    assert (
        quiet.exit_code == 0 and "FENTA_API_URL" not in quiet.output
    )  # a run that does not sync is not bothered


def test_a_fenta_api_url_without_a_scheme_is_bad_input(cli, workflow, supabase_fake, monkeypatch):
    monkeypatch.setenv("FENTA_API_URL", "myproject.supabase.co")
    r = cli("sync")
    assert r.exit_code == 2 and "FENTA_API_URL 'myproject.supabase.co' is not an http(s) URL" in r.stderr


def test_keys_never_reach_fenta_db_the_hosted_rows_or_the_output(
    cli, workflow, supabase_fake, fenta_home, monkeypatch
):
    supabase_fake.user_tokens.add("user-jwt-SECRET-token")
    monkeypatch.setenv("FENTA_API_TOKEN", "user-jwt-SECRET-token")
    r = cli("run", workflow(), "--sync", "--json")
    assert r.exit_code == 0, r.output
    cli("sync", "status")
    hosted = json.dumps([supabase_fake.rows(t) for t in ("jobs", "job_events", "usage_records")])
    stored = b"".join(p.read_bytes() for p in fenta_home.glob("fenta.db*"))
    for secret in (supabase_fake.key, "user-jwt-SECRET-token"):
        assert secret not in hosted and secret not in r.output and secret.encode() not in stored


def test_a_running_jobs_row_goes_out_at_most_once_a_second(supabase_fake, fenta_home):
    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        store.create_job(
            job_id="job-1",
            name="slow",
            workflow_hash="h",
            file=None,
            document={},
            vars={},
            out_dir=str(fenta_home),
        )
        store.update_job("job-1", status="running", progress=0.2)
        sync.state.mark_job(store, "job-1")
        first = sync.push(settings)
        store.update_job("job-1", progress=0.6)
        sync.state.mark_job(store, "job-1")
        second = sync.push(settings)
        assert first.jobs[0].skipped is None and second.jobs[0].skipped == "pushed less than a second ago"
        assert supabase_fake.rows("jobs")[0]["progress"] == 0.2
        time.sleep(PROGRESS_SECONDS)
        third = sync.push(settings)
        assert third.jobs[0].skipped is None and supabase_fake.rows("jobs")[0]["progress"] == 0.6
    finally:
        store.close()


def test_job_completed_webhooks_carry_the_signed_storage_url_of_a_synced_job(
    cli, workflow, supabase_fake, fenta_home
):
    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    with Receiver() as rx:
        ep = webhooks.add_endpoint(store, rx.url, events=["job.completed"])
        rx.secret = ep.secret
        out = _run(cli, workflow(), "--sync")
    store.close()
    [req] = rx.requests
    data = req.verified["data"]
    assert data["videoUrl"] == out["sync"]["video_url"]
    assert data["videoUrl"].startswith(
        f"{supabase_fake.url}/storage/v1/object/sign/renders/{out['job_id']}/tiny.mp4?token="
    )
    assert httpx.get(data["videoUrl"]).content == supabase_fake.object(f"renders/{out['job_id']}/tiny.mp4")[0]


def test_offline_a_job_completed_webhook_waits_for_the_push_and_then_carries_the_signed_url(
    cli, workflow, supabase_fake, fenta_home, monkeypatch
):
    monkeypatch.setenv(
        "FENTA_WEBHOOK_RETRY_SCALE", "1"
    )  # the wait for the push is minutes: the run does not sit through it
    store = JobStore(fenta_home / "fenta.db")
    try:
        with Receiver() as rx:
            ep = webhooks.add_endpoint(store, rx.url, events=["job.completed"])
            rx.secret = ep.secret
            supabase_fake.offline = True
            t0 = time.monotonic()
            job_id = _run(cli, workflow(), "--sync")["job_id"]
            assert time.monotonic() - t0 < 30 and rx.requests == []  # not sent with the local file:// URL
            [waiting] = webhooks.deliveries(store, job_id=job_id)
            assert (
                waiting["status"] == "pending"
                and waiting["last_error"] == webhooks.WAITING_FOR_PUSH
                and waiting["next_at"] > time.time() + 200
            )

            supabase_fake.offline = False
            assert cli("sync").exit_code == 0  # the push lands, and the waiting webhook goes out at once
            [data] = [b["data"] for b in rx.verified("job.completed")]
            assert data["videoUrl"].startswith(
                f"{supabase_fake.url}/storage/v1/object/sign/renders/{job_id}/tiny.mp4?token="
            )
            assert webhooks.deliveries(store, job_id=job_id)[0]["status"] == "delivered"
    finally:
        store.close()


def test_a_webhook_that_waited_the_whole_schedule_for_the_push_goes_out_with_the_local_url(
    cli, workflow, supabase_fake, fenta_home, monkeypatch
):
    monkeypatch.setenv("FENTA_WEBHOOK_RETRY_SCALE", "1")
    store = JobStore(fenta_home / "fenta.db")
    try:
        with Receiver() as rx:
            ep = webhooks.add_endpoint(store, rx.url, events=["job.completed"])
            rx.secret = ep.secret
            supabase_fake.offline = True
            job_id = _run(cli, workflow(), "--sync")["job_id"]
            store.db.conn.execute(
                "UPDATE webhook_deliveries SET attempts = ?, next_at = 0 WHERE job_id = ?",
                (len(webhooks.RETRY_SCHEDULE) - 2, job_id),
            )
            webhooks.deliver_due(store, Settings.from_env())
            [data] = [b["data"] for b in rx.verified("job.completed")]
            assert data["videoUrl"].startswith("file://")
    finally:
        store.close()


def test_a_service_that_hangs_never_holds_fenta_up_longer_than_the_timeout(supabase_fake, fenta_home):
    from tests.fakes._server import Reply

    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        store.create_job(
            job_id="job-1",
            name="x",
            workflow_hash="h",
            file=None,
            document={},
            vars={},
            out_dir=str(fenta_home),
        )
        sync.state.mark_job(store, "job-1")
    finally:
        store.close()
    supabase_fake.fail_next(Reply(201, b"", delay=3.0))
    t0 = time.monotonic()
    report = sync.push(settings, timeout=0.5)
    assert time.monotonic() - t0 < 2.0
    assert "did not finish answering within 0.5 s" in report.error
    assert sync.status(settings)["pending"][0]["job_id"] == "job-1"  # it waits for the next push


def test_a_large_render_goes_by_tus_and_a_push_cut_off_midway_is_continued_by_the_next(
    supabase_fake, fenta_home, tmp_path
):
    """A generated 13 MB file stands in for a long render (the upload path is the same)."""
    from fenta.ops.sync.client import CHUNK

    video = tmp_path / "long.mp4"
    video.write_bytes(os.urandom(13_000_000))
    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        store.create_job(
            job_id="job-big",
            name="long",
            workflow_hash="h",
            file=None,
            document={},
            vars={},
            out_dir=str(tmp_path),
        )
        store.update_job("job-big", status="completed", progress=1.0)
        store.add_artifact("job-big", "video", str(video), duration=600.0)
        sync.state.mark_job(store, "job-big")
        supabase_fake.drop_upload_after(
            CHUNK // 2
        )  # half the first chunk arrives, then the connection breaks
        first = sync.push(settings, attempts=1)  # one try per request: this pass gives up there
        assert "PATCH /storage/v1/upload/resumable/" in first.error
        assert json.loads(sync.state.get(store, "job-big")["uploads"])["long.mp4"].startswith(
            supabase_fake.url
        )
        assert supabase_fake.rows("jobs") == []  # the row waits for its video
        second = sync.push(settings)
        assert second.error is None
    finally:
        store.close()
    creates = [r for r in supabase_fake.requests_to("/storage/v1/upload/resumable") if r.method == "POST"]
    patches = [r for r in supabase_fake.requests_to("/upload/resumable/") if r.method == "PATCH"]
    assert len(creates) == 1 and patches[1].headers["Upload-Offset"] == str(CHUNK // 2)
    assert supabase_fake.object("renders/job-big/long.mp4") == (video.read_bytes(), "video/mp4")
    [row] = supabase_fake.rows("jobs")
    assert row["video_path"] == "renders/job-big/long.mp4" and row["duration"] == 600.0


def test_with_fenta_sync_1_a_plain_worker_pushes_the_jobs_it_runs(cli, workflow, supabase_fake, monkeypatch):
    monkeypatch.setenv("FENTA_SYNC", "1")
    monkeypatch.setenv("FENTA_POLL_SECONDS", "0.02")
    job_id = cli("submit", workflow("queued"), "--json")
    job_id = json.loads(job_id.stdout)["job_id"]
    r = cli("worker", "--until-empty")
    assert r.exit_code == 0, r.output
    [row] = supabase_fake.rows("jobs")
    assert row["id"] == job_id and row["status"] == "completed"
    assert supabase_fake.object(f"renders/{job_id}/queued.mp4") is not None


def test_while_a_job_runs_its_row_moves_at_most_once_a_second(cli, write, supabase_fake):
    """What the web page sees through Realtime: the row running with growing progress, then completed."""
    import tests.engine.conftest  # noqa: F401  (registers Test.Sleep)

    after = [""] + [f", inputs: {{after: s{i - 1}.text}}" for i in range(1, 10)]
    chain = "\n".join(
        f"  s{i}: {{type: Test.Sleep, params: {{seconds: 0.5, label: s{i}}}{after[i]}}}" for i in range(10)
    )  # 5 s: room for several passes on a busy machine
    out = _run(cli, str(write("slow.yaml", f"name: slow\nsync: true\nnodes:\n{chain}\n")))
    rows = [
        (r.at, r.json()[0])
        for r in supabase_fake.requests
        if r.method == "POST" and r.path == "/rest/v1/jobs"
    ]
    running = [(at, row["progress"]) for at, row in rows if row["status"] == "running"]
    assert len(running) >= 2 and rows[-1][1]["status"] == "completed" and rows[-1][1]["id"] == out["job_id"]
    assert [p for _, p in running] == sorted(p for _, p in running) and running[-1][1] > running[0][1]
    assert all(b - a >= 0.95 for (a, _), (b, _) in zip(running, running[1:]))
