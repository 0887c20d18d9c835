"""AI.Image and AI.Video against the fake KIE.ai: results, reuse, concurrency, faults, costs."""

from __future__ import annotations

import json

import pytest

from fenta.config import Settings
from fenta.engine.runner import plan, run
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from fenta.pricing import credits_to_usd, kie_credits
from fenta.render.ffmpeg import probe
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
    assert [(r["units"], r["quantity"]) for r in rows] == [("credits", 5.0)]  # creditsConsumed from the response
    task = list(store.db.query("select status, task_id from provider_tasks"))
    assert task == [{"status": "succeeded", "task_id": fake_kie.creates and next(iter(fake_kie.tasks))}]
