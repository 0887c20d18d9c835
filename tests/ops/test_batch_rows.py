"""Batch manifests: CSV, JSONL and JSON arrays read into rows, and every row checked before anything
runs (unknown variables, bad values, missing files, names and priorities), each problem naming its row
and field. Nothing here renders."""

from __future__ import annotations

import pytest

from fenta.errors import ManifestError, SpecError
from fenta.ops.batch_rows import check_rows, read_manifest

WORKFLOW = """
version: 1
name: clip
template: square
overrides: {canvas: {width: 128, height: 128, fps: 10}}
vars: {text: "Hello there.", clip: bg.mp4, rate: 0}
nodes:
  script: {type: Input.Text, params: {text: "${vars.text}"}}
  voice: {type: Voice.TTS, params: {engine: espeak, rate: "${vars.rate}"}, inputs: {text: script.text}}
  media: {type: Input.Asset, params: {paths: ["${vars.clip}"]}}
  timeline: {type: Timeline, inputs: {clips: media.clips, voice: voice.audio}}
  render: {type: Render, params: {profile: canvas, preset: ultrafast}, inputs: {timeline: timeline.timeline}}
"""


@pytest.fixture
def wf(write, make_media):
    make_media("bg.mp4", "testsrc2=s=128x128:d=1:r=10", "-pix_fmt", "yuv420p")
    return write("wf.yaml", WORKFLOW)


def _problems(excinfo) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


def test_a_csv_header_names_the_variables_and_empty_cells_keep_the_defaults(write):
    rows = read_manifest(write("rows.csv", "text,clip,name\nOne.,a.mp4,first\nTwo.,,\n"))
    assert rows == [{"text": "One.", "clip": "a.mp4", "name": "first"}, {"text": "Two."}]


def test_jsonl_and_json_arrays_give_the_same_rows(write):
    lines = read_manifest(write("rows.jsonl", '{"text": "One.", "priority": 2}\n\n{"text": "Two."}\n'))
    array = read_manifest(write("rows.json", '[{"text": "One.", "priority": 2}, {"text": "Two."}]'))
    assert lines == array == [{"text": "One.", "priority": 2}, {"text": "Two."}]


def test_a_broken_jsonl_line_is_named_by_its_row(write):
    with pytest.raises(ManifestError) as e:
        read_manifest(write("rows.jsonl", '{"text": "One."}\n{"text": \n[1, 2]\n').name)
    assert _problems(e)[0].startswith("rows.jsonl, row 2: not valid JSON")
    assert _problems(e)[1] == "rows.jsonl, row 3: a row must be an object of variables, got list"


def test_a_csv_row_with_more_cells_than_the_header_is_refused(write):
    with pytest.raises(ManifestError) as e:
        read_manifest(write("rows.csv", "text\nOne.\nTwo.,extra\n").name)
    assert _problems(e) == ["rows.csv, row 2: 2 cells but the header names 1 columns"]


def test_an_empty_or_missing_manifest_exits_2(write, tmp_path):
    for path, message in (
        (write("rows.csv", "text\n"), "the manifest has no rows"),
        (tmp_path / "none.csv", "file not found"),
    ):
        with pytest.raises(ManifestError) as e:
            read_manifest(path)
        assert e.value.exit_code == 2 and _problems(e) == [f"{path}: {message}"]


def test_a_folder_given_as_the_manifest_is_called_not_a_file(tmp_path):
    with pytest.raises(ManifestError) as e:
        read_manifest(tmp_path)
    assert e.value.exit_code == 2 and _problems(e) == [
        f"{tmp_path}: not a file (a folder or a device): give the rows' CSV, JSONL or JSON file"
    ]


def test_rows_get_their_names_priorities_and_a_workflow_each(wf):
    rows = check_rows(
        wf, [{"text": "One.", "name": "intro", "priority": "5"}, {"text": "Two."}], manifest="rows.csv"
    )
    assert [(r.index, r.name, r.priority) for r in rows] == [(1, "intro", 5), (2, "row-0002", 0)]
    assert [r.workflow.vars["text"] for r in rows] == ["One.", "Two."]
    assert "name" not in rows[0].workflow.vars  # a row setting, not a variable this workflow knows


def test_every_bad_row_is_reported_with_its_row_and_field_at_once(wf):
    rows = [
        {"text": "Fine."},
        {"colour": "red"},
        {"rate": "fast", "clip": "missing.mp4"},
        {"priority": "high"},
    ]
    with pytest.raises(ManifestError) as e:
        check_rows(wf, rows, manifest="rows.csv")
    got = _problems(e)
    assert e.value.exit_code == 2 and len(got) == 4
    assert got[0].startswith("rows.csv, row 2, field 'colour': variable 'colour' is not declared")
    assert got[1].startswith("rows.csv, row 3, field 'rate': should be a valid integer") and got[1].endswith(
        "(node 'voice', params.rate)"
    )
    assert got[2].startswith("rows.csv, row 3, field 'clip': file not found:") and got[2].endswith(
        "missing.mp4 (node 'media', params.paths[0])"
    )
    assert got[3] == (
        "rows.csv, row 4, field 'priority': 'high' is not a number: "
        "give a whole number that fits 64 bits (-9223372036854775808 to 9223372036854775807)"
    )


def test_a_csv_column_no_row_fills_is_still_checked_against_the_variables(wf, write):
    rows = read_manifest(write("rows.csv", "text,clpi,name\nOne.,,first\nTwo.,,\n"))
    with pytest.raises(ManifestError) as e:
        check_rows(wf, rows, manifest="rows.csv")
    assert _problems(e) == [
        "rows.csv, field 'clpi': the header names 'clpi', which is not a variable of this workflow"
        " (its variables: clip, rate, text)"
    ]


def test_two_rows_with_one_output_name_are_refused(wf):
    with pytest.raises(ManifestError) as e:
        check_rows(wf, [{"name": "a"}, {"name": "b/c"}, {"name": "A"}], manifest="rows.csv")
    assert _problems(e) == [
        "rows.csv, row 2, field 'name': 'b/c' has '/' in it: give a plain file name (no folders)",
        "rows.csv, row 3, field 'name': 'A' is also the name of row 1: each row needs its own output name",
    ]


def test_a_problem_of_the_workflow_itself_is_reported_once_as_the_workflows(wf, write):
    wf = write("wf.yaml", WORKFLOW.replace("Input.Text", "Input.Txt"))
    with pytest.raises(SpecError) as e:
        check_rows(wf, [{"text": "One."}, {"text": "Two."}], manifest="rows.csv")
    assert not isinstance(e.value, ManifestError) and e.value.exit_code == 2 and len(e.value.problems) == 1
    assert "node 'script', field 'type': unknown node type 'Input.Txt'" in str(e.value)


def test_a_workflow_that_uses_a_name_variable_gets_the_rows_name_too(write):
    wf = write(
        "wf.yaml",
        "vars: {name: nobody}\nnodes:\n  t: {type: Input.Text, params: {text: 'Hello ${vars.name}.'}}\n",
    )
    (row,) = check_rows(wf, [{"name": "ada"}], manifest="rows.csv")
    assert row.name == "ada" and row.workflow.vars["name"] == "ada"
