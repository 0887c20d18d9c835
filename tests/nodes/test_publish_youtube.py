"""Publish.YouTube in real runs (a small render, the fake YouTube over sockets): one post per video and
account, where it is recorded, the platform's limits, and who may publish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fenta.config import Settings
from tests.fakes.youtube import youtube_fake  # noqa: F401  (fixture)
from tests.nodes.publish_workflow import events_of, run_json

WF = """
version: 1
name: clip
template: square
overrides: {{canvas: {{width: 160, height: 160, fps: 10}}}}
vars: {{script: "Hi there."}}
nodes:
  script: {{type: Input.Text, params: {{text: "${{vars.script}}"}}}}
  voice: {{type: Voice.TTS, params: {{engine: espeak}}, inputs: {{text: script.text}}}}
  backdrop: {{type: Input.Background, params: {{style: gradient, count: 1}}}}
  timeline: {{type: Timeline, inputs: {{clips: backdrop.clips, voice: voice.audio}}}}
  render:
    {{type: Render, params: {{profile: canvas, preset: ultrafast}}, inputs: {{timeline: timeline.timeline}}}}
  youtube: {{type: Publish.YouTube, params: {params}, inputs: {inputs}}}
"""


def workflow(
    write, params: str = '{title: "Octopus facts", tags: [ocean]}', inputs: str = "{video: render.video}"
) -> str:
    return str(write("wf.yaml", WF.format(params=params, inputs=inputs)))


def test_a_run_posts_the_rendered_video_privately_and_records_where(youtube_fake, write, cli):
    out = run_json(cli, workflow(write))
    (post,) = youtube_fake.posts
    assert youtube_fake.uploaded[post["id"]] == Path(out["video"]).read_bytes()
    assert post["status"]["privacyStatus"] == "private" and post["status"]["containsSyntheticMedia"] is False
    assert post["snippet"]["title"] == "Octopus facts" and "ocean" in post["snippet"]["tags"]
    url = f"https://www.youtube.com/shorts/{post['id']}"
    expected = {"platform": "youtube", "postId": post["id"], "url": url}
    assert json.loads(cli("jobs", "show", out["job_id"], "--json").stdout)["published"] == [expected]
    assert events_of(out["job_id"], "video.published") == [{"jobId": out["job_id"], **expected}]
    (completed,) = events_of(out["job_id"], "job.completed")
    assert completed["published"] == [expected]
    shown = cli("jobs", "show", out["job_id"]).stdout
    assert f"posted to youtube  {url}" in shown
    usage = json.loads(cli("usage", "--json").stdout)["rows"]
    assert {(r["provider"], r["units"], r["quantity"]) for r in usage} >= {("youtube", "uploads", 1)}


def test_running_the_workflow_again_finds_the_post_instead_of_posting_again(youtube_fake, write, cli):
    wf = workflow(write)
    run_json(cli, wf)
    again = cli("run", wf, "-o", "out", "--yes")
    assert again.exit_code == 0, again.output
    assert len(youtube_fake.posts) == 1 and "already posted to YouTube" in again.output
    second = json.loads(cli("jobs", "--json").stdout)[0]["id"]
    assert events_of(second, "video.published") == []
    assert "published" not in events_of(second, "job.completed")[0]


def test_republish_posts_the_same_video_again(youtube_fake, write, cli):
    wf = workflow(write)
    run_json(cli, wf)
    out = run_json(cli, wf, "--republish")
    assert len(youtube_fake.posts) == 2
    assert len(events_of(out["job_id"], "video.published")) == 1


def test_a_title_over_100_characters_is_refused_before_anything_runs(youtube_fake, write, cli):
    result = cli("run", workflow(write, params="{title: " + "x" * 101 + "}"), "--yes")
    assert result.exit_code == 2
    assert (
        "node 'youtube', field 'params.title'" in result.output and "at most 100 characters" in result.output
    )
    assert youtube_fake.requests == []


def test_the_description_limit_counts_bytes_not_characters(youtube_fake, write, cli):
    result = cli("validate", workflow(write, params='{title: t, description: "' + "é" * 2501 + '"}'))
    assert result.exit_code == 2 and "5000 bytes" in result.output and "5002" in result.output


def test_publish_at_needs_a_private_video_and_a_time_with_a_zone(write, cli):
    result = cli(
        "validate", workflow(write, params="{title: t, privacy: public, publish_at: '2026-12-01T17:00:00Z'}")
    )
    assert result.exit_code == 2 and "schedules only private videos" in result.output
    result = cli("validate", workflow(write, params="{title: t, publish_at: 'tomorrow'}"))
    assert result.exit_code == 2 and "not an ISO 8601 time with a zone" in result.output


def test_a_title_from_another_node_is_cut_to_100_characters(youtube_fake, write, cli):
    wf = workflow(write, params="{}", inputs="{video: render.video, title: script.text}")
    result = cli("run", wf, "-o", "out", "--yes", "--var", "script=" + "Word " * 40)
    assert result.exit_code == 0, result.output
    title = youtube_fake.posts[0]["snippet"]["title"]
    assert len(title) == 100 and title.endswith("…") and "YouTube takes 100" in result.output


def test_scheduled_release_and_category_reach_youtube(youtube_fake, write, cli):
    run_json(
        cli,
        workflow(
            write,
            params="{title: t, publish_at: '2031-01-02T03:04:05+01:00', category: education, "
            "made_for_kids: true}",
        ),
    )
    video = youtube_fake.posts[0]
    assert (
        video["status"]["publishAt"] == "2031-01-02T02:04:05Z"
        and video["status"]["selfDeclaredMadeForKids"] is True
    )
    assert video["snippet"]["categoryId"] == "27"


def test_no_account_is_one_line_before_anything_runs(youtube_fake, write, cli, monkeypatch):
    monkeypatch.delenv("FENTA_YOUTUBE_REFRESH_TOKEN")
    result = cli("run", workflow(write), "--yes")
    assert result.exit_code == 2
    assert "node 'youtube', field 'params.account': no YouTube account connected" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and json.loads(cli("jobs", "--json").stdout) == []


def test_a_dry_run_lists_what_would_be_posted_where_and_calls_nothing(youtube_fake, write, cli):
    result = cli("run", workflow(write), "--dry-run")
    assert result.exit_code == 0
    assert (
        "would post:" in result.stdout
        and "youtube: YouTube: account env, private, title 'Octopus facts'" in result.stdout
    )
    wf = workflow(write, params="{}", inputs="{video: render.video, title: script.text}")
    planned = json.loads(cli("run", wf, "--dry-run", "--json").stdout)["publish"]
    assert planned[0]["title"] == "(from script.text)" and youtube_fake.requests == []


def test_a_publishing_run_asks_first_on_a_terminal(youtube_fake, write, cli, monkeypatch):
    from rich.console import Console
    from typer.testing import CliRunner

    from fenta.cli import _preflight, app

    monkeypatch.setattr(_preflight, "console", Console(force_terminal=True, width=100))
    result = CliRunner().invoke(app, ["run", workflow(write)], input="n\n")
    assert result.exit_code == 1
    assert "this run posts:" in result.output and "not run: the posts were declined" in result.output
    assert youtube_fake.requests == [] and json.loads(cli("jobs", "--json").stdout) == []


def test_quota_exceeded_fails_at_once_naming_the_limit_and_when_it_resets(youtube_fake, write, cli):
    youtube_fake.quota_left = 0
    result = cli("run", workflow(write), "--yes", "--retries", "2")
    assert result.exit_code == 1
    assert "quotaExceeded" in result.stderr and "resets at midnight Pacific time" in result.stderr
    assert "after 2 attempts" not in result.stderr and len(youtube_fake.requests_to("/upload/")) == 1


def test_an_unverified_projects_private_lock_is_explained_once(youtube_fake, write, cli):
    youtube_fake.unverified = "list"
    result = cli("run", workflow(write, params="{title: t, privacy: public}"), "-o", "out", "--yes")
    assert result.exit_code == 0, result.output
    assert result.output.count("locked to private") == 1 and len(youtube_fake.posts) == 1


def test_a_daily_youtube_uploads_quota_refuses_the_next_post(youtube_fake, write, cli):
    assert cli("quota", "set", "youtube_uploads", "1", "--per", "day").exit_code == 0
    wf = workflow(write)
    run_json(cli, wf)
    result = cli("run", wf, "--yes", "--var", "script=Another video.")
    assert result.exit_code == 2 and "youtube_uploads used 1 of 1 uploads today" in result.stderr
    assert len(youtube_fake.posts) == 1
    unpublished = write("plain.yaml", WF.format(params="{}", inputs="{}").split("  youtube:")[0])
    assert cli("run", str(unpublished), "--yes").exit_code == 0  # a job that posts nothing is not refused


@pytest.mark.parametrize(
    ("params", "allowed", "said"),
    [
        ("{title: t, account: brand}", "youtube", "may not choose the publishing account"),
        ("{title: t}", "", "allows untrusted workflows no YouTube account"),
    ],
)
def test_an_untrusted_workflow_is_refused_an_account_at_validation(
    youtube_fake, write, cli, monkeypatch, params, allowed, said
):
    monkeypatch.setenv("FENTA_PUBLISH_ACCOUNTS", allowed)
    result = cli("run", workflow(write, params=params), "--untrusted", "--yes")
    assert result.exit_code == 2 and said in result.output and "field 'params.account'" in result.output
    assert youtube_fake.requests == []


def test_an_untrusted_workflow_posts_with_the_account_the_operator_allows(
    youtube_fake, write, cli, monkeypatch
):
    monkeypatch.setenv("FENTA_PUBLISH_ACCOUNTS", "youtube")
    out = run_json(cli, workflow(write, params="{title: t}"), "--untrusted")
    assert out["status"] == "completed" and len(youtube_fake.posts) == 1


def test_a_daily_schedule_posts_each_new_video_once_from_a_worker_without_asking(youtube_fake, write, cli):
    today = write("today.txt", "Octopuses have three hearts.")
    wf = workflow(write, params="{}", inputs="{video: render.video, title: script.text}")
    Path(wf).write_text(
        Path(wf).read_text().replace('params: {text: "${vars.script}"}', f"params: {{path: {today}}}")
    )
    assert cli("schedule", "add", "daily", wf, "--cron", "0 9 * * *", "-o", "out").exit_code == 0

    def fire() -> str:
        job_id = json.loads(cli("schedule", "run", "daily", "--json").stdout)["job_id"]
        worked = cli("worker", "--until-empty")
        assert worked.exit_code == 0, worked.output
        return job_id

    first = fire()
    assert len(youtube_fake.posts) == 1 and len(events_of(first, "video.published")) == 1
    assert youtube_fake.posts[0]["snippet"]["title"] == "Octopuses have three hearts."
    fire()  # the same script: the same video, already posted
    assert len(youtube_fake.posts) == 1
    today.write_text("Octopuses have blue blood.")
    fire()
    assert [p["snippet"]["title"] for p in youtube_fake.posts][-1] == "Octopuses have blue blood."
    assert len(youtube_fake.posts) == 2


def test_synthetic_media_is_declared_when_the_workflow_made_media_with_ai(tmp_path):
    from fenta.nodes.base import NodeContext
    from fenta.nodes.publish.youtube import PublishYouTube, YouTubeParams

    node = PublishYouTube()
    inputs = PublishYouTube.Inputs(video="v.mp4")

    def resource(types: dict[str, str], **params) -> dict:
        ctx = NodeContext(
            node_id="yt",
            job_id="j",
            settings=Settings(home=tmp_path),
            template={},
            out_dir=tmp_path,
            node_types=types,
        )
        return node.resource_of(ctx, YouTubeParams(title="t", **params), inputs, "fenta-000000000000")

    assert resource({"gen": "AI.Image", "yt": "Publish.YouTube"})["status"]["containsSyntheticMedia"] is True
    assert (
        resource({"clip": "Input.Asset", "yt": "Publish.YouTube"})["status"]["containsSyntheticMedia"]
        is False
    )
    assert resource({"gen": "AI.Video"}, synthetic_media=False)["status"]["containsSyntheticMedia"] is False


def test_tags_past_youtubes_500_characters_are_left_out_with_a_warning(tmp_path):
    from fenta.nodes.base import NodeContext
    from fenta.nodes.publish.youtube import PublishYouTube, YouTubeParams, tags_length

    said: list[str] = []
    ctx = NodeContext(
        node_id="yt",
        job_id="j",
        settings=Settings(home=tmp_path),
        template={},
        out_dir=tmp_path,
        on_message=lambda level, text: said.append(text),
    )
    inputs = PublishYouTube.Inputs(video="v.mp4", hashtags=[f"#tag{i:03d}x{'y' * 40}" for i in range(12)])
    tags = PublishYouTube().resource_of(ctx, YouTubeParams(title="t"), inputs, "fenta-000000000000")[
        "snippet"
    ]["tags"]
    assert tags[0] == "fenta-000000000000" and tags_length(tags) <= 500
    assert len(said) == 1 and "left out tag010x" in said[0] and "tag011x" in said[0]


def test_a_session_that_expires_mid_upload_is_replaced_after_checking_nothing_was_posted(
    youtube_fake, write, cli
):
    youtube_fake.put_faults = [{"gone": True}]
    out = run_json(cli, workflow(write))
    assert len(youtube_fake.sessions) == 2 and len(youtube_fake.posts) == 1
    assert youtube_fake.requests_to("/youtube/v3/channels")  # looked for a finished upload first
    assert youtube_fake.uploaded[youtube_fake.posts[0]["id"]] == Path(out["video"]).read_bytes()
