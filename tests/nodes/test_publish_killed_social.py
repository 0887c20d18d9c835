"""A `fenta run` killed (SIGKILL) in the middle of a TikTok or Instagram post, then `fenta resume`: exactly
one post on the fake, its bytes those of the rendered file. TikTok's publish id and Instagram's container
id are in the job store before the first byte; the resume asks the service about them before sending
anything."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.instagram_publishing import instagram_posting_fake  # noqa: F401  (fixture)
from tests.fakes.tiktok_posting import tiktok_posting_fake  # noqa: F401  (fixture)
from tests.nodes.publish_workflow import publish_workflow
from tests.nodes.test_publish_killed import _killed_run, _resume


def _published(cli, job_id: str) -> list[dict]:
    return json.loads(cli("jobs", "show", job_id, "--json").stdout)["published"]


def test_tiktok_killed_after_the_last_chunk_landed_resumes_by_asking_the_status_and_sends_nothing(
    tiktok_posting_fake, write, cli
):
    tiktok_posting_fake.put_faults = [{"hang": 120}]  # the bytes arrive; the answer never comes back
    wf = publish_workflow(write, "Publish.TikTok")

    def landed() -> bool:
        return any(p.data and len(p.data) == p.size for p in tiktok_posting_fake.publishes.values())

    job_id, task = _killed_run(tiktok_posting_fake, wf, landed)
    (publish,) = tiktok_posting_fake.publishes.values()
    assert (
        task["provider"] == "tiktok"
        and task["task_id"] == publish.publish_id
        and task["status"] == "uploading"
    )
    out = _resume(cli, job_id)
    assert out["status"] == "completed" and len(tiktok_posting_fake.inits()) == 1
    assert len(tiktok_posting_fake.puts()) == 1 and len(tiktok_posting_fake.posts) == 1  # nothing sent again
    assert bytes(tiktok_posting_fake.posts[0].data) == Path(out["video"]).read_bytes()
    assert _published(cli, job_id)[0]["postId"] == publish.publish_id


def test_tiktok_killed_before_any_byte_landed_resumes_the_same_post(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.put_faults = [{"stall": 120}]
    wf = publish_workflow(write, "Publish.TikTok")
    job_id, task = _killed_run(tiktok_posting_fake, wf, lambda: bool(tiktok_posting_fake.puts()))
    out = _resume(cli, job_id)
    assert out["status"] == "completed" and len(tiktok_posting_fake.inits()) == 1
    (post,) = tiktok_posting_fake.posts
    assert post.publish_id == task["task_id"] and bytes(post.data) == Path(out["video"]).read_bytes()


def test_instagram_killed_while_publishing_finds_the_reel_and_publishes_nothing_again(
    instagram_posting_fake, write, cli
):
    instagram_posting_fake.publish_hang = 120  # published; the answer never comes back
    wf = publish_workflow(write, "Publish.Instagram")
    job_id, task = _killed_run(instagram_posting_fake, wf, lambda: bool(instagram_posting_fake.posts))
    (container,) = instagram_posting_fake.containers.values()
    assert task["provider"] == "instagram" and task["task_id"] == container.id
    instagram_posting_fake.publish_hang = 0
    out = _resume(cli, job_id)
    assert out["status"] == "completed" and len(instagram_posting_fake.requests_to("/media_publish")) == 1
    (post,) = instagram_posting_fake.posts
    assert instagram_posting_fake.uploaded(post) == Path(out["video"]).read_bytes()
    assert _published(cli, job_id) == [
        {"platform": "instagram", "postId": post["id"], "url": post["permalink"]}
    ]


def test_instagram_killed_after_the_upload_landed_publishes_the_same_container_once(
    instagram_posting_fake, write, cli
):
    instagram_posting_fake.upload_faults = [{"hang": 120}]
    wf = publish_workflow(write, "Publish.Instagram")

    def uploaded() -> bool:
        return any(c.data and len(c.data) == c.size for c in instagram_posting_fake.containers.values())

    job_id, task = _killed_run(instagram_posting_fake, wf, uploaded)
    out = _resume(cli, job_id)
    assert out["status"] == "completed" and len(instagram_posting_fake.containers) == 1
    assert len(instagram_posting_fake.requests_to("/ig-api-upload/")) == 1  # nothing sent again
    (post,) = instagram_posting_fake.posts
    assert post["container"] == task["task_id"]
    assert instagram_posting_fake.uploaded(post) == Path(out["video"]).read_bytes()
