"""`fenta new` (fenta.ops.compose) against the fake OpenRouter: rounds, strict JSON, usage, refusals."""

from __future__ import annotations

import copy
import json

import pytest

from fenta.config import Settings
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from fenta.errors import ComposeError, MissingKeysError, PathError, SpecError
from fenta.ops.compose import MAX_ROUNDS, new
from fenta.ops.compose_schema import answer_schema
from tests.fakes.fixtures import openrouter_fake  # noqa: F401

PROMPT = "a short vertical video of calm colour gradients that says hello"

#: A valid answer in the graph shape, as the strict schema makes the model write it (nulls: defaults).
GOOD = {
    "version": 1,
    "name": "hello-gradients",
    "description": "Post daily: fenta schedule add",
    "template": "karaoke-bold",
    "nodes": [
        {
            "id": "backdrop",
            "type": "Input.Background",
            "data": {"params": {"style": "gradient", "colors": None, "count": 2, "seed": None}},
        },
        {"id": "timeline", "type": "Timeline", "data": {"params": {"duration": 1.0, "title": None}}},
        {
            "id": "render",
            "type": "Render",
            "data": {
                "params": {
                    "profile": "360p",
                    "crf": None,
                    "preset": "ultrafast",
                    "thumbnail": None,
                    "preview": None,
                    "encoder": None,
                }
            },
        },
    ],
    "edges": [
        {"source": "backdrop", "sourceHandle": "clips", "target": "timeline", "targetHandle": "clips"},
        {"source": "timeline", "sourceHandle": "timeline", "target": "render", "targetHandle": "timeline"},
    ],
}


def good(**changes) -> str:
    doc = copy.deepcopy(GOOD)
    doc.update(changes)
    return json.dumps(doc)


def unknown_type() -> str:
    doc = copy.deepcopy(GOOD)
    doc["nodes"][0]["type"] = "Input.Gradients"
    return json.dumps(doc)


def test_an_unknown_node_type_goes_back_to_the_model_and_the_second_answer_is_written(
    openrouter_fake, tmp_path
):
    openrouter_fake.queue_content(unknown_type(), good())
    done = new(PROMPT, tmp_path / "wf.yaml")
    requests = openrouter_fake.chat_requests()
    assert len(requests) == 2 and done.rounds == 2
    second = requests[1].json()["messages"]
    assert second[-2]["role"] == "assistant" and "Input.Gradients" in second[-2]["content"]
    assert "unknown node type 'Input.Gradients'" in second[-1]["content"]
    assert list(load(tmp_path / "wf.yaml").nodes) == ["backdrop", "timeline", "render"]


def test_three_invalid_answers_raise_with_the_last_rounds_problems_and_write_nothing(
    openrouter_fake, tmp_path
):
    bad_last = copy.deepcopy(GOOD)
    bad_last["edges"][1]["sourceHandle"] = "video"
    openrouter_fake.queue_content(unknown_type(), "not json at all", json.dumps(bad_last))
    with pytest.raises(ComposeError) as e:
        new(PROMPT, tmp_path / "wf.yaml")
    assert len(openrouter_fake.chat_requests()) == MAX_ROUNDS == 3
    assert e.value.exit_code == 1
    assert [p.message for p in e.value.problems] == [
        "node 'timeline' (Timeline) has no output 'video' (its outputs: timeline)"
    ]
    assert not (tmp_path / "wf.yaml").exists()


def test_an_answer_that_is_not_json_is_named_as_such_to_the_model(openrouter_fake, tmp_path):
    openrouter_fake.queue_content("Sure! Here is your workflow:", good())
    new(PROMPT, tmp_path / "wf.yaml")
    assert "the answer is not JSON" in openrouter_fake.chat_requests()[1].json()["messages"][-1]["content"]


