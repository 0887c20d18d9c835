"""`fenta validate` over several files and stdin, the keys a workflow needs, `--var @file`,
`fenta nodes TYPE`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fenta.cli import app

GOOD = "vars: {script: Hello.}\nnodes:\n  s: {type: Input.Text, params: {text: '${vars.script}'}}\n"
BAD_YAML = "nodes:\n  s: {type: Input.Txt}\n"
BAD_JSON = (
    '{"nodes": {"v": {"type": "Voice.TTS", "params": {"engine": "espeak", "voice": "xx-yy", "text": "Hi"}}}}'
)
NEEDS_KEYS = (
    "nodes:\n  g: {type: Script.Gen, params: {topic: fish}}\n"
    "  i: {type: AI.Image, params: {prompt: a fish}}\n"
)


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def test_every_file_is_checked_and_all_problems_are_printed(write):
    r = invoke(
        "validate",
        str(write("a.yaml", BAD_YAML)),
        str(write("ok.yaml", GOOD)),
        str(write("b.json", BAD_JSON)),
    )
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "a.yaml:2, node 's', field 'type'" in r.stderr
    assert "b.json:1, node 'v', field 'params.voice'" in r.stderr
    assert "ok.yaml: valid" in r.stdout


def test_a_dash_reads_the_workflow_from_stdin(write):
    r = invoke("validate", "-", input=BAD_YAML)
    assert r.exit_code == 2 and "<stdin>:2, node 's'" in r.stderr


def test_json_output_has_one_entry_per_file(write):
    r = invoke("validate", str(write("ok.yaml", GOOD)), "-", "--json", input=BAD_JSON)
    data = json.loads(r.stdout)
    assert r.exit_code == 2 and data["status"] == "error"
    assert [(f["file"], f["status"]) for f in data["files"]] == [
        (str(write("ok.yaml", GOOD)), "ok"),
        ("<stdin>", "error"),
    ]
    assert data["files"][1]["problems"][0]["field"] == "params.voice"


def test_validate_lists_the_keys_a_workflow_needs_without_failing(write, monkeypatch):
    monkeypatch.setenv("KIE_API_KEY", "kie-secret-value")
    r = invoke("validate", str(write("wf.yaml", NEEDS_KEYS)))
    assert r.exit_code == 0
    assert "needs keys: OPENROUTER_API_KEY (missing), KIE_API_KEY (set)" in r.stdout
    assert "kie-secret-value" not in r.output


def test_validate_strict_fails_on_a_missing_key(write):
    r = invoke("validate", str(write("wf.yaml", NEEDS_KEYS)), "--strict", "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 2 and data["missing_keys"] == ["KIE_API_KEY", "OPENROUTER_API_KEY"]


def test_a_var_from_a_file_fills_the_variable(write):
    write("rate.txt", "25\n")
    wf = write(
        "wf.yaml",
        "vars: {rate: 0}\n"
        "nodes:\n  v: {type: Voice.TTS, params: {engine: espeak, text: Hi, rate: '${vars.rate}'}}\n",
    )
    r = invoke("validate", str(wf), "--var", "rate=@rate.txt", "--json")
    assert r.exit_code == 0, r.output  # the file's "25", not the text "@rate.txt", reached the int param


def test_a_missing_var_file_is_bad_input_naming_it(write):
    r = invoke("validate", str(write("wf.yaml", GOOD)), "--var", "script=@gone.txt")
    assert r.exit_code == 2 and "gone.txt" in r.stderr and "--var script" in r.stderr
    assert "Traceback" not in r.output


def test_a_var_the_workflow_does_not_know_is_bad_input(write):
    r = invoke("validate", str(write("wf.yaml", GOOD)), "--var", "scirpt=Mine.")
    assert r.exit_code == 2 and "field 'vars.scirpt'" in r.stderr and "did you mean 'script'?" in r.stderr


def test_nodes_type_shows_params_with_types_defaults_and_ports():
    r = invoke("nodes", "Voice.TTS", "--json")
    d = json.loads(r.stdout)
    assert r.exit_code == 0
    assert (
        d["params"]["engine"]["type"] == "auto | espeak | edge | piper"
        and d["params"]["engine"]["default"] == "auto"
    )
    assert d["params"]["rate"]["type"] == "int (>= -50, <= 100)"
    assert d["inputs"] == {"text": {"type": "text", "required": False}}
    assert set(d["outputs"]) == {"audio", "words"}


def test_nodes_type_shows_required_params_and_keys_in_text():
    r = invoke("nodes", "Script.Gen")
    assert r.exit_code == 0
    assert "required" in r.stdout and "keys: OPENROUTER_API_KEY" in r.stdout


def test_an_unknown_node_type_exits_2_with_a_close_match():
    r = invoke("nodes", "Voice.TSS")
    assert r.exit_code == 2 and "did you mean 'Voice.TTS'?" in r.stderr
