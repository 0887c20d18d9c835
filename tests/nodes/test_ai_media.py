"""AI.Image and AI.Video against the fake KIE.ai: results, reuse, concurrency, faults, costs."""

from __future__ import annotations

import json

import pytest

from fenta.config import Settings
from fenta.engine.results import plan
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from fenta.media.probe import probe
from fenta.pricing import credits_to_usd, kie_credits
from tests.fakes.fixtures import openrouter_fake  # noqa: F401  (fixture)
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

WF = """
version: 1
name: ai-test
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  gen:
    type: {type}
    params: {params}
"""


def _wf(write, type_="AI.Image", **params):
    return load(write("wf.yaml", WF.format(type=type_, params=json.dumps(params))))


def _store():
    return JobStore(Settings.from_env().db_path)


def test_image_prompt_is_generated_downloaded_and_billed(fake_kie, write):
    res = run(_wf(write, prompt="a red fox in snow"), out="out")
    assert res.status == "completed", res.error
    clips = res.outputs["gen"]["clips"]
    assert len(clips) == 1 and clips[0]["kind"] == "image"
    assert probe(clips[0]["path"]).display_size == (180, 320)
    assert len(fake_kie.creates) == 1
    body = fake_kie.creates[0].json()
    assert body["model"] == "flux-2/pro-text-to-image" and body["input"]["aspect_ratio"] == "9:16"
    store = _store()
    rows = list(store.db.query("select * from usage_records where provider='kie'"))
    assert [(r["units"], r["quantity"]) for r in rows] == [
        ("credits", 5.0)
    ]  # creditsConsumed from the response
    task = list(store.db.query("select status, task_id from provider_tasks"))
    assert task == [{"status": "succeeded", "task_id": fake_kie.creates and next(iter(fake_kie.tasks))}]


SCENES_WF = """
version: 1
name: ai-scenes
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  script:
    type: Input.Text
    params: {{text: "A fox wakes up.\\n\\nIt hunts in the snow.\\n\\nIt sleeps again."}}
  gen:
    type: AI.Image
    params: {params}
    inputs: {{scenes: script.scenes}}
"""


def test_one_image_per_scene_generated_concurrently(fake_kie, write):
    wf = load(
        write(
            "wf.yaml", SCENES_WF.format(params=json.dumps({"model": "gpt-4o-image", "style": "watercolor"}))
        )
    )
    res = run(wf, out="out")
    assert res.status == "completed", res.error
    clips = res.outputs["gen"]["clips"]
    assert [c["scene"] for c in clips] == [0, 1, 2]
    prompts = sorted(r.json()["prompt"] for r in fake_kie.creates)
    assert prompts == [
        "A fox wakes up., watercolor",
        "It hunts in the snow., watercolor",
        "It sleeps again., watercolor",
    ]
    assert {r.json()["size"] for r in fake_kie.creates} == {"2:3"}  # closest 4o size to a 9:16 canvas
    # all three were submitted before any result was fetched: they ran side by side
    first_download = min(r.at for r in fake_kie.requests if r.path.startswith("/files/"))
    assert max(r.at for r in fake_kie.creates) < first_download


def test_a_rerun_with_the_node_cache_gone_reuses_the_stored_task_without_any_request(fake_kie, write):
    wf = _wf(write, prompt="a red fox in snow")
    assert run(wf, out="out").status == "completed"
    store = _store()
    store.db.conn.execute("DELETE FROM node_cache")
    n = len(fake_kie.requests)
    res = run(wf, out="out")
    assert res.status == "completed"
    assert len(fake_kie.requests) == n and len(fake_kie.creates) == 1
    assert len(list(store.db.query("select * from usage_records where provider='kie'"))) == 1  # billed once


def test_a_failed_task_is_a_clear_error_and_a_rerun_submits_a_new_one(fake_kie, write):
    fake_kie.next_outcomes = ["fail"]
    wf = _wf(write, prompt="a red fox in snow")
    res = run(wf, out="out")
    assert res.status == "failed"
    assert "failed: Internal server error" in res.error and "run again" in res.error
    assert list(_store().db.query("select status from provider_tasks")) == [{"status": "failed"}]
    res = run(wf, out="out")
    assert res.status == "completed" and len(fake_kie.creates) == 2


def test_out_of_credits_stops_the_run_with_a_clear_message_and_no_task(fake_kie, write):
    fake_kie.body_error(402, "Credits insufficient", path_contains="createTask")
    res = run(_wf(write, prompt="a red fox"), out="out")
    assert res.status == "failed" and "out of credits" in res.error and "gen" in (res.nodes or {})
    assert not list(_store().db.query("select * from provider_tasks"))


