"""API keys: which a workflow needs, and a run that stops before anything runs when any is missing."""

from __future__ import annotations

import json

import pytest

import fenta
from fenta.config import Settings
from fenta.engine.keys import MissingKeysError, key_needs, missing_keys
from fenta.engine.store import JobStore

WF = """
nodes:
  script: {type: Script.Gen, params: {topic: fish}}
  stock: {type: Input.Stock, params: {count: 2}, inputs: {queries: script.keywords}}
  voice: {type: Voice.TTS, params: {engine: edge}, inputs: {text: script.text}}
  art: {type: AI.Image, params: {prompt: a fish, prompt_help: PROMPT_HELP}}
"""


def load(write, prompt_help: bool = False):
    return fenta.load(write("wf.yaml", WF.replace("PROMPT_HELP", str(prompt_help).lower())))


def test_each_key_is_listed_once_with_the_nodes_that_need_it(write):
    needs = key_needs(load(write), Settings.from_env())
    assert [(k.var, k.nodes) for k in needs] == [
        ("OPENROUTER_API_KEY", ["script"]),
        ("PEXELS_API_KEY", ["stock"]),
        ("KIE_API_KEY", ["art"]),
    ]


def test_a_param_can_add_a_key(write):
    needs = {k.var: k.nodes for k in key_needs(load(write, prompt_help=True), Settings.from_env())}
    assert needs["OPENROUTER_API_KEY"] == ["script", "art"]


def test_keys_that_are_set_are_not_missing(write, monkeypatch):
    monkeypatch.setenv("PEXELS_API_KEY", "pexels-secret-value")
    assert [k.var for k in missing_keys(load(write), Settings.from_env())] == [
        "OPENROUTER_API_KEY",
        "KIE_API_KEY",
    ]


def test_a_run_with_missing_keys_names_them_all_and_starts_no_job(write, fenta_home):
    with pytest.raises(MissingKeysError) as e:
        fenta.run(load(write), out="out")
    assert e.value.exit_code == 2
    assert "OPENROUTER_API_KEY (for script); PEXELS_API_KEY (for stock); KIE_API_KEY (for art)" in str(
        e.value
    )
    assert JobStore(Settings.from_env().db_path).list_jobs() == []


def test_the_cli_run_exits_2_with_one_message_and_no_key_value(cli, write, monkeypatch):
    monkeypatch.setenv("KIE_API_KEY", "kie-secret-value")
    r = cli("run", str(write("wf.yaml", WF.replace("PROMPT_HELP", "false"))), "-o", "out")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.count("error") == 1
    assert "OPENROUTER_API_KEY" in r.stderr and "PEXELS_API_KEY" in r.stderr and "KIE_API_KEY" not in r.stderr
    assert "kie-secret-value" not in r.output


def test_dry_run_shows_the_keys_and_whether_each_is_set(cli, write, monkeypatch):
    monkeypatch.setenv("KIE_API_KEY", "kie-secret-value")
    path = str(write("wf.yaml", WF.replace("PROMPT_HELP", "false")))
    r = cli("run", path, "--dry-run")
    assert r.exit_code == 0
    assert "needs keys: OPENROUTER_API_KEY (missing), PEXELS_API_KEY (missing), KIE_API_KEY (set)" in r.stdout
    keys = cli("run", path, "--dry-run", "--json")
    assert [(k["var"], k["set"]) for k in json.loads(keys.stdout)["keys"]] == [
        ("OPENROUTER_API_KEY", False),
        ("PEXELS_API_KEY", False),
        ("KIE_API_KEY", True),
    ]
    assert "kie-secret-value" not in r.output + keys.output
