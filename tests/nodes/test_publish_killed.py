"""A `fenta run` killed (SIGKILL) in the middle of a YouTube upload, then `fenta resume`: exactly one
post on the fake, its bytes those of the rendered file. The session URI is in the job store before the
first byte, and the resume asks the session before sending anything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fenta.config import Settings
from fenta.engine.store import JobStore
from tests.conftest import REPO
from tests.fakes.youtube import youtube_fake  # noqa: F401  (fixture)
from tests.nodes.test_publish_youtube import workflow


def _killed_run(fake, wf: str, ready) -> tuple[str, dict]:
    """Start `fenta run`, SIGKILL it once `ready()`; (job id, the stored upload task) read meanwhile."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "run", wf, "-o", "out", "--yes"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ready() and proc.poll() is None:
            time.sleep(0.02)
        assert ready(), proc.stderr.read().decode() if proc.poll() is not None else "the upload never started"
        store = JobStore(Settings.from_env().db_path)
        (task,) = [dict(r) for r in store.db.query("select provider, task_id, status from provider_tasks")]
        (job,) = [dict(r) for r in store.db.query("select id, status from jobs")]
        store.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert job["status"] == "running"  # killed: it had no chance to record anything else
    return job["id"], task


def _resume(cli, job_id: str) -> dict:
    result = cli("resume", job_id, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_killed_after_the_last_byte_arrived_the_resume_finds_the_video_and_posts_nothing_again(
    youtube_fake, write, cli
):
    youtube_fake.put_faults = [{"hang": 120}]  # the upload completes there; the answer never comes back
    job_id, task = _killed_run(youtube_fake, workflow(write), lambda: bool(youtube_fake.posts))
    assert task["provider"] == "youtube" and task["status"] == "uploading"
    assert "upload_id=" in task["task_id"]  # the session URI was stored before the first byte
    bytes_sent = len(youtube_fake.puts())
    out = _resume(cli, job_id)
    assert out["status"] == "completed" and len(youtube_fake.posts) == 1 and len(youtube_fake.sessions) == 1
    (post,) = youtube_fake.posts
    assert youtube_fake.uploaded[post["id"]] == Path(out["video"]).read_bytes()
    resumed = youtube_fake.puts()[bytes_sent:]
    assert [r.headers["Content-Range"].split()[1].split("/")[0] for r in resumed] == [
        "*"
    ]  # a query, no bytes
    assert json.loads(cli("jobs", "show", job_id, "--json").stdout)["published"][0]["postId"] == post["id"]


def test_killed_before_the_server_kept_any_byte_the_resume_uploads_to_the_same_session(
    youtube_fake, write, cli
):
    youtube_fake.put_faults = [{"stall": 120}]
    job_id, task = _killed_run(youtube_fake, workflow(write), lambda: bool(youtube_fake.puts()))
    assert task["status"] == "uploading" and not youtube_fake.posts
    out = _resume(cli, job_id)
    assert out["status"] == "completed" and len(youtube_fake.posts) == 1 and len(youtube_fake.sessions) == 1
    (post,) = youtube_fake.posts
    assert youtube_fake.uploaded[post["id"]] == Path(out["video"]).read_bytes()


def test_a_session_that_expired_after_the_upload_finished_is_reconciled_by_its_tag_not_uploaded_again(
    youtube_fake, write, cli
):
    youtube_fake.put_faults = [{"hang": 120}]
    job_id, _ = _killed_run(youtube_fake, workflow(write), lambda: bool(youtube_fake.posts))
    for session in youtube_fake.sessions.values():
        session.expired = True  # the stored session URI now answers 404
    out = _resume(cli, job_id)
    assert out["status"] == "completed" and len(youtube_fake.posts) == 1 and len(youtube_fake.sessions) == 1
    assert youtube_fake.requests_to("/youtube/v3/playlistItems")  # found through the channel's uploads
