"""examples/topic-to-video.yaml end to end against both fakes: a real render, a dry run with zero requests."""

from __future__ import annotations

import json

from fenta.media.probe import probe
from tests.conftest import REPO
from tests.fakes.fixtures import openrouter_fake, pexels_fake  # noqa: F401

EXAMPLE = str(REPO / "examples" / "topic-to-video.yaml")
FAST = ["--var", "engine=espeak", "--var", "profile=360p", "--var", "seconds=12"]


def test_dry_run_plans_and_estimates_without_any_request(openrouter_fake, pexels_fake, cli):
    result = cli("run", EXAMPLE, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["status"] == "planned" and plan["cost"]["openrouter"] > 0
    assert openrouter_fake.requests == [] and pexels_fake.requests == []


def test_topic_becomes_a_rendered_video_with_credits_and_usage(openrouter_fake, pexels_fake, cli, tmp_path):
    result = cli("run", EXAMPLE, *FAST, "--var", "topic=honeybee dances", "-o", "out", "--json", "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    res = json.loads(result.stdout)
    video = probe(res["artifacts"]["video"])
    assert video.has_video and video.has_audio and video.duration > 5
    assert min(video.width, video.height) == 360 and video.height > video.width
    credits = open(res["artifacts"]["credits"]).read()
    assert credits.count("on Pexels:") == 3  # 12 s -> 3 scenes, one clip each
    srt = open(res["artifacts"]["srt"]).read().lower()
    assert "honeybee" in srt
    assert len(openrouter_fake.chat_requests()) == 1
    assert len(pexels_fake.requests_to("/videos/search")) >= 1 and len(pexels_fake.media_requests()) == 3
    assert res["cost"] > 0
    usage = json.loads(cli("usage", "--json").stdout)
    # provider calls, plus what fenta itself records after each job for quotas (issue 14): the job and
    # its minutes
    assert {r["provider"] for r in usage["rows"]} == {"openrouter", "pexels", "fenta"}
    assert {r["units"] for r in usage["rows"] if r["provider"] == "fenta"} == {"jobs", "render_minutes"}
