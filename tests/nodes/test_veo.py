"""Veo done fully against the fake KIE.ai: 1080p fetched on a schedule, 4K requested once, clips extended past
one clip, first/last-frame and reference modes, and what each costs."""

from __future__ import annotations

import json

import pytest

from fenta.config import Settings
from fenta.engine.results import plan
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from fenta.media.probe import probe
from fenta.pricing import credits_to_usd
from tests.fakes.kie import HD_PATH, UHD_PATH, fake_kie  # noqa: F401  (fixture)

WF = """
version: 1
name: veo
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  gen:
    type: AI.Video
    params: {params}
"""

SCENES_WF = """
version: 1
name: veo-scenes
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  script:
    type: Input.Text
    params: {{text: "{text}"}}
  gen:
    type: AI.Video
    params: {params}
    inputs: {{scenes: script.scenes}}
"""


def _wf(write, **params):
    return load(
        write("wf.yaml", WF.format(params=json.dumps({"model": "veo3_fast", "prompt": "waves", **params})))
    )


def _usage():
    return list(
        JobStore(Settings.from_env().db_path).db.query(
            "select model, quantity from usage_records where provider='kie'"
        )
    )


def test_1080p_is_asked_for_again_while_kie_answers_processing_then_downloaded(fake_kie, write):
    fake_kie.hd_processing = 2
    res = run(_wf(write, resolution="1080p"), out="out")
    assert res.status == "completed", res.error
    (task_id,) = fake_kie.tasks
    assert len(fake_kie.asks_of(HD_PATH, task_id)) == 3  # "1080P is processing" twice, then the URL
    assert len(fake_kie.creates) == 1
    (clip,) = res.outputs["gen"]["clips"]
    downloads = [r.path for r in fake_kie.requests if r.path.startswith("/files/")]
    assert downloads == [f"/files/{task_id}-1080p.mp4"]  # the 720p video itself is never fetched
    assert clip["kind"] == "video" and probe(clip["path"]).has_video
    assert _usage() == [{"model": "veo3_fast", "quantity": 60.0}]  # 1080p costs nothing more


def test_4k_is_requested_once_polled_through_its_422_answers_and_billed_as_extra(fake_kie, write):
    fake_kie.uhd_polls = 2
    res = run(_wf(write, resolution="4k"), out="out")
    assert res.status == "completed", res.error
    (task_id,) = fake_kie.tasks
    asks = fake_kie.asks_of(UHD_PATH, task_id)
    assert fake_kie.uhd_accepted == 1 and len(asks) == 4  # accepted, 422 processing twice, then the URLs
    assert [r.path for r in fake_kie.requests if r.path.startswith("/files/")] == [f"/files/{task_id}-4k.mp4"]
    assert sorted(u["quantity"] for u in _usage()) == [60.0, 120.0]


def test_a_4k_that_kie_only_calls_back_arrives_through_the_callback_receiver(fake_kie, write, fenta_home):
    import threading
    import time

    from fenta.ops.kie_callbacks import serve_callbacks

    fake_kie.uhd_polls, fake_kie.uhd_done = 0, "already"  # KIE answers "already generated", no URL
    server = serve_callbacks(Settings.from_env().db_path, port=0, secret="")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/kie"
    try:

        def deliver():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not fake_kie.uhd_accepted:
                time.sleep(0.05)
            time.sleep(0.2)
            (task_id,) = fake_kie.tasks
            fake_kie.send_callback(task_id, body=fake_kie.uhd_callback_body(task_id), url=hook)

        sender = threading.Thread(target=deliver)
        sender.start()
        res = run(_wf(write, resolution="4k", callback_url=hook), out="out")
        sender.join()
    finally:
        server.shutdown()
        server.server_close()
    assert res.status == "completed", res.error
    (task_id,) = fake_kie.tasks
    assert [r.path for r in fake_kie.requests if r.path.startswith("/files/")] == [f"/files/{task_id}-4k.mp4"]
    assert fake_kie.uhd_accepted == 1


def test_extend_continues_the_clip_as_a_child_task_and_the_longer_video_is_the_clip(fake_kie, write):
    res = run(_wf(write, extend=1, extend_prompt="the wave breaks on the rocks"), out="out")
    assert res.status == "completed", res.error
    generate, extend = fake_kie.creates
    assert generate.path == "/api/v1/veo/generate" and extend.path == "/api/v1/veo/extend"
    parent = next(t for t in fake_kie.tasks.values() if not t.parent).task_id
    assert extend.json() == {"taskId": parent, "prompt": "the wave breaks on the rocks", "model": "fast"}
    (clip,) = res.outputs["gen"]["clips"]
    assert clip["duration"] == pytest.approx(4.0, abs=0.2)  # the extended video, not the first 2 s one
    assert sorted(u["quantity"] for u in _usage()) == [60.0, 60.0]
    assert plan(_wf(write, extend=1)).cost == {"kie": credits_to_usd(120)}


