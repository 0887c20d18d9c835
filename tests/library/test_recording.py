"""Stock downloads and AI generations land in the library with their provenance; a failure to record
never fails a run."""

from __future__ import annotations

import json

import fenta
from tests.fakes.fixtures import pexels_fake  # noqa: F401  (fixture)
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

WF = """
version: 1
name: recorded
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  media: {{type: {type}, params: {params}}}
"""


def _run(write, type_: str, **params):
    result = fenta.run(
        fenta.load(write("wf.yaml", WF.format(type=type_, params=json.dumps(params)))), out="out"
    )
    assert result.status == "completed", result.error
    return result


def test_stock_clips_are_recorded_with_query_and_pexels_credit(write, pexels_fake):
    result = _run(write, "Input.Stock", queries=["ocean waves", "city night"])
    assets = fenta.library.list_assets()
    assert len(assets) == 2 and {a.origin for a in assets} == {"stock"}
    assert sorted(a.provenance["query"] for a in assets) == ["city night", "ocean waves"]
    credits = open(result.artifacts["credits"], encoding="utf-8").read()
    for a in assets:
        assert (
            a.provenance["credit"].startswith("Video by ")
            and " on Pexels: https://" in a.provenance["credit"]
        )
        assert a.provenance["credit"] in credits and a.provenance["cost"] == 0.0
        assert a.kind == "video" and a.duration == 2.0 and a.thumbnail
    assert sorted(a.source for a in assets) == sorted(c["source"] for c in result.outputs["media"]["clips"])


def test_ai_images_are_recorded_with_prompt_model_and_cost(write, fake_kie):
    _run(write, "AI.Image", prompt="a red fox in snow")
    (asset,) = fenta.library.list_assets()
    assert asset.origin == "ai" and asset.kind == "image"
    p = asset.provenance
    assert (p["prompt"], p["model"], p["credits"]) == ("a red fox in snow", "flux-2/pro-text-to-image", 5.0)
    assert p["cost"] == 5.0 * 0.005 and p["task_id"] in fake_kie.tasks


def test_a_library_that_cannot_be_written_only_warns(write, pexels_fake, fenta_home):
    fenta_home.mkdir(parents=True, exist_ok=True)
    (fenta_home / "library").write_text("a file where the library's folder should be")
    events = []
    wf = fenta.load(
        write("wf.yaml", WF.format(type="Input.Stock", params=json.dumps({"queries": ["forest"]})))
    )
    result = fenta.run(wf, out="out", on_event=events.append)
    assert result.status == "completed", result.error
    warnings = [str(e.data) for e in events if e.type == "message"]
    assert any("could not record" in w and "asset library" in w for w in warnings), warnings


def test_recorded_assets_are_named_after_where_they_came_from_not_a_cache_hash(write, pexels_fake, fake_kie):
    _run(write, "Input.Stock", queries=["ocean waves"])
    _run(write, "AI.Image", prompt="a red fox in snow")
    names = {a.origin: a.name for a in fenta.library.list_assets()}
    stock = next(a for a in fenta.library.list_assets() if a.origin == "stock")
    assert names["stock"] == f"pexels-{stock.provenance['pexels_id']}.mp4"
    assert names["ai"].startswith("kie-") and names["ai"].endswith((".png", ".jpg", ".jpeg", ".webp"))
