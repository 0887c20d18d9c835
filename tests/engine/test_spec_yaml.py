"""YAML workflows are read strictly: no duplicate keys, no tags beyond plain values, typed top-level
fields."""

from __future__ import annotations

import pytest

import fenta
from fenta.errors import SpecError

TEXT = "{type: Input.Text, params: {text: hi}}"


def problems(write, text: str):
    with pytest.raises(SpecError) as e:
        fenta.load(write("wf.yaml", text))
    return e.value.problems


def test_a_node_id_written_twice_under_nodes_is_an_error_at_the_second_line(write):
    (p,) = problems(write, f"nodes:\n  a: {TEXT}\n  a: {TEXT}\n")
    assert (p.node, p.line) == ("a", 3)
    assert "used twice (first at line 2)" in p.message


def test_a_param_written_twice_names_the_node_and_field(write):
    (p,) = problems(write, "nodes:\n  a: {type: Input.Text, params: {text: hi, text: ho}}\n")
    assert (p.node, p.field, p.line) == ("a", "params.text", 2)
    assert "written twice" in p.message


def test_a_python_tag_is_refused_with_its_place(write):
    (p,) = problems(
        write, "nodes:\n  a: {type: Input.Text, params: {text: !!python/object/apply:os.getcwd []}}\n"
    )
    assert (p.node, p.field, p.line) == ("a", "params.text", 2)
    assert "'!!python/object/apply:os.getcwd' is not allowed" in p.message


def test_a_custom_tag_is_refused_while_written_out_core_tags_stay_plain_values(write):
    (p,) = problems(write, "name: !secret demo\nnodes:\n  a: {type: Input.Text, params: {text: !!str 42}}\n")
    assert (p.field, p.line) == ("name", 1) and "'!secret' is not allowed" in p.message


def test_a_list_is_not_accepted_as_the_workflow_name(write):
    (p,) = problems(write, "name: [daily, fact]\nnodes:\n  a: " + TEXT + "\n")
    assert (p.field, p.line) == ("name", 1) and "valid string" in p.message


def test_a_number_is_not_accepted_as_the_template(write):
    (p,) = problems(write, "template: 7\nnodes:\n  a: " + TEXT + "\n")
    assert (p.field, p.line) == ("template", 1)


def test_parse_problems_are_reported_together_with_the_others(write):
    found = problems(
        write,
        "name: [x]\nnodes:\n  a: {type: Input.Text, params: {text: hi, text: ho}}\n  b: {type: Input.Txt}\n",
    )
    assert {p.field for p in found} == {"name", "params.text", "type"}


def test_a_yaml_merge_key_copies_the_anchored_mapping(write):
    wf = fenta.load(
        write(
            "wf.yaml",
            """
nodes:
  a: {type: Input.Background, params: &bg {style: gradient, count: 2}}
  b: {type: Input.Background, params: {<<: *bg, count: 3}}
""",
        )
    )
    assert (wf.nodes["b"].parsed_params.style, wf.nodes["b"].parsed_params.count) == ("gradient", 3)


def test_an_escaped_surrogate_pair_in_yaml_is_one_character(write):
    wf = fenta.load(
        write("wf.yaml", 'nodes:\n  a: {type: Input.Text, params: {text: "fish \\ud83d\\udc1f"}}\n')
    )
    assert wf.nodes["a"].parsed_params.text == "fish \U0001f41f"


def test_an_alias_bomb_is_refused_instead_of_expanded(write):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    (p,) = problems(write, "\n".join(lines) + "\nnodes:\n  a: " + TEXT + "\n")
    assert "expands too far" in p.message
