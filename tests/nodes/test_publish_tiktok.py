"""Publish.TikTok in real runs (a small render, the fake TikTok over sockets): a private Direct Post of
the rendered bytes, the chunk answers, the status, TikTok's limits, and one post per video and account."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes._server import Reply
from tests.fakes.tiktok_posting import USERNAME, envelope, tiktok_posting_fake  # noqa: F401  (fixture)
from tests.nodes.publish_workflow import events_of, publish_workflow, run_json


def workflow(write, params: str = '{title: "Octopus facts", tags: [ocean, deep sea]}', **kw) -> str:
    return publish_workflow(write, "Publish.TikTok", params, **kw)


def test_a_run_posts_the_rendered_bytes_privately_with_the_caption_and_records_the_post(
    tiktok_posting_fake, write, cli
):
    out = run_json(cli, workflow(write))
    (post,) = tiktok_posting_fake.posts
    assert bytes(post.data) == Path(out["video"]).read_bytes()
    assert post.post_info["privacy_level"] == "SELF_ONLY" and post.post_info["is_aigc"] is False
    assert post.post_info["title"] == "Octopus facts\n\n#ocean #deepsea"
    assert post.post_info["disable_stitch"] is True  # the creator turned stitches off
    assert tiktok_posting_fake.requests[0].path.endswith("/oauth/token/")  # a fresh token first
    assert [r.path.rsplit("/", 3)[-3] for r in tiktok_posting_fake.requests[1:3]] == ["creator_info", "video"]
    assert tiktok_posting_fake.put_with_token == 0
    url = f"https://www.tiktok.com/@{USERNAME}"  # a private post has no link of its own
    expected = {"platform": "tiktok", "postId": post.publish_id, "url": url}
    assert json.loads(cli("jobs", "show", out["job_id"], "--json").stdout)["published"] == [expected]
    assert events_of(out["job_id"], "video.published") == [{"jobId": out["job_id"], **expected}]
    usage = json.loads(cli("usage", "--json").stdout)["rows"]
    assert {(r["provider"], r["units"], r["quantity"]) for r in usage} >= {("tiktok", "posts", 1)}


def test_a_public_post_gets_its_link_once_tiktok_gives_the_post_id(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.unaudited, tiktok_posting_fake.account_type = False, "public"
    out = run_json(cli, workflow(write, params="{title: t, privacy: PUBLIC_TO_EVERYONE}"))
    (post,) = tiktok_posting_fake.posts
    published = json.loads(cli("jobs", "show", out["job_id"], "--json").stdout)["published"][0]
    assert published["url"] == f"https://www.tiktok.com/@{USERNAME}/video/{post.post_id}"


def test_running_again_finds_the_post_instead_of_posting_again(tiktok_posting_fake, write, cli):
    wf = workflow(write)
    run_json(cli, wf)
    again = cli("run", wf, "-o", "out", "--yes")
    assert again.exit_code == 0 and "already posted to TikTok" in again.output
    assert len(tiktok_posting_fake.posts) == 1 and len(tiktok_posting_fake.inits()) == 1


def test_a_5xx_on_a_chunk_sends_the_same_chunk_again(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.put_faults = [{"status": 503}, {"status": 500}]
    out = run_json(cli, workflow(write))
    (post,) = tiktok_posting_fake.posts
    assert bytes(post.data) == Path(out["video"]).read_bytes()
    ranges = {r.headers["Content-Range"] for r in tiktok_posting_fake.puts()}
    assert len(tiktok_posting_fake.puts()) == 3 and len(ranges) == 1 and len(tiktok_posting_fake.inits()) == 1


def test_a_dropped_connection_asks_the_status_and_goes_on(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.put_faults = [{"drop": True}]
    out = run_json(cli, workflow(write))
    assert bytes(tiktok_posting_fake.posts[0].data) == Path(out["video"]).read_bytes()
    status_before_resend = tiktok_posting_fake.requests.index(tiktok_posting_fake.puts()[1]) - 1
    assert tiktok_posting_fake.requests[status_before_resend].path.endswith("/status/fetch/")


def test_spam_risk_answered_with_http_200_is_one_line_and_never_retried(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.creator_error = "spam_risk_too_many_posts"
    result = cli("run", workflow(write), "--yes", "--retries", "2")
    assert result.exit_code == 1
    (said,) = [line for line in result.stderr.splitlines() if "spam_risk_too_many_posts" in line]
    assert said.startswith("node 'post': TikTok's daily cap") and said.endswith("nothing was posted")
    assert result.stderr.count("post failed") == 1  # one attempt, though two retries were allowed
    assert len(tiktok_posting_fake.requests_to("/creator_info/")) == 1 and tiktok_posting_fake.inits() == []


def test_an_expired_upload_url_starts_a_new_post_and_the_old_one_never_completes(
    tiktok_posting_fake, write, cli
):
    tiktok_posting_fake.put_faults = [{"expire_url": True}]
    out = run_json(cli, workflow(write))
    assert len(tiktok_posting_fake.inits()) == 2 and len(tiktok_posting_fake.posts) == 1
    first, second = tiktok_posting_fake.publishes.values()
    assert first.status == "PROCESSING_UPLOAD" and not first.data  # the orphan: no bytes, never published
    assert bytes(second.data) == Path(out["video"]).read_bytes()
    published = json.loads(cli("jobs", "show", out["job_id"], "--json").stdout)["published"]
    assert [p["postId"] for p in published] == [second.publish_id]


def test_an_access_token_that_expires_mid_upload_is_renewed_and_the_same_post_goes_on(
    tiktok_posting_fake, write, cli
):
    tiktok_posting_fake.put_faults = [{"expire_token": True}]
    out = run_json(cli, workflow(write))
    assert len(tiktok_posting_fake.inits()) == 1 and len(tiktok_posting_fake.posts) == 1
    assert (
        tiktok_posting_fake.refreshes == 2
    )  # the first token, then one renewal (rotating the refresh token)
    assert bytes(tiktok_posting_fake.posts[0].data) == Path(out["video"]).read_bytes()


def test_an_unaudited_app_asking_for_a_public_post_is_told_why_in_one_line(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.account_type = "public"
    result = cli("run", workflow(write, params="{title: t, privacy: PUBLIC_TO_EVERYONE}"), "--yes")
    (said,) = [line for line in result.stderr.splitlines() if "SELF_ONLY" in line]
    assert result.exit_code == 1 and "not audited post only privately (SELF_ONLY)" in said
    assert not tiktok_posting_fake.posts


def test_a_privacy_the_account_does_not_offer_is_refused_before_posting(tiktok_posting_fake, write, cli):
    result = cli("run", workflow(write, params="{title: t, privacy: PUBLIC_TO_EVERYONE}"), "--yes")
    assert result.exit_code == 1 and "field 'params.privacy'" in result.stderr
    assert "offers privacy FOLLOWER_OF_CREATOR" in result.stderr and tiktok_posting_fake.inits() == []


def test_a_rate_limit_waits_for_the_window_then_posts(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.fail_next(envelope(429, "rate_limit_exceeded"), path_contains="/video/init/")
    run_json(cli, workflow(write))
    assert len(tiktok_posting_fake.inits()) == 2 and len(tiktok_posting_fake.posts) == 1


def test_a_rate_limit_that_outlasts_the_waits_fails_naming_the_limit(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.fail_next(envelope(429, "rate_limit_exceeded"), 3, path_contains="/video/init/")
    result = cli("run", workflow(write), "--yes")
    assert result.exit_code == 1 and "rate limit for video/init (6 requests a minute" in result.stderr
    assert not tiktok_posting_fake.posts


def test_a_retryable_failure_posts_again_but_a_refused_video_does_not(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.fail_reasons = ["internal"]
    run_json(cli, workflow(write))
    assert len(tiktok_posting_fake.inits()) == 2 and len(tiktok_posting_fake.posts) == 1
    tiktok_posting_fake.fail_reasons = ["frame_rate_check_failed"]
    result = cli("run", workflow(write), "--yes", "--republish")
    assert result.exit_code == 1 and "frame_rate_check_failed" in result.stderr
    assert len(tiktok_posting_fake.inits()) == 3


def test_a_caption_over_2200_utf16_units_is_refused_at_validation(write, cli):
    result = cli("validate", workflow(write, params='{description: "' + "😀" * 1101 + '"}'))
    assert result.exit_code == 2 and "at most 2200 UTF-16 units" in result.output and "2202" in result.output


def test_a_caption_from_another_node_is_fitted_leaving_out_hashtags_first(tiktok_posting_fake, write, cli):
    # The long title comes from a node of its own, so the narration (and the render) stays short.
    title = '  title: {type: Input.Text, params: {text: "${vars.title}"}}\n'
    wf = workflow(
        write, params="{tags: [ocean]}", inputs="{video: render.video, title: title.text}", extra=title
    )
    result = cli("run", wf, "-o", "out", "--yes", "--var", "title=" + "word " * 440)
    assert result.exit_code == 0, result.output
    caption = tiktok_posting_fake.posts[0].post_info["title"]
    assert len(caption) <= 2200 and "#ocean" not in caption and "left out #ocean" in result.output


def test_a_dry_run_lists_the_tiktok_post_and_calls_nothing(tiktok_posting_fake, write, cli):
    result = cli("run", workflow(write), "--dry-run")
    assert (
        result.exit_code == 0
        and "post: TikTok: account env, SELF_ONLY, title 'Octopus facts'" in result.stdout
    )
    assert tiktok_posting_fake.requests == []


def test_a_status_fetch_error_is_judged_by_its_code_not_its_http_status(tiktok_posting_fake, write, cli):
    tiktok_posting_fake.fail_next(
        Reply(200, {"data": {}, "error": {"code": "internal_error"}}), 1, "/status/"
    )
    run_json(cli, workflow(write))
    assert len(tiktok_posting_fake.posts) == 1 and len(tiktok_posting_fake.inits()) == 1


def test_a_daily_tiktok_posts_quota_refuses_the_next_post(tiktok_posting_fake, write, cli):
    assert cli("quota", "set", "tiktok_posts", "1", "--per", "day").exit_code == 0
    wf = workflow(write)
    run_json(cli, wf)
    result = cli("run", wf, "--yes", "--var", "script=Another video.")
    assert result.exit_code == 2 and "tiktok_posts used 1 of 1 posts today" in result.stderr
    assert len(tiktok_posting_fake.posts) == 1


def test_an_account_param_that_is_no_account_name_fails_validation_naming_the_field(write, cli):
    result = cli("validate", workflow(write, params='{title: t, account: "../other"}'))
    assert result.exit_code == 2
    assert "node 'post', field 'params.account'" in result.output and "'../other'" in result.output
