"""Every Market model of the table runs through the one generic path against the fake KIE.ai: created with the
fields its row names, polled, downloaded, billed; and `fenta nodes` / `fenta credits --prices` list them."""

from __future__ import annotations

import json

import pytest

from fenta.config import Settings
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from fenta.pricing import kie_model, kie_models
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

MARKET = sorted(m.id for m in kie_models().values() if m.family == "market" and m.kind in ("image", "video"))

WF = """
version: 1
name: market
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  still: {{type: Input.Asset, params: {{paths: [still.png]}}}}
  gen:
    type: {type}
    params: {params}
{inputs}
"""


@pytest.mark.parametrize("model_id", MARKET)
def test_each_market_model_is_created_polled_downloaded_and_billed(fake_kie, write, make_media, model_id):
    model = kie_model(model_id)
    make_media("still.png", "color=c=blue:s=90x160", "-frames:v", "1")
    node = "AI.Video" if model.kind == "video" else "AI.Image"
    inputs = "    inputs: {image: still.clips}" if model.images == "required" else ""
    res = run(
        load(
            write(
                "wf.yaml",
                WF.format(
                    type=node, params=json.dumps({"model": model_id, "prompt": "a lighthouse"}), inputs=inputs
                ),
            )
        ),
        out="out",
    )
    assert res.status == "completed", res.error
    (create,) = fake_kie.creates
    body = create.json()
    assert body["model"] == model_id and body["input"][model.field_name("prompt")] == "a lighthouse"
    for name, value in model.constants.items():
        assert body["input"][name] == value
    if model.images == "required":
        image = body["input"][model.field_name("image")]
        assert (image[0] if isinstance(image, list) else image).startswith(f"{fake_kie.url}/files/upload-")
    if model.aspect_ratios:
        assert body["input"][model.field_name("aspect_ratio")] == model.value("aspect_ratio", "9:16")
    (task_id,) = fake_kie.tasks
    assert fake_kie.polls_of(task_id) and f"/files/{task_id}" in "".join(r.path for r in fake_kie.requests)
    (clip,) = res.outputs["gen"]["clips"]
    assert clip["kind"] == model.kind
    usage = list(
        JobStore(Settings.from_env().db_path).db.query(
            "select model, quantity from usage_records where provider='kie'"
        )
    )
    assert usage == [{"model": model_id, "quantity": 5.0}]  # the fake's creditsConsumed


def test_fenta_nodes_ai_video_lists_every_video_model_of_the_table(cli):
    result = cli("nodes", "AI.Video", "--json")
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)["params"]["model"]["description"]
    for m in kie_models().values():
        assert (m.id in described) is (m.kind == "video"), m.id


def test_credits_prices_shows_every_model_with_its_source(cli):
    result = cli("credits", "--prices", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert set(rows) == set(kie_models())
    assert all(r["source"] for r in rows.values())
    assert rows["sora-2-pro-text-to-video"]["resolutions"] == {"720p": 15.0, "1080p": 33.0}
    assert rows["veo3_fast"]["upgrades"] == {"720p": 0.0, "1080p": 0.0, "4k": 120.0}
    assert rows["V4_5"]["unit"] == "request" and rows["V4_5"]["kind"] == "music"
    table = cli("credits", "--prices")
    assert table.exit_code == 0 and "source" in table.output and "hailuo/02-text-to-video-pro" in table.output
