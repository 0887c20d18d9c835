"""Script.Prompts against the fake OpenRouter: one call writes a style sheet and every scene's prompt for
the target model (its kind, length and language limits, the template's aspect), cached by content, cost
recorded."""

from __future__ import annotations

import json

import pytest

from fenta.config import Settings
from fenta.engine.results import plan
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from fenta.nodes.prompts import prompt_messages
from fenta.pricing import kie_model
from fenta.types import Scene
from tests.fakes.fixtures import openrouter_fake  # noqa: F401  (fixture)
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

WF = """
version: 1
name: prompts
template: karaoke-bold
nodes:
  script:
    type: Input.Text
    params: {{text: "A fox wakes up.\\n\\nIt hunts in the snow."}}
  prompts:
    type: Script.Prompts
    params: {params}
    inputs: {{scenes: script.scenes}}
"""

SHEET = "Rufus: a young red fox, white-tipped tail; birch forest in snow; pale blue palette; soft dawn light"
GOOD = [
    "Rufus, a young red fox with a white-tipped tail, waking in a snowy birch forest, dawn light",
    "Rufus, a young red fox with a white-tipped tail, pouncing on mice under snow, telephoto",
]


def _wf(write, **params):
    return load(write("wf.yaml", WF.format(params=json.dumps({"target": "veo3_fast", **params}))))


def _tokens():
    store = JobStore(Settings.from_env().db_path)
    return list(store.db.query("select count(*) n from usage_records where provider = 'openrouter'"))[0]["n"]


def test_one_call_writes_the_sheet_and_a_prompt_per_scene_into_the_scenes(openrouter_fake, write):
    openrouter_fake.queue_content(json.dumps({"sheet": SHEET, "prompts": GOOD}))
    res = run(_wf(write, style="watercolour"), out="out")
    assert res.status == "completed", res.error
    out = res.outputs["prompts"]
    assert out["prompts"] == GOOD and out["sheet"] == SHEET
    assert [s["visual"] for s in out["scenes"]] == GOOD
    assert [s["narration"] for s in out["scenes"]] == ["A fox wakes up.", "It hunts in the snow."]
    (ask,) = openrouter_fake.chat_requests()
    system = ask.json()["messages"][0]["content"]
    assert (
        "veo3_fast" in system
        and "watercolour" in system
        and "9:16 vertical" in system
        and "English" in system
    )
    assert "continuous shot" in system  # a video model gets shots, not stills
    assert _tokens() == 1


def test_a_prompt_in_another_script_for_an_english_only_model_is_sent_back_once(openrouter_fake, write):
    russian = ["Рыжая лиса просыпается в снегу", GOOD[1]]
    openrouter_fake.queue_content(
        json.dumps({"sheet": SHEET, "prompts": russian}), json.dumps({"sheet": SHEET, "prompts": GOOD})
    )
    res = run(_wf(write, language="ru"), out="out")  # veo3_fast reads English whatever was asked
    assert res.status == "completed", res.error
    assert res.outputs["prompts"]["prompts"] == GOOD
    repair = openrouter_fake.chat_requests()[1].json()["messages"]
    assert "not in English" in json.dumps(repair, ensure_ascii=False)


def test_a_prompt_over_the_models_limit_is_sent_back(openrouter_fake, write):
    long = ["word " * 250, GOOD[1]]  # 1250 characters; kling-2.6 takes 1000
    openrouter_fake.queue_content(
        json.dumps({"sheet": SHEET, "prompts": long}), json.dumps({"sheet": SHEET, "prompts": GOOD})
    )
    res = run(_wf(write, target="kling-2.6/text-to-video"), out="out")
    assert res.status == "completed", res.error
    assert "at most 1000" in json.dumps(openrouter_fake.chat_requests()[1].json()["messages"])


def test_a_second_run_of_the_same_scenes_asks_nothing(openrouter_fake, write):
    openrouter_fake.queue_content(json.dumps({"sheet": SHEET, "prompts": GOOD}))
    assert run(_wf(write), out="out").status == "completed"
    JobStore(Settings.from_env().db_path).db.conn.execute(
        "DELETE FROM node_cache WHERE node_type = 'Script.Prompts'"
    )
    res = run(_wf(write), out="out")
    assert res.status == "completed" and res.outputs["prompts"]["prompts"] == GOOD
    assert len(openrouter_fake.chat_requests()) == 1 and _tokens() == 1


def test_prompts_feed_ai_video_which_generates_from_them(openrouter_fake, fake_kie, write):
    openrouter_fake.queue_content(json.dumps({"sheet": SHEET, "prompts": GOOD}))
    text = (
        WF.format(params=json.dumps({"target": "kling-2.6/text-to-video"}))
        + """
  clips:
    type: AI.Video
    params: {model: kling-2.6/text-to-video}
    inputs: {scenes: prompts.scenes}
"""
    )
    res = run(load(write("wf.yaml", text)), out="out")
    assert res.status == "completed", res.error
    assert sorted(r.json()["input"]["prompt"] for r in fake_kie.creates) == sorted(GOOD)


def test_image_targets_get_stills_and_the_square_template_gets_a_square_frame():
    scenes = [Scene(narration="A fox.", visual="fox in snow")]
    system, user = prompt_messages(
        scenes, kie_model("flux-2/pro-text-to-image"), canvas={"width": 1080, "height": 1080}
    )
    assert "one still frame" in system["content"] and "1:1 square" in system["content"]
    assert "1. A fox. (picture idea: fox in snow)" in user["content"]


def test_an_unknown_target_is_a_spec_error(write):
    from fenta.errors import SpecError

    with pytest.raises(SpecError, match="params.target"):
        _wf(write, target="V4_5")  # a music model writes no pictures


def test_the_estimate_is_an_llm_call(write):
    assert 0 < plan(_wf(write)).cost["openrouter"] < 0.01


def test_prompt_help_on_an_ai_node_adds_the_llm_call_to_its_estimate(write):
    wf = load(
        write(
            "wf.yaml",
            """
version: 1
name: helped
template: karaoke-bold
nodes:
  script: {type: Input.Text, params: {text: "One.\\n\\nTwo."}}
  gen: {type: AI.Image, params: {prompt_help: true, max_scenes: 2}, inputs: {scenes: script.scenes}}
""",
        )
    )
    cost = plan(wf).cost
    assert cost["kie"] == 2 * 0.025 and 0 < cost["openrouter"] < 0.01
