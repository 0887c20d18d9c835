"""Script.Gen and Script.Transform against the fake OpenRouter."""

from __future__ import annotations

import json

import pytest

import fenta
from fenta.config import Settings
from fenta.engine.store import JobStore
from fenta.nodes.script import GENRES, GenParams, gen_messages, word_budget
from tests.fakes.fixtures import openrouter_fake  # noqa: F401

WF = """
version: 1
name: script-test
nodes:
  script:
    type: Script.Gen
    params: {params}
"""


def workflow(write, params: dict, name: str = "wf.yaml"):
    return write(name, WF.format(params=json.dumps(params)))


def run(path, **kw):
    return fenta.run(fenta.load(path), out="out", **kw)


def failure_line(result, node: str = "script") -> str:
    lines = [ln for ln in result.stderr.splitlines() if f"node '{node}'" in ln]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_script_has_title_hook_scenes_keywords_and_hashtags(write, openrouter_fake):
    r = run(workflow(write, {"topic": "honeybees", "seconds": 24, "scenes": 4}))
    assert r.status == "completed", r.error
    out = r.outputs["script"]
    assert len(out["scenes"]) == 4
    assert all(s["narration"] and s["visual"] for s in out["scenes"])
    assert out["title"] and out["hook"] and out["keywords"]
    assert out["text"].startswith(out["hook"])
    assert all(h.startswith("#") and " " not in h for h in out["hashtags"])


def test_request_names_the_strong_model_from_env_and_the_word_budget(write, openrouter_fake, monkeypatch):
    monkeypatch.setenv("FENTA_MODEL_STRONG", "google/gemini-2.5-pro")
    run(workflow(write, {"topic": "volcanoes", "seconds": 40, "language": "de"}))
    body = openrouter_fake.chat_requests()[0].json()
    assert body["model"] == "google/gemini-2.5-pro"
    system = body["messages"][0]["content"]
    assert f"about {word_budget(40, 'de')} words" in system and "German" in system
    assert body["messages"][1]["content"] == "Topic: volcanoes"
    assert body["response_format"]["json_schema"]["name"] == "script"


def test_weak_model_param_uses_the_weak_default(write, openrouter_fake):
    run(workflow(write, {"topic": "volcanoes", "model": "weak"}))
    assert openrouter_fake.chat_requests()[0].json()["model"] == "openai/gpt-4o-mini"


@pytest.mark.parametrize("genre", GENRES)
def test_every_genre_has_its_own_prompt_file(genre):
    system = gen_messages(GenParams(topic="tea", genre=genre))[0]["content"]
    others = [gen_messages(GenParams(topic="tea", genre=g))[0]["content"] for g in GENRES if g != genre]
    assert system not in others and "exactly 5 scenes" in system


def test_a_repeated_run_is_served_from_the_cache(write, openrouter_fake):
    path = workflow(write, {"topic": "honeybees"})
    first, second = run(path), run(path)
    assert first.status == second.status == "completed"
    assert second.nodes["script"] == "cached"
    assert len(openrouter_fake.chat_requests()) == 1


def test_changing_the_model_misses_the_cache(write, openrouter_fake, monkeypatch):
    path = workflow(write, {"topic": "honeybees", "avoid_repeats": False})
    run(path)
    monkeypatch.setenv("FENTA_MODEL_STRONG", "openai/gpt-4o")
    run(path)
    assert [r.json()["model"] for r in openrouter_fake.chat_requests()] == [
        "anthropic/claude-sonnet-4.5",
        "openai/gpt-4o",
    ]


def _script(hook: str, title: str) -> str:
    return json.dumps(
        {
            "title": title,
            "hook": hook,
            "scenes": [{"narration": hook + " More words follow here.", "visual": "bees"}],
            "keywords": ["bees"],
            "hashtags": ["#bees"],
        }
    )


def test_a_near_duplicate_of_a_recent_hook_is_regenerated(write, openrouter_fake):
    openrouter_fake.queue_content(
        _script("Bees vote on where to live.", "How bees vote"),
        _script("Bees vote on where they live!", "How do bees vote"),  # near-duplicate
        _script("A hive picks its home by dancing.", "The dance of the swarm"),
    )
    run(workflow(write, {"topic": "honeybees"}))
    r = run(workflow(write, {"topic": "honeybee democracy"}, name="wf2.yaml"))
    assert r.outputs["script"]["hook"] == "A hive picks its home by dancing."
    reqs = openrouter_fake.chat_requests()
    assert len(reqs) == 3
    retry_prompt = reqs[2].json()["messages"][-1]["content"]
    assert "used recently" in retry_prompt and "Bees vote on where to live." in retry_prompt
    store = JobStore(Settings.from_env().db_path)
    topics = [row["topic"] for row in store.db.query("SELECT topic FROM script_history ORDER BY id")]
    store.close()
    assert topics == ["honeybees", "honeybee democracy"]


