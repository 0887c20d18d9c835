"""Loading workflows: YAML and JSON, both shapes, variables."""

from __future__ import annotations

import json

import pytest

import fenta
from fenta.errors import SpecError

NODES_YAML = """
version: 1
name: demo
vars: {script: "Hello there.", rate: 10}
nodes:
  script: {type: Input.Text, params: {text: "${vars.script}"}}
  voice:
    type: Voice.TTS
    params: {engine: espeak, rate: "${vars.rate}"}
    inputs: {text: script.text}
"""


def test_the_inputs_shape_loads_from_yaml(write):
    wf = fenta.load(write("wf.yaml", NODES_YAML))
    assert wf.name == "demo"
    assert wf.nodes["voice"].inputs == {"text": [("script", "text")]}


def test_a_whole_string_variable_keeps_its_type(write):
    wf = fenta.load(write("wf.yaml", NODES_YAML))
    assert wf.nodes["voice"].parsed_params.rate == 10


def test_var_overrides_replace_defaults(write):
    wf = fenta.load(write("wf.yaml", NODES_YAML), vars={"script": "Other words."})
    assert wf.nodes["script"].parsed_params.text == "Other words."


def test_variables_interpolate_inside_longer_strings(write):
    wf = fenta.load(write("wf.yaml", NODES_YAML.replace('"${vars.script}"', '"Say: ${vars.script}!"')))
    assert wf.nodes["script"].parsed_params.text == "Say: Hello there.!"


def test_the_builder_graph_shape_loads_from_json_into_the_same_model(write):
    doc = {
        "version": 1,
        "name": "demo",
        "nodes": [
            {"id": "script", "type": "Input.Text", "data": {"params": {"text": "Hello there."}}},
            {"id": "voice", "type": "Voice.TTS", "data": {"params": {"engine": "espeak"}}},
        ],
        "edges": [{"source": "script", "sourceHandle": "text", "target": "voice", "targetHandle": "text"}],
    }
    wf = fenta.load(write("wf.json", json.dumps(doc)))
    assert wf.nodes["voice"].inputs == {"text": [("script", "text")]}
    assert wf.nodes["script"].type == "Input.Text"


def test_both_shapes_of_one_workflow_hash_the_same(write):
    a = fenta.load(write("a.yaml", "nodes:\n  s: {type: Input.Text, params: {text: hi}}\n"))
    b = fenta.load(
        write(
            "b.json",
            json.dumps(
                {
                    "nodes": [{"id": "s", "type": "Input.Text", "data": {"params": {"text": "hi"}}}],
                    "edges": [],
                }
            ),
        )
    )
    assert a.document["nodes"] == b.document["nodes"]


def test_several_sources_can_feed_one_list_port(write):
    wf = fenta.load(
        write(
            "wf.yaml",
            """
nodes:
  a: {type: Input.Background, params: {count: 1}}
  b: {type: Input.Background, params: {count: 2}}
  t: {type: Timeline, params: {duration: 3}, inputs: {clips: [a.clips, b.clips]}}
""",
        )
    )
    assert wf.nodes["t"].inputs["clips"] == [("a", "clips"), ("b", "clips")]


def test_a_missing_file_is_a_spec_error_naming_it(tmp_path):
    with pytest.raises(SpecError) as e:
        fenta.load(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(e.value) and "not found" in str(e.value)
