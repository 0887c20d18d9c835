"""Output names: one plain file name of at most 200 bytes, checked before a job exists; a workflow's own
name cut to fit; a file name the file system would refuse fails its job once, never retried."""

from __future__ import annotations

import pytest

import fenta
from fenta.engine.outputs import MAX_NAME_BYTES, check_output, name_problem, slug
from fenta.engine.store import JobStore
from fenta.errors import PathError

WF = """
version: 1
name: clip
template: square
overrides: {canvas: {width: 96, height: 96, fps: 10}}
nodes:
  backdrop: {type: Input.Background, params: {style: gradient, count: 1}}
  timeline: {type: Timeline, params: {duration: 0.5}, inputs: {clips: backdrop.clips}}
  render: {type: Render, params: {profile: canvas, preset: ultrafast}, inputs: {timeline: timeline.timeline}}
"""


@pytest.mark.parametrize(
    "name", ["clip #1 ?%", "клип дня", "視頻", "a.b", " spaced ", "x" * MAX_NAME_BYTES, "я" * 100]
)
def test_spaces_hash_question_mark_percent_and_any_script_make_a_good_name(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a/b", "'/'"),
        ("a\\b", "'\\'"),
        ("a\x00b", "NUL"),
        ("..", "'..'"),
        ("a..b", "'..'"),
        (".", "'..'"),
        ("line\nbreak", "control character"),
        ("esc\x1b[2J", "control character"),
        ("del\x7f", "control character"),
        ("", "empty"),
        ("   ", "empty"),
        ("x" * (MAX_NAME_BYTES + 1), "201 bytes"),
        ("я" * 101, "202 bytes"),
        ("bad\udcff", "not valid text"),
    ],
)
def test_a_name_that_is_not_one_plain_file_name_says_why(name, why):
    problem = name_problem(name)
    assert problem is not None and why in problem


def test_the_stem_of_an_mp4_output_is_checked_like_a_name():
    assert check_output("renders/clip #1.mp4") == "clip #1"
    with pytest.raises(PathError) as e:
        check_output("renders/" + "я" * 101 + ".mp4")
    assert "202 bytes long" in str(e.value) and e.value.exit_code == 2


def test_a_long_workflow_name_is_cut_to_200_bytes_of_whole_characters():
    assert slug("x" * 300) == "x" * MAX_NAME_BYTES
    assert slug("я" * 150) == "я" * 100
    assert slug("ab" + "é" * 150) == "ab" + "é" * 99  # 200 bytes; the 100th é would split in two


def test_fenta_run_in_python_refuses_a_long_name_before_a_job_exists(write, fenta_home, tmp_path):
    with pytest.raises(PathError) as e:
        fenta.run(fenta.load(write("wf.yaml", WF)), out=str(tmp_path / "out"), name="a" * 300)
    assert "300 bytes long" in str(e.value) and not (tmp_path / "out").exists()
    store = JobStore(fenta_home / "fenta.db")
    try:
        assert store.list_jobs() == []
    finally:
        store.close()


def test_a_file_name_too_long_for_the_file_system_fails_once_and_is_not_retried(write, tmp_path, monkeypatch):
    monkeypatch.setenv("FENTA_RETRY_BASE_SECONDS", "0.01")
    wide, square = "render_" + "w" * 40, "render_" + "s" * 40  # two Render nodes: each file adds its node id
    text = WF.replace(
        "  render: {type: Render",
        f"  {square}: {{type: Render, params: {{profile: canvas, preset: ultrafast}}, "
        "inputs: {timeline: timeline.timeline}}\n  " + wide + ": {type: Render",
    )
    result = fenta.run(
        fenta.load(write("two.yaml", text)), out=str(tmp_path / "out"), name="n" * MAX_NAME_BYTES, retries=2
    )
    assert (
        result.status == "failed"
        and result.attempt == 1
        and result.retryable is False
        and result.exit_code == 2
    )
    assert (
        "longer than the 255 a file system allows" in result.error and "give a shorter --name" in result.error
    )
    assert not any((tmp_path / "out").glob("n*"))
