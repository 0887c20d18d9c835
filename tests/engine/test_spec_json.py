"""JSON workflows are parsed by a JSON parser, with lines, duplicate keys and broken escapes reported."""

from __future__ import annotations

import json

import pytest

import fenta
from fenta.errors import SpecError

TAB_JSON = (
    '{\n\t"name": "tabs",\n\t"nodes": {\n\t\t"s": {"type": "Input.Text", "params": {"text": "hi"}}\n\t}\n}\n'
)


def problems(path):
    with pytest.raises(SpecError) as e:
        fenta.load(path)
    return e.value.problems


def test_tab_indented_json_loads(write):
    assert fenta.load(write("wf.json", TAB_JSON)).name == "tabs"


def test_json_content_is_recognised_without_the_json_suffix(write):
    assert fenta.load(write("wf.yaml", TAB_JSON)).name == "tabs"


def test_escaped_surrogate_pairs_become_one_character(write):
    text = '{"nodes": {"s": {"type": "Input.Text", "params": {"text": "fish \\ud83d\\udc1f"}}}}'
    wf = fenta.load(write("wf.json", text))
    assert wf.nodes["s"].parsed_params.text == "fish \U0001f41f"


def test_a_lone_surrogate_is_a_problem_naming_the_node_and_field(write):
    text = '{"nodes": {\n  "s": {"type": "Input.Text", "params": {"text": "fish \\ud83d"}}}}'
    (p,) = problems(write("wf.json", text))
    assert (p.node, p.field, p.line) == ("s", "params.text", 2)
    assert "unpaired UTF-16 surrogate '\\ud83d'" in p.message


def test_a_duplicate_json_key_is_reported_with_its_line(write):
    text = (
        '{"nodes": {\n'
        '"s": {"type": "Input.Text", "params": {"text": "a"}},\n'
        '"s": {"type": "Input.Text", "params": {"text": "b"}}}}'
    )
    (p,) = problems(write("wf.json", text))
    assert (p.node, p.line) == ("s", 3) and "used twice (first at line 2)" in p.message


def test_json_problems_carry_the_line_of_the_field(write):
    text = (
        '{\n"nodes": {\n\t"s": {\n\t\t"type": "Input.Text",\n'
        '\t\t"params": {"text": "hi", "colour": "red"}\n\t}\n}\n}'
    )
    (p,) = problems(write("wf.json", text))
    assert (p.node, p.field, p.line) == ("s", "params.colour", 5)


def test_two_builder_nodes_with_one_id_are_an_error_not_one_dropped(write):
    doc = {
        "nodes": [
            {"id": "s", "type": "Input.Text", "data": {"params": {"text": "first"}}},
            {"id": "s", "type": "Input.Text", "data": {"params": {"text": "second"}}},
        ],
        "edges": [],
    }
    (p,) = problems(write("wf.json", json.dumps(doc, indent=1)))
    assert (p.node, p.field) == ("s", "id") and "nodes[0] and nodes[1]" in p.message
    assert p.line == 13  # the second node's "id" line
