"""The CLI: exit codes, one-line errors, --json, jobs, graph, schema, nodes, doctor."""

from __future__ import annotations

import json

GOOD = """
version: 1
name: tiny
nodes:
  script: {type: Input.Text, params: {text: "Hello world."}}
  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}
"""
BAD = """
version: 1
nodes:
  script: {type: Input.Txt}
  voice: {type: Voice.TTS, inputs: {text: script.txt}}
"""


def test_validate_accepts_a_good_workflow(cli, write):
    r = cli("validate", str(write("wf.yaml", GOOD)))
    assert r.exit_code == 0 and "valid" in r.stdout


def test_validate_reports_every_problem_and_exits_2_without_a_traceback(cli, write):
    r = cli("validate", str(write("bad.yaml", BAD)))
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert "unknown node type 'Input.Txt'" in r.stderr and "node 'script'" in r.stderr


def test_validate_json_lists_problems_with_locations(cli, write):
    r = cli("validate", str(write("bad.yaml", BAD)), "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 2 and data["status"] == "error"
    assert data["problems"][0]["node"] == "script" and data["problems"][0]["line"] == 4


def test_run_of_an_invalid_workflow_exits_2(cli, write):
    r = cli("run", str(write("bad.yaml", BAD)))
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_a_malformed_var_override_is_bad_input(cli, write):
    r = cli("run", str(write("wf.yaml", GOOD)), "--var", "novalue")
    assert r.exit_code == 2 and "key=value" in r.stderr


def test_a_file_that_is_not_media_fails_the_run_as_bad_input_naming_the_node_and_file(cli, write, tmp_path):
    write("broken.mp4", "not a video")  # exists, so it passes validation, and fails when probed
    wf = write(
        "wf.yaml",
        """
nodes:
  clips: {type: Input.Asset, params: {paths: [broken.mp4]}}
""",
    )
    r = cli("run", str(wf), "-o", str(tmp_path / "out"))
    assert (
        r.exit_code == 2
    )  # bad input (1 is for runs that failed on their own: see the provider fault tests)
    assert "broken.mp4" in r.stderr and "node 'clips'" in r.stderr
    assert "--reload" in r.stderr  # running it again unchanged cannot help
    assert "Traceback" not in r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_run_json_gives_machine_readable_results_and_jobs_lists_the_job(cli, write, tmp_path):
    r = cli("run", str(write("wf.yaml", GOOD)), "--json", "-o", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["status"] == "completed" and data["nodes"] == {"script": "completed", "voice": "completed"}
    listing = json.loads(cli("jobs", "--json").stdout)
    assert listing[0]["id"] == data["job_id"] and listing[0]["status"] == "completed"
    shown = cli("jobs", "show", data["job_id"][:12])
    assert shown.exit_code == 0 and "voice" in shown.stdout and "Voice.TTS" in shown.stdout


def test_dry_run_plans_without_running_anything(cli, write):
    r = cli("run", str(write("wf.yaml", GOOD)), "--dry-run", "--json")
    data = json.loads(r.stdout)
    assert data["status"] == "planned" and data["order"] == [["script"], ["voice"]]
    assert json.loads(cli("jobs", "--json").stdout) == []


def test_jobs_show_of_an_unknown_job_exits_2(cli):
    r = cli("jobs", "show", "nope")
    assert r.exit_code == 2 and "no job with id 'nope'" in r.stderr


def test_resume_of_an_unknown_job_exits_2(cli):
    assert cli("resume", "nope").exit_code == 2


def test_graph_draws_nodes_in_order_and_mermaid_text(cli, write):
    wf = str(write("wf.yaml", GOOD))
    text = cli("graph", wf).stdout
    assert text.index("script") < text.index("voice") and "script.text→text" in text
    mer = cli("graph", wf, "--mermaid").stdout
    assert mer.startswith("flowchart LR") and "script -->|text → text| voice" in mer


def test_schema_is_json_schema_with_every_node_type(cli):
    schema = json.loads(cli("schema").stdout)
    titles = {d.get("title") for d in schema["$defs"].values()}
    assert {"Input.Text", "Voice.TTS", "Render"} <= titles


def test_nodes_lists_params_and_ports(cli):
    rows = {r["type"]: r for r in json.loads(cli("nodes", "--json").stdout)}
    assert rows["Subtitle"]["inputs"] == {"words": "words", "keywords": "text[]"}
    assert rows["Voice.TTS"]["outputs"] == {"audio": "audio", "words": "words"}


def test_doctor_says_which_keys_are_set_but_never_their_values(cli, monkeypatch):
    monkeypatch.setenv("PEXELS_API_KEY", "pexels-secret-value-123")
    r = cli("doctor", "--json")
    data = json.loads(r.stdout)
    assert data["keys"]["PEXELS_API_KEY"] is True and data["keys"]["KIE_API_KEY"] is False
    assert "pexels-secret-value-123" not in r.output
    assert data["ffmpeg"]["path"]


def test_templates_lists_the_shipped_templates(cli):
    names = {t["name"] for t in json.loads(cli("templates", "--json").stdout)}
    assert {"karaoke-bold", "clean-captions", "explainer-16x9", "square"} <= names


def test_render_with_an_unknown_profile_is_a_usage_error_not_an_internal_error(cli, write):
    path = write("t.timeline.json", "{}")
    r = cli("render", str(path), "--profile", "preview")
    assert r.exit_code == 2
    assert "unknown profile 'preview'" in r.output and "internal error" not in r.output


def test_render_shows_a_progress_bar_on_a_terminal_only(monkeypatch):
    import io

    from rich.console import Console

    from fenta.cli import render_cmds

    screen = io.StringIO()
    monkeypatch.setattr(render_cmds, "err_console", Console(file=screen, force_terminal=True, width=100))
    with render_cmds._render_bar(enabled=True) as on_progress:
        on_progress(0.5)
    assert "rendering" in screen.getvalue() and "50%" in screen.getvalue()
    with render_cmds._render_bar(enabled=False) as on_progress:
        assert on_progress is None


def test_a_script_with_no_words_fails_the_run_with_exit_2_even_when_connected(cli, write, tmp_path):
    wf = write(
        "wf.yaml",
        """
vars: {script: "ok"}
nodes:
  script: {type: Input.Text, params: {text: "${vars.script}"}}
  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}
""",
    )
    r = cli("run", str(wf), "--var", "script=🎉 ...", "-o", str(tmp_path / "out"), "--json")
    assert r.exit_code == 2
    data = json.loads(r.stdout)
    assert data["exit_code"] == 2 and "no words to speak" in data["error"]