def test_without_a_key_it_refuses_before_any_request(openrouter_fake, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY")
    with pytest.raises(MissingKeysError) as e:
        new(PROMPT, tmp_path / "wf.yaml")
    assert e.value.exit_code == 2
    assert "OPENROUTER_API_KEY" in str(e.value) and "fenta init" in str(e.value) and "\n" not in str(e.value)
    assert openrouter_fake.chat_requests() == []


def test_an_existing_file_is_refused_before_any_request_unless_forced(openrouter_fake, tmp_path):
    target = tmp_path / "wf.yaml"
    target.write_text("keep me\n")
    with pytest.raises(
        PathError, match=r"already exists; pass force=True to replace it, or choose another out=$"
    ):
        new(PROMPT, target)  # the SDK's own words: no command-line option in them
    assert target.read_text() == "keep me\n" and openrouter_fake.chat_requests() == []
    openrouter_fake.queue_content(good())
    new(PROMPT, target, force=True)
    assert load(target).name == "hello-gradients"


def test_the_request_asks_for_strict_json_schema_output_from_the_strong_model(
    openrouter_fake, tmp_path, monkeypatch
):
    monkeypatch.setenv("FENTA_MODEL_STRONG", "acme/big-model")
    openrouter_fake.queue_content(good())
    new(PROMPT, tmp_path / "wf.yaml")
    body = openrouter_fake.chat_requests()[0].json()
    assert body["model"] == "acme/big-model"
    rf = body["response_format"]
    assert (
        rf["type"] == "json_schema"
        and rf["json_schema"]["strict"] is True
        and rf["json_schema"]["name"] == "workflow"
    )
    assert rf["json_schema"]["schema"] == answer_schema()
    assert body["provider"]["require_parameters"] is True
    system, user = body["messages"]
    assert (
        "Script.Gen" in system["content"]
        and "explainer-16x9" in system["content"]
        and '"title":"fenta workflow"' in system["content"]
    )
    assert PROMPT in user["content"]


def test_the_answer_schema_is_strict_every_object_closed_and_every_property_required():
    def objects(s):
        if isinstance(s, dict):
            if s.get("type") == "object":
                yield s
            for v in s.values():
                yield from objects(v)
        elif isinstance(s, list):
            for v in s:
                yield from objects(v)

    found = list(objects(answer_schema()))
    assert len(found) > 20
    for o in found:
        assert o["additionalProperties"] is False and o["required"] == list(o["properties"])
    text = json.dumps(answer_schema())
    assert '"minimum"' not in text and '"default"' not in text and "$ref" not in text


def test_every_round_is_recorded_as_usage_with_its_cost_and_no_job(openrouter_fake, tmp_path):
    openrouter_fake.queue_content(unknown_type(), good())
    done = new(PROMPT, tmp_path / "wf.yaml")
    store = JobStore(Settings.from_env().db_path)
    rows = list(store.db.query("SELECT * FROM usage_records"))
    store.close()
    assert len(rows) == 2
    assert all(
        r["provider"] == "openrouter" and r["units"] == "tokens" and r["cost"] > 0 and r["job_id"] is None
        for r in rows
    )
    assert done.cost == pytest.approx(sum(r["cost"] for r in rows)) and done.tokens == sum(
        r["quantity"] for r in rows
    )


def test_the_file_is_the_readable_inputs_shape_without_nulls_and_keeps_the_description(
    openrouter_fake, tmp_path
):
    openrouter_fake.queue_content(good())
    done = new(PROMPT, tmp_path / "wf.yaml")
    text = (tmp_path / "wf.yaml").read_text()
    assert "null" not in text and "edges" not in text
    assert "inputs:\n      clips: backdrop.clips" in text
    assert text.startswith("# Written by `fenta new`") and PROMPT in text
    assert load(tmp_path / "wf.yaml").document == done.workflow.document
    assert "description: 'Post daily: fenta schedule add'" in text


def test_an_answer_in_the_inputs_shape_is_accepted_too(openrouter_fake, tmp_path):
    doc = {
        "version": 1,
        "name": "inputs-shape",
        "nodes": {
            "bg": {"type": "Input.Background"},
            "tl": {"type": "Timeline", "params": {"duration": 1}, "inputs": {"clips": "bg.clips"}},
            "out": {"type": "Render", "inputs": {"timeline": "tl.timeline"}},
        },
    }
    openrouter_fake.queue_content(json.dumps(doc))
    assert list(new(PROMPT, tmp_path / "wf.yaml").workflow.nodes) == ["bg", "tl", "out"]


def test_the_template_asked_for_wins_over_the_models_choice(openrouter_fake, tmp_path):
    openrouter_fake.queue_content(good(template="square"))
    done = new(PROMPT, tmp_path / "wf.yaml", template="explainer-16x9")
    assert done.workflow.template_name == "explainer-16x9"
    assert (
        'Use the template "explainer-16x9"'
        in openrouter_fake.chat_requests()[0].json()["messages"][1]["content"]
    )


@pytest.mark.parametrize(
    "kwargs,out", [({"template": "no-such-look"}, "wf.yaml"), ({}, "wf.json"), ({"prompt": "   "}, "wf.yaml")]
)
def test_bad_input_is_refused_before_any_request(openrouter_fake, tmp_path, kwargs, out):
    prompt = kwargs.pop("prompt", PROMPT)
    with pytest.raises((SpecError, PathError)) as e:
        new(prompt, tmp_path / out, **kwargs)
    assert e.value.exit_code == 2 and openrouter_fake.chat_requests() == []


def test_a_template_file_asked_for_is_named_relative_to_the_written_workflow(openrouter_fake, tmp_path):
    (tmp_path / "mine.yaml").write_text("canvas: {width: 720, height: 720}\n")
    openrouter_fake.queue_content(good())
    done = new(PROMPT, tmp_path / "videos" / "wf.yaml", template="mine.yaml")
    assert done.workflow.template_name == "../mine.yaml"
    assert load(tmp_path / "videos" / "wf.yaml").template["canvas"]["width"] == 720


def test_an_output_inside_a_file_says_the_file_is_in_the_way_before_any_request(openrouter_fake, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(
        PathError, match="notes.txt is a file, not a folder: give out= a path inside a folder"
    ):
        new(PROMPT, tmp_path / "notes.txt" / "sub" / "wf.yaml")
    assert openrouter_fake.chat_requests() == [] and (tmp_path / "notes.txt").read_text() == "mine"
