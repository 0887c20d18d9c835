"""Input.Text: the narration inline or from a text file next to the workflow."""

from __future__ import annotations

import pytest

import fenta
from fenta.errors import SpecError


def problems(path):
    with pytest.raises(SpecError) as e:
        fenta.load(path)
    return e.value.problems


def test_the_script_can_come_from_a_file_next_to_the_workflow(write, tmp_path):
    write("flows/today.txt", "Octopuses have three hearts.\n\nThey also have blue blood.\n")
    wf = fenta.load(write("flows/wf.yaml", "nodes:\n  s: {type: Input.Text, params: {path: today.txt}}\n"))
    result = fenta.run(wf, out=tmp_path / "out")
    assert result.outputs["s"]["text"] == "Octopuses have three hearts. They also have blue blood."
    assert len(result.outputs["s"]["scenes"]) == 2


def test_a_missing_script_file_is_a_validation_problem_naming_the_field(write):
    (p,) = problems(write("wf.yaml", "nodes:\n  s: {type: Input.Text, params: {path: gone.txt}}\n"))
    assert (p.node, p.field, p.line) == ("s", "params.path", 2)
    assert "file not found" in p.message and "gone.txt" in p.message


def test_text_and_path_together_are_refused(write):
    write("today.txt", "Hello.")
    (p,) = problems(
        write("wf.yaml", "nodes:\n  s: {type: Input.Text, params: {text: Hi, path: today.txt}}\n")
    )
    assert (p.node, p.field) == ("s", "params") and "not both" in p.message


def test_an_empty_script_file_is_a_validation_problem(write):
    write("today.txt", "  \n")
    (p,) = problems(write("wf.yaml", "nodes:\n  s: {type: Input.Text, params: {path: today.txt}}\n"))
    assert p.field == "params.path" and "empty" in p.message


def test_a_script_file_that_is_not_utf8_is_a_validation_problem(write, tmp_path):
    (tmp_path / "today.txt").write_bytes("caf\xe9".encode("latin-1"))
    (p,) = problems(write("wf.yaml", "nodes:\n  s: {type: Input.Text, params: {path: today.txt}}\n"))
    assert p.field == "params.path" and "UTF-8" in p.message


def test_editing_the_script_file_re_runs_the_node(write, tmp_path):
    script = write("today.txt", "First version.")
    path = write("wf.yaml", "nodes:\n  s: {type: Input.Text, params: {path: today.txt}}\n")
    assert fenta.run(fenta.load(path), out=tmp_path / "out").outputs["s"]["text"] == "First version."
    script.write_text("Second version.", encoding="utf-8")
    assert fenta.run(fenta.load(path), out=tmp_path / "out").outputs["s"]["text"] == "Second version."