def test_extend_auto_continues_only_the_scenes_whose_narration_outlasts_one_clip(fake_kie, write):
    long = " ".join(["word"] * 30)  # 30 words: about 12 s spoken, more than one 8 s clip
    params = {"model": "veo3_fast", "extend": "auto", "max_extend": 2}
    res = run(
        load(write("wf.yaml", SCENES_WF.format(text=f"Short one.\\n\\n{long}", params=json.dumps(params)))),
        out="out",
    )
    assert res.status == "completed", res.error
    assert len(fake_kie.creates_to("/veo/generate")) == 2 and len(fake_kie.creates_to("/veo/extend")) == 1
    scenes = [c["scene"] for c in res.outputs["gen"]["clips"]]
    assert scenes == [0, 1]


def test_first_last_frames_run_each_scene_from_its_image_to_the_next(fake_kie, write, make_media):
    for n, colour in enumerate(["red", "green", "blue"]):
        make_media(f"f{n}.png", f"color=c={colour}:s=90x160", "-frames:v", "1")
    wf = load(
        write(
            "wf.yaml",
            """
version: 1
name: frames
template: karaoke-bold
overrides: {canvas: {width: 180, height: 320, fps: 15}}
nodes:
  script: {type: Input.Text, params: {text: "One.\\n\\nTwo."}}
  frames: {type: Input.Asset, params: {paths: [f0.png, f1.png, f2.png]}}
  gen:
    type: AI.Video
    params: {model: veo3_fast, image_mode: first-last}
    inputs: {scenes: script.scenes, image: frames.clips}
""",
        )
    )
    res = run(wf, out="out")
    assert res.status == "completed", res.error
    bodies = sorted((r.json() for r in fake_kie.creates), key=lambda b: b["prompt"])
    assert [b["generationType"] for b in bodies] == ["FIRST_AND_LAST_FRAMES_2_VIDEO"] * 2
    urls = [b["imageUrls"] for b in bodies]
    assert [len(u) for u in urls] == [2, 2] and urls[0][1] == urls[1][0]  # scene 1 ends where scene 2 starts
    assert len(fake_kie.uploads) == 3  # three distinct frames, each uploaded once


def test_reference_mode_sends_every_reference_image_with_each_clip(fake_kie, write, make_media):
    make_media("hero.png", "color=c=red:s=90x160", "-frames:v", "1")
    wf = load(
        write(
            "wf.yaml",
            """
version: 1
name: refs
template: karaoke-bold
overrides: {canvas: {width: 180, height: 320, fps: 15}}
nodes:
  hero: {type: Input.Asset, params: {paths: [hero.png]}}
  gen:
    type: AI.Video
    params: {model: veo3_fast, image_mode: reference, prompt: "the hero walks", count: 2}
    inputs: {image: hero.clips}
""",
        )
    )
    res = run(wf, out="out")
    assert res.status == "completed", res.error
    assert [r.json()["generationType"] for r in fake_kie.creates] == ["REFERENCE_2_VIDEO"] * 2
    assert len(fake_kie.uploads) == 1 and fake_kie.upload_requests == 1  # uploaded once, reused by hash


def test_result_urls_sent_as_a_json_string_are_downloaded_too(fake_kie, write):
    fake_kie.veo_urls_as_string = True
    res = run(_wf(write), out="out")
    assert res.status == "completed", res.error
    assert res.outputs["gen"]["clips"][0]["kind"] == "video"


@pytest.mark.parametrize(
    "params,field,message",
    [
        ({"model": "veo3", "image_mode": "reference"}, "params.image_mode", "veo3 has no reference mode"),
        ({"model": "kling-2.6/text-to-video", "extend": 1}, "params.extend", "cannot extend"),
        ({"model": "veo3_fast", "extend": 9}, "params.extend", "0 to 7"),
        ({"model": "veo3_fast", "resolution": "8k"}, "params.resolution", "720p, 1080p, 4k"),
    ],
)
def test_options_a_model_does_not_have_are_spec_errors_naming_the_field(write, params, field, message):
    from fenta.errors import SpecError

    with pytest.raises(SpecError) as e:
        load(write("wf.yaml", WF.format(params=json.dumps({"prompt": "x", **params}))))
    assert field in str(e.value) and message in str(e.value)


@pytest.mark.parametrize("resolution,credits", [(None, 60), ("720p", 60), ("1080p", 60), ("4k", 180)])
def test_the_estimate_prices_each_resolution_from_the_table(write, resolution, credits):
    params = {"resolution": resolution} if resolution else {}
    assert plan(_wf(write, **params)).cost == {"kie": credits_to_usd(credits)}
