"""KIE.ai beyond one clip: Suno stages, Veo 1080p/4K answers, Market bodies from the model table, refusals."""

from __future__ import annotations

import asyncio

import pytest

from fenta.config import Settings
from fenta.errors import ProviderError
from fenta.pricing import kie_model, kie_models
from fenta.providers.kie import (
    KieClient,
    build_request,
    is_refusal,
    parse_callback,
    parse_status,
    suno_request,
)
from fenta.providers.kie_requests import market_input, veo_extend_request
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)


def _run(coro_fn):
    async def main():
        client = KieClient(Settings.from_env())
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


# -- Suno -----------------------------------------------------------------------------------------

SUNO_TRACK = {"id": "trk-1", "audioUrl": "https://x/1.mp3", "duration": 131.2, "title": "Kitchen Groove"}


@pytest.mark.parametrize(
    "status,state",
    [
        ("PENDING", "pending"),
        ("TEXT_SUCCESS", "running"),
        ("FIRST_SUCCESS", "running"),
        ("SUCCESS", "succeeded"),
        ("first_success", "running"),
        ("success", "succeeded"),
        ("GENERATE_AUDIO_FAILED", "failed"),
        ("SENSITIVE_WORD_ERROR", "failed"),
    ],
)
def test_suno_statuses_map_onto_one_state_and_first_success_is_not_done(status, state):
    data = {"taskId": "s1", "status": status, "response": {"sunoData": [SUNO_TRACK]}}
    assert parse_status("suno", data).state == state


def test_suno_tracks_carry_their_url_and_length_in_either_casing():
    st = parse_status("suno", {"taskId": "s1", "status": "SUCCESS", "response": {"sunoData": [SUNO_TRACK]}})
    assert st.urls == ["https://x/1.mp3"] and st.tracks[0]["duration"] == 131.2
    snake = {
        "code": 200,
        "msg": "ok",
        "data": {
            "callbackType": "complete",
            "task_id": "s1",
            "data": [{"id": "a", "audio_url": "https://x/a.mp3", "duration": "12.5"}],
        },
    }
    cb = parse_callback("suno", snake)
    assert (cb.task_id, cb.state, cb.urls, cb.tracks[0]["duration"]) == (
        "s1",
        "succeeded",
        ["https://x/a.mp3"],
        12.5,
    )


@pytest.mark.parametrize(
    "stage,state", [("text", "running"), ("first", "running"), ("complete", "succeeded")]
)
def test_suno_callbacks_come_in_stages_and_only_complete_finishes(fake_kie, stage, state):
    tid = _run(
        lambda c: c.create_task(*suno_request(kie_model("V4_5"), prompt="calm piano", instrumental=True))
    )
    fake_kie.tasks[tid].polls = 5  # finished on the fake, so its callback carries both tracks
    st = parse_callback("suno", fake_kie.callback_body(tid, stage=stage))
    assert st.state == state and st.task_id == tid
    assert len(st.urls) == (2 if stage == "complete" else 0)


def test_lyrics_refused_as_copyrighted_are_a_refusal_in_status_and_callback():
    st = parse_status(
        "suno",
        {
            "taskId": "s1",
            "status": "CREATE_TASK_FAILED",
            "errorCode": 400,
            "errorMessage": "The lyrics contain copyrighted material",
        },
    )
    assert st.state == "failed" and st.refused
    cb = parse_callback("suno", {"code": 413, "msg": "matches existing work", "data": {"task_id": "s1"}})
    assert cb.state == "failed" and cb.refused
    assert not parse_status(
        "suno", {"status": "GENERATE_AUDIO_FAILED", "errorCode": 500, "errorMessage": "boom"}
    ).refused


def test_suno_bodies_follow_the_two_modes():
    v45 = kie_model("V4_5")
    _, plain = suno_request(v45, prompt="calm lo-fi piano", style="warm", instrumental=True)
    assert plain == {
        "customMode": False,
        "instrumental": True,
        "model": "V4_5",
        "prompt": "calm lo-fi piano, warm",
    }
    path, song = suno_request(
        v45, prompt=None, instrumental=False, style="folk", title="Rain", lyrics="La la rain"
    )
    assert path == "/api/v1/generate"
    assert song == {
        "customMode": True,
        "instrumental": False,
        "model": "V4_5",
        "style": "folk",
        "title": "Rain",
        "prompt": "La la rain",
    }


# -- Veo ------------------------------------------------------------------------------------------


def test_veo_result_urls_are_read_as_an_array_or_a_json_string():
    for urls in (["https://x/v.mp4"], '["https://x/v.mp4"]'):
        assert parse_status("veo", {"successFlag": 1, "response": {"resultUrls": urls}}).urls == [
            "https://x/v.mp4"
        ]
        body = {"code": 200, "data": {"taskId": "v", "info": {"resultUrls": urls}}}
        assert parse_callback("veo", body).urls == ["https://x/v.mp4"]


def test_a_4k_callback_is_read_in_both_shapes_and_a_repeated_generation_callback_is_ignored():
    camel = {
        "code": 200,
        "msg": "4K Video generated successfully.",
        "data": {"taskId": "v1", "info": {"resultUrls": ["https://x/4k.mp4"], "imageUrls": []}},
    }
    snake = {
        "code": 200,
        "msg": "ok",
        "data": {"task_id": "v1", "result_urls": ["https://x/4k.mp4"], "media_ids": []},
    }
    assert (
        parse_callback("veo-4k", camel).urls == parse_callback("veo-4k", snake).urls == ["https://x/4k.mp4"]
    )
    again = {
        "code": 200,
        "data": {
            "taskId": "v1",
            "info": {"resultUrls": ["https://x/720.mp4"], "resolution": "720p"},
            "fallbackFlag": False,
        },
    }
    assert parse_callback("veo-4k", again).state == "running"


