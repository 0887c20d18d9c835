"""Cost and safety for every AI node: content-policy refusals are one line naming the scene's prompt and never
retried (at create and as a task's failure, in every family); quotas count the new calls."""

from __future__ import annotations

import json

import pytest

from fenta.config import Settings
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

SCENES_WF = """
version: 1
name: safety
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  script:
    type: Input.Text
    params: {{text: "A calm lake.\\n\\nSomething the policy refuses."}}
  gen:
    type: {node}
    params: {params}
    inputs: {{scenes: script.scenes}}
"""

FAMILIES = [
    ("AI.Image", "flux-2/pro-text-to-image"),  # Market: failCode 400
    ("AI.Image", "gpt-4o-image"),  # 4o: errorCode 400
    ("AI.Image", "flux-kontext-pro"),  # Flux Kontext: errorCode 400
    ("AI.Video", "veo3_fast"),  # Veo: errorCode 400
    ("AI.Video", "runway"),  # Runway: failCode 400 (moderation)
]


def _wf(write, node, model):
    return load(write("wf.yaml", SCENES_WF.format(node=node, params=json.dumps({"model": model}))))


@pytest.mark.parametrize("node,model", FAMILIES, ids=[m for _, m in FAMILIES])
def test_a_task_refused_on_content_grounds_names_the_scenes_prompt_and_is_not_retried(
    fake_kie, write, node, model
):
    fake_kie.polls_to_finish = 1
    fake_kie.next_outcomes = ["success", "policy"]  # the second scene's task is refused
    res = run(_wf(write, node, model), out="out", retries=2)
    assert res.status == "failed" and not res.retryable
    refused = next(t for t in fake_kie.tasks.values() if t.outcome == "policy")
    prompt = refused.body.get("prompt") or refused.body["input"]["prompt"]
    scene = 2 if prompt.startswith("Something") else 1
    assert f"KIE.ai refused scene {scene}'s prompt '{prompt}'" in res.error and "code 400" in res.error
    assert "\n" not in res.error and "params.prompt" in res.error
    assert len(fake_kie.creates) == 2  # each scene created once, the refused one never again
    states = [
        r["status"]
        for r in JobStore(Settings.from_env().db_path).db.query("select status from provider_tasks")
    ]
    assert sorted(states) == [
        "failed",
        "succeeded",
    ]  # the accepted scene is kept: a fixed prompt pays only for itself


@pytest.mark.parametrize("code", [400, 451])
def test_a_create_refused_outright_is_one_line_and_not_retried(fake_kie, write, code):
    fake_kie.body_error(code, "prompt violates the content policy", path_contains="createTask")
    res = run(
        load(
            write(
                "wf.yaml",
                """
version: 1
name: refused
template: karaoke-bold
nodes:
  gen: {type: AI.Image, params: {prompt: "a forbidden thing"}}
""",
            )
        ),
        out="out",
        retries=2,
    )
    assert res.status == "failed" and not res.retryable
    assert (
        f"KIE.ai refused the prompt 'a forbidden thing' (code {code}" in res.error
        and "not retried" in res.error
    )
    assert len(fake_kie.creates) == 1 and not fake_kie.tasks


def test_the_quota_counts_music_and_edits_before_anything_is_paid(fake_kie, write, cli, make_media):
    make_media("photo.png", "color=c=orange:s=160x90", "-frames:v", "1")
    wf = write(
        "wf.yaml",
        """
version: 1
name: quota
template: karaoke-bold
nodes:
  bed: {type: Music.Gen, params: {prompt: "calm piano", seconds: 5}}
  photo: {type: Input.Asset, params: {paths: [photo.png]}}
  edit:
    type: AI.ImageEdit
    params: {model: flux-kontext-pro, operation: outpaint}
    inputs: {image: photo.clips}
""",
    )
    assert cli("quota", "set", "kie_credits", "16").exit_code == 0  # 12 (Suno) + 5 (Kontext) is over it
    refused = cli("run", str(wf), "--yes", "--json")
    assert refused.exit_code == 2 and "kie_credits" in refused.output and fake_kie.requests == []
    assert cli("quota", "set", "kie_credits", "17").exit_code == 0
    ok = cli("run", str(wf), "--yes", "--json")
    assert ok.exit_code == 0, ok.output
    status = json.loads(cli("quota", "--json").stdout)
    used = next(r for r in status if r["resource"] == "kie_credits")["used"]
    assert used == 12 + 5  # what the run recorded: one Suno request and the table price of the edit
