"""The AI examples render end to end against the fakes (KIE.ai, OpenRouter, Pexels) and estimate
their cost."""

from __future__ import annotations

import json

import pytest

from fenta.engine.results import plan
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.media.probe import probe
from fenta.pricing import credits_to_usd, kie_credits
from tests.conftest import REPO
from tests.fakes.fixtures import openrouter_fake, pexels_fake  # noqa: F401  (fixtures)
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)


def _usage(job_id):
    from fenta.config import Settings
    from fenta.engine.store import JobStore

    return list(
        JobStore(Settings.from_env().db_path).db.query(
            "select provider, cost from usage_records where job_id = ?", [job_id]
        )
    )


FAST = {"engine": "espeak", "profile": "360p", "seconds": 10}
SCRIPT = {
    "title": "Rain",
    "hook": "Why does rain smell?",
    "scenes": [
        {"narration": "Rain has a smell.", "visual": "raindrops on dry soil"},
        {"narration": "Soil bacteria make it.", "visual": "macro of wet earth"},
        {"narration": "We love it.", "visual": "person breathing in the rain"},
    ],
    "keywords": ["rain"],
    "hashtags": ["#rain"],
}


def test_ai_short_renders_a_ken_burns_montage_of_one_ai_image_per_scene(fake_kie, openrouter_fake, tmp_path):
    openrouter_fake.queue_content(json.dumps(SCRIPT))
    wf = load(REPO / "examples" / "ai-short.yaml", vars={**FAST, "scenes": 3})
    res = run(wf, out=tmp_path / "out")
    assert res.status == "completed", res.error
    images = res.outputs["images"]["clips"]
    scenes = res.outputs["script"]["scenes"]
    assert len(images) == len(scenes) == 3 and len(fake_kie.creates) == 3
    assert [c["scene"] for c in images] == [0, 1, 2]
    info = probe(res.video)
    assert info.has_video and info.has_audio and info.display_size[1] == 640
    assert abs(info.duration - res.outputs["voice"]["audio"]["duration"]) < 0.5
    assert {"srt", "ass"} <= set(res.artifacts)
    kie = sum(r["cost"] for r in _usage(res.job_id) if r["provider"] == "kie")
    assert kie == pytest.approx(credits_to_usd(3 * 5))  # what the fake reported as creditsConsumed


def test_ai_video_cuts_an_ai_clip_with_stock_footage(fake_kie, openrouter_fake, pexels_fake, tmp_path):
    openrouter_fake.queue_content(json.dumps(SCRIPT))
    wf = load(REPO / "examples" / "ai-video.yaml", vars=FAST)
    res = run(wf, out=tmp_path / "out")
    assert res.status == "completed", res.error
    (hero,) = res.outputs["hero"]["clips"]
    assert hero["kind"] == "video" and res.outputs["stock"]["clips"]
    body = fake_kie.creates[0].json()
    assert body["model"] == "kling-2.6/text-to-video" and body["input"]["duration"] == "5"
    timeline = json.loads(open(res.artifacts["timeline"]).read())
    sources = json.dumps(timeline)
    assert hero["path"] in sources  # the AI clip is in the cut
    assert probe(res.video).has_video


@pytest.mark.parametrize(
    "name,model,count,duration",
    [
        ("ai-short", "flux-2/pro-text-to-image", 5, None),
        ("ai-video", "kling-2.6/text-to-video", 1, 5),
    ],
)
def test_example_cost_estimate_matches_the_price_table(name, model, count, duration):
    wf = load(REPO / "examples" / f"{name}.yaml")
    assert plan(wf).cost["kie"] == credits_to_usd(kie_credits(model, count=count, duration=duration))


def test_ai_music_veo_renders_a_suno_bed_a_1080p_veo_clip_and_an_outpainted_stock_photo(
    fake_kie, pexels_fake, tmp_path
):
    from fenta.library import list_assets
    from tests.fakes.kie import HD_PATH

    wf = load(REPO / "examples" / "ai-music-veo.yaml", vars={"engine": "espeak", "profile": "360p"})
    assert plan(wf).cost == {"kie": credits_to_usd(12 + 60 + 5)}
    res = run(wf, out=tmp_path / "out")
    assert res.status == "completed", res.error
    paths = sorted(r.path for r in fake_kie.creates)
    assert paths == ["/api/v1/flux/kontext/generate", "/api/v1/generate", "/api/v1/veo/generate"]
    veo = next(t for t in fake_kie.tasks.values() if t.family == "veo")
    assert len(fake_kie.asks_of(HD_PATH, veo.task_id)) == 3  # processing twice, then the 1080p URL
    (hero,) = res.outputs["hero"]["clips"]
    (wide,) = res.outputs["wide"]["clips"]
    bed = res.outputs["bed"]["audio"]
    assert hero["kind"] == "video" and wide["kind"] == "image" and fake_kie.upload_requests == 1
    voice = res.outputs["voice"]["audio"]["duration"]
    assert bed["duration"] == min((3.0, 6.0), key=lambda d: abs(d - voice))  # the track nearest the narration
    timeline = json.loads(open(res.artifacts["timeline"]).read())
    assert timeline["music"]["path"] == bed["path"]
    assert hero["path"] in json.dumps(timeline) and wide["path"] in json.dumps(timeline)
    info = probe(res.video)
    assert info.has_video and info.has_audio and abs(info.duration - voice) < 0.5
    assert len(list_assets(kind="audio", tag="mood:calm")) == 2
    kie = sum(r["cost"] for r in _usage(res.job_id) if r["provider"] == "kie")
    assert kie == pytest.approx(credits_to_usd(12 + 60 + 5))
