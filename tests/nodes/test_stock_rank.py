"""Input.Stock ranks its candidates by what they show: a vision model's scores (the fake OpenRouter looks at
the fake Pexels' pictures), the clip's own words (stemmed, Cyrillic included), or the first result."""

from __future__ import annotations

import json

import fenta
from fenta.config import Settings
from fenta.engine.store import JobStore
from fenta.nodes.stock_search import scene_query
from fenta.types import Scene
from tests.fakes.fixtures import openrouter_fake, pexels_fake  # noqa: F401

WF = """
version: 1
name: rank-test
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320}}}}
nodes:
  script:
    type: Input.Text
    params: {{text: "{narration}"}}
  stock:
    type: Input.Stock
    params: {params}
    inputs: {{scenes: script.scenes}}
"""

# Pictures and words that disagree: only the second clip's picture is red, only the first one's words say so.
RED_CAR = [
    {"slug": "red-sports-car-on-a-road", "alt": "a red sports car", "color": "#1E3CC8"},  # blue picture
    {"slug": "city-street", "alt": "a city street", "color": "#D01E1E"},  # red picture
    {"slug": "green-forest-path", "alt": "green forest", "color": "#1EA03C"},
]


def q(narration: str) -> str:
    """The search Input.Stock makes for a scene (its first content words)."""
    return scene_query(Scene(narration=narration))


def run(write, narration: str, params: dict, name: str = "wf.yaml"):
    path = write(name, WF.format(narration=narration, params=json.dumps(params)))
    return fenta.run(fenta.load(path), out="out")


def picked(result) -> int:
    (pick,) = result.outputs["stock"]["picks"]
    return pick["id"]


def test_text_rank_picks_the_candidate_whose_words_match_the_scene(write, pexels_fake):
    text = "Waves crash against the old rocks."
    ids = pexels_fake.stock(
        q(text), [{"slug": "mountain-hiker"}, {"slug": "waves-crashing-on-rocks"}, {"slug": "city"}]
    )
    r = run(write, text, {"rank": "text"})
    assert r.status == "completed", r.error
    pick = r.outputs["stock"]["picks"][0]
    assert pick["id"] == ids[1] and pick["rank"] == "text" and pick["score"] == 3.0
    assert pick["reason"] == "shares crash, rock, wave"


def test_first_rank_reproduces_the_first_result_as_before(write, pexels_fake):
    text = "Waves crash against the old rocks."
    ids = pexels_fake.stock(q(text), [{"slug": "mountain-hiker"}, {"slug": "waves-crashing-on-rocks"}])
    r = run(write, text, {"rank": "first"})
    assert picked(r) == ids[0]
    assert [q.q("page") for q in pexels_fake.requests_to("/videos/search")] == ["1"]


def test_text_rank_stems_cyrillic_words(write, pexels_fake):
    text = "Волна разбивается о берег."
    ids = pexels_fake.stock(
        q(text), [{"slug": "x", "alt": "Горы в тумане"}, {"slug": "y", "alt": "Океанские волны у берега"}]
    )
    r = run(write, text, {"rank": "text", "media": "photo"})
    assert r.status == "completed", r.error
    pick = r.outputs["stock"]["picks"][0]
    assert pick["id"] == ids[1] and "берег" in pick["reason"] and "волн" in pick["reason"]


def test_vision_rank_picks_the_candidate_the_model_scored_best(write, pexels_fake, openrouter_fake, cli):
    text = "A red car races through the night."
    ids = pexels_fake.stock(q(text), RED_CAR)
    r = run(write, text, {"rank": "vision"})
    assert r.status == "completed", r.error
    assert picked(r) == ids[1]  # text would have taken ids[0], whose words say red
    (request,) = openrouter_fake.chat_requests()
    parts = request.json()["messages"][1]["content"]
    assert [p["type"] for p in parts].count(
        "image_url"
    ) == 3  # one each: poster and middle picture are one URL here
    shown = json.loads(cli("jobs", "show", r.job_id, "--json").stdout)
    (node,) = [n for n in shown["nodes"] if n["node"] == "stock"]
    pick = node["output"]["picks"][0]
    assert pick["model"] == "google/gemini-2.5-flash" and pick["reason"] == "shows red" and pick["score"] == 9
    assert [c["id"] for c in pick["candidates"]][0] == ids[1] and len(pick["candidates"]) == 3


def test_vision_scores_reach_the_asset_library_and_the_usage(write, pexels_fake, openrouter_fake, cli):
    pexels_fake.stock(q("A red car."), RED_CAR)
    run(write, "A red car.", {"rank": "vision"})
    assets = json.loads(cli("assets", "list", "--json").stdout)
    (asset,) = assets
    assert asset["provenance"]["rank"] == "vision" and asset["provenance"]["reason"] == "shows red"
    store = JobStore(Settings.from_env().db_path)
    cost = store.conn.execute("SELECT SUM(cost) FROM usage_records WHERE provider='openrouter'").fetchone()[0]
    store.close()
    assert cost and cost > 0


def test_a_rerun_pays_nothing_and_asks_nothing(write, pexels_fake, openrouter_fake):
    pexels_fake.stock(q("A red car."), RED_CAR)
    params = {"rank": "vision", "avoid_recent_days": 0}
    first = run(write, "A red car.", params)
    pexels_fake.requests.clear()
    openrouter_fake.requests.clear()
    again = run(write, "A red car.", params)
    assert again.status == "completed", again.error
    assert picked(again) == picked(first)
    assert not openrouter_fake.requests and not pexels_fake.requests


def test_auto_rank_uses_vision_only_with_a_key_and_a_vision_model(
    write, pexels_fake, openrouter_fake, monkeypatch
):
    ids = pexels_fake.stock(q("A red car."), RED_CAR)
    assert picked(run(write, "A red car.", {}, "a.yaml")) == ids[0]  # text: no vision model set
    assert not openrouter_fake.chat_requests()
    monkeypatch.setenv("FENTA_MODEL_VISION", "openai/gpt-4o")
    r = run(write, "A red car.", {"avoid_recent_days": 0}, "b.yaml")
    assert picked(r) == ids[1] and r.outputs["stock"]["picks"][0]["model"] == "openai/gpt-4o"


def test_a_model_that_cannot_see_fails_with_one_clear_line(write, pexels_fake, openrouter_fake, cli):
    pexels_fake.stock(q("A red car."), RED_CAR)
    params = {"rank": "vision", "vision_model": "meta-llama/llama-3-8b-instruct"}
    path = write("wf.yaml", WF.format(narration="A red car.", params=json.dumps(params)))
    result = cli("run", str(path), "-o", "out")
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if "node 'stock'" in ln]
    assert len(lines) == 1 and "image input" in lines[0], result.stderr


def test_a_dry_run_estimates_the_vision_cost(write, cli, monkeypatch):
    path = write(
        "wf.yaml",
        WF.format(narration="A red car.", params=json.dumps({"queries": ["a", "b"], "rank": "vision"})),
    )
    plan = json.loads(cli("run", str(path), "--dry-run", "--json").stdout)
    assert plan["cost"]["openrouter"] > 0
    path = write(
        "t.yaml",
        WF.format(narration="A red car.", params=json.dumps({"queries": ["a", "b"], "rank": "text"})),
    )
    assert "openrouter" not in json.loads(cli("run", str(path), "--dry-run", "--json").stdout)["cost"]
