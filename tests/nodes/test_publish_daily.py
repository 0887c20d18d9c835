"""The issue's "done when": a daily schedule of a workflow ending in Publish.YouTube and Publish.TikTok
posts each day's video once to each, privately, from a worker that never asks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.tiktok_posting import tiktok_posting_fake  # noqa: F401  (fixture)
from tests.fakes.youtube import youtube_fake  # noqa: F401  (fixture)
from tests.nodes.publish_workflow import publish_workflow


def test_a_daily_schedule_posts_each_new_video_once_to_youtube_and_tiktok(
    youtube_fake, tiktok_posting_fake, write, cli
):
    today = write("today.txt", "Octopuses have three hearts.")
    wf = publish_workflow(
        write, "Publish.YouTube", "{}", "{video: render.video, title: script.text}", "youtube"
    )
    text = Path(wf).read_text().replace('params: {text: "${vars.script}"}', f"params: {{path: {today}}}")
    text += (
        "  tiktok: {type: Publish.TikTok, params: {}, inputs: {video: render.video, title: script.text}}\n"
    )
    write("wf.yaml", text)
    assert cli("schedule", "add", "daily", wf, "--cron", "0 9 * * *", "-o", "out").exit_code == 0

    def fire() -> None:
        assert json.loads(cli("schedule", "run", "daily", "--json").stdout)["job_id"]
        worked = cli("worker", "--until-empty")
        assert worked.exit_code == 0, worked.output

    fire()
    assert len(youtube_fake.posts) == 1 and len(tiktok_posting_fake.posts) == 1
    assert youtube_fake.posts[0]["status"]["privacyStatus"] == "private"
    assert tiktok_posting_fake.posts[0].post_info["privacy_level"] == "SELF_ONLY"
    fire()  # the same text: the same video, already posted to both
    assert len(youtube_fake.posts) == 1 and len(tiktok_posting_fake.posts) == 1
    today.write_text("Octopuses have blue blood.")
    fire()
    assert len(youtube_fake.posts) == 2 and len(tiktok_posting_fake.posts) == 2
    assert tiktok_posting_fake.posts[-1].post_info["title"] == "Octopuses have blue blood."