def test_invalid_output_twice_fails_the_run_with_one_line(write, openrouter_fake, cli):
    openrouter_fake.invalid_content(2)
    result = cli("run", str(workflow(write, {"topic": "honeybees"})), "-o", "out")
    assert result.exit_code == 1
    assert "does not fit the 'script' schema" in failure_line(result)
    assert len(openrouter_fake.chat_requests()) == 2


@pytest.mark.parametrize(
    "kind, text",
    [
        ("402", "out of credits"),
        ("429", "rate limit reached"),
        ("500", "server error"),
        ("401", "refused the key"),
    ],
)
def test_persistent_provider_faults_exit_1_with_a_clear_line_and_no_key(
    write, openrouter_fake, cli, kind, text
):
    openrouter_fake.fault(kind, 3)
    result = cli("run", str(workflow(write, {"topic": "honeybees"})), "-o", "out")
    assert result.exit_code == 1
    assert text in failure_line(result)
    assert openrouter_fake.key not in result.stderr + result.stdout
    store = JobStore(Settings.from_env().db_path)
    rows = json.dumps(
        list(store.db.query("SELECT * FROM node_runs")) + list(store.db.query("SELECT * FROM jobs")),
        default=str,
    )
    store.close()
    assert openrouter_fake.key not in rows


def test_usage_records_tokens_and_cost_and_fenta_usage_sums_them(write, openrouter_fake, cli):
    run(workflow(write, {"topic": "honeybees"}))
    report = json.loads(cli("usage", "--json").stdout)
    (row,) = [r for r in report["rows"] if r["provider"] == "openrouter"]  # beside it: fenta's own (the job)
    assert row["units"] == "tokens" and row["calls"] == 1
    assert row["quantity"] > 0 and row["cost"] > 0 and report["total_cost"] == row["cost"]
    assert "openrouter" in cli("usage").stdout


def test_transform_translates_scene_by_scene_keeping_visuals(write, openrouter_fake):
    path = write(
        "wf.yaml",
        """
version: 1
name: t
nodes:
  script: {type: Script.Gen, params: {topic: honeybees, scenes: 4}}
  de: {type: Script.Transform, params: {mode: translate, language: de}, inputs: {scenes: script.scenes}}
""",
    )
    r = run(path)
    assert r.status == "completed", r.error
    before, after = r.outputs["script"]["scenes"], r.outputs["de"]["scenes"]
    assert len(after) == 4 and [s["visual"] for s in after] == [s["visual"] for s in before]
    body = openrouter_fake.chat_requests()[1].json()
    assert "German" in body["messages"][0]["content"] and body["model"] == "openai/gpt-4o-mini"
    assert body["messages"][1]["content"].startswith("1. ")


def test_transform_that_changes_the_scene_count_is_repaired(write, openrouter_fake):
    path = write(
        "wf.yaml",
        """
version: 1
name: t
nodes:
  text: {type: Input.Text, params: {text: "One.\\n\\nTwo."}}
  short: {type: Script.Transform, params: {mode: compress, seconds: 5}, inputs: {scenes: text.scenes}}
""",
    )
    openrouter_fake.queue_content(json.dumps({"narrations": ["Only one."]}))
    r = run(path)
    assert r.status == "completed", r.error
    assert len(r.outputs["short"]["scenes"]) == 2
    assert "expected 2 narrations" in openrouter_fake.chat_requests()[1].json()["messages"][-1]["content"]


def test_transform_mode_without_its_setting_is_a_spec_error(write, cli):
    path = write(
        "wf.yaml",
        """
version: 1
name: t
nodes:
  text: {type: Input.Text, params: {text: "One."}}
  de: {type: Script.Transform, params: {mode: translate}, inputs: {scenes: text.scenes}}
""",
    )
    result = cli("validate", str(path))
    assert result.exit_code == 2 and "params.language" in result.stderr + result.stdout


def test_usage_days_leaves_out_older_records(cli):
    import time

    store = JobStore(Settings.from_env().db_path)
    store.record_usage(provider="openrouter", model="m", units="tokens", quantity=100, cost=0.5)
    store.db["usage_records"].insert(
        {
            "provider": "openrouter",
            "units": "tokens",
            "quantity": 900,
            "cost": 2.0,
            "created_at": time.time() - 40 * 86400,
        }
    )
    store.close()
    recent = json.loads(cli("usage", "--days", "7", "--json").stdout)
    everything = json.loads(cli("usage", "--days", "60", "--json").stdout)
    assert recent["total_cost"] == 0.5 and everything["total_cost"] == 2.5
    assert len(everything["rows"]) == 2  # one row per day
