"""`fenta run`: where files go (-o, --name), never replacing another job's files, and environment
errors (unwritable -o or FENTA_HOME) reported as bad input before anything runs."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest

TINY = """
version: 1
name: clip
template: square
overrides: {canvas: {width: 160, height: 160, fps: 10}}
vars: {script: "Hi there."}
nodes:
  script: {type: Input.Text, params: {text: "${vars.script}"}}
  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}
  backdrop: {type: Input.Background, params: {style: gradient, count: 1}}
  timeline: {type: Timeline, inputs: {clips: backdrop.clips, voice: voice.audio}}
  render: {type: Render, params: {profile: canvas, preset: ultrafast}, inputs: {timeline: timeline.timeline}}
"""


def _jobs(cli) -> list[dict]:
    return json.loads(cli("jobs", "--json").stdout)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder that really cannot be written, even by root (permission bits do not stop root)."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    for candidate in (Path("/sys/fs"), Path("/proc/1")):
        try:
            fd, name = tempfile.mkstemp(dir=candidate)
        except OSError:
            return candidate
        os.close(fd)
        os.unlink(name)
    pytest.skip("no folder here refuses writes by root")


def test_an_output_folder_under_a_file_is_bad_input_found_before_any_node_runs(cli, write, tmp_path):
    write("afile", "not a folder")
    r = cli("run", str(write("wf.yaml", TINY)), "-o", str(tmp_path / "afile" / "sub"))
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "afile" in r.stderr and "is a file" in r.stderr
    assert "internal error" not in r.output
    assert _jobs(cli) == []


def test_dash_o_naming_an_existing_file_that_is_not_a_video_is_bad_input(cli, write):
    notes = write("notes.txt", "mine")
    r = cli("run", str(write("wf.yaml", TINY)), "-o", str(notes))
    assert r.exit_code == 2 and "notes.txt is a file, not a folder" in r.stderr
    assert notes.read_text() == "mine" and _jobs(cli) == []


def test_a_read_only_output_folder_is_bad_input_found_before_any_node_runs(cli, write, tmp_path):
    locked = _read_only_folder(tmp_path)
    r = cli("run", str(write("wf.yaml", TINY)), "-o", str(locked / "renders"))
    assert r.exit_code == 2 and "cannot" in r.stderr and str(locked) in r.stderr
    assert _jobs(cli) == []


def test_an_unwritable_fenta_home_is_bad_input_in_one_line(cli, write, tmp_path, monkeypatch):
    wf = write("wf.yaml", TINY)
    write("afile", "not a folder")
    monkeypatch.setenv("FENTA_HOME", str(tmp_path / "afile" / "home"))
    r = cli("run", str(wf), "-o", str(tmp_path / "out"))
    assert r.exit_code == 2
    assert "FENTA_HOME" in r.stderr and r.stderr.strip().count("\n") == 0
    assert "internal error" not in r.output and not (tmp_path / "out").exists()


def test_dash_o_with_an_mp4_name_names_every_file_of_the_run(cli, write, tmp_path):
    r = cli("run", str(write("wf.yaml", TINY)), "-o", "out/octopus.mp4", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["video"] == str(tmp_path / "out" / "octopus.mp4")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "octopus.jpg",
        "octopus.mp4",
        "octopus.timeline.json",
    ]


def test_name_sets_the_base_name_of_the_files(cli, write, tmp_path):
    r = cli("run", str(write("wf.yaml", TINY)), "-o", "out", "--name", "take one", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["video"] == str(tmp_path / "out" / "take one.mp4")


def test_a_second_run_with_other_vars_keeps_the_first_jobs_video_and_takes_the_next_name(
    cli, write, tmp_path
):
    wf = str(write("wf.yaml", TINY))
    first = json.loads(cli("run", wf, "-o", "out", "--json").stdout)
    before = _digest(Path(first["video"]))
    second = json.loads(cli("run", wf, "-o", "out", "--var", "script=Other words.", "--json").stdout)
    assert second["video"] == str(tmp_path / "out" / "clip-2.mp4")
    assert _digest(Path(first["video"])) == before
    shown = json.loads(cli("jobs", "show", first["job_id"], "--json").stdout)
    assert {a["path"] for a in shown["artifacts"]} >= {first["video"]}


def test_the_human_summary_prints_the_real_path_of_a_renamed_video(cli, write, tmp_path):
    wf = str(write("wf.yaml", TINY))
    assert cli("run", wf, "-o", "out").exit_code == 0
    r = cli("run", wf, "-o", "out", "--var", "script=Other words.")
    assert str(tmp_path / "out" / "clip-2.mp4") in r.stdout


def test_overwrite_replaces_an_earlier_jobs_file_of_the_same_name(cli, write, tmp_path):
    wf = str(write("wf.yaml", TINY))
    first = json.loads(cli("run", wf, "-o", "out", "--json").stdout)
    before = _digest(Path(first["video"]))
    second = json.loads(
        cli("run", wf, "-o", "out", "--var", "script=Other words.", "--overwrite", "--json").stdout
    )
    assert second["video"] == first["video"] and _digest(Path(first["video"])) != before


def test_an_internal_error_with_json_still_prints_json(cli, write, monkeypatch):
    from fenta.engine import runner

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "run_async", broken)
    r = cli("run", str(write("wf.yaml", TINY)), "--json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["status"] == "error" and "RuntimeError: boom" in data["error"]


def test_dry_run_prints_the_estimate_per_provider_in_dollars(cli, write):
    wf = write(
        "wf.yaml",
        """
