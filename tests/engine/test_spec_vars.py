"""Variables: a name the workflow does not know is an error, and --var values can come from files."""

from __future__ import annotations

import pytest

import fenta
from fenta.engine.spec import parse_var_overrides
from fenta.errors import SpecError

WF = """version: 1
vars: {script: "The default script."}
nodes:
  s: {type: Input.Text, params: {text: "${vars.script}"}}
  v: {type: Voice.TTS, params: {engine: espeak, rate: "${vars.rate}"}, inputs: {text: s.text}}
"""


def test_a_variable_the_workflow_does_not_know_is_an_error_with_a_suggestion(write):
    with pytest.raises(SpecError) as e:
        fenta.load(write("wf.yaml", WF), vars={"scirpt": "Mine.", "rate": 5})
    (p,) = e.value.problems  # 'rate' is used by a node without a default: passing it is fine
    assert (p.field, p.line) == ("vars.scirpt", 2)
    assert "did you mean 'script'?" in p.message and "its variables: rate, script" in p.message


def test_a_var_value_can_be_read_from_a_file(write):
    write("today.txt", "Today's script.\n\nSecond scene.\n")
    assert parse_var_overrides(["script=@today.txt"]) == {"script": "Today's script.\n\nSecond scene."}


def test_a_double_at_sign_is_a_literal_at_sign(write):
    assert parse_var_overrides(["handle=@@fenta", "mail=a@b"]) == {"handle": "@fenta", "mail": "a@b"}


def test_every_missing_var_file_is_named(write):
    with pytest.raises(SpecError) as e:
        parse_var_overrides(["script=@gone.txt", "topic=@also-gone.txt", "ok=fine"])
    assert [(p.file, p.field) for p in e.value.problems] == [
        ("gone.txt", "--var script"),
        ("also-gone.txt", "--var topic"),
    ]
    assert all("file not found" in p.message for p in e.value.problems)
