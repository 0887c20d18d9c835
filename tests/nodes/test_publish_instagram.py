"""Publish.Instagram in real runs (a small render, the fake Instagram over sockets): a Reel of the rendered
bytes, the container's states, the live publishing limit, and one post per video and account."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fenta.config import Settings
from tests.fakes._server import Reply
from tests.fakes.instagram_publishing import instagram_posting_fake  # noqa: F401  (fixture)
from tests.nodes.publish_workflow import events_of, publish_workflow, run_json


def workflow(write, params: str = '{title: "Octopus facts", tags: [ocean, deep sea]}', **kw) -> str:
    return publish_workflow(write, "Publish.Instagram", params, **kw)


def test_a_run_uploads_the_rendered_bytes_as_a_reel_and_records_its_permalink(
    instagram_posting_fake, write, cli
):
    out = run_json(cli, workflow(write))
    (post,) = instagram_posting_fake.posts
    assert instagram_posting_fake.uploaded(post) == Path(out["video"]).read_bytes()
    container = instagram_posting_fake.containers[post["container"]]
    assert container.fields["upload_type"] == "resumable" and container.fields["media_type"] == "REELS"
    assert post["caption"] == "Octopus facts\n\n#ocean #deepsea"
    expected = {"platform": "instagram", "postId": post["id"], "url": post["permalink"]}
    assert json.loads(cli("jobs", "show", out["job_id"], "--json").stdout)["published"] == [expected]
    assert events_of(out["job_id"], "video.published") == [{"jobId": out["job_id"], **expected}]
    usage = json.loads(cli("usage", "--json").stdout)["rows"]
    assert {(r["provider"], r["units"], r["quantity"]) for r in usage} >= {("instagram", "posts", 1)}
    limit = instagram_posting_fake.requests_to("/content_publishing_limit")
    assert limit and instagram_posting_fake.requests.index(limit[0]) < instagram_posting_fake.requests.index(
        instagram_posting_fake.requests_to("/media")[0]
    )  # the live limit was read before the container was made


def test_running_again_finds_the_reel_instead_of_posting_again(instagram_posting_fake, write, cli):
    wf = workflow(write)
    run_json(cli, wf)
    again = cli("run", wf, "-o", "out", "--yes")
    assert again.exit_code == 0 and "already posted to Instagram" in again.output
    assert len(instagram_posting_fake.posts) == 1 and len(instagram_posting_fake.containers) == 1


def test_a_5xx_on_the_upload_asks_what_arrived_and_sends_the_rest(instagram_posting_fake, write, cli):
    instagram_posting_fake.upload_faults = [{"drop": True}, {"status": 503}]
    out = run_json(cli, workflow(write))
    (post,) = instagram_posting_fake.posts
    assert instagram_posting_fake.uploaded(post) == Path(out["video"]).read_bytes()
    offsets = [int(r.headers["offset"]) for r in instagram_posting_fake.requests_to("/ig-api-upload/")]
    assert offsets[0] == 0 and offsets[-1] > 0 and len(offsets) == 3  # the rest, from where it broke off


def test_a_container_error_is_one_line_and_nothing_is_published(instagram_posting_fake, write, cli):
    instagram_posting_fake.outcomes = ["ERROR: Error: The video format is not supported (2207026)"]
    result = cli("run", workflow(write), "--yes", "--retries", "2")
    assert result.exit_code == 1 and not instagram_posting_fake.posts
    (said,) = [line for line in result.stderr.splitlines() if "2207026" in line]
    assert "Instagram could not take the video (ERROR: " in said and result.stderr.count("post failed") == 1
    assert instagram_posting_fake.requests_to("/media_publish") == []


def test_an_expired_container_is_replaced_and_never_published(instagram_posting_fake, write, cli):
    instagram_posting_fake.outcomes = ["EXPIRED"]
    out = run_json(cli, workflow(write))
    first, second = instagram_posting_fake.containers.values()
    assert first.status_code == "EXPIRED" and second.status_code == "PUBLISHED"
    (post,) = instagram_posting_fake.posts
    assert (
        post["container"] == second.id
        and instagram_posting_fake.uploaded(post) == Path(out["video"]).read_bytes()
    )


def test_a_reached_publishing_limit_is_one_line_before_anything_is_made(instagram_posting_fake, write, cli):
    instagram_posting_fake.quota_total, instagram_posting_fake.used_before = 50, 50
    result = cli("run", workflow(write), "--yes", "--retries", "2")
    assert result.exit_code == 1 and result.stderr.count("post failed") == 1
    (said,) = [line for line in result.stderr.splitlines() if "publishing limit" in line]
    assert "50 of 50 API posts in the last 24 hours" in said and "nothing was posted" in said
    assert instagram_posting_fake.containers == {}


def test_publishing_before_the_container_is_ready_waits_and_publishes(instagram_posting_fake, write, cli):
    not_ready = {"message": "The media is not ready for publishing", "code": 9007, "error_subcode": 2207027}
    instagram_posting_fake.fail_next(Reply(400, {"error": not_ready}), path_contains="/media_publish")
    run_json(cli, workflow(write))
    assert (
        len(instagram_posting_fake.posts) == 1
        and len(instagram_posting_fake.requests_to("/media_publish")) == 2
    )


def test_a_transient_media_builder_error_on_publish_is_tried_again(instagram_posting_fake, write, cli):
    builder = {"message": "The media builder does not exist", "code": 24, "error_subcode": 2207008}
    instagram_posting_fake.fail_next(Reply(400, {"error": builder}), path_contains="/media_publish")
    run_json(cli, workflow(write))
    assert len(instagram_posting_fake.posts) == 1 and len(instagram_posting_fake.containers) == 1


def test_instagram_login_without_a_video_url_is_told_what_to_set(
    instagram_posting_fake, write, cli, monkeypatch
):
    for k, v in instagram_posting_fake.env("instagram").items():
        monkeypatch.setenv(k, v)
    result = cli("run", workflow(write), "--yes")
    assert result.exit_code == 1 and "field 'params.video_url'" in result.stderr
    assert "connect with --setup facebook" in result.stderr and instagram_posting_fake.requests == []


def test_instagram_login_posts_the_render_meta_fetches_from_its_public_address(
    instagram_posting_fake, write, cli, monkeypatch, tmp_path
):
    for k, v in instagram_posting_fake.env("instagram").items():
        monkeypatch.setenv(k, v)
    blobs = Settings.from_env().cache_dir / "blobs"
    blobs.mkdir(parents=True)
    files = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=blobs)
    )
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:  # fenta's blobs folder, served where the fake "Meta" fetches from
        url = f"http://127.0.0.1:{files.server_address[1]}/{{blob}}"
        out = run_json(cli, workflow(write, params=f"{{title: t, video_url: '{url}'}}"))
    finally:
        files.shutdown()
    (post,) = instagram_posting_fake.posts
    container = instagram_posting_fake.containers[post["container"]]
    rendered = Path(out["video"]).read_bytes()
    assert container.fields["video_url"].endswith(".mp4") and "upload_type" not in container.fields
    assert instagram_posting_fake.uploaded(post) == rendered
    assert instagram_posting_fake.requests_to("/ig-api") == []  # nothing uploaded from here


def test_a_dry_run_says_a_reel_is_seen_by_the_accounts_audience(instagram_posting_fake, write, cli):
    result = cli("run", workflow(write), "--dry-run")
    assert result.exit_code == 0 and "post: Instagram: account env, the account's audience" in result.stdout
    assert instagram_posting_fake.requests == []


def test_a_caption_with_more_than_30_hashtags_is_refused_at_validation(write, cli):
    tags = "[" + ", ".join(f"tag{i}" for i in range(31)) + "]"
    result = cli("validate", workflow(write, params=f"{{title: t, tags: {tags}}}"))
    assert result.exit_code == 2 and "at most 30 hashtags; this caption has 31" in result.output