nodes:
  script: {type: Script.Gen, params: {topic: "Deep-sea fish", genre: facts, seconds: 30, model: weak}}
""",
    )
    r = cli("run", str(wf), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "{" not in r.stdout and "USD" in r.stdout
    assert any(line.split()[:1] == ["openrouter"] and "$" in line for line in r.stdout.splitlines())


def test_declining_the_cost_question_says_nothing_was_run(cli, write, monkeypatch):
    from rich.console import Console
    from typer.testing import CliRunner

    from fenta.cli import _preflight, app

    monkeypatch.setattr(_preflight, "console", Console(force_terminal=True, width=100))
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-test-never-used")  # the question comes after the key check
    wf = write(
        "wf.yaml",
        """
nodes:
  script: {type: Script.Gen, params: {topic: "Deep-sea fish", genre: facts, seconds: 30, model: weak}}
""",
    )
    r = CliRunner().invoke(app, ["run", str(wf)], input="n\n")
    assert r.exit_code == 1
    assert "not run" in r.output and "declined" in r.output
    assert _jobs(cli) == []


def test_run_summary_prints_long_paths_whole_on_an_80_column_terminal(cli, write, tmp_path, monkeypatch):
    from rich.console import Console

    from fenta.cli import run_cmds

    monkeypatch.setattr(run_cmds, "console", Console(force_terminal=True, width=80, soft_wrap=True))
    deep = "a-rather-long-folder-name-for-renders/" * 2
    r = cli("run", str(write("wf.yaml", TINY)), "-o", deep + "clip.mp4")
    assert r.exit_code == 0, r.output
    assert str(tmp_path / deep / "clip.mp4") in r.stdout


def test_jobs_prints_whole_ids_on_an_80_column_terminal(cli, write, monkeypatch):
    from rich.console import Console

    from fenta.cli import jobs_cmds

    job = json.loads(
        cli(
            "run", str(write("wf.yaml", "nodes:\n  t: {type: Input.Text, params: {text: hi}}\n")), "--json"
        ).stdout
    )["job_id"]
    monkeypatch.setattr(jobs_cmds, "console", Console(force_terminal=True, width=80, soft_wrap=True))
    assert job in cli("jobs").stdout
