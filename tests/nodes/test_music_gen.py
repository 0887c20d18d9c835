"""Music.Gen against the fake KIE.ai: Suno's stages, the track nearest the narration, the library and its
tags, refused lyrics, and what it costs."""

from __future__ import annotations

import json
import threading
import time

import pytest

from fenta.config import Settings
from fenta.engine.results import plan
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from fenta.library import list_assets
from fenta.media.probe import probe
from fenta.pricing import credits_to_usd
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

WF = """
version: 1
name: music
template: karaoke-bold
nodes:
  bed:
    type: Music.Gen
    params: {params}
"""


def _wf(write, **params):
    return load(write("wf.yaml", WF.format(params=json.dumps({"prompt": "calm lo-fi piano", **params}))))


def _usage():
    return list(
        JobStore(Settings.from_env().db_path).db.query(
            "select model, quantity from usage_records where provider='kie'"
        )
    )


@pytest.mark.parametrize("seconds,track_seconds", [(2.5, 3.0), (5.5, 6.0), (60, 6.0)])
def test_the_track_nearest_the_wanted_length_is_the_output(fake_kie, write, seconds, track_seconds):
    res = run(_wf(write, seconds=seconds), out="out")
    assert res.status == "completed", res.error
    audio = res.outputs["bed"]["audio"]
    assert audio["duration"] == pytest.approx(track_seconds, abs=0.15)
    assert probe(audio["path"]).has_audio
    (create,) = fake_kie.creates
    assert create.path == "/api/v1/generate"
    assert create.json() == {
        "customMode": False,
        "instrumental": True,
        "model": "V4_5",
        "prompt": "calm lo-fi piano",
    }
    assert _usage() == [{"model": "V4_5", "quantity": 12.0}]


def test_first_success_is_one_track_of_two_so_polling_goes_on_to_success(fake_kie, write):
    res = run(_wf(write, seconds=5), out="out")
    assert res.status == "completed", res.error
    (task_id,) = fake_kie.tasks
    assert len(fake_kie.polls_of(task_id)) == 4  # PENDING, TEXT_SUCCESS, FIRST_SUCCESS, SUCCESS
    assert len([r for r in fake_kie.requests if r.path.endswith(".mp3")]) == 2


def test_skipped_stages_are_fine(fake_kie, write):
    fake_kie.suno_skip_stages = True
    assert run(_wf(write), out="out").status == "completed"


def test_custom_mode_sends_title_style_and_the_lyrics(fake_kie, write):
    res = run(
        _wf(
            write,
            prompt=None,
            instrumental=False,
            title="Rain",
            style="folk, guitar",
            lyrics="Rain on the roof",
        ),
        out="out",
    )
    assert res.status == "completed", res.error
    assert fake_kie.creates[0].json() == {
        "customMode": True,
        "instrumental": False,
        "model": "V4_5",
        "style": "folk, guitar",
        "title": "Rain",
        "prompt": "Rain on the roof",
    }


def test_both_tracks_are_kept_in_the_library_with_provenance_and_tags_and_a_later_run_reuses_them(
    fake_kie, write
):
    res = run(_wf(write, seconds=3, tags=["mood:calm", "lofi"]), out="out")
    assert res.status == "completed", res.error
    tracks = list_assets(kind="audio", tag="mood:calm")
    assert len(tracks) == 2 and all(set(a.tags) == {"mood:calm", "lofi"} for a in tracks)
    p = tracks[0].provenance
    assert p["model"] == "V4_5" and p["prompt"] == "calm lo-fi piano" and p["task_id"] in fake_kie.tasks
    assert sorted(a.name for a in tracks) == [f"kie-{p['task_id']}-1.mp3", f"kie-{p['task_id']}-2.mp3"]
    assert p["credits"] == 12.0 and p["cost"] == credits_to_usd(12)
    # another workflow asking for the same tags takes the library track nearest its length: nothing is paid
    again = run(
        load(
            write(
                "other.yaml",
                WF.format(
                    params=json.dumps(
                        {"prompt": "something else entirely", "seconds": 7, "tags": ["mood:calm"]}
                    )
                ),
            )
        ),
        out="out",
    )
    assert again.status == "completed", again.error
    assert len(fake_kie.creates) == 1 and len(_usage()) == 1
    assert again.outputs["bed"]["audio"]["duration"] == pytest.approx(6.0, abs=0.15)


def test_without_reuse_a_tagged_run_generates_anyway(fake_kie, write):
    assert run(_wf(write, tags=["mood:calm"]), out="out").status == "completed"
    res = run(_wf(write, prompt="upbeat synth", tags=["mood:calm"], reuse=False), out="out")
    assert res.status == "completed" and len(fake_kie.creates) == 2


@pytest.mark.parametrize("outcome,code", [("lyrics", "400"), ("policy", "SENSITIVE_WORD_ERROR")])
def test_refused_lyrics_are_one_line_naming_them_and_never_retried(fake_kie, write, outcome, code):
    fake_kie.next_outcomes = [outcome]
    wf = _wf(
        write,
        prompt=None,
        instrumental=False,
        title="Yesterday",
        style="ballad",
        lyrics="Yesterday all my troubles",
    )
    res = run(wf, out="out", retries=2)
    assert res.status == "failed" and not res.retryable
    assert "refused the lyrics 'Yesterday all my troubles'" in res.error and f"code {code}" in res.error
    assert "\n" not in res.error and "params.lyrics" in res.error
    assert len(fake_kie.creates) == 1


def test_multi_stage_callbacks_through_the_receiver_finish_the_wait(fake_kie, write, fenta_home):
    from fenta.ops.kie_callbacks import serve_callbacks

    fake_kie.next_outcomes = ["never"]
    server = serve_callbacks(Settings.from_env().db_path, port=0, secret="")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/kie"
    answers = []

    def call_back():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            fake_kie.tasks and fake_kie.polls_of(next(iter(fake_kie.tasks)))
        ):
            time.sleep(0.05)
        (task_id,) = fake_kie.tasks
        for stage in ("text", "first", "complete"):
            answers.append(fake_kie.send_callback(task_id, stage=stage).json()["status"])

    try:
        sender = threading.Thread(target=call_back)
        sender.start()
        res = run(_wf(write, callback_url=hook, seconds=3), out="out")
        sender.join()
    finally:
        server.shutdown()
        server.server_close()
    assert res.status == "completed", res.error  # the task never finishes on the fake: the callback ended it
    assert answers == ["running", "running", "succeeded"]
    assert res.outputs["bed"]["audio"]["duration"] == pytest.approx(3.0, abs=0.15)


@pytest.mark.parametrize(
    "params,field",
    [
        ({"prompt": None}, "params.prompt"),
        ({"title": "Rain", "style": None}, "params.style"),
        (
            {"title": "Rain", "style": "folk", "lyrics": "la la"},
            "params.lyrics",
        ),  # lyrics with instrumental: true
        ({"model": "V9"}, "params.model"),
        ({"tags": ["two words"]}, "params.tags[0]"),
    ],
)
def test_bad_music_params_are_spec_errors_naming_the_field(write, params, field):
    from fenta.errors import SpecError

    with pytest.raises(SpecError) as e:
        _wf(write, **params)
    assert field in str(e.value)


def test_the_estimate_is_one_suno_request(write):
    assert plan(_wf(write)).cost == {"kie": credits_to_usd(12)}