def test_a_task_that_never_finishes_times_out_and_resume_continues_it_without_paying_again(fake_kie, write):
    from fenta.engine.runner import resume

    fake_kie.next_outcomes = ["never"]
    res = run(_wf(write, prompt="a slow fox", timeout=0.3), out="out")
    assert res.status == "failed" and res.retryable
    assert "still running" in res.error and "fenta resume" in res.error
    (task_id,) = fake_kie.tasks
    fake_kie.finish(task_id)
    res2 = resume(res.job_id)
    assert res2.status == "completed", res2.error
    assert len(fake_kie.creates) == 1 and fake_kie.polls_of(task_id)


def test_transient_status_errors_while_polling_are_survived(fake_kie, write):
    fake_kie.body_error(500, "busy", times=2, path_contains="recordInfo")
    fake_kie.body_error(503, "busy", times=1, path_contains="recordInfo", http_status=True)
    res = run(_wf(write, prompt="a fox"), out="out")
    assert res.status == "completed", res.error
    assert len(fake_kie.creates) == 1


def test_video_from_an_upstream_image_uploads_it_and_returns_a_clip(fake_kie, write, make_media):
    make_media("still.png", "color=c=blue:s=90x160", "-frames:v", "1")
    wf = load(
        write(
            "wf.yaml",
            """
version: 1
name: i2v
template: karaoke-bold
overrides: {canvas: {width: 180, height: 320, fps: 15}}
nodes:
  still: {type: Input.Asset, params: {paths: [still.png]}}
  gen:
    type: AI.Video
    params: {model: kling-2.6/image-to-video, prompt: "the sky moves", duration: 10}
    inputs: {image: still.clips}
""",
        )
    )
    res = run(wf, out="out")
    assert res.status == "completed", res.error
    (clip,) = res.outputs["gen"]["clips"]
    assert clip["kind"] == "video" and clip["duration"] == pytest.approx(2.0, abs=0.2)
    inp = fake_kie.creates[0].json()["input"]
    assert inp["duration"] == "10" and inp["aspect_ratio"] == "9:16" and inp["sound"] is False
    assert inp["image_urls"][0].startswith(f"{fake_kie.url}/files/upload-") and len(fake_kie.uploads) == 1
    usage = list(_store().db.query("select quantity, cost from usage_records where provider='kie'"))
    assert usage == [{"quantity": 5.0, "cost": credits_to_usd(5.0)}]


def test_without_a_creditsconsumed_field_the_price_table_is_billed(fake_kie, write):
    res = run(_wf(write, "AI.Video", model="veo3_fast", prompt="waves"), out="out")
    assert res.status == "completed", res.error
    assert fake_kie.creates[0].json()["aspect_ratio"] == "9:16"
    usage = list(_store().db.query("select model, quantity, cost from usage_records where provider='kie'"))
    assert usage == [
        {
            "model": "veo3_fast",
            "quantity": kie_credits("veo3_fast"),
            "cost": credits_to_usd(kie_credits("veo3_fast")),
        }
    ]


def test_unknown_model_and_bad_options_are_spec_errors_naming_the_field(write):
    from fenta.errors import SpecError

    with pytest.raises(SpecError) as e:
        _wf(write, "AI.Video", model="kling-2.6/text-to-video", prompt="x", duration=7)
    assert "params.duration" in str(e.value) and "5, 10" in str(e.value)
    with pytest.raises(SpecError, match="unknown image model 'dall-e-9'"):
        _wf(write, model="dall-e-9", prompt="x")


def test_cost_estimate_follows_the_price_table(write):
    wf = _wf(write, "AI.Video", model="runway", prompt="x", duration=10, count=2)
    assert plan(wf).cost == {"kie": credits_to_usd(2 * 10 * 2.4)}
    wf = load(
        write("wf.yaml", SCENES_WF.format(params=json.dumps({"model": "flux-kontext-max", "max_scenes": 3})))
    )
    assert plan(wf).cost == {"kie": credits_to_usd(3 * 10)}


def test_prompt_help_writes_every_scenes_prompt_for_the_model_in_one_cached_call(
    fake_kie, openrouter_fake, write
):
    sheet = "Rufus: a young red fox with a white-tipped tail; snowy birch forest; pale blue palette"
    prompts = [
        "Rufus, a young red fox with a white-tipped tail, curled in fresh snow, dawn light, wide shot",
        "Rufus, a young red fox with a white-tipped tail, stalking mice under snow, telephoto",
        "Rufus, a young red fox with a white-tipped tail, asleep in a den, warm light",
    ]
    openrouter_fake.queue_content(json.dumps({"sheet": sheet, "prompts": prompts}))
    params = json.dumps({"model": "google/nano-banana", "prompt_help": True})
    wf = load(write("wf.yaml", SCENES_WF.format(params=params)))
    res = run(wf, out="out")
    assert res.status == "completed", res.error
    assert sorted(r.json()["input"]["prompt"] for r in fake_kie.creates) == sorted(prompts)
    (ask,) = openrouter_fake.chat_requests()  # one call writes the sheet and all three prompts
    text = json.dumps(ask.json()["messages"])
    assert "It hunts in the snow." in text and "google/nano-banana" in text and "9:16" in text
    # a second run that must re-run the node asks the LLM nothing and KIE nothing new
    _store().db.conn.execute("DELETE FROM node_cache WHERE node_type = 'AI.Image'")
    assert run(wf, out="out").status == "completed"
    assert len(openrouter_fake.chat_requests()) == 1 and len(fake_kie.creates) == 3
    tokens = list(_store().db.query("select count(*) n from usage_records where provider = 'openrouter'"))
    assert tokens == [{"n": 1}]