def test_veo_modes_set_the_generation_type_and_the_images():
    veo = kie_model("veo3_fast")
    _, one = build_request(veo, prompt="p", image_urls=["a"])
    _, frames = build_request(veo, prompt="p", image_urls=["a", "b"], image_mode="first-last")
    _, refs = build_request(veo, prompt="p", image_urls=["a", "b", "c", "d"], image_mode="reference")
    assert (one["generationType"], one["imageUrls"]) == ("FIRST_AND_LAST_FRAMES_2_VIDEO", ["a"])
    assert (frames["generationType"], frames["imageUrls"]) == ("FIRST_AND_LAST_FRAMES_2_VIDEO", ["a", "b"])
    assert (refs["generationType"], refs["imageUrls"]) == ("REFERENCE_2_VIDEO", ["a", "b", "c"])
    assert "generationType" not in build_request(veo, prompt="p")[1]
    assert veo_extend_request(kie_model("veo3"), task_id="t1", prompt="more") == {
        "taskId": "t1",
        "prompt": "more",
        "model": "quality",
    }


def _finished_veo(fake, client):
    async def go():
        path, body = build_request(kie_model("veo3_fast"), prompt="waves")
        tid = await client.create_task(path, body)
        fake.tasks[tid].forced = "success"
        return tid

    return go()


def test_1080p_answers_none_while_processing_then_the_url(fake_kie):
    fake_kie.hd_processing = 2

    async def go(c):
        tid = await _finished_veo(fake_kie, c)
        return tid, [await c.veo_1080p(tid) for _ in range(3)]

    tid, answers = _run(go)
    assert answers[:2] == [None, None] and answers[2].endswith(f"{tid}-1080p.mp4")


def test_4k_is_accepted_once_then_processing_then_done_or_already_generated(fake_kie):
    fake_kie.uhd_polls = 1

    async def go(c):
        tid = await _finished_veo(fake_kie, c)
        return [await c.veo_4k(tid, first=(i == 0)) for i in range(3)]

    states = _run(go)
    assert [s.state for s in states] == ["accepted", "processing", "done"] and states[2].urls
    assert fake_kie.uhd_accepted == 1
    fake_kie.reset()
    fake_kie.uhd_polls, fake_kie.uhd_done = 0, "already"

    async def again(c):
        tid = await _finished_veo(fake_kie, c)
        return [(await c.veo_4k(tid, first=(i == 0))).state for i in range(2)]

    assert _run(again) == ["accepted", "generated"]


def test_1080p_of_a_task_that_is_not_finished_is_an_error(fake_kie):
    async def go(c):
        path, body = build_request(kie_model("veo3_fast"), prompt="waves")
        return await c.veo_1080p(await c.create_task(path, body))

    with pytest.raises(ProviderError, match="record status is not success"):
        _run(go)


# -- Market bodies from the model table -------------------------------------------------------------


def test_market_input_is_named_and_spelled_as_the_models_row_says():
    sora = market_input(
        kie_model("sora-2-pro-text-to-video"),
        prompt="p",
        aspect_ratio="9:16",
        duration=15,
        resolution="1080p",
    )
    assert sora == {
        "prompt": "p",
        "aspect_ratio": "portrait",
        "n_frames": "15",
        "size": "high",
        "remove_watermark": True,
    }
    kling = market_input(kie_model("kling-2.6/text-to-video"), prompt="p", aspect_ratio="9:16")
    assert kling == {"prompt": "p", "aspect_ratio": "9:16", "duration": "5", "sound": False}
    one = market_input(kie_model("wan/2-5-image-to-video"), prompt="p", image_urls=["u1", "u2"])
    assert one["image_url"] == "u1" and "image_urls" not in one
    turbo = build_request(
        kie_model("kling/v2-5-turbo-image-to-video-pro"),
        prompt="p",
        image_urls=["a", "b"],
        image_mode="first-last",
    )[1]["input"]
    assert (turbo["image_url"], turbo["tail_image_url"]) == ("a", "b")


@pytest.mark.parametrize("model_id", sorted(m.id for m in kie_models().values() if m.family == "market"))
def test_every_market_row_builds_a_request_with_a_prompt_and_names_its_source(model_id):
    model = kie_model(model_id)
    images = ["https://x/i.png"] if model.images == "required" else None
    path, body = build_request(model, prompt="a lighthouse", image_urls=images)
    assert path == "/api/v1/jobs/createTask" and body["model"] == model_id
    assert body["input"][model.field_name("prompt")] == "a lighthouse"
    assert model.source  # `fenta credits --prices` says where each row was read


# -- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code,message,refused",
    [
        ("400", "anything", True),
        ("451", "could not fetch the image", True),
        ("413", "", True),
        ("500", "Internal server error", False),
        ("501", "Your prompt was flagged by the content policy", True),
        (None, "NSFW content detected", True),
        ("SENSITIVE_WORD_ERROR", None, True),
        ("422", "aspect_ratio invalid", False),
    ],
)
def test_refusals_are_told_by_code_or_words(code, message, refused):
    assert is_refusal(code, message) is refused