def test_the_key_never_reaches_the_database_or_logs(fake_kie, write, fenta_home):
    fake_kie.body_error(401, "invalid key kie-test-key-123", path_contains="createTask")
    res = run(_wf(write, prompt="a fox"), out="out")
    assert res.status == "failed" and "KIE_API_KEY" in res.error and "kie-test-key-123" not in res.error
    assert run(_wf(write, prompt="a fox"), out="out").status == "completed"
    for path in fenta_home.rglob("*"):
        if path.is_file() and (path.suffix in (".db", ".log", ".db-wal") or path.name.endswith("-wal")):
            assert b"kie-test-key-123" not in path.read_bytes(), path


def test_repeats_of_one_prompt_are_separate_tasks_and_all_are_reused_on_rerun(fake_kie, write):
    wf = _wf(write, prompt="a fox", count=2)
    res = run(wf, out="out")
    assert res.status == "completed" and len(res.outputs["gen"]["clips"]) == 2
    assert len(fake_kie.creates) == 2 and len(list(_store().db.query("select key from provider_tasks"))) == 2
    _store().db.conn.execute("DELETE FROM node_cache")
    assert run(wf, out="out").status == "completed" and len(fake_kie.creates) == 2


def test_two_nodes_asking_for_the_same_generation_pay_once(fake_kie, write):
    wf = load(
        write(
            "wf.yaml",
            """
version: 1
name: twins
template: karaoke-bold
nodes:
  a: {type: AI.Image, params: {prompt: "a fox"}}
  b: {type: AI.Image, params: {prompt: "a fox"}}
""",
        )
    )
    res = run(wf, out="out")
    assert res.status == "completed", res.error
    assert len(fake_kie.creates) == 1
    assert res.outputs["a"]["clips"][0]["path"] == res.outputs["b"]["clips"][0]["path"]


def test_an_expired_result_link_is_refreshed_through_kie(fake_kie, write):
    fake_kie.expire_links = True
    res = run(_wf(write, prompt="a fox"), out="out")
    assert res.status == "completed", res.error
    assert fake_kie.requests_to("/api/v1/common/download-url")


def test_a_run_stopped_before_the_task_id_arrived_warns_about_a_possible_duplicate(
    fake_kie, write, monkeypatch
):
    import httpx

    from fenta.providers import kie
    from tests.fakes._server import Reply

    orig = kie.KieClient.__init__

    def short_timeout(self, settings, **kw):
        orig(self, settings, **kw)
        self._client.timeout = httpx.Timeout(0.3)

    monkeypatch.setattr(kie.KieClient, "__init__", short_timeout)
    fake_kie.fail_next(
        Reply(200, {"code": 200, "data": {"taskId": "lost"}}, delay=1.0), path_contains="createTask"
    )
    wf = _wf(write, prompt="a fox")
    res = run(wf, out="out")
    assert res.status == "failed" and "not repeated" in res.error
    assert list(_store().db.query("select status from provider_tasks")) == [{"status": "submitting"}]
    warnings: list[str] = []
    res = run(
        wf,
        out="out",
        on_event=lambda e: warnings.append(e.data.get("text", "")) if e.kind == "message" else None,
    )
    assert res.status == "completed"
    assert any("duplicate charge" in w for w in warnings)


def test_polling_follows_kies_documented_schedule_by_default(monkeypatch):
    from fenta.nodes.ai_media import poll_interval

    monkeypatch.delenv("FENTA_KIE_TIME_SCALE", raising=False)
    assert [poll_interval(t) for t in (0, 29, 30, 119, 120, 600)] == [2.5, 2.5, 7.5, 7.5, 20.0, 20.0]
    monkeypatch.setenv("FENTA_KIE_TIME_SCALE", "0.1")
    assert poll_interval(0) == 0.25


def test_an_image_to_video_model_without_an_image_is_a_clear_error_before_any_request(fake_kie, write):
    res = run(_wf(write, "AI.Video", model="kling-2.6/image-to-video", prompt="move"), out="out")
    assert res.status == "failed" and "connect an 'image' input" in res.error and "inputs.image" in res.error
    assert fake_kie.requests == []
